"""Run ``spanscope demo`` for real, on free loopback ports, never the default ones.

``lab_databases``  the lab's SQLite files, built once per test session (~5 s) and copied
                   into each test's lab directory (the lab writes to them).
``start_server``   ``spanscope serve`` on free ports (stopped by PID after the test).
``run_demo``       ``python -m spanscope demo ...`` as a child process, output to a file.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from lab_helpers import answers, wait_for

from spanscope.demo import data


@pytest.fixture(scope="session")
def lab_databases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db_dir = tmp_path_factory.mktemp("lab-db") / "db"
    data.build_all(db_dir)
    return db_dir


@pytest.fixture
def lab_dir(tmp_path: Path, lab_databases: Path) -> Path:
    lab = tmp_path / "lab"
    shutil.copytree(lab_databases, lab / "db")
    return lab


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    api_url: str
    otlp_url: str


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[[], Server]]:
    started: list[Server] = []

    def start() -> Server:
        data_dir = tmp_path / "spanscope"
        data_dir.mkdir()
        command = [
            sys.executable, "-m", "spanscope", "serve", "--data-dir", str(data_dir),
            "--port", "0", "--otlp-grpc-port", "0", "--otlp-http-port", "0", "--zipkin-port", "0",
        ]  # fmt: skip
        with open(tmp_path / "serve.log", "wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        ports_file = data_dir / "ports.json"
        wait_for(ports_file.exists, 60, "spanscope serve writes ports.json")
        ports = json.loads(ports_file.read_text())
        server = Server(
            process, f"http://127.0.0.1:{ports['api']}", f"http://127.0.0.1:{ports['otlp_http']}"
        )
        started.append(server)
        wait_for(lambda: answers(server.api_url + "/healthz"), 60, "spanscope serve is healthy")
        return server

    yield start
    for server in started:
        if server.process.poll() is None:
            server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


@pytest.fixture
def run_demo(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start ``spanscope demo`` (own process group, like a terminal job); killed if left."""
    started: list[subprocess.Popen[bytes]] = []

    def run(command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with open(tmp_path / "demo.out", "ab") as out:
            process = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                process_group=0,
            )
        started.append(process)
        return process

    yield run
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

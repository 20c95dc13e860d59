"""Run the real ``spanscope serve`` in a subprocess for integration tests.

A pytest plugin (tests/conftest.py lists it in ``pytest_plugins``), so every test directory
has these fixtures; use them by name, nothing to import:

``spanscope_server``
    One server per test module on a fresh data dir, every port picked free (port 0).
    A :class:`RunningServer` with ``api_url``, ``otlp_http_url``, ``zipkin_url``,
    ``otlp_grpc_endpoint`` ("127.0.0.1:<port>"), ``ports`` and ``data_dir``.

``start_spanscope``
    A factory for tests that need their own server (a custom environment, a restart on the
    same data dir, a SIGKILL)::

        def test_x(start_spanscope, tmp_path):
            server = start_spanscope(tmp_path / "data", env={"SPANSCOPE_MAX_PENDING_SPANS": "1"})
            ...
            server.kill()                               # SIGKILL, as a crash
            again = start_spanscope(tmp_path / "data")  # same data dir: WAL replay

    Every server it started is stopped (by its PID) when the test ends. A server with TLS
    (``env={"SPANSCOPE_TLS_CERT": ..., "SPANSCOPE_TLS_KEY": ...}``) is polled over HTTPS
    trusting ``ca_file``; its URLs say ``https://`` (``ports.json`` has ``"tls": true``).

The server is ready when ``<data-dir>/ports.json`` exists and ``GET /healthz`` answers 200;
its stdout/stderr go to ``<data-dir>/../serve-<n>.log``, printed if it fails to start.

For type hints, ``from tests.support.server import RunningServer``; ``fetch_trace(api_url,
trace_id, spans)`` waits until a trace is queryable with that many spans.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.waiting import wait_until

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


@dataclass
class RunningServer:
    data_dir: Path
    process: subprocess.Popen[bytes]
    ports: dict[str, int]
    log_path: Path
    stopped: bool = field(default=False)

    @property
    def scheme(self) -> str:
        return "https" if self.ports.get("tls") else "http"

    @property
    def api_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.ports['api']}"

    @property
    def otlp_http_url(self) -> str:
        """Base URL; POST traces to ``otlp_http_url + "/v1/traces"``."""
        return f"{self.scheme}://127.0.0.1:{self.ports['otlp_http']}"

    @property
    def zipkin_url(self) -> str:
        """Base URL; POST spans to ``zipkin_url + "/api/v2/spans"``."""
        return f"{self.scheme}://127.0.0.1:{self.ports['zipkin']}"

    @property
    def otlp_grpc_endpoint(self) -> str:
        return f"127.0.0.1:{self.ports['otlp_grpc']}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def metric(self, name: str) -> float:
        """The sample ``name`` on ``GET /metrics`` (plain HTTP), summed over its labels:
        ``metric("spanscope_tail_sampling_kept_spans_total")`` counts every policy's."""
        text = httpx.get(self.api_url + "/metrics", timeout=10).text
        values = [
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith((name + " ", name + "{"))
        ]
        if not values:
            raise AssertionError(f"/metrics has no {name}:\n{text}")
        return sum(values)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM (a clean shutdown) and wait; returns the exit code."""
        if not self.stopped:
            self.stopped = True
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL: the crash the write-ahead log exists for."""
        if not self.stopped:
            self.stopped = True
            self.process.kill()
            self.process.wait(STOP_TIMEOUT_S)


def serve_command(data_dir: Path) -> list[str]:
    """``python -m spanscope serve`` on ``data_dir``, loopback only, every port picked free."""
    return [
        sys.executable, "-m", "spanscope", "serve", "--data-dir", str(data_dir),
        "--host", "127.0.0.1", "--port", "0", "--otlp-grpc-port", "0",
        "--otlp-http-port", "0", "--zipkin-port", "0",
    ]  # fmt: skip


def launch(
    data_dir: Path,
    env: dict[str, str] | None = None,
    log_name: str = "serve",
    ca_file: Path | None = None,
) -> RunningServer:
    """Start ``python -m spanscope serve`` on ``data_dir`` with free ports; wait until ready
    (over HTTPS trusting ``ca_file`` when the server has TLS)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    n = len(list(data_dir.parent.glob(f"{log_name}-*.log")))
    log_path = data_dir.parent / f"{log_name}-{n}.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            serve_command(data_dir),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    server = RunningServer(data_dir, process, {}, log_path)
    verify = ssl.create_default_context(cafile=ca_file) if ca_file else True
    ports_file = data_dir / "ports.json"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"spanscope serve exited with {process.returncode}:\n{server.log()}")
        if ports_file.exists():
            server.ports = json.loads(ports_file.read_text())
            try:
                if (
                    httpx.get(server.api_url + "/healthz", timeout=2, verify=verify).status_code
                    == 200
                ):
                    return server
            except httpx.HTTPError:
                pass
        time.sleep(0.05)
    server.kill()
    raise RuntimeError(f"spanscope serve not ready after {START_TIMEOUT_S} s:\n{server.log()}")


def fetch_trace(api_url: str, trace_id: str, spans: int = 1) -> dict[str, Any]:
    """``GET /api/v1/traces/{trace_id}`` until it has at least ``spans`` spans (the store
    writer batches for a flush interval); its JSON. Fails naming what it last saw."""
    last: dict[str, Any] = {}

    def enough() -> dict[str, Any] | None:
        nonlocal last
        answer = httpx.get(f"{api_url}/api/v1/traces/{trace_id}", timeout=10)
        if answer.status_code != 200:
            return None
        last = answer.json()
        return last if len(last["spans"]) >= spans else None

    try:
        return wait_until(enough, f"trace {trace_id} has {spans} spans", timeout_s=20)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; it has {last.get('spans')}") from None


@pytest.fixture
def start_spanscope() -> Iterator[Callable[..., RunningServer]]:
    started: list[RunningServer] = []

    def start(
        data_dir: Path, env: dict[str, str] | None = None, ca_file: Path | None = None
    ) -> RunningServer:
        server = launch(data_dir, env, ca_file=ca_file)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def spanscope_launcher() -> Callable[..., RunningServer]:
    """:func:`launch` for module-scoped fixtures, which cannot use the function-scoped
    ``start_spanscope``; the fixture that calls it stops what it started."""
    return launch


@pytest.fixture(scope="module")
def spanscope_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = launch(tmp_path_factory.mktemp("spanscope") / "data")
    yield server
    code = server.stop()
    assert code == 0, f"spanscope serve exited with {code} on SIGTERM:\n{server.log()}"

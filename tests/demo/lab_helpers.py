"""Helpers for the lab's tests (conftest.py holds the fixtures)."""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.support.waiting import wait_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], object], timeout: float, what: str) -> object:
    return wait_until(check, what, timeout, interval_s=0.1)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def demo_command(lab: Path, api_url: str, otlp_url: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "spanscope", "demo", "--data-dir", str(lab),
        "--url", api_url, "--otlp-endpoint", otlp_url,
        "--base-port", "0", "--control-port", "0", *extra,
    ]  # fmt: skip


def demo_output(tmp_path: Path) -> str:
    path = tmp_path / "demo.out"
    return path.read_text(errors="replace") if path.exists() else ""

"""The CLI client's TLS answers that need no Spanscope server (tests/integration/test_tls.py
has the rest): a CA file that is not there, and https:// to a port that speaks plain HTTP."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from spanscope.cli.client import ApiClient, ApiError


@pytest.fixture
def plain_http_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(10)


def test_a_missing_ca_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-ca.pem"
    with pytest.raises(ApiError, match="no-such-ca.pem.*No such file") as error:
        ApiClient("https://127.0.0.1:1", ca_file=str(missing))
    assert "--ca-file" in str(error.value)


def test_https_to_a_plain_http_port_says_it_does_not_speak_tls(plain_http_port: int) -> None:
    with ApiClient(f"https://127.0.0.1:{plain_http_port}", timeout_s=10) as api:
        with pytest.raises(ApiError, match="does not speak TLS.*use http://"):
            api.services()

"""Browser safety on the real ``spanscope serve``: every HTTP listener refuses a foreign
``Host`` and posts from a page of another origin, the receivers take only their declared
content types, and ``--allowed-hosts`` / ``SPANSCOPE_ALLOWED_HOSTS`` widen the Host list."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from spanscope.cli import app as cli

if TYPE_CHECKING:
    from tests.support.server import RunningServer


def zipkin_body(service: str) -> bytes:
    now_us = time.time_ns() // 1000
    span = {
        "traceId": secrets.token_hex(16), "id": secrets.token_hex(8), "name": "get /",
        "timestamp": now_us - 2000, "duration": 1500, "localEndpoint": {"serviceName": service},
    }  # fmt: skip
    return orjson.dumps([span])


def services(server: RunningServer) -> list[str]:
    answer = httpx.get(server.api_url + "/api/v1/services", timeout=30)
    assert answer.status_code == 200, answer.text
    return [s["name"] if isinstance(s, dict) else s for s in answer.json()["services"]]


def wait_for_service(server: RunningServer, name: str) -> None:
    deadline = time.monotonic() + 30
    while name not in services(server):
        assert time.monotonic() < deadline, f"{name} never became queryable"
        time.sleep(0.1)


def listeners(server: RunningServer) -> list[str]:
    return [
        server.api_url + "/api/v1/retention",
        server.otlp_http_url + "/v1/traces",
        server.zipkin_url + "/api/v2/spans",
    ]


@pytest.mark.parametrize(
    "content_type", [None, "text/plain;charset=UTF-8", "application/x-www-form-urlencoded"]
)
def test_zipkin_takes_only_application_json(
    spanscope_server: RunningServer, content_type: str | None
) -> None:
    service = f"no-json-{secrets.token_hex(3)}"
    headers = {"Content-Type": content_type} if content_type else {}
    answer = httpx.post(
        spanscope_server.zipkin_url + "/api/v2/spans", content=zipkin_body(service), headers=headers
    )
    assert answer.status_code == 415, answer.text
    assert "Content-Type: application/json" in answer.text
    assert repr(content_type or "(none)") in answer.text
    # The same spans as JSON are taken: the 415 was about the type, not the body.
    sent = httpx.post(
        spanscope_server.zipkin_url + "/api/v2/spans",
        content=zipkin_body("json-" + service),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert sent.status_code == 202, sent.text
    wait_for_service(spanscope_server, "json-" + service)
    assert service not in services(spanscope_server)


def test_otlp_http_without_a_content_type_is_415(spanscope_server: RunningServer) -> None:
    answer = httpx.post(spanscope_server.otlp_http_url + "/v1/traces", content=b"{}")
    assert answer.status_code == 415
    assert "'(none)'" in answer.json()["message"]


def test_every_listener_refuses_a_foreign_host(spanscope_server: RunningServer) -> None:
    for url in listeners(spanscope_server):
        answer = httpx.post(url, headers={"Host": "rebound.example:80"}, content=b"[]")
        assert answer.status_code == 421, (url, answer.text)
        assert "'rebound.example:80'" in answer.text and "--allowed-hosts" in answer.text
        assert answer.headers["x-content-type-options"] == "nosniff"
    read = httpx.get(
        spanscope_server.api_url + "/api/v1/services", headers={"Host": "rebound.example"}
    )
    assert read.status_code == 421


def test_every_listener_refuses_a_post_from_another_origin(spanscope_server: RunningServer) -> None:
    service = f"cross-{secrets.token_hex(3)}"
    for headers in (
        {"Origin": "http://127.0.0.1:1"},
        {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"},
        {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "no-cors"},
    ):
        for url in listeners(spanscope_server):
            answer = httpx.post(
                url, headers={**headers, "Content-Type": "application/json"},
                content=zipkin_body(service),
            )  # fmt: skip
            assert answer.status_code == 403, (url, headers, answer.text)
            assert "refused" in answer.text and "docs/security.md" in answer.text
    # The receivers' own answers (not only the refusals) carry nosniff.
    ok = httpx.post(
        spanscope_server.zipkin_url + "/api/v2/spans", content=zipkin_body("direct-" + service),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    assert ok.status_code == 202 and ok.headers["x-content-type-options"] == "nosniff"
    wait_for_service(spanscope_server, "direct-" + service)
    assert service not in services(spanscope_server)


def test_api_answers_carry_the_security_headers(spanscope_server: RunningServer) -> None:
    for path in ("/", "/docs", "/api/v1/services", "/healthz"):
        headers = httpx.get(spanscope_server.api_url + path).headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"


def test_allowed_hosts_env_and_star(
    start_spanscope: Callable[..., RunningServer], tmp_path: Path
) -> None:
    server = start_spanscope(
        tmp_path / "named", env={"SPANSCOPE_ALLOWED_HOSTS": "spanscope.test,127.0.0.1"}
    )
    for url in listeners(server)[1:]:
        named = httpx.post(url, headers={"Host": "spanscope.test:4318"}, content=b"")
        assert named.status_code not in (403, 421), named.text  # reached the receiver
    api = server.api_url + "/api/v1/services"
    assert httpx.get(api, headers={"Host": "spanscope.test"}).status_code == 200
    refused = httpx.get(api, headers={"Host": "localhost"})  # the list replaces the default
    assert refused.status_code == 421 and "spanscope.test" in refused.text
    server.stop()
    anything = start_spanscope(tmp_path / "any", env={"SPANSCOPE_ALLOWED_HOSTS": "*"})
    answer = httpx.get(anything.api_url + "/api/v1/services", headers={"Host": "x.example"})
    assert answer.status_code == 200


def test_a_bad_allowed_hosts_entry_is_named_before_anything_starts(tmp_path: Path) -> None:
    result: Any = CliRunner().invoke(
        cli, ["serve", "--data-dir", str(tmp_path), "--allowed-hosts", "http://a.example:80"]
    )
    assert result.exit_code == 2
    said = " ".join(re.sub("[│╭╮╰╯─]", " ", result.output).split())  # unwrap rich's box
    assert "'http://a.example:80' is not a host name" in said and "without scheme" in said
    assert not (tmp_path / "ports.json").exists()

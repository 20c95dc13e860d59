"""Tokens with scopes on the real server: ``spanscope serve --auth-file`` (docs/security.md).

One server runs with an auth file of three tokens (ingest, query, query+admin). Every
listener is asked the way its users ask it: OTLP/HTTP and Zipkin with httpx, OTLP/gRPC with
a grpc stub and with the OTel SDK's own exporters configured by
``OTEL_EXPORTER_OTLP_HEADERS``, the query API and admin routes with httpx, and the CLI
with ``--token``. A second server shows SIGHUP reloading the file, and ``serve`` without a
file refusing a non-loopback address.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import httpx
import orjson
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpExporter,
)
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from typer.testing import CliRunner

from spanscope.cli import app
from tests.support.auth import Token, auth_toml, bearer, write_auth_file

if TYPE_CHECKING:
    from tests.support.server import RunningServer

INGEST = "ingest-5f0c2a8e9b1d4c7a0e3f"
QUERY = "query-a7e3c9d1f4b2e6a80c1d"
ADMIN = "admin-c4d2e8f1a3b5c7d9e0f2"
AUTH_FILE = auth_toml(
    Token("apps", INGEST, ("ingest",)),
    Token("reader", QUERY, ("query",)),
    Token("oncall", ADMIN, ("query", "admin")),
)
CHALLENGE = 'Bearer realm="spanscope"'
WAIT_S = 20.0


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, spanscope_launcher: Callable[..., RunningServer]
) -> Iterator[RunningServer]:
    folder = tmp_path_factory.mktemp("auth")
    running = spanscope_launcher(
        folder / "data", {"SPANSCOPE_AUTH_FILE": str(write_auth_file(folder, AUTH_FILE))}
    )
    yield running
    assert running.stop() == 0, running.log()


def make_spans(service: str) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("auth-test").start_as_current_span("GET /orders"):
        pass
    provider.shutdown()
    return list(memory.get_finished_spans())


def otlp_request(service: str) -> bytes:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    return bytes(encode_spans(make_spans(service)).SerializeToString())


def wait_for_trace(server: RunningServer, spans: list[ReadableSpan]) -> dict[str, Any]:
    trace_id = f"{spans[0].context.trace_id:032x}"
    deadline = time.monotonic() + WAIT_S
    while True:
        answer = httpx.get(f"{server.api_url}/api/v1/traces/{trace_id}", headers=bearer(QUERY))
        if answer.status_code == 200:
            return dict(answer.json())
        assert answer.status_code == 404, answer.text
        assert time.monotonic() < deadline, f"trace {trace_id} not stored: {answer.text}"
        time.sleep(0.1)


# --- HTTP: receivers, the query API, admin routes ------------------------------------------


def test_otlp_http_needs_an_ingest_token_and_refuses_in_otlp_shape(server: RunningServer) -> None:
    url = server.otlp_http_url + "/v1/traces"
    body = otlp_request("auth-otlp-http")
    proto = {"Content-Type": "application/x-protobuf"}
    missing = httpx.post(url, content=body, headers=proto)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == CHALLENGE
    status = missing.json()
    assert status["code"] == 16  # google.rpc.Code UNAUTHENTICATED
    assert "Authorization: Bearer" in status["message"] and "ingest" in status["message"]
    unknown = httpx.post(url, content=body, headers={**proto, **bearer("not-a-token-at-all")})
    assert unknown.status_code == 401 and "not one this server knows" in unknown.text
    scope = httpx.post(url, content=body, headers={**proto, **bearer(QUERY)})
    assert scope.status_code == 403 and scope.json()["code"] == 7  # PERMISSION_DENIED
    assert "needs scope 'ingest'" in scope.json()["message"] and "'reader'" in scope.text
    assert httpx.post(url, content=body, headers={**proto, **bearer(INGEST)}).status_code == 200


def test_zipkin_needs_an_ingest_token(server: RunningServer) -> None:
    url = server.zipkin_url + "/api/v2/spans"
    span = [{"traceId": "5af7183fb1d4cf5f5af7183fb1d4cf5f", "id": "6b221d5bc9e6496c",
             "name": "get /zipkin", "timestamp": int(time.time() * 1e6), "duration": 1000,
             "localEndpoint": {"serviceName": "auth-zipkin"}}]  # fmt: skip
    json = {"Content-Type": "application/json"}
    missing = httpx.post(url, content=orjson.dumps(span), headers=json)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == CHALLENGE
    assert "Authorization: Bearer" in missing.text
    scope = httpx.post(url, content=orjson.dumps(span), headers={**json, **bearer(ADMIN)})
    assert scope.status_code == 403 and "needs scope 'ingest'" in scope.text
    ok = httpx.post(url, content=orjson.dumps(span), headers={**json, **bearer(INGEST)})
    assert ok.status_code == 202, ok.text


def test_query_routes_need_a_query_token(server: RunningServer) -> None:
    paths = ("/api/v1/services", "/api/services", "/api/v3/services", "/metrics",
             "/openapi.json", "/docs")  # fmt: skip
    for path in paths:
        url = server.api_url + path
        missing = httpx.get(url)
        assert missing.status_code == 401, path
        assert missing.headers["www-authenticate"] == CHALLENGE
        assert "Authorization: Bearer" in missing.text  # in each API's own error shape
        scope = httpx.get(url, headers=bearer(INGEST))
        assert scope.status_code == 403 and "needs scope 'query'" in scope.text, path
        assert httpx.get(url, headers=bearer(QUERY)).status_code == 200, path


def test_probes_and_the_ui_shell_stay_open(server: RunningServer) -> None:
    for path in ("/healthz", "/readyz", "/", "/search", "/ui/app.js", "/ui/style.css"):
        assert httpx.get(server.api_url + path).status_code == 200, path


def test_admin_routes_need_an_admin_token(server: RunningServer) -> None:
    rules = server.api_url + "/api/v1/sampling/rules"
    body = {"default_rate": 0.5, "rules": []}
    params = {"service": "auth-admin"}
    assert httpx.put(rules, params=params, json=body).status_code == 401
    read_only = httpx.put(rules, params=params, json=body, headers=bearer(QUERY))
    assert read_only.status_code == 403 and "needs scope 'admin'" in read_only.text
    assert httpx.put(rules, params=params, json=body, headers=bearer(ADMIN)).status_code == 200
    assert httpx.get(rules, params=params, headers=bearer(QUERY)).json()["default_rate"] == 0.5
    assert httpx.get(rules, params=params, headers=bearer(INGEST)).status_code == 200  # SDKs
    deleted = httpx.delete(rules, params=params, headers=bearer(QUERY))
    assert deleted.status_code == 403
    assert httpx.delete(rules, params=params, headers=bearer(ADMIN)).status_code == 200
    retention = server.api_url + "/api/v1/retention"
    assert httpx.post(retention, headers=bearer(QUERY)).status_code == 403
    assert httpx.get(retention, headers=bearer(QUERY)).status_code == 200  # the dry run
    assert httpx.post(retention, headers=bearer(ADMIN)).status_code == 200


def test_refusals_are_counted_on_metrics_and_tokens_never_logged(server: RunningServer) -> None:
    httpx.get(server.api_url + "/api/v1/services")  # one more "missing", at least
    text = httpx.get(server.api_url + "/metrics", headers=bearer(QUERY)).text
    counts = {
        line.split('reason="')[1].split('"')[0]: float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("spanscope_auth_refusals_total{")
    }
    assert set(counts) == {"missing", "unknown", "scope"}
    assert counts["missing"] >= 1
    log = server.log()
    assert "apps, reader, oncall" in log  # the start names the tokens by name
    for token in (INGEST, QUERY, ADMIN):
        assert token not in log


# --- OTLP/gRPC ---------------------------------------------------------------------------


def logs_request() -> logs_service_pb2.ExportLogsServiceRequest:
    request = logs_service_pb2.ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    attribute = resource_logs.resource.attributes.add(key="service.name")
    attribute.value.string_value = "auth-grpc-logs"
    record = resource_logs.scope_logs.add().log_records.add(time_unix_nano=time.time_ns())
    record.body.string_value = "payment declined"
    return request


def grpc_export(server: RunningServer, token: str | None, logs: bool = False) -> grpc.StatusCode:
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    with grpc.insecure_channel(server.otlp_grpc_endpoint) as channel:
        try:
            if logs:
                logs_service_pb2_grpc.LogsServiceStub(channel).Export(
                    logs_request(), metadata=metadata, timeout=10
                )
            else:
                request = trace_service_pb2.ExportTraceServiceRequest.FromString(
                    otlp_request("auth-grpc")
                )
                trace_service_pb2_grpc.TraceServiceStub(channel).Export(
                    request, metadata=metadata, timeout=10
                )
        except grpc.RpcError as exc:
            assert "Bearer" in exc.details() or "scope" in exc.details(), exc.details()
            return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def test_grpc_unauthenticated_and_permission_denied(server: RunningServer) -> None:
    assert grpc_export(server, None) == grpc.StatusCode.UNAUTHENTICATED
    assert grpc_export(server, "not-a-token-at-all") == grpc.StatusCode.UNAUTHENTICATED
    assert grpc_export(server, QUERY) == grpc.StatusCode.PERMISSION_DENIED
    assert grpc_export(server, INGEST) == grpc.StatusCode.OK
    assert grpc_export(server, None, logs=True) == grpc.StatusCode.UNAUTHENTICATED
    assert grpc_export(server, QUERY, logs=True) == grpc.StatusCode.PERMISSION_DENIED
    assert grpc_export(server, INGEST, logs=True) == grpc.StatusCode.OK


# --- the OTel SDK's own exporters, configured by its environment variables ---------------


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_sdk_exporters_with_otel_exporter_otlp_headers(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch, protocol: str
) -> None:
    """What docs/security.md tells users to set; the exporters read it themselves."""
    port = server.ports["otlp_grpc" if protocol == "grpc" else "otlp_http"]
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
    exporter_type = GrpcExporter if protocol == "grpc" else HttpExporter

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"authorization=Bearer {INGEST}")
    sent = make_spans(f"auth-sdk-{protocol}")
    exporter = exporter_type()
    assert exporter.export(sent) == SpanExportResult.SUCCESS
    exporter.shutdown()
    [span] = wait_for_trace(server, sent)["spans"]
    assert span["service"] == f"auth-sdk-{protocol}"

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20wrong-token-0000")
    refused = exporter_type()
    assert refused.export(make_spans("auth-sdk-refused")) == SpanExportResult.FAILURE
    refused.shutdown()


def test_sdk_remote_sampler_reads_rules_with_the_exporters_token(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spanscope.sdk.remote import RemoteSampler

    rules = server.api_url + "/api/v1/sampling/rules"
    body = {"default_rate": 0.125, "rules": []}
    put = httpx.put(rules, params={"service": "auth-remote"}, json=body, headers=bearer(ADMIN))
    assert put.status_code == 200, put.text
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_HEADERS", raising=False)
    without = RemoteSampler("auth-remote", server.api_url, start=False)
    assert without.refresh() is False and "401" in (without.last_error or "")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"authorization=Bearer%20{INGEST}")
    with_env = RemoteSampler("auth-remote", server.api_url, start=False)
    assert with_env.refresh() is True, with_env.last_error
    assert "0.125" in with_env.get_description()


# --- the CLI ----------------------------------------------------------------------------------


def test_cli_sends_token_and_says_what_to_do_without_one(server: RunningServer) -> None:
    runner = CliRunner()
    url = ["--url", server.api_url]
    without = runner.invoke(app, ["services", *url], env={"SPANSCOPE_TOKEN": ""})
    assert without.exit_code == 1
    assert "--token" in without.output and "SPANSCOPE_TOKEN" in without.output
    assert "Traceback" not in without.output
    wrong = runner.invoke(app, ["--token", "wrong-token-0000", "services", *url])
    assert wrong.exit_code == 1 and "not accepted" in wrong.output
    ok = runner.invoke(app, ["--token", QUERY, "services", "--json", *url])
    assert ok.exit_code == 0, ok.output
    from_env = runner.invoke(app, ["services", *url], env={"SPANSCOPE_TOKEN": QUERY})
    assert from_env.exit_code == 0, from_env.output
    rules = ["sampling", "set", "auth-cli", "--default-rate", "0.25", *url]
    denied = runner.invoke(app, ["--token", QUERY, *rules])
    assert denied.exit_code == 1 and "scope 'admin'" in denied.output, denied.output
    assert runner.invoke(app, ["--token", ADMIN, *rules]).exit_code == 0


# --- SIGHUP reloads the file ------------------------------------------------------------------


def test_sighup_reloads_tokens_and_a_broken_file_keeps_them(
    tmp_path: Path, start_spanscope: Callable[..., RunningServer]
) -> None:
    path = write_auth_file(tmp_path, AUTH_FILE)
    running = start_spanscope(tmp_path / "data", {"SPANSCOPE_AUTH_FILE": str(path)})
    services = running.api_url + "/api/v1/services"
    assert httpx.get(services, headers=bearer(QUERY)).status_code == 200

    rotated = "rotated-9d8c7b6a5f4e3d2c1b0a"
    path.write_text(f'[[tokens]]\nname = "rotated"\ntoken = "{rotated}"\nscopes = ["query"]\n')
    hangup(running, "reloaded: 1 tokens (rotated)")
    assert httpx.get(services, headers=bearer(rotated)).status_code == 200
    assert httpx.get(services, headers=bearer(QUERY)).status_code == 401  # removed

    path.write_text('[[tokens]]\nname = "broken"\nscopes = ["query"]\n')  # no token
    hangup(running, "entry 1, key 'token'")
    assert "still using the 1 tokens" in running.log()
    assert httpx.get(services, headers=bearer(rotated)).status_code == 200
    assert rotated not in running.log()


def hangup(server: RunningServer, logged: str) -> None:
    before = server.log().count(logged)
    os.kill(server.pid, signal.SIGHUP)
    deadline = time.monotonic() + WAIT_S
    while server.log().count(logged) == before:
        assert server.process.poll() is None, f"serve exited on SIGHUP:\n{server.log()}"
        assert time.monotonic() < deadline, f"{logged!r} not logged:\n{server.log()}"
        time.sleep(0.05)


# --- start-up refusals ------------------------------------------------------------------------


def serve(tmp_path: Path, *flags: str, env: dict[str, str] | None = None) -> str:
    """Run ``spanscope serve`` expecting it to refuse to start; its output."""
    command = [
        sys.executable, "-m", "spanscope", "serve", "--data-dir", str(tmp_path / "data"),
        "--port", "0", "--otlp-grpc-port", "0", "--otlp-http-port", "0", "--zipkin-port", "0",
        *flags,
    ]  # fmt: skip
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SPANSCOPE_")}
    try:  # a refusal comes before anything binds: a server still up after 20 s is a failure
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=20,
            stdin=subprocess.DEVNULL, env={**environment, **(env or {})},
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"serve {flags} started instead of refusing: {exc.stdout!r}") from None
    output = done.stdout + done.stderr
    assert done.returncode != 0, f"serve started with {flags}:\n{output}"
    assert "Traceback" not in output and not (tmp_path / "data" / "ports.json").exists()
    return output


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_no_auth_file_refuses_a_non_loopback_host(tmp_path: Path, host: str) -> None:
    output = serve(tmp_path, "--host", host)
    assert f"refusing to listen on {host}" in output
    assert "--auth-file" in output and "--insecure-listen" in output


def test_a_bad_auth_file_stops_the_start_naming_entry_and_key(tmp_path: Path) -> None:
    path = write_auth_file(tmp_path, AUTH_FILE + '\n[[tokens]]\ntoken = "short"\nscopes = []\n')
    output = serve(tmp_path, "--auth-file", str(path))
    assert str(path) in output and "entry 4, key 'token'" in output, output
    missing = serve(tmp_path, env={"SPANSCOPE_AUTH_FILE": str(tmp_path / "gone.toml")})
    assert "gone.toml: cannot read it" in missing

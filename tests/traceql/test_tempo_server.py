"""Tempo's API on the real ``spanscope serve``: spans sent by the OpenTelemetry SDK's own
OTLP/HTTP exporter, then found with TraceQL over HTTP (httpx), in Tempo's shapes, per
tenant (``X-Scope-OrgID``)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from tests.support.server import launch

WAIT_S = 30.0


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    api: str
    otlp_http: str
    log: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = launch(tmp_path_factory.mktemp("tempo") / "data")
    try:
        yield Server(running.process, running.api_url, running.otlp_http_url, running.log_path)
    finally:
        code = running.stop()
        assert code == 0, f"spanscope serve exited with {code} on SIGTERM:\n{running.log()}"


def send_checkout(server: Server, tenant: str | None = None) -> str:
    """orders SERVER "POST /checkout" -> CLIENT "charge" -> payments SERVER "POST /charge"
    (error, http.status_code=502), sent by the SDK; returns the trace id."""
    headers = {"X-Scope-OrgID": tenant} if tenant else None

    def provider(service: str) -> TracerProvider:
        p = TracerProvider(
            resource=Resource.create({"service.name": service, "tenant.test": tenant or "-"})
        )
        exporter = OTLPSpanExporter(
            endpoint=server.otlp_http + "/v1/traces", headers=headers, timeout=10
        )
        p.add_span_processor(SimpleSpanProcessor(exporter))
        return p

    orders, payments = provider("orders"), provider("payments")
    tracer = orders.get_tracer("tempo-test")
    with tracer.start_as_current_span("POST /checkout", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.method", "POST")
        with tracer.start_as_current_span("charge", kind=SpanKind.CLIENT):
            with payments.get_tracer("tempo-test").start_as_current_span(
                "POST /charge", kind=SpanKind.SERVER
            ) as charge:
                charge.set_attribute("http.status_code", 502)
                charge.set_status(Status(StatusCode.ERROR, "gateway down"))
        trace_id = format(root.get_span_context().trace_id, "032x")
    orders.shutdown()
    payments.shutdown()
    return trace_id


def wait_for(server: Server, q: str, trace_id: str, headers: dict[str, str] | None = None) -> dict:
    """Search until ``trace_id`` is found whole: its three spans are exported in separate
    requests (two providers), so its root may arrive after the span a query matches."""
    deadline = time.monotonic() + WAIT_S
    while True:
        r = httpx.get(
            server.api + "/tempo/api/search",
            params={"q": q, "limit": "50"},
            headers=headers,
            timeout=10,
        )
        assert r.status_code == 200, r.text
        body = r.json()
        found = [t for t in body["traces"] if t["traceID"] == trace_id]
        if found and sum(s.get("spanCount", 0) for s in found[0]["serviceStats"].values()) == 3:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"trace {trace_id} not found whole by {q!r}: {body}")
        time.sleep(0.2)


def test_traceql_search_finds_the_sdk_trace(server: Server) -> None:
    trace_id = send_checkout(server)
    body = wait_for(server, '{ resource.service.name = "payments" && status = error }', trace_id)
    t = next(t for t in body["traces"] if t["traceID"] == trace_id)
    assert t["rootServiceName"] == "orders" and t["rootTraceName"] == "POST /checkout"
    assert isinstance(t["durationMs"], int) or "durationMs" not in t
    assert int(t["startTimeUnixNano"]) > 0
    (ss,) = t["spanSets"]
    assert ss["matched"] == 1 and ss["spans"][0]["name"] == "POST /charge"
    keys = {a["key"]: a["value"] for a in ss["spans"][0]["attributes"]}
    assert keys == {"service.name": {"stringValue": "payments"}, "status": {"stringValue": "error"}}
    # structural: the server span under the orders client span
    structural = wait_for(server, "{ kind = client } > { span.http.status_code >= 500 }", trace_id)
    assert any(t["traceID"] == trace_id for t in structural["traces"])
    empty = httpx.get(
        server.api + "/tempo/api/search",
        params={"q": '{ kind = server } > { kind = client && name = "POST /charge" }'},
    ).json()
    assert all(t["traceID"] != trace_id for t in empty["traces"])


def test_trace_by_id_and_tags_on_the_server(server: Server) -> None:
    trace_id = send_checkout(server)
    wait_for(server, "{ }", trace_id)
    v2 = httpx.get(f"{server.api}/tempo/api/v2/traces/{trace_id}").json()
    names = sorted(
        s["name"]
        for rs in v2["trace"]["resourceSpans"]
        for ss in rs["scopeSpans"]
        for s in ss["spans"]
    )
    assert names == ["POST /charge", "POST /checkout", "charge"]
    tags = httpx.get(f"{server.api}/api/v2/search/tags").json()
    span_tags = next(s["tags"] for s in tags["scopes"] if s["name"] == "span")
    assert "http.status_code" in span_tags
    values = httpx.get(f"{server.api}/api/v2/search/tag/resource.service.name/values").json()
    assert {"type": "string", "value": "payments"} in values["tagValues"]
    assert httpx.get(f"{server.api}/tempo/api/echo").text == "echo"


def test_bad_query_is_400_on_the_server(server: Server) -> None:
    r = httpx.get(server.api + "/tempo/api/search", params={"q": "{ span.http.status_code = }"})
    assert r.status_code == 400 and r.text.startswith(
        "invalid TraceQL query: parse error at line 1, col 27"
    )
    huge = httpx.get(server.api + "/tempo/api/search", params={"q": "{ " + "(" * 15_000 + " }"})
    assert huge.status_code == 400


def test_tenants_see_only_their_traces(server: Server) -> None:
    trace_id = send_checkout(server, tenant="acme")
    wait_for(
        server, '{ resource.tenant.test = "acme" }', trace_id, headers={"X-Scope-OrgID": "acme"}
    )
    other = httpx.get(
        server.api + "/tempo/api/search",
        params={"q": '{ resource.tenant.test = "acme" }'},
        headers={"X-Scope-OrgID": "globex"},
    ).json()
    assert other["traces"] == []

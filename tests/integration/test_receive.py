"""Spans sent over the wire — by the OpenTelemetry SDK's own exporters and by hand — come
back whole through the query API; bad input gets the right answer and the server keeps
serving."""

from __future__ import annotations

import base64
import gzip
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import httpx
import pytest
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcExporter,
)
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpExporter,
)
from opentelemetry.exporter.zipkin.json import ZipkinExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from tests.support.server import fetch_trace
from tests.support.waiting import wait_until

if TYPE_CHECKING:
    from tests.support.server import RunningServer

NOW_NS = time.time_ns()


def make_checkout_trace(service: str) -> list[ReadableSpan]:
    """A server span with a failing client child: attributes of every type, an event and a
    link — the parts a user checks on the trace page."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource({"service.name": service, "host.name": "box1"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("checkout.instrumentation", "1.2.3")
    with tracer.start_as_current_span("linked job") as job:
        job_context = job.get_span_context()
    with tracer.start_as_current_span("GET /checkout", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.status_code", 500)
        root.set_attribute("http.route", "/checkout")
        with tracer.start_as_current_span(
            "charge card", kind=SpanKind.CLIENT, links=[Link(job_context, {"why": "batch"})]
        ) as child:
            child.set_attribute("retry", True)
            child.set_attribute("amount", 12.5)
            child.set_attribute("items", ["a", "b"])
            child.add_event("card declined", {"code": 51})
            child.set_status(Status(StatusCode.ERROR, "payment declined"))
    provider.shutdown()
    return [s for s in memory.get_finished_spans() if s.name != "linked job"]


def attrs(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {a["key"]: a["value"] for a in items}


def check_checkout(server: RunningServer, sent: list[ReadableSpan], service: str) -> None:
    trace_id = f"{sent[0].context.trace_id:032x}"
    trace = fetch_trace(server.api_url, trace_id, 2)
    assert len(trace["spans"]) == 2
    by_name = {s["name"]: s for s in trace["spans"]}
    root, child = by_name["GET /checkout"], by_name["charge card"]
    sent_by_name = {s.name: s for s in sent}
    assert root["parent_span_id"] is None
    assert (
        child["parent_span_id"]
        == root["span_id"]
        == f"{sent_by_name['GET /checkout'].context.span_id:016x}"
    )
    for name, span in by_name.items():
        assert span["start_time_unix_nano"] == sent_by_name[name].start_time
        assert span["end_time_unix_nano"] == sent_by_name[name].end_time
        assert span["service"] == service
        assert attrs(span["resource"])["host.name"] == "box1"
    assert root["kind"] == "server" and child["kind"] == "client"
    assert attrs(root["attributes"])["http.status_code"] == 500
    child_attrs = attrs(child["attributes"])
    assert child_attrs["retry"] is True and child_attrs["amount"] == 12.5
    assert child["status"] == {"code": "error", "message": "payment declined"}
    assert root["scope"] == {"name": "checkout.instrumentation", "version": "1.2.3"}
    [event] = child["events"]
    assert event["name"] == "card declined"
    assert attrs(event["attributes"]) == {"code": 51}
    [link] = child["links"]
    assert link["trace_id"] != trace_id or link["span_id"] != root["span_id"]
    assert attrs(link["attributes"]) == {"why": "batch"}


def test_otlp_http_exporter(spanscope_server: RunningServer) -> None:
    sent = make_checkout_trace("checkout-http")
    exporter = HttpExporter(endpoint=spanscope_server.otlp_http_url + "/v1/traces")
    assert exporter.export(sent) == SpanExportResult.SUCCESS
    check_checkout(spanscope_server, sent, "checkout-http")


def test_otlp_http_exporter_gzip(spanscope_server: RunningServer) -> None:
    sent = make_checkout_trace("checkout-http-gzip")
    exporter = HttpExporter(
        endpoint=spanscope_server.otlp_http_url + "/v1/traces", compression=Compression.Gzip
    )
    assert exporter.export(sent) == SpanExportResult.SUCCESS
    check_checkout(spanscope_server, sent, "checkout-http-gzip")


def test_otlp_grpc_exporter(spanscope_server: RunningServer) -> None:
    sent = make_checkout_trace("checkout-grpc")
    exporter = GrpcExporter(
        endpoint=spanscope_server.otlp_grpc_endpoint,
        insecure=True,
        compression=grpc.Compression.Gzip,
    )
    assert exporter.export(sent) == SpanExportResult.SUCCESS
    exporter.shutdown()
    check_checkout(spanscope_server, sent, "checkout-grpc")


def test_zipkin_exporter(spanscope_server: RunningServer) -> None:
    sent = make_checkout_trace("checkout-zipkin")
    exporter = ZipkinExporter(endpoint=spanscope_server.zipkin_url + "/api/v2/spans")
    assert exporter.export(sent) == SpanExportResult.SUCCESS
    trace = fetch_trace(spanscope_server.api_url, f"{sent[0].context.trace_id:032x}", 2)
    by_name = {s["name"]: s for s in trace["spans"]}
    root, child = by_name["GET /checkout"], by_name["charge card"]
    assert child["parent_span_id"] == root["span_id"]
    assert root["service"] == "checkout-zipkin"
    assert root["kind"] == "server" and child["kind"] == "client"
    sent_root = next(s for s in sent if s.name == "GET /checkout")
    # Zipkin carries microseconds (the exporter rounds).
    assert abs(root["start_time_unix_nano"] - sent_root.start_time) < 1000
    assert child["status"]["code"] == "error"
    assert [e["name"] for e in child["events"]] == ["card declined"]


# -- raw requests over httpx ------------------------------------------------------------


def raw_request(
    service: str, trace_id: bytes, spans: int = 3
) -> trace_service_pb2.ExportTraceServiceRequest:
    resource = resource_pb2.Resource(
        attributes=[
            common_pb2.KeyValue(key="service.name", value=common_pb2.AnyValue(string_value=service))
        ]
    )
    out = []
    for i in range(spans):
        out.append(
            trace_pb2.Span(
                trace_id=trace_id,
                span_id=(i + 1).to_bytes(8, "big"),
                parent_span_id=b"" if i == 0 else (1).to_bytes(8, "big"),
                name=f"step {i}",
                kind=trace_pb2.Span.SPAN_KIND_INTERNAL,
                start_time_unix_nano=NOW_NS + i * 1000,
                end_time_unix_nano=NOW_NS + 1_000_000 + i * 1000,
                attributes=[common_pb2.KeyValue(key="i", value=common_pb2.AnyValue(int_value=i))],
            )
        )
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                resource=resource, scope_spans=[trace_pb2.ScopeSpans(spans=out)]
            )
        ]
    )


def as_json(request: trace_service_pb2.ExportTraceServiceRequest) -> bytes:
    from google.protobuf import json_format

    body = json_format.MessageToDict(request)
    # OTLP JSON ids are hex, not protobuf JSON's base64.
    for rs in body["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(body).encode()


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
@pytest.mark.parametrize("gzipped", [False, True])
def test_raw_otlp_http(spanscope_server: RunningServer, encoding: str, gzipped: bool) -> None:
    trace_id = bytes.fromhex(f"{encoding == 'json':x}{gzipped:x}" + "ab" * 15)
    request = raw_request(f"raw-{encoding}", trace_id)
    body = request.SerializeToString() if encoding == "protobuf" else as_json(request)
    headers = {
        "Content-Type": f"application/x-{encoding}"
        if encoding == "protobuf"
        else "application/json; charset=utf-8"
    }
    if gzipped:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    answer = httpx.post(
        spanscope_server.otlp_http_url + "/v1/traces", content=body, headers=headers
    )
    assert answer.status_code == 200, answer.text
    if encoding == "protobuf":
        assert answer.headers["content-type"] == "application/x-protobuf"
        response = trace_service_pb2.ExportTraceServiceResponse.FromString(answer.content)
        assert response.partial_success.rejected_spans == 0
    else:
        assert answer.json().get("partialSuccess", {}).get("rejectedSpans", 0) == 0
    trace = fetch_trace(spanscope_server.api_url, trace_id.hex(), 3)
    assert sorted(s["name"] for s in trace["spans"]) == ["step 0", "step 1", "step 2"]
    assert {s["service"] for s in trace["spans"]} == {f"raw-{encoding}"}
    assert sorted(attrs(s["attributes"])["i"] for s in trace["spans"]) == [0, 1, 2]


def test_partial_success_names_the_rejected_span(spanscope_server: RunningServer) -> None:
    request = raw_request("partial", bytes.fromhex("cd" * 16), spans=2)
    request.resource_spans[0].scope_spans[0].spans[1].span_id = bytes(8)  # all-zero: invalid
    answer = httpx.post(
        spanscope_server.otlp_http_url + "/v1/traces",
        content=request.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
    )
    assert answer.status_code == 200
    response = trace_service_pb2.ExportTraceServiceResponse.FromString(answer.content)
    assert response.partial_success.rejected_spans == 1
    assert response.partial_success.error_message


def test_duplicate_send_is_stored_once(spanscope_server: RunningServer) -> None:
    """A request sent again (an SDK retrying after a lost answer) adds no span: neither
    within one store write (two sends in one flush interval) nor against spans stored
    by an earlier write. Waits for "everything acknowledged is written" (no pending spans)
    rather than for a time, so a second copy that is stored late is seen too."""
    trace_id = bytes.fromhex("de" * 16)
    body = raw_request("dup", trace_id).SerializeToString()
    wait_until(lambda: all_stored(spanscope_server), "earlier tests' spans are stored")
    before = spanscope_server.metric("spanscope_stored_spans_total")

    def send() -> None:
        answer = httpx.post(
            spanscope_server.otlp_http_url + "/v1/traces",
            content=body,
            headers={"Content-Type": "application/x-protobuf"},
        )
        assert answer.status_code == 200

    send()
    send()  # back to back: most likely in the same write as the first copy
    wait_until(lambda: all_stored(spanscope_server), "both copies are written to the store")
    assert len(fetch_trace(spanscope_server.api_url, trace_id.hex(), 3)["spans"]) == 3
    send()  # after the first copies are stored: de-duplicated against the table
    wait_until(lambda: all_stored(spanscope_server), "the third copy is written to the store")
    assert len(fetch_trace(spanscope_server.api_url, trace_id.hex(), 3)["spans"]) == 3
    assert spanscope_server.metric("spanscope_stored_spans_total") - before == 3


def all_stored(server: RunningServer) -> bool:
    """Every span the server acknowledged has been written to the store."""
    return server.metric("spanscope_pipeline_pending_spans") == 0


# -- bad input ------------------------------------------------------------------------


def post(server: RunningServer, body: bytes, content_type: str, **headers: str) -> httpx.Response:
    return httpx.post(
        server.otlp_http_url + "/v1/traces",
        content=body,
        headers={"Content-Type": content_type, **headers},
        timeout=60,
    )


def status_message(answer: httpx.Response) -> str:
    if answer.headers["content-type"].startswith("application/json"):
        return str(answer.json()["message"])
    return status_pb2.Status.FromString(answer.content).message


BAD_INPUTS: dict[str, Callable[[RunningServer], httpx.Response]] = {
    "empty body": lambda s: post(s, b"", "application/x-protobuf"),
    "truncated protobuf": lambda s: post(
        s,
        raw_request("t", bytes.fromhex("ee" * 16)).SerializeToString()[:-7],
        "application/x-protobuf",
    ),
    "wrong JSON types": lambda s: post(s, b'{"resourceSpans": "nope"}', "application/json"),
    "not JSON": lambda s: post(s, b"{resourceSpans", "application/json"),
    "bad gzip": lambda s: post(
        s, b"not gzip", "application/x-protobuf", **{"Content-Encoding": "gzip"}
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_bodies_get_400_with_a_reason(spanscope_server: RunningServer, case: str) -> None:
    answer = BAD_INPUTS[case](spanscope_server)
    assert answer.status_code == 400
    assert status_message(answer)
    assert httpx.get(spanscope_server.api_url + "/healthz").status_code == 200


def test_unknown_content_type_and_encoding_get_415(spanscope_server: RunningServer) -> None:
    answer = post(spanscope_server, b"x", "text/plain")
    assert answer.status_code == 415
    assert "application/x-protobuf" in status_message(answer)
    answer = post(spanscope_server, b"x", "application/x-protobuf", **{"Content-Encoding": "br"})
    assert answer.status_code == 415
    assert "'br'" in status_message(answer)


def test_oversized_body_gets_413(spanscope_server: RunningServer) -> None:
    answer = post(spanscope_server, bytes(17 * 1024 * 1024), "application/x-protobuf")
    assert answer.status_code == 413
    assert "limit" in status_message(answer)


def test_gzip_bomb_gets_413_without_inflating_it(spanscope_server: RunningServer) -> None:
    bomb = gzip.compress(bytes(200 * 1024 * 1024), compresslevel=9)
    answer = post(spanscope_server, bomb, "application/x-protobuf", **{"Content-Encoding": "gzip"})
    assert answer.status_code == 413
    assert "inflates past" in status_message(answer)
    # Still serving.
    assert (
        post(
            spanscope_server,
            raw_request("after-bomb", bytes.fromhex("ef" * 16)).SerializeToString(),
            "application/x-protobuf",
        ).status_code
        == 200
    )


def test_wrong_path_and_method(spanscope_server: RunningServer) -> None:
    assert httpx.post(spanscope_server.otlp_http_url + "/v1/logz", content=b"").status_code == 404
    answer = httpx.get(spanscope_server.otlp_http_url + "/v1/traces")
    assert answer.status_code == 405 and answer.headers["allow"] == "POST"


def test_zipkin_bad_body_gets_400_with_a_message(spanscope_server: RunningServer) -> None:
    answer = httpx.post(
        spanscope_server.zipkin_url + "/api/v2/spans",
        content=b'{"id": 1}',
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    assert answer.text


def test_overload_answers_429_and_resource_exhausted(
    start_spanscope: Callable[..., RunningServer], tmp_path: Path
) -> None:
    server = start_spanscope(
        tmp_path / "data",
        env={"SPANSCOPE_MAX_PENDING_SPANS": "1", "SPANSCOPE_FLUSH_INTERVAL_S": "3"},
    )
    body = raw_request("busy", bytes.fromhex("aa" * 16)).SerializeToString()
    assert post(server, body, "application/x-protobuf").status_code == 200
    # The first request's spans wait ~3 s for the writer: nothing more fits meanwhile.
    answer = post(
        server,
        raw_request("busy", bytes.fromhex("ab" * 16)).SerializeToString(),
        "application/x-protobuf",
    )
    assert answer.status_code == 429
    assert int(answer.headers["retry-after"]) >= 1
    assert "limit 1" in status_message(answer)

    with grpc.insecure_channel(server.otlp_grpc_endpoint) as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.Export(raw_request("busy", bytes.fromhex("ac" * 16)), timeout=10)
    error: Any = info.value
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "google.rpc.retryinfo-bin" in dict(error.trailing_metadata())
    # The acknowledged request is stored once the writer catches up.
    assert len(fetch_trace(server.api_url, "aa" * 16, 3)["spans"]) == 3
    assert server.stop() == 0


def test_grpc_undecodable_request_is_invalid_argument(spanscope_server: RunningServer) -> None:
    with grpc.insecure_channel(spanscope_server.otlp_grpc_endpoint) as channel:
        export = channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )
        with pytest.raises(grpc.RpcError) as info:
            export(b"\x0a\xff\xff\xff", timeout=10)
    error: Any = info.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details()

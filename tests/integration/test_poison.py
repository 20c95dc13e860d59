"""Poison spans against the real server, one receiver at a time (issue 10).

A span whose end time is >= 2^63 ns, a ``dropped_events_count`` that the excess events
push past uint32, an event time beyond int64, a Zipkin duration or timestamp of 2^62 µs:
each used to be answered 200 and then stop all storing for good. Now each is refused
(partial_success / 400 naming the field and value) or kept with a warning, never a 5xx;
the next good span is queryable within seconds; and the server restarts on the same data
dir with the good span still there.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import httpx
import orjson
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

INT64_MAX = 2**63 - 1
UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1


def ids(n: int) -> tuple[bytes, bytes]:
    """A trace id and a span id unique to this test file."""
    return (0xD0D0_0000_0000_0000_0000_0000_0000_0000 + n).to_bytes(16, "big"), (
        0xB000_0000_0000_0000 + n
    ).to_bytes(8, "big")


def trace_request(spans: list[dict[str, Any]]) -> trace_service_pb2.ExportTraceServiceRequest:
    request = trace_service_pb2.ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.append(
        KeyValue(key="service.name", value=AnyValue(string_value="poisoned"))
    )
    scope = rs.scope_spans.add()
    for fields in spans:
        fields = dict(fields)
        n_events = fields.pop("n_events", 0)
        event_time = fields.pop("event_time", None)
        pb = scope.spans.add(**fields)
        for i in range(n_events):
            pb.events.add(time_unix_nano=event_time or fields["start_time_unix_nano"], name=f"e{i}")
    return request


def poison_spans(base: int) -> list[dict[str, Any]]:
    """Span ``base``: end 2^63 (refused); ``base+1``: dropped_events_count 2^32-1 and 129
    events (kept, saturated); ``base+2``: an event at 2^64-1 ns (kept, clamped)."""
    now = time.time_ns()
    out = []
    for n, extra in (
        (base, {"end_time_unix_nano": 2**63}),
        (base + 1, {"dropped_events_count": UINT32_MAX, "n_events": 129}),
        (base + 2, {"n_events": 1, "event_time": UINT64_MAX}),
    ):
        trace_id, span_id = ids(n)
        span = {
            "trace_id": trace_id,
            "span_id": span_id,
            "name": f"poison {n}",
            "start_time_unix_nano": now - 2_000_000,
            "end_time_unix_nano": now,
        }
        out.append({**span, **extra})
    return out


def good_span(n: int) -> dict[str, Any]:
    trace_id, span_id = ids(n)
    now = time.time_ns()
    return {
        "trace_id": trace_id,
        "span_id": span_id,
        "name": f"good {n}",
        "start_time_unix_nano": now - 1_000_000,
        "end_time_unix_nano": now,
    }


def as_json(request: trace_service_pb2.ExportTraceServiceRequest) -> bytes:
    """OTLP/JSON of the request (hex ids, times as decimal strings, as the spec says)."""
    spans = []
    for pb in request.resource_spans[0].scope_spans[0].spans:
        span: dict[str, Any] = {
            "traceId": pb.trace_id.hex(),
            "spanId": pb.span_id.hex(),
            "name": pb.name,
            "startTimeUnixNano": str(pb.start_time_unix_nano),
            "endTimeUnixNano": str(pb.end_time_unix_nano),
        }
        if pb.dropped_events_count:
            span["droppedEventsCount"] = pb.dropped_events_count
        if pb.events:
            span["events"] = [
                {"timeUnixNano": str(e.time_unix_nano), "name": e.name} for e in pb.events
            ]
        spans.append(span)
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "poisoned"}}]}
    return orjson.dumps(
        {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}
    )


def trace_json(server: Any, n: int, timeout_s: float = 20) -> dict[str, Any]:
    """GET trace ``n`` until its span is queryable (bounded deadline)."""
    trace_id, span_id = ids(n)
    deadline = time.monotonic() + timeout_s
    while True:
        answer = httpx.get(f"{server.api_url}/api/v1/traces/{trace_id.hex()}", timeout=10)
        if answer.status_code == 200 and span_id.hex() in answer.text:
            return answer.json()
        assert time.monotonic() < deadline, f"span {span_id.hex()} not queryable: {answer.text}"
        time.sleep(0.1)


def check_kept_poison(server: Any, base: int) -> None:
    (saturated,) = trace_json(server, base + 1)["spans"]
    assert saturated["dropped_events_count"] == UINT32_MAX
    assert "dropped_events_count 4294967296 saturated at 4294967295" in saturated["warnings"]
    (clamped,) = trace_json(server, base + 2)["spans"]
    assert clamped["events"][0]["time_unix_nano"] == clamped["end_time_unix_nano"]
    assert any("event 'e0' time 18446744073709551615" in w for w in clamped["warnings"])


def restart_keeps(start_spanscope: Callable[..., Any], server: Any, n: int) -> None:
    """Stop (SIGTERM) and start again on the same data dir: it starts, span n is there."""
    assert server.stop() == 0, server.log()
    again = start_spanscope(server.data_dir)
    trace_json(again, n, timeout_s=30)


def post(url: str, body: bytes, content_type: str, **headers: str) -> httpx.Response:
    return httpx.post(url, content=body, headers={"Content-Type": content_type, **headers})


def test_otlp_http_protobuf(start_spanscope: Callable[..., Any], tmp_path: Path) -> None:
    server = start_spanscope(tmp_path / "data")
    body = trace_request(poison_spans(100)).SerializeToString()
    answer = post(server.otlp_http_url + "/v1/traces", body, "application/x-protobuf")
    assert answer.status_code == 200, answer.content
    response = trace_service_pb2.ExportTraceServiceResponse.FromString(answer.content)
    assert response.partial_success.rejected_spans == 1
    assert "end time 9223372036854775808" in response.partial_success.error_message
    good = trace_request([good_span(110)]).SerializeToString()
    assert post(server.otlp_http_url + "/v1/traces", good, "application/x-protobuf").is_success
    trace_json(server, 110)
    check_kept_poison(server, 100)
    restart_keeps(start_spanscope, server, 110)


def test_otlp_http_json(start_spanscope: Callable[..., Any], tmp_path: Path) -> None:
    server = start_spanscope(tmp_path / "data")
    url = server.otlp_http_url + "/v1/traces"
    answer = post(url, as_json(trace_request(poison_spans(200))), "application/json")
    assert answer.status_code == 200, answer.text
    partial = answer.json()["partialSuccess"]
    assert partial["rejectedSpans"] == 1
    assert "end time 9223372036854775808" in partial["errorMessage"]
    # A number no double holds: refused as a whole, with a reason, not a 500.
    huge = as_json(trace_request([good_span(201)])).replace(
        b'"name"', b'"n":1' + b"0" * 400 + b',"name"'
    )
    answer = post(url, huge, "application/json")
    assert answer.status_code == 400 and "number" in answer.json()["message"], answer.text
    # An integer beyond 64 bits as a JSON number: that span is refused, naming the field.
    wide = as_json(trace_request([good_span(202)])).replace(
        b'"endTimeUnixNano":"', b'"endTimeUnixNano":184467440737095516160,"x":"'
    )
    answer = post(url, wide, "application/json")
    assert answer.status_code == 200, answer.text
    assert "endTimeUnixNano" in answer.json()["partialSuccess"]["errorMessage"]
    assert post(url, as_json(trace_request([good_span(210)])), "application/json").is_success
    trace_json(server, 210)
    check_kept_poison(server, 200)
    restart_keeps(start_spanscope, server, 210)


def test_otlp_grpc(start_spanscope: Callable[..., Any], tmp_path: Path) -> None:
    server = start_spanscope(tmp_path / "data")
    with grpc.insecure_channel(server.otlp_grpc_endpoint) as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        response = stub.Export(trace_request(poison_spans(300)), timeout=30)
        assert response.partial_success.rejected_spans == 1
        assert "end time 9223372036854775808" in response.partial_success.error_message
        stub.Export(trace_request([good_span(310)]), timeout=30)
    trace_json(server, 310)
    check_kept_poison(server, 300)
    restart_keeps(start_spanscope, server, 310)


def zipkin_span(n: int, **fields: Any) -> dict[str, Any]:
    trace_id, span_id = ids(n)
    return {
        "traceId": trace_id.hex(),
        "id": span_id.hex(),
        "name": f"zipkin {n}",
        "timestamp": time.time_ns() // 1000 - 2_000,
        "duration": 1_000,
        "localEndpoint": {"serviceName": "poisoned-zipkin"},
        **fields,
    }


def test_zipkin(start_spanscope: Callable[..., Any], tmp_path: Path) -> None:
    server = start_spanscope(tmp_path / "data")
    url = server.zipkin_url + "/api/v2/spans"
    for n, fields, named in (
        (400, {"duration": 2**62}, "duration 4611686018427387904 µs"),
        (401, {"timestamp": 2**62}, "timestamp 4611686018427387904 µs"),
    ):
        answer = post(url, orjson.dumps([zipkin_span(n, **fields)]), "application/json")
        assert answer.status_code == 400 and named in answer.text, answer.text
    late = zipkin_span(402, annotations=[{"timestamp": 2**62, "value": "late"}])
    answer = post(url, orjson.dumps([late, zipkin_span(410)]), "application/json")
    assert answer.status_code == 202, answer.text
    trace_json(server, 410)
    (span,) = trace_json(server, 402)["spans"]
    assert span["events"][0]["time_unix_nano"] == span["end_time_unix_nano"]
    assert any("annotation 'late' timestamp 4611686018427387904 µs" in w for w in span["warnings"])
    restart_keeps(start_spanscope, server, 410)


# -- request plumbing: trailing gzip bytes and non-canonical paths get 400 -------------


def test_gzip_with_trailing_bytes_gets_400_naming_it(spanscope_server: Any) -> None:
    good = trace_request([good_span(500)]).SerializeToString()
    body = gzip.compress(good) + b"trailing junk"
    for url, content_type, payload in (
        (spanscope_server.otlp_http_url + "/v1/traces", "application/x-protobuf", body),
        (
            spanscope_server.zipkin_url + "/api/v2/spans",
            "application/json",
            gzip.compress(orjson.dumps([zipkin_span(501)])) + b"\x00",
        ),
    ):
        answer = post(url, payload, content_type, **{"Content-Encoding": "gzip"})
        assert answer.status_code == 400, (url, answer.status_code)
        assert "after the end of the gzip stream" in answer.text, answer.text


def test_non_canonical_paths_get_400(spanscope_server: Any) -> None:
    body = trace_request([good_span(502)]).SerializeToString()
    for url in (
        spanscope_server.otlp_http_url + "/v1/traces//",
        spanscope_server.otlp_http_url + "/v1/traces/",
        spanscope_server.otlp_http_url + "//v1/traces",
        spanscope_server.otlp_http_url + "/v1/logs//",
        spanscope_server.zipkin_url + "/api/v2/spans//",
    ):
        answer = post(url, body, "application/x-protobuf")
        assert answer.status_code == 400, (url, answer.status_code)
        assert "not canonical" in answer.text, answer.text
    answer = post(spanscope_server.otlp_http_url + "/v1/traces", body, "application/x-protobuf")
    assert answer.status_code == 200


def test_a_wal_holding_poison_from_before_the_checks_replays(
    start_spanscope: Callable[..., Any], tmp_path: Path
) -> None:
    """A data dir whose write-ahead log already holds poison requests (acknowledged by a
    server without these checks) starts, and replay stores everything storable: the
    decoders replay runs are the ones that now range-check."""
    from spanscope.ingest.wal import WriteAheadLog

    data = tmp_path / "data"
    wal = WriteAheadLog(data / "wal")
    try:
        pending = [
            wal.append("otlp-proto", trace_request(poison_spans(600)).SerializeToString()),
            wal.append("otlp-json", as_json(trace_request(poison_spans(610)))),
            wal.append(
                "zipkin-json",
                orjson.dumps([zipkin_span(620, duration=2**62), zipkin_span(621)]),
            ),
            wal.append("otlp-proto", trace_request([good_span(630)]).SerializeToString()),
        ]
        for _, durable in pending:
            durable.result(timeout=30)
    finally:
        wal.close()
    server = start_spanscope(data)
    trace_json(server, 630)
    trace_json(server, 621)
    check_kept_poison(server, 600)
    check_kept_poison(server, 610)

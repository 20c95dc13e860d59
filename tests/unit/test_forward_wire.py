"""Spans cross between collectors as OTLP protobuf and come back the same."""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from spanscope.batch import SpanTable, batch_to_spans, sampling_table, spans_table
from spanscope.ingest.forward_wire import (
    DECISIONS_KEY,
    decisions_of,
    decode_decided,
    decode_forwarded,
    encode_spans,
    encode_table,
)
from spanscope.ingest.limits import DEFAULT_LIMITS
from spanscope.model.spans import Event, Link, Span, SpanKind, StatusCode

T1 = bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")
T2 = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
NOW = 1_764_000_000_000_000_000  # 2025-11: times the decoder takes as real


def _spans() -> list[Span]:
    root = Span(
        T1, b"\x01" * 8, "GET /cart", NOW + 1_000, NOW + 9_000, service="frontend",
        kind=SpanKind.SERVER, status_code=StatusCode.ERROR, status_message="boom",
        attributes={"http.status_code": 503, "ok": False, "ratio": 0.5, "tags": ["a", "b"],
                    "raw": b"\x00\x01", "nested": {"k": "v"}},
        resource={"service.name": "frontend", "host.name": "h1"},
        scope_name="shop", scope_version="1.2", trace_state="ot=th:8", flags=1,
        events=[Event(NOW + 2_000, "retry", {"attempt": 2})],
        links=[Link(T2, b"\x02" * 8, "", {"why": "batch"})],
    )  # fmt: skip
    child = Span(T1, b"\x03" * 8, "SELECT", NOW + 2_000, NOW + 3_000, service="db",
                 parent_span_id=b"\x01" * 8, kind=SpanKind.CLIENT,
                 resource={"service.name": "db"})  # fmt: skip
    other = Span(T2, b"\x04" * 8, "job", NOW + 5, NOW + 6, service="worker", resource={})
    return [root, child, other]


def _key(s: Span) -> tuple:
    return (s.trace_id, s.span_id, s.parent_span_id, s.name, s.start_ns, s.end_ns, s.service,
            s.kind, s.status_code, s.status_message, s.attributes, s.scope_name,
            s.scope_version, s.trace_state, s.flags,
            [(e.time_ns, e.name, e.attributes) for e in s.events],
            [(lk.trace_id, lk.span_id, lk.attributes) for lk in s.links])  # fmt: skip


def test_forwarded_spans_decode_to_what_was_sent() -> None:
    sent = _spans()
    result = decode_forwarded(encode_spans(sent), DEFAULT_LIMITS)
    assert result.rejected == 0
    got = batch_to_spans(_as_table(result.spans))
    assert sorted(map(_key, got)) == sorted(map(_key, sent))
    assert {s.span_id: s.resource.get("host.name") for s in got}[b"\x01" * 8] == "h1"


def _as_table(cols: object) -> SpanTable:
    from spanscope.batch import columns_table

    return columns_table(cols)  # type: ignore[arg-type]


def test_decided_spans_carry_their_sampling_decisions() -> None:
    table = spans_table(_spans())
    table.sampling = sampling_table([(T1, "errors", 1.0, 77), (T2, "normal", 20.0, 78)])
    body = encode_table(table, decisions_of([table]))
    request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
    assert request.resource_spans[-1].resource.attributes[0].key == DECISIONS_KEY
    result = decode_decided(body, DEFAULT_LIMITS)
    assert len(result.spans) == 3
    assert result.spans.sampling is not None
    assert sorted(result.spans.sampling.to_pylist(), key=lambda r: r["policy"]) == [
        {"trace_hi": int.from_bytes(T1[:8], "big"), "trace_lo": int.from_bytes(T1[8:], "big"),
         "policy": "errors", "weight": 1.0, "decided_ns": 77},
        {"trace_hi": int.from_bytes(T2[:8], "big"), "trace_lo": int.from_bytes(T2[8:], "big"),
         "policy": "normal", "weight": 20.0, "decided_ns": 78},
    ]  # fmt: skip


def test_a_request_without_decisions_records_none() -> None:
    result = decode_decided(encode_spans(_spans()), DEFAULT_LIMITS)
    assert result.spans.sampling is None and len(result.spans) == 3


def test_every_decoder_tag_can_be_written_to_the_wal() -> None:
    # a receiver's format that the WAL cannot tag is a 500 on every request of it (the
    # forwarded/decided tags were missing at first: traces never reached the storage node)
    from spanscope.ingest.decoders import DECODERS
    from spanscope.ingest.wal_segment import FORMATS

    assert set(DECODERS) <= set(FORMATS), set(DECODERS) - set(FORMATS)

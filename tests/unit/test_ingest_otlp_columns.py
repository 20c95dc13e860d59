"""The receivers' columnar OTLP decoder (the one OTLP protobuf decode path): columns hold
every span, refuse and cap as the limits say, and the DuckDB store reads back what it wrote."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from test_ingest_otlp import NOW, PARENT, SPAN, START, TRACE, full_request, kv

from spanscope.columnar import SpanColumns
from spanscope.ingest.limits import Limits
from spanscope.ingest.otlp import decode_otlp_protobuf
from spanscope.ingest.otlp_columns import decode_otlp_columns
from spanscope.ingest.results import DecodeError
from spanscope.store.duckdb import DuckDBStore
from tests.support.workload import make_request


def _odd_request() -> ExportTraceServiceRequest:
    """Bad spans, caps, duplicate keys, unknown enums, a resource without a service."""
    request = full_request()
    rs = request.resource_spans.add()
    rs.resource.attributes.append(kv("host.name", "no-service"))
    spans = rs.scope_spans.add().spans
    base = dict(trace_id=TRACE, name="op", start_time_unix_nano=START, end_time_unix_nano=START)
    spans.add(**base, span_id=bytes(8))  # rejected: zero id
    spans.add(**{**base, "end_time_unix_nano": START - 1}, span_id=b"\x02" * 8)  # rejected
    dup = spans.add(**base, span_id=b"\x03" * 8, kind=9, parent_span_id=bytes(8))
    dup.attributes.extend([kv("k", "text"), kv("k", 7), kv("big", 2**62), kv("x", "y" * 300)])
    dup.status.code = 7
    many = spans.add(**{**base, "name": "n" * 2000}, span_id=b"\x04" * 8, parent_span_id=PARENT)
    many.attributes.extend([kv(f"a{i}", i) for i in range(40)] + [KeyValue(key="empty")])
    many.events.add(time_unix_nano=START, name="e").attributes.append(kv("f", 1.5))
    spans.add(**base, span_id=SPAN)  # the same span id as the full request's span
    return request


@pytest.mark.parametrize("seed", [0, 1])
def test_columns_hold_every_span_and_round_trip_through_span_objects(seed: int) -> None:
    body = make_request(n_spans=200, seed=seed, now_ns=NOW).SerializeToString()
    got = decode_otlp_columns(body, now_ns=NOW)
    spans = got.spans.to_spans()
    assert len(got.spans) == len(spans) == 200 and got.rejected == 0
    assert SpanColumns.from_spans(spans).to_spans() == spans
    assert all(s.attributes and s.service for s in spans)


def test_bad_and_capped_spans_are_refused_or_capped_with_warnings() -> None:
    body = _odd_request().SerializeToString()
    limits = Limits(max_attributes=10, max_name_bytes=100, max_attribute_value_bytes=64)
    got = decode_otlp_columns(body, limits, now_ns=NOW)
    assert got.rejected == 2 and got.first_error and "all zeros" in got.first_error
    spans = {s.span_id: s for s in got.spans.to_spans()}
    capped = spans[b"\x04" * 8]
    assert len(capped.name.encode()) <= 100 and len(capped.attributes) == 10
    assert capped.dropped_attributes_count >= 30 and capped.warnings
    assert len(spans[b"\x03" * 8].attributes["x"]) == 64


def test_undecodable_body_is_refused_with_a_reason() -> None:
    for body, reason in ((b"", "empty body"), (b"\x0a\xff\xff", "not a valid OTLP")):
        with pytest.raises(DecodeError, match=reason):
            decode_otlp_columns(body)
        with pytest.raises(DecodeError, match=reason):
            decode_otlp_protobuf(body)


def test_concat_and_take_keep_each_rows_attributes() -> None:
    spans = decode_otlp_protobuf(_odd_request().SerializeToString(), now_ns=NOW).spans
    halves = [SpanColumns.from_spans(spans[:2]), SpanColumns.from_spans(spans[2:])]
    joined = SpanColumns.concat(halves)
    assert joined.to_spans() == spans
    assert joined.take([3, 0]).to_spans() == [spans[3], spans[0]]


def test_store_reads_back_columns_written_once(tmp_path: Path) -> None:
    body = _odd_request().SerializeToString()
    expected = decode_otlp_protobuf(body, now_ns=NOW).spans
    store = DuckDBStore(tmp_path / "spans.duckdb")
    cols = decode_otlp_columns(body, now_ns=NOW).spans
    # The batch repeats one span id of the trace, and the second write repeats them all.
    assert store.write_columns(cols, wal_position=1) == len(expected) - 1
    assert store.write_columns(cols, wal_position=2) == 0
    trace = store.trace(TRACE)
    assert trace is not None
    by_id = {s.span_id: s for s in trace.spans}
    first_copies = {}
    for s in expected:
        first_copies.setdefault(s.span_id, s)
    assert by_id == first_copies
    assert store.wal_position() == 2
    store.close()

"""Poison values: numbers at the edge of their wire type never reach the store unchecked.

Each decoder range-checks every number the store keeps in a fixed-width column (issue 10):
a time beyond int64 nanoseconds refuses the span naming the field and value; a count that
would overflow uint32 is saturated with a warning on the span; an event time beyond int64
is clamped to the span's end with a warning. Every kept span is then written to a real
DuckDB store, which is what used to fail.
"""

from __future__ import annotations

import time

import orjson
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from spanscope.ingest.decode_worker import _decode, _Packed
from spanscope.ingest.limits import DEFAULT_LIMITS
from spanscope.ingest.otlp import decode_otlp_protobuf, decode_otlp_request
from spanscope.ingest.otlp_columns import decode_otlp_columns
from spanscope.ingest.otlp_json import decode_otlp_json
from spanscope.ingest.otlp_logs import decode_otlp_logs_json, decode_otlp_logs_protobuf
from spanscope.ingest.otlp_metrics import decode_otlp_metrics_json, decode_otlp_metrics_protobuf
from spanscope.ingest.results import DecodeError
from spanscope.ingest.zipkin import decode_zipkin_json
from spanscope.model.signals import SignalBatch
from spanscope.model.spans import Span
from spanscope.store.duckdb import DuckDBStore
from spanscope.store.duckdb_schema import columns_table

NOW = 1_800_000_000_000_000_000
START = NOW - 5_000_000
INT64_MAX = 2**63 - 1
UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


def stored(spans: list[Span]) -> list[Span]:
    """Write the spans to a real DuckDB store and read them back."""
    store = DuckDBStore(":memory:")
    try:
        assert store.write(spans) == len(spans)
        trace = store.trace(spans[0].trace_id)
        assert trace is not None
        return trace.spans
    finally:
        store.close()


# --- OTLP protobuf (the served columnar path, the Span path, gRPC's parsed request) -----


def pb_request(**span_fields: object) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    fields = {
        "trace_id": bytes.fromhex(TRACE),
        "span_id": bytes.fromhex(SPAN),
        "name": "poison",
        "start_time_unix_nano": START,
        "end_time_unix_nano": NOW,
        **span_fields,
    }
    events = fields.pop("events", 0)
    attributes = fields.pop("attributes", 0)
    links = fields.pop("links", 0)
    event_time = fields.pop("event_time", START)
    pb = request.resource_spans.add().scope_spans.add().spans.add(**fields)
    for i in range(int(events)):  # type: ignore[call-overload]
        pb.events.add(time_unix_nano=event_time, name=f"e{i}")
    for i in range(int(attributes)):  # type: ignore[call-overload]
        pb.attributes.add(key=f"k{i}").value.int_value = i
    for i in range(int(links)):  # type: ignore[call-overload]
        pb.links.add(trace_id=bytes.fromhex(TRACE), span_id=(i + 1).to_bytes(8, "big"))
    return request


def pb_decoders(request: ExportTraceServiceRequest) -> dict[str, tuple[int, str | None, list]]:
    """(rejected, first error, spans) from every OTLP protobuf entry point."""
    body = request.SerializeToString()
    columns = decode_otlp_columns(body, now_ns=NOW)
    as_spans = decode_otlp_protobuf(body, now_ns=NOW)
    grpc = decode_otlp_request(request, now_ns=NOW)
    columns_table(columns.spans)  # the Arrow conversion the store and decode workers run
    return {
        "columns": (columns.rejected, columns.first_error, columns.spans.to_spans()),
        "spans": (as_spans.rejected, as_spans.first_error, as_spans.spans),
        "grpc": (grpc.rejected, grpc.first_error, grpc.spans),
    }


@pytest.mark.parametrize("end", [2**63, UINT64_MAX])
def test_protobuf_end_time_beyond_int64_rejects_the_span_naming_it(end: int) -> None:
    for path, (rejected, error, spans) in pb_decoders(pb_request(end_time_unix_nano=end)).items():
        assert (rejected, spans) == (1, []), path
        assert error is not None and "end time" in error and str(end) in error, path


def test_protobuf_start_time_beyond_int64_rejects_the_span() -> None:
    request = pb_request(start_time_unix_nano=2**63, end_time_unix_nano=UINT64_MAX)
    for path, (rejected, error, _) in pb_decoders(request).items():
        assert rejected == 1 and error is not None and str(2**63) in error, path


@pytest.mark.parametrize(
    ("field", "items", "what"),
    [
        ("dropped_events_count", "events", "events"),
        ("dropped_attributes_count", "attributes", "attributes"),
        ("dropped_links_count", "links", "links"),
    ],
)
def test_protobuf_dropped_counts_saturate_at_uint32_with_a_warning(
    field: str, items: str, what: str
) -> None:
    request = pb_request(**{field: UINT32_MAX, items: 129})
    for path, (rejected, _, spans) in pb_decoders(request).items():
        assert rejected == 0, path
        (span,) = spans
        assert getattr(span, field) == UINT32_MAX, path
        assert f"{field} 4294967296 saturated at 4294967295" in span.warnings, path
    (back,) = stored(spans)
    assert getattr(back, field) == UINT32_MAX


def test_protobuf_event_time_beyond_int64_is_clamped_to_the_span_end() -> None:
    request = pb_request(events=1, event_time=UINT64_MAX)
    for path, (rejected, _, spans) in pb_decoders(request).items():
        assert rejected == 0, path
        (span,) = spans
        assert span.events[0].time_ns == NOW, path
        assert any(
            "event 'e0' time 18446744073709551615" in w and "span's end time" in w
            for w in span.warnings
        ), (path, span.warnings)
    assert stored(spans)[0].events[0].time_ns == NOW


def test_a_decode_worker_answers_poison_with_a_rejection_not_an_exception() -> None:
    now = time.time_ns()  # a worker decodes against the real clock
    times = {"start_time_unix_nano": now - 1000, "end_time_unix_nano": now, "event_time": now}
    rejected = pb_request(**{**times, "end_time_unix_nano": 2**63})
    saturated = pb_request(**times, dropped_events_count=UINT32_MAX, events=129)
    for request, expected in ((rejected, 1), (saturated, 0)):
        packed = _decode(request.SerializeToString(), DEFAULT_LIMITS)
        assert isinstance(packed, _Packed), packed
        assert packed.rejected == expected


# --- OTLP/JSON -------------------------------------------------------------------------


def json_body(span: dict, raw_tail: bytes = b"") -> bytes:
    span = {
        "traceId": TRACE,
        "spanId": SPAN,
        "name": "poison",
        "startTimeUnixNano": str(START),
        "endTimeUnixNano": str(NOW),
        **span,
    }
    return orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]})


@pytest.mark.parametrize("end", ["9223372036854775808", 2**63, "18446744073709551615"])
def test_json_end_time_beyond_int64_rejects_the_span_naming_it(end: object) -> None:
    result = decode_otlp_json(json_body({"endTimeUnixNano": end}), now_ns=NOW)
    assert (result.rejected, result.spans) == (1, [])
    assert result.first_error is not None and "end time" in result.first_error
    assert str(end) in result.first_error


def test_json_integers_beyond_64_bits_reject_the_span_naming_the_field() -> None:
    body = json_body({}).replace(
        f'"endTimeUnixNano":"{NOW}"'.encode(), b'"endTimeUnixNano":184467440737095516160'
    )
    result = decode_otlp_json(body, now_ns=NOW)
    assert result.rejected == 1
    assert result.first_error is not None and "endTimeUnixNano" in result.first_error


def test_json_numbers_beyond_a_double_are_a_clear_400() -> None:
    body = json_body({}).replace(f'"{NOW}"'.encode(), b"1" + b"0" * 400)
    with pytest.raises(DecodeError, match="number"):
        decode_otlp_json(body, now_ns=NOW)


def test_json_dropped_events_count_saturates_with_a_warning() -> None:
    events = [{"timeUnixNano": str(START), "name": f"e{i}"} for i in range(129)]
    body = json_body({"droppedEventsCount": UINT32_MAX, "events": events})
    result = decode_otlp_json(body, now_ns=NOW)
    (span,) = result.spans
    assert span.dropped_events_count == UINT32_MAX
    assert "dropped_events_count 4294967296 saturated at 4294967295" in span.warnings
    assert stored(result.spans)[0].dropped_events_count == UINT32_MAX


def test_json_event_time_beyond_int64_is_clamped() -> None:
    body = json_body({"events": [{"timeUnixNano": str(UINT64_MAX), "name": "late"}]})
    (span,) = decode_otlp_json(body, now_ns=NOW).spans
    assert span.events[0].time_ns == NOW
    assert any("event 'late' time 18446744073709551615" in w for w in span.warnings)
    assert stored([span])[0].events[0].time_ns == NOW


# --- Zipkin ----------------------------------------------------------------------------


def zipkin_body(**fields: object) -> bytes:
    span = {
        "traceId": TRACE,
        "id": SPAN,
        "name": "poison",
        "timestamp": START // 1000,
        "duration": 5000,
        "localEndpoint": {"serviceName": "zk"},
        **fields,
    }
    return orjson.dumps([span])


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"duration": 2**62}, "duration"),
        ({"duration": UINT64_MAX}, "duration"),
        ({"timestamp": 2**62}, "timestamp"),
        ({"timestamp": UINT64_MAX}, "timestamp"),
    ],
)
def test_zipkin_times_that_overflow_int64_ns_reject_the_span_naming_the_field(
    fields: dict, named: str
) -> None:
    result = decode_zipkin_json(zipkin_body(**fields), now_ns=NOW)
    assert (result.rejected, result.spans) == (1, [])
    assert result.first_error is not None and named in result.first_error
    assert str(next(iter(fields.values()))) in result.first_error


def test_zipkin_annotation_timestamp_that_overflows_is_clamped() -> None:
    body = zipkin_body(annotations=[{"timestamp": 2**62, "value": "late"}])
    (span,) = decode_zipkin_json(body, now_ns=NOW).spans
    assert span.events[0].time_ns == span.end_ns
    assert any("annotation 'late' timestamp 4611686018427387904" in w for w in span.warnings)
    assert stored([span])[0].events[0].time_ns == span.end_ns


def test_zipkin_dropped_count_tags_saturate() -> None:
    annotations = [{"timestamp": START // 1000, "value": f"a{i}"} for i in range(129)]
    body = zipkin_body(tags={"otel.dropped_events_count": "4294967295"}, annotations=annotations)
    (span,) = decode_zipkin_json(body, now_ns=NOW).spans
    assert span.dropped_events_count == UINT32_MAX
    assert "dropped_events_count 4294967296 saturated at 4294967295" in span.warnings
    stored([span])


def test_zipkin_port_outside_0_65535_is_not_kept_as_a_port() -> None:
    body = zipkin_body(remoteEndpoint={"serviceName": "db", "port": UINT64_MAX})
    (span,) = decode_zipkin_json(body, now_ns=NOW).spans
    assert "network.peer.port" not in span.attributes
    assert any("port 18446744073709551615" in w for w in span.warnings)
    stored([span])


# --- logs and metrics -----------------------------------------------------------------


def store_signals(batch: SignalBatch) -> None:
    store = DuckDBStore(":memory:")
    try:
        store.write_signals([batch])
    finally:
        store.close()


def test_log_observed_time_beyond_int64_rejects_the_record_naming_it() -> None:
    request = ExportLogsServiceRequest()
    records = request.resource_logs.add().scope_logs.add().log_records
    records.add(time_unix_nano=START, observed_time_unix_nano=UINT64_MAX)
    records.add(time_unix_nano=START, observed_time_unix_nano=START)
    result = decode_otlp_logs_protobuf(request.SerializeToString(), now_ns=NOW)
    assert result.rejected == 1 and len(result.signals.logs) == 1
    assert result.first_error is not None and "observed_time_unix_nano" in result.first_error
    assert str(UINT64_MAX) in result.first_error
    store_signals(result.signals)


def test_log_json_observed_time_beyond_int64_rejects_the_record() -> None:
    body = orjson.dumps(
        {
            "resourceLogs": [
                {
                    "scopeLogs": [
                        {
                            "logRecords": [
                                {
                                    "timeUnixNano": str(START),
                                    "observedTimeUnixNano": str(UINT64_MAX),
                                }
                            ]
                        }
                    ]
                }
            ]
        }
    )
    result = decode_otlp_logs_json(body, now_ns=NOW)
    assert result.rejected == 1
    assert result.first_error is not None and "observed_time_unix_nano" in result.first_error


def metrics_request(start: int) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    metric = request.resource_metrics.add().scope_metrics.add().metrics.add(name="m")
    metric.gauge.data_points.add(time_unix_nano=START, start_time_unix_nano=start, as_int=1)
    return request


def test_metric_start_time_beyond_int64_rejects_the_point_naming_it() -> None:
    body = metrics_request(UINT64_MAX).SerializeToString()
    result = decode_otlp_metrics_protobuf(body, now_ns=NOW)
    assert result.rejected == 1 and not result.signals.points
    assert result.first_error is not None and "start_time_unix_nano" in result.first_error
    assert str(UINT64_MAX) in result.first_error
    good = decode_otlp_metrics_protobuf(metrics_request(START).SerializeToString(), now_ns=NOW)
    store_signals(good.signals)


def test_metric_json_start_time_beyond_int64_rejects_the_point() -> None:
    metric = {"name": "m", "gauge": {"dataPoints": [
        {"timeUnixNano": str(START), "startTimeUnixNano": str(UINT64_MAX), "asInt": "1"}
    ]}}  # fmt: skip
    body = orjson.dumps({"resourceMetrics": [{"scopeMetrics": [{"metrics": [metric]}]}]})
    result = decode_otlp_metrics_json(body, now_ns=NOW)
    assert result.rejected == 1
    assert result.first_error is not None and "start_time_unix_nano" in result.first_error

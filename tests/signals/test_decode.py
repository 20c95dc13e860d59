"""The OTLP logs and metrics decoders: what is kept, and what is refused with which reason."""

from __future__ import annotations

import time

import orjson
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from spanscope.ingest.otlp_logs import decode_otlp_logs_json, decode_otlp_logs_protobuf
from spanscope.ingest.otlp_metrics import (
    decode_otlp_metrics_json,
    decode_otlp_metrics_protobuf,
)
from spanscope.ingest.results import DecodeError

TID = "4bf92f3577b34da6a3ce929d0e0e4736"
SID = "00f067aa0ba902b7"
NOW = time.time_ns()


def logs_json(records: list[dict]) -> bytes:
    return orjson.dumps(
        {
            "resourceLogs": [
                {
                    "resource": {
                        "attributes": [{"key": "service.name", "value": {"stringValue": "orders"}}]
                    },
                    "scopeLogs": [{"scope": {"name": "app"}, "logRecords": records}],
                }
            ]
        }
    )


def test_json_log_keeps_ids_severity_body_and_attributes() -> None:
    body = logs_json(
        [
            {
                "timeUnixNano": str(NOW),
                "severityNumber": 13,
                "severityText": "WARN",
                "body": {"stringValue": "slow query"},
                "attributes": [{"key": "db.rows", "value": {"intValue": "42"}}],
                "traceId": TID,
                "spanId": SID,
            }
        ]
    )
    result = decode_otlp_logs_json(body)
    assert result.rejected == 0
    (log,) = result.signals.logs
    assert (log.service, log.severity_number, log.body) == ("orders", 13, "slow query")
    assert log.attributes == {"db.rows": 42}
    assert (log.trace_id.hex(), log.span_id.hex()) == (TID, SID)


def test_log_without_time_uses_observed_time_and_structured_body_keeps_its_type() -> None:
    body = logs_json(
        [{"observedTimeUnixNano": str(NOW), "body": {"kvlistValue": {"values": [
            {"key": "retry", "value": {"intValue": "3"}}]}}}]
    )  # fmt: skip
    (log,) = decode_otlp_logs_json(body).signals.logs
    assert log.time_ns == NOW
    assert log.body == {"retry": 3}
    assert log.trace_id is None


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"timeUnixNano": str(NOW), "traceId": "xyz"}, "is not hexadecimal"),
        ({"timeUnixNano": str(NOW), "traceId": "abcd"}, "has 2 bytes, expected 16"),
        ({"body": {"stringValue": "no time"}}, "neither time_unix_nano"),
        ({"timeUnixNano": "1000"}, "before the earliest accepted time"),
    ],
)
def test_bad_log_record_is_rejected_with_its_reason(record: dict, reason: str) -> None:
    good = {"timeUnixNano": str(NOW), "body": {"stringValue": "ok"}}
    result = decode_otlp_logs_json(logs_json([good, record]))
    assert len(result.signals.logs) == 1
    assert result.rejected == 1
    assert reason in (result.first_error or "")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty body"),
        (b"not json", "not valid JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"resourceLogs": {}}', "resourceLogs: expected a list"),
        (b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"severityNumber": "x"}]}]}]}',
         "severityNumber"),
    ],
)  # fmt: skip
def test_bad_json_logs_body_is_refused_whole(body: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode_otlp_logs_json(body)


def test_protobuf_logs_body_that_is_not_protobuf_says_what_it_looks_like() -> None:
    with pytest.raises(DecodeError, match="looks like JSON"):
        decode_otlp_logs_protobuf(b'{"resourceLogs": []}')
    with pytest.raises(DecodeError, match="not a valid OTLP ExportLogsServiceRequest"):
        decode_otlp_logs_protobuf(b"\xff\xff\xff")


def test_protobuf_log_with_all_zero_trace_id_is_kept_outside_a_trace() -> None:
    request = ExportLogsServiceRequest()
    rec = (
        request.resource_logs.add()
        .scope_logs.add()
        .log_records.add(time_unix_nano=NOW, trace_id=bytes(16), span_id=bytes(8))
    )
    rec.body.string_value = "hello"
    (log,) = decode_otlp_logs_protobuf(request.SerializeToString()).signals.logs
    assert (log.trace_id, log.span_id, log.service) == (None, None, "unknown_service")


def histogram_request(bounds: list[float], counts: list[int]) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.add(key="service.name").value.string_value = "orders"
    metric = rm.scope_metrics.add().metrics.add(name="http.server.duration", unit="ms")
    metric.histogram.aggregation_temporality = 2
    dp = metric.histogram.data_points.add(
        time_unix_nano=NOW, start_time_unix_nano=NOW - 10**9, count=sum(counts),
        sum=1.0, explicit_bounds=bounds, bucket_counts=counts,
    )  # fmt: skip
    dp.attributes.add(key="http.route").value.string_value = "/orders"
    dp.exemplars.add(
        time_unix_nano=NOW, as_double=0.5, trace_id=bytes.fromhex(TID), span_id=bytes.fromhex(SID)
    )
    return request


def test_histogram_point_with_exemplar() -> None:
    result = decode_otlp_metrics_protobuf(
        histogram_request([1.0, 10.0], [1, 2, 0]).SerializeToString()
    )
    (point,) = result.signals.points
    assert (point.name, point.kind, point.unit, point.temporality) == (
        "http.server.duration", "histogram", "ms", 2,
    )  # fmt: skip
    assert point.bucket_counts == [1, 2, 0] and point.bounds == [1.0, 10.0]
    assert point.attributes == {"http.route": "/orders"}
    (ex,) = point.exemplars
    assert (ex.value, ex.trace_id.hex(), ex.span_id.hex()) == (0.5, TID, SID)


def test_histogram_with_wrong_bucket_count_is_rejected() -> None:
    request = histogram_request([1.0, 10.0], [1, 2])
    result = decode_otlp_metrics_protobuf(request.SerializeToString())
    assert result.signals.points == []
    assert result.rejected == 1
    assert "2 bucket_counts for 2 explicit_bounds" in (result.first_error or "")


def test_exemplar_with_short_trace_id_rejects_its_point() -> None:
    request = histogram_request([1.0], [1, 0])
    ex = request.resource_metrics[0].scope_metrics[0].metrics[0].histogram.data_points[0]
    ex.exemplars[0].trace_id = b"\x01\x02"
    result = decode_otlp_metrics_protobuf(request.SerializeToString())
    assert result.rejected == 1 and "exemplar: trace id" in (result.first_error or "")


def test_json_metrics_sum_gauge_and_exponential_histogram() -> None:
    t = str(NOW)
    body = orjson.dumps({"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        {"name": "requests", "sum": {"aggregationTemporality": 2, "isMonotonic": True,
            "dataPoints": [{"timeUnixNano": t, "asInt": "7"}]}},
        {"name": "queue.depth", "gauge": {"dataPoints": [{"timeUnixNano": t, "asDouble": 2.5}]}},
        {"name": "latency", "exponentialHistogram": {"aggregationTemporality": 1,
            "dataPoints": [{"timeUnixNano": t, "count": "3", "scale": 1, "zeroCount": "1",
                            "positive": {"offset": 2, "bucketCounts": ["1", "1"]},
                            "exemplars": [{"timeUnixNano": t, "asDouble": 3.0,
                                           "traceId": TID, "spanId": SID}]}]}},
    ]}]}]})  # fmt: skip
    result = decode_otlp_metrics_json(body)
    assert result.rejected == 0
    by_name = {p.name: p for p in result.signals.points}
    assert by_name["requests"].value == 7.0 and by_name["requests"].monotonic
    assert by_name["queue.depth"].kind == "gauge" and by_name["queue.depth"].value == 2.5
    exp = by_name["latency"]
    assert (exp.scale, exp.zero_count, exp.positive_offset) == (1, 1, 2)
    assert exp.positive_counts == [1, 1]
    assert exp.exemplars[0].trace_id.hex() == TID


def test_json_metric_exemplar_with_bad_hex_rejects_that_point_only() -> None:
    t = str(NOW)
    body = orjson.dumps({"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        {"name": "g", "gauge": {"dataPoints": [
            {"timeUnixNano": t, "asDouble": 1.0},
            {"timeUnixNano": t, "asDouble": 2.0,
             "exemplars": [{"timeUnixNano": t, "asDouble": 2.0, "traceId": "nothex!"}]},
        ]}}]}]}]})  # fmt: skip
    result = decode_otlp_metrics_json(body)
    assert [p.value for p in result.signals.points] == [1.0]
    assert result.rejected == 1 and "not hexadecimal" in (result.first_error or "")


def test_summary_points_are_refused_with_a_hint() -> None:
    request = ExportMetricsServiceRequest()
    metric = request.resource_metrics.add().scope_metrics.add().metrics.add(name="old")
    metric.summary.data_points.add(time_unix_nano=NOW, count=1, sum=1.0)
    result = decode_otlp_metrics_protobuf(request.SerializeToString())
    assert result.rejected == 1 and "export a histogram instead" in (result.first_error or "")

"""OTLP metrics -> :class:`~spanscope.model.signals.MetricPoint`: the decoder behind
``POST /v1/metrics`` (OTLP/HTTP protobuf and JSON, port 4318) and the gRPC
``MetricsService`` (port 4317).

Gauges, sums, histograms and exponential histograms are kept point by point, each with
its exemplars — the measurements the SDK recorded inside a sampled span, carrying that
span's trace id and span id. An exemplar is how "p99 jumped to 2 s" becomes "here is one
of those 2 s requests": ``GET /api/v1/exemplars`` lists them with links to their traces.

>>> from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
...     ExportMetricsServiceRequest)
>>> request = ExportMetricsServiceRequest()
>>> rm = request.resource_metrics.add()
>>> rm.resource.attributes.add(key="service.name").value.string_value = "orders"
>>> m = rm.scope_metrics.add().metrics.add(name="http.server.duration", unit="ms")
>>> m.histogram.aggregation_temporality = 2
>>> dp = m.histogram.data_points.add(time_unix_nano=1_700_000_000_000_000_000, count=3,
...     sum=2150.0, explicit_bounds=[100.0, 1000.0], bucket_counts=[1, 1, 1])
>>> ex = dp.exemplars.add(time_unix_nano=1_700_000_000_000_000_000, as_double=2000.0,
...     trace_id=bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736"),
...     span_id=bytes.fromhex("00f067aa0ba902b7"))
>>> point = decode_otlp_metrics_protobuf(request.SerializeToString()).signals.points[0]
>>> (point.service, point.kind, point.bucket_counts, point.exemplars[0].trace_id.hex())
('orders', 'histogram', [1, 1, 1], '4bf92f3577b34da6a3ce929d0e0e4736')

Refused as a whole (:class:`DecodeError`, HTTP 400): a body that is not an
``ExportMetricsServiceRequest``. Refused one data point at a time
(``partial_success.rejected_data_points``): a metric without a name, a point without a
time or with a time outside the accepted range (as spans) or a ``start_time_unix_nano``
beyond int64 nanoseconds (the store's BIGINT), a histogram whose
``bucket_counts`` do not number ``len(explicit_bounds) + 1`` or whose bounds are not
increasing, an exponential histogram scale outside -10..20, an exemplar with ids of the
wrong length, and Summary points (a legacy type with no buckets: use a histogram).
Points flagged ``no_recorded_value`` carry no measurement and are skipped silently; an
``aggregation_temporality`` other than 0, 1 or 2 is stored as 0 (unspecified), as OTLP
says of unknown enum values.
"""

from __future__ import annotations

import time
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from spanscope.ingest.limits import DEFAULT_LIMITS, Limits, without_redaction
from spanscope.ingest.otlp_logs import (
    beyond_int64,
    check_ids,
    json_hex_to_base64,
    parse_otlp_json,
    parse_protobuf,
    resource_service,
)
from spanscope.ingest.otlp_values import attributes_from_pb
from spanscope.ingest.redact_requests import redact_metrics_request, redact_otlp_json
from spanscope.ingest.results import SignalResult
from spanscope.ingest.span_checks import INT64_MAX, cap_text, load_json
from spanscope.model.signals import Exemplar, MetricPoint
from spanscope.model.spans import Attributes

__all__ = ["decode_otlp_metrics_protobuf", "decode_otlp_metrics_json", "decode_metrics_request"]

KINDS = ("gauge", "sum", "histogram", "exponential_histogram")
_NO_RECORDED_VALUE = 1  # DataPointFlags.FLAG_NO_RECORDED_VALUE
_JSON_KINDS = ("gauge", "sum", "histogram", "exponentialHistogram", "exponential_histogram")


def decode_otlp_metrics_protobuf(
    body: bytes, limits: Limits = DEFAULT_LIMITS, now_ns: int | None = None
) -> SignalResult:
    """Decode the bytes of an ``ExportMetricsServiceRequest`` (already un-gzipped)."""
    request = parse_protobuf(body, ExportMetricsServiceRequest(), "ExportMetricsServiceRequest")
    payload = None
    if limits.redaction is not None and redact_metrics_request(request, limits.redaction):
        payload = request.SerializeToString()
    result = decode_metrics_request(request, without_redaction(limits), now_ns)
    result.payload = payload
    return result


def decode_otlp_metrics_json(
    body: bytes, limits: Limits = DEFAULT_LIMITS, now_ns: int | None = None
) -> SignalResult:
    """Decode an OTLP/JSON metrics body: ``{"resourceMetrics": [...]}``."""
    result = SignalResult()
    if limits.redaction is not None and body:
        result.payload = redact_otlp_json(load_json(body), limits.redaction)
        body = result.payload or body
        limits = without_redaction(limits)
    request = parse_otlp_json(
        body,
        ExportMetricsServiceRequest(),
        ("resourceMetrics", "scopeMetrics", "metrics"),
        lambda metric, where: _json_metric_ids(metric, where, result),
        result,
    )
    return decode_metrics_request(request, limits, now_ns, result)


def _json_metric_ids(metric: dict[str, Any], where: str, result: SignalResult) -> None:
    """Rewrite the hex exemplar ids of every point of one JSON metric in place; a point
    with an exemplar id that is not hex is removed and counted as rejected."""
    for kind in _JSON_KINDS:
        data = metric.get(kind)
        if type(data) is not dict:
            continue
        key = "dataPoints" if "dataPoints" in data else "data_points"
        points = data.get(key)
        if type(points) is not list:
            continue
        kept = []
        for i, point in enumerate(points):
            problem = _json_point_ids(point, f"{where}.{kind}.{key}[{i}]")
            if problem is None:
                kept.append(point)
            else:
                result.reject(problem)
        data[key] = kept
    return None


def _json_point_ids(point: Any, where: str) -> str | None:
    if type(point) is not dict:
        return None  # protobuf's parser names the wrong type
    exemplars = point.get("exemplars")
    if type(exemplars) is not list:
        return None
    for j, ex in enumerate(exemplars):
        if type(ex) is dict:
            problem = json_hex_to_base64(
                ex, "traceId", "trace_id", f"{where}.exemplars[{j}]"
            ) or json_hex_to_base64(ex, "spanId", "span_id", f"{where}.exemplars[{j}]")
            if problem:
                return problem
    return None


def decode_metrics_request(
    request: ExportMetricsServiceRequest,
    limits: Limits = DEFAULT_LIMITS,
    now_ns: int | None = None,
    result: SignalResult | None = None,
) -> SignalResult:
    """Map a parsed request (the gRPC server has one) to metric points."""
    result = result if result is not None else SignalResult()
    now_ns = time.time_ns() if now_ns is None else now_ns
    window = (limits.min_time_ns, now_ns + limits.max_future_ns)
    for rm in request.resource_metrics:
        resource, service = resource_service(rm.resource.attributes, limits)
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                _decode_metric(metric, service, resource, limits, window, result)
    return result


def _decode_metric(
    metric: Any,
    service: str,
    resource: Attributes,
    limits: Limits,
    window: tuple[int, int],
    result: SignalResult,
) -> None:
    kind = metric.WhichOneof("data")
    if kind is None:
        return
    data = getattr(metric, kind)
    name = cap_text(metric.name, limits.max_name_bytes, [], "metric name")
    if kind == "summary":
        for _ in data.data_points:
            result.reject(
                f"metric {name!r} of {service}: Summary points are not stored "
                "(no buckets to aggregate); export a histogram instead"
            )
        return
    temporality = 0 if kind == "gauge" else data.aggregation_temporality
    if not 0 <= temporality <= 2:  # an enum value this version does not know: unspecified
        temporality = 0
    monotonic = kind == "sum" and data.is_monotonic
    unit = cap_text(metric.unit, 64, [], "unit")
    for i, dp in enumerate(data.data_points):
        label = f"metric {name!r} of {service}, point #{i}"
        if not name:
            result.reject(f"{label}: the metric has no name")
            continue
        if dp.flags & _NO_RECORDED_VALUE:
            continue
        problem = _check_time(dp.time_unix_nano, window)
        if problem is None and dp.start_time_unix_nano > INT64_MAX:
            problem = beyond_int64("start_time_unix_nano", dp.start_time_unix_nano)
        exemplars = _exemplars(dp.exemplars, limits)
        if problem is None and isinstance(exemplars, str):
            problem = exemplars
        point = MetricPoint(
            name=name,
            kind=kind,
            time_ns=dp.time_unix_nano,
            service=service,
            start_ns=dp.start_time_unix_nano,
            unit=unit,
            attributes=attributes_from_pb(dp.attributes, limits, [], "point")[0],
            resource=resource,
            temporality=temporality,
            monotonic=monotonic,
            exemplars=exemplars if isinstance(exemplars, list) else [],
        )
        if problem is None:
            problem = _fill_values(point, kind, dp)
        if problem is not None:
            result.reject(f"{label}: {problem}")
            continue
        result.signals.points.append(point)


def _fill_values(point: MetricPoint, kind: str, dp: Any) -> str | None:
    """Copy the kind's values into ``point``; the reason when they are inconsistent."""
    if kind in ("gauge", "sum"):
        which = dp.WhichOneof("value")
        point.value = float(dp.as_int) if which == "as_int" else dp.as_double
        return None
    point.count = dp.count
    point.sum = dp.sum if dp.HasField("sum") else None
    point.min = dp.min if dp.HasField("min") else None
    point.max = dp.max if dp.HasField("max") else None
    if kind == "histogram":
        bounds = list(dp.explicit_bounds)
        counts = list(dp.bucket_counts)
        if counts and len(counts) != len(bounds) + 1:
            return (
                f"{len(counts)} bucket_counts for {len(bounds)} explicit_bounds; "
                "expected one more count than bounds (the last bucket is +Inf)"
            )
        if any(b >= a for a, b in zip(bounds[1:], bounds, strict=False)):
            return f"explicit_bounds {bounds[:8]} are not strictly increasing"
        point.bounds, point.bucket_counts = bounds, counts
        return None
    if not -10 <= dp.scale <= 20:
        return f"exponential histogram scale {dp.scale} is outside -10..20"
    point.scale = dp.scale
    point.zero_count = dp.zero_count
    point.positive_offset = dp.positive.offset
    point.positive_counts = list(dp.positive.bucket_counts)
    point.negative_offset = dp.negative.offset
    point.negative_counts = list(dp.negative.bucket_counts)
    return None


def _exemplars(pbs: Any, limits: Limits) -> list[Exemplar] | str:
    out: list[Exemplar] = []
    for pb in pbs:
        ids = check_ids(pb.trace_id, pb.span_id)
        if isinstance(ids, str):
            return f"exemplar: {ids}"
        value = float(pb.as_int) if pb.WhichOneof("value") == "as_int" else pb.as_double
        attributes = (
            attributes_from_pb(pb.filtered_attributes, limits, [], "exemplar")[0]
            if pb.filtered_attributes
            else {}
        )
        out.append(Exemplar(pb.time_unix_nano, value, ids[0], ids[1], attributes))
    return out


def _check_time(t: int, window: tuple[int, int]) -> str | None:
    if t == 0:
        return "time_unix_nano is not set"
    if t < window[0]:
        return (
            f"time {t} ns is before the earliest accepted time {window[0]} "
            "(check the sender's clock, and that times are nanoseconds since the epoch)"
        )
    if t > window[1]:
        return f"time {t} ns is more than the allowed skew after the receiver's clock"
    return None

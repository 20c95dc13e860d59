"""Exemplars: an HTTP server duration recorded inside a span points at that span's trace."""

from __future__ import annotations

import logging

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult

from spanscope.sdk import span
from spanscope.sdk.metrics import QuietMetricExporter, record_http_server_duration


def histogram_points(reader, name: str) -> list:
    data = reader.get_metrics_data()
    points = []
    for rm in data.resource_metrics if data else []:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == name:
                    points.extend(metric.data.data_points)
    return points


def test_duration_recorded_in_a_span_carries_its_trace_as_exemplar(sdk) -> None:
    with span("POST /orders", kind="server") as s:
        record_http_server_duration(1.8, method="POST", route="/orders", status_code=201)
    (point,) = histogram_points(sdk.metrics, "http.server.duration")
    assert point.count == 1
    assert point.attributes["http.route"] == "/orders"
    (exemplar,) = point.exemplars
    assert exemplar.trace_id == s.get_span_context().trace_id
    assert exemplar.span_id == s.get_span_context().span_id
    assert exemplar.value == 1800.0
    # The view gives latency buckets: 1800 ms falls in (1000, 2500].
    assert point.explicit_bounds[9:11] == (1000.0, 2500.0)
    assert point.bucket_counts[10] == 1


def test_duration_outside_a_span_has_no_exemplar(sdk) -> None:
    record_http_server_duration(0.01, method="GET", route="/", status_code=200)
    (point,) = histogram_points(sdk.metrics, "http.server.duration")
    assert point.exemplars == []


class Failing(MetricExporter):
    def __init__(self, raises: bool) -> None:
        super().__init__()
        self.raises = raises
        self.calls = 0

    def export(self, metrics_data, timeout_millis: float = 10_000, **kwargs):
        self.calls += 1
        if self.raises:
            raise ConnectionError("connection refused")
        return MetricExportResult.FAILURE

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs) -> None:
        pass


def test_export_failures_warn_once_and_never_raise(caplog) -> None:
    quiet = QuietMetricExporter(Failing(raises=True), "http://127.0.0.1:9/v1/metrics")
    with caplog.at_level(logging.DEBUG):
        results = [quiet.export(None) for _ in range(5)]  # type: ignore[arg-type]
    assert results == [MetricExportResult.FAILURE] * 5
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "127.0.0.1:9/v1/metrics" in warnings[0].getMessage()

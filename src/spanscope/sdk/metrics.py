"""Exemplars: latency histograms whose buckets point at real traces.

``configure(metrics=True)`` installs an OpenTelemetry ``MeterProvider`` with the
``TraceBasedExemplarFilter``: a measurement recorded while a *sampled* span is current keeps
that span's trace id and span id as an exemplar in its histogram bucket. The HTTP server
instrumentations (FastAPI/Starlette/ASGI, Flask/WSGI) record ``http.server.duration`` (ms)
or ``http.server.request.duration`` (s) inside the request span, so "p99 is 2 s" comes with
"here is one of those 2 s requests". Views give both histograms latency-shaped buckets.

Record your own with :func:`record_http_server_duration` (inside the request's span)::

    from spanscope.sdk.metrics import record_http_server_duration
    record_http_server_duration(0.183, method="POST", route="/orders", status_code=201)

Metrics go over OTLP/HTTP to ``<endpoint>/v1/metrics`` every ``OTEL_METRIC_EXPORT_INTERVAL``
ms (default 60 s). A server that does not take metrics (yet) costs one warning, never a
crash or a log line per export.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from opentelemetry import metrics as metrics_api
from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricReader,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

# OpenTelemetry's advisory buckets for HTTP durations (semantic conventions), in seconds.
SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
MILLISECONDS_BUCKETS = tuple(b * 1000 for b in SECONDS_BUCKETS)

_log = logging.getLogger(__name__)


def histogram_views() -> list[View]:
    return [
        View(
            instrument_type=Histogram,
            instrument_name="http.server.duration",
            aggregation=ExplicitBucketHistogramAggregation(MILLISECONDS_BUCKETS),
        ),
        View(
            instrument_type=Histogram,
            instrument_name="http.server.request.duration",
            aggregation=ExplicitBucketHistogramAggregation(SECONDS_BUCKETS),
        ),
    ]


class _SilenceFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return False


class QuietMetricExporter(MetricExporter):
    """Wraps an exporter so failures warn once, then stay silent and never raise."""

    def __init__(self, inner: MetricExporter, endpoint: str) -> None:
        super().__init__(
            preferred_temporality=inner._preferred_temporality,
            preferred_aggregation=inner._preferred_aggregation,
        )
        self.inner = inner
        self.endpoint = endpoint
        self.failures = 0
        # The OTLP exporter logs every failed export itself; its logger is only about exports.
        logging.getLogger(type(inner).__module__).addFilter(_SilenceFilter())

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        try:
            result = self.inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        except Exception:  # a metrics hiccup must never take the app down
            result = MetricExportResult.FAILURE
        if result is MetricExportResult.FAILURE:
            self.failures += 1
            if self.failures == 1:
                _log.warning(
                    "metrics export to %s failed; the server may not accept OTLP metrics yet. "
                    "Further failures are not logged (configure(metrics=False) turns this off).",
                    self.endpoint,
                )
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        try:
            return self.inner.force_flush(timeout_millis)
        except Exception:
            return False

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        try:
            self.inner.shutdown(timeout_millis=timeout_millis)
        except Exception:
            pass


def otlp_reader(endpoint: str) -> MetricReader:
    """A periodic reader exporting OTLP/HTTP protobuf to ``endpoint`` (a full /v1/metrics URL)."""
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    return PeriodicExportingMetricReader(
        QuietMetricExporter(OTLPMetricExporter(endpoint=endpoint), endpoint)
    )


def build_meter_provider(resource: Resource, readers: Sequence[MetricReader]) -> MeterProvider:
    from opentelemetry.sdk.metrics._internal.exemplar import TraceBasedExemplarFilter

    return MeterProvider(
        metric_readers=list(readers),
        resource=resource,
        exemplar_filter=TraceBasedExemplarFilter(),
        views=histogram_views(),
        shutdown_on_exit=False,  # the Handle's atexit hook shuts it down in order
    )


_histograms: dict[int, metrics_api.Histogram] = {}


def record_http_server_duration(
    seconds: float,
    *,
    method: str,
    route: str,
    status_code: int,
    meter_provider: metrics_api.MeterProvider | None = None,
) -> None:
    """Record one server request on ``http.server.duration`` (ms), as the instrumentations do.

    Call it inside the request's span: that span's trace becomes the bucket's exemplar.
    """
    provider = meter_provider or metrics_api.get_meter_provider()
    histogram = _histograms.get(id(provider))
    if histogram is None:
        histogram = provider.get_meter("spanscope.sdk").create_histogram(
            "http.server.duration", unit="ms", description="Duration of inbound HTTP requests"
        )
        _histograms[id(provider)] = histogram
    histogram.record(
        seconds * 1000.0,
        {"http.method": method, "http.route": route, "http.status_code": status_code},
    )

"""``configure()``: one call that makes a Python service send traces to Spanscope.

    from spanscope.sdk import configure
    configure("orders", service_version="1.4.2", environment="prod")

sets up, on the OpenTelemetry SDK (nothing here replaces it):

- a **resource**: ``service.name``, ``service.version``, ``deployment.environment`` (and
  ``deployment.environment.name``), ``host.name``, the SDK's ``telemetry.sdk.*``, plus
  ``OTEL_RESOURCE_ATTRIBUTES`` and ``resource_attributes=``;
- a **TracerProvider** with a batch processor and an OTLP/HTTP exporter to
  ``<endpoint>/v1/traces``; ``endpoint`` defaults to ``OTEL_EXPORTER_OTLP_ENDPOINT``, else
  ``http://127.0.0.1:4318`` (a local ``spanscope serve``); ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``
  (a full URL) wins for traces, as in the OTel spec;
- the **sampler**: ``sampler=``, else ``OTEL_TRACES_SAMPLER``/``_ARG`` (``spanscope_priority``
  included), else parent-based always-on;
- **propagators**: ``propagators=``, else ``OTEL_PROPAGATORS``, else ``tracecontext,baggage``
  (W3C; ``tracecontext`` is :class:`~spanscope.sdk.propagation.W3CTraceContextPropagator`,
  Level 2, ``otel_tracecontext`` OTel's own). ``b3`` (single header) and ``b3multi`` are
  there for Zipkin shops;
- **auto-instrumentation** of installed libraries (:mod:`spanscope.sdk.instrument`), without
  the ASGI per-message ``http send``/``http receive`` spans unless
  ``asgi_message_spans=True``;
- **logs** (:mod:`spanscope.sdk.logs`): trace ids on every ``logging`` record, and the records
  exported over OTLP/HTTP to ``<endpoint>/v1/logs`` by a handler on the root logger;
- **metrics with exemplars** (:mod:`spanscope.sdk.metrics`) to ``<endpoint>/v1/metrics``.

``service_name`` may be empty when ``OTEL_SERVICE_NAME`` is set. The returned
:class:`Handle` flushes and shuts everything down (also run at exit). Calling
``configure()`` again shuts the previous setup down and replaces it — handy in tests.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import metrics as metrics_api
from opentelemetry import propagate, trace
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk._logs import LogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import Sampler, _get_from_env_or_default
from opentelemetry.util._once import Once

from spanscope.sdk import logs as logs_mod
from spanscope.sdk import metrics as metrics_mod
from spanscope.sdk.instrument import Instrumented, instrument_installed
from spanscope.sdk.logs import LogExport

DEFAULT_ENDPOINT = "http://127.0.0.1:4318"
DEFAULT_PROPAGATORS = "tracecontext,baggage"

_log = logging.getLogger(__name__)


@dataclass
class Handle:
    """What :func:`configure` built. ``shutdown()`` flushes spans, logs and metrics, then
    stops."""

    service_name: str
    resource: Resource
    tracer_provider: TracerProvider
    meter_provider: MeterProvider | None
    endpoint: str
    instrumented: Instrumented = field(default_factory=Instrumented)
    _previous_propagator: TextMapPropagator | None = None
    _closed: bool = False
    log_export: LogExport | None = None

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        ok = self.tracer_provider.force_flush(timeout_millis)
        if self.log_export is not None:
            ok = self.log_export.force_flush(timeout_millis) and ok
        if self.meter_provider is not None:
            ok = self.meter_provider.force_flush(timeout_millis) and ok
        return ok

    def shutdown(self) -> None:
        """Flush and stop; idempotent. Instrumentation and log correlation are undone too."""
        global _current
        if self._closed:
            return
        self._closed = True
        self.instrumented.uninstrument()
        self.tracer_provider.shutdown()
        if self.log_export is not None:
            self.log_export.shutdown()  # after the spans: a log points at a stored trace
        if self.meter_provider is not None:
            self.meter_provider.shutdown()
        logs_mod.uninstall_log_correlation()
        if self._previous_propagator is not None:
            propagate.set_global_textmap(self._previous_propagator)
        if _current is self:
            _current = None


_current: Handle | None = None


def configure(
    service_name: str = "",
    *,
    service_version: str | None = None,
    environment: str | None = None,
    endpoint: str | None = None,
    sampler: Sampler | None = None,
    instrument: bool = True,
    propagators: str | None = None,
    logs: bool = True,
    metrics: bool = True,
    resource_attributes: Mapping[str, Any] | None = None,
    span_exporter: SpanExporter | None = None,
    span_processors: Sequence[SpanProcessor] = (),
    metric_readers: Sequence[MetricReader] | None = None,
    log_processors: Sequence[LogRecordProcessor] | None = None,
    remote_sampling: bool | str = False,
    asgi_message_spans: bool = False,
) -> Handle:
    """Configure tracing (and logs, metrics) for this process; see the module docs.

    ``span_exporter`` replaces the OTLP exporter (batched); ``span_processors`` are added as
    they are (e.g. a ``SimpleSpanProcessor(InMemorySpanExporter())`` in tests);
    ``metric_readers`` replaces the OTLP metrics reader (e.g. ``InMemoryMetricReader()``);
    ``log_processors`` replaces the OTLP log export (e.g. ``SimpleLogRecordProcessor(
    InMemoryLogRecordExporter())``; ``[]`` keeps the correlation and exports nothing).
    ``asgi_message_spans=True`` keeps the FastAPI/Starlette instrumentation's ``http send`` /
    ``http receive`` span per ASGI message (dropped by default: a third of a small request's
    spans, with no time of their own worth reading).
    ``remote_sampling=True`` (or the API's URL) fetches head-sampling rules from the
    Spanscope server every minute (:mod:`spanscope.sdk.remote`, docs/sampling.md).
    """
    global _current
    if _current is not None:
        _current.shutdown()
    name = service_name or os.environ.get("OTEL_SERVICE_NAME", "")
    if not name:
        raise ValueError(
            "configure(service_name=''): name the service, e.g. configure('orders'), "
            "or set OTEL_SERVICE_NAME"
        )
    base = (endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or DEFAULT_ENDPOINT).rstrip(
        "/"
    )
    if not base.startswith(("http://", "https://")):
        raise ValueError(
            f"endpoint {base!r}: expected an http(s) URL of the OTLP/HTTP receiver, "
            "e.g. http://127.0.0.1:4318"
        )
    resource = build_resource(name, service_version, environment, resource_attributes)

    chosen = sampler or sampler_from_env()
    if remote_sampling:
        # Rules from the Spanscope server, refreshed in the background (sdk/remote.py);
        # the local sampler applies until the first answer and whenever it is unreachable.
        from spanscope.sdk.remote import DEFAULT_URL, RemoteSampler

        url = remote_sampling if isinstance(remote_sampling, str) else DEFAULT_URL
        chosen = RemoteSampler(name, url, initial=chosen)
    provider = TracerProvider(resource=resource, sampler=chosen)
    if span_exporter is None and not span_processors:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        traces_url = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") if not endpoint else None
        span_exporter = OTLPSpanExporter(endpoint=traces_url or base + "/v1/traces")
    if span_exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(span_exporter))
    for processor in span_processors:
        provider.add_span_processor(processor)
    _set_tracer_provider(provider)

    meter_provider = None
    if metrics:
        readers = (
            list(metric_readers)
            if metric_readers is not None
            else [metrics_mod.otlp_reader(base + "/v1/metrics")]
        )
        meter_provider = metrics_mod.build_meter_provider(resource, readers)
        _set_meter_provider(meter_provider)

    previous = propagate.get_global_textmap()
    propagate.set_global_textmap(build_propagator(propagators))

    log_export = None
    if logs:
        logs_mod.install_log_correlation(name)
        processors = (
            list(log_processors)
            if log_processors is not None
            else [logs_mod.otlp_log_processor(_signal_url("LOGS", endpoint, base))]
        )
        if processors:
            log_export = logs_mod.install_log_export(resource, processors)

    handle = Handle(name, resource, provider, meter_provider, base, Instrumented(), previous)
    handle.log_export = log_export
    if instrument:
        kwargs: dict[str, Any] = {"tracer_provider": provider}
        if meter_provider is not None:
            kwargs["meter_provider"] = meter_provider
        handle.instrumented = instrument_installed(
            exclude_asgi_message_spans=not asgi_message_spans, **kwargs
        )
    _current = handle
    atexit.register(handle.shutdown)
    return handle


def _signal_url(signal: str, endpoint: str | None, base: str) -> str:
    """``OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT`` (a full URL) unless ``endpoint=`` was given."""
    override = None if endpoint else os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")
    return override or f"{base}/v1/{signal.lower()}"


def sampler_from_env() -> Sampler:
    """``OTEL_TRACES_SAMPLER``/``_ARG`` as the OTel SDK reads them, entry points included
    (``spanscope_priority``); parent-based always-on when unset or unusable."""
    name = os.environ.get("OTEL_TRACES_SAMPLER", "").strip()
    if name:
        try:
            from opentelemetry.sdk._configuration import _import_sampler

            found = _import_sampler(name)  # warns and returns None on a bad name or argument
            if found is not None:
                return found
        except ImportError:
            pass
    return _get_from_env_or_default()


def current() -> Handle | None:
    """The live :class:`Handle`, if :func:`configure` has run (and not been shut down)."""
    return _current


def build_resource(
    service_name: str,
    service_version: str | None = None,
    environment: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Resource:
    attributes: dict[str, Any] = {"host.name": socket.gethostname()}
    attributes.update(extra or {})
    attributes["service.name"] = service_name
    if service_version:
        attributes["service.version"] = service_version
    if environment:
        # Both spellings: Jaeger/Grafana dashboards use the first, semconv >= 1.27 the second.
        attributes["deployment.environment"] = environment
        attributes["deployment.environment.name"] = environment
    return Resource.create(attributes)  # merges OTEL_RESOURCE_ATTRIBUTES underneath


def build_propagator(names: str | None = None) -> TextMapPropagator:
    """``"tracecontext,baggage,b3"`` -> one composite propagator; unknown names are errors."""
    spec = names or os.environ.get("OTEL_PROPAGATORS") or DEFAULT_PROPAGATORS
    chosen: list[TextMapPropagator] = []
    for raw in spec.split(","):
        name = raw.strip().lower()
        if not name or name == "none":
            continue
        chosen.append(_propagator(name))
    return CompositePropagator(chosen)


def _propagator(name: str) -> TextMapPropagator:
    if name in ("tracecontext", "spanscope_tracecontext"):
        # W3C Level 2, keeping what OTel's parser drops (sdk/propagation.py, docs/sdk.md).
        from spanscope.sdk.propagation import W3CTraceContextPropagator

        return W3CTraceContextPropagator()
    if name == "otel_tracecontext":
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        return TraceContextTextMapPropagator()
    if name == "baggage":
        from opentelemetry.baggage.propagation import W3CBaggagePropagator

        return W3CBaggagePropagator()
    if name in ("b3", "b3multi"):
        try:
            from opentelemetry.propagators.b3 import B3MultiFormat, B3SingleFormat
        except ImportError:
            raise ValueError(
                f"propagator {name!r} needs opentelemetry-propagator-b3: "
                "pip install 'spanscope[sdk]'"
            ) from None
        return B3SingleFormat() if name == "b3" else B3MultiFormat()
    raise ValueError(
        f"propagator {name!r}: unknown; use a comma list of tracecontext, baggage, b3, "
        "b3multi (or otel_tracecontext for OpenTelemetry's own W3C parser)"
    )


def _set_tracer_provider(provider: TracerProvider) -> None:
    # The API lets a process set its provider once; a re-configure replaces ours on purpose.
    trace._TRACER_PROVIDER_SET_ONCE = Once()  # type: ignore[attr-defined]
    trace.set_tracer_provider(provider)


def _set_meter_provider(provider: MeterProvider) -> None:
    from opentelemetry.metrics import _internal as metrics_internal

    metrics_internal._METER_PROVIDER_SET_ONCE = Once()
    metrics_api.set_meter_provider(provider)

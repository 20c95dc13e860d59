"""Logs carry the trace: ``trace_id`` and ``span_id`` on every stdlib ``logging`` record.

:func:`install_log_correlation` wraps the process's ``LogRecordFactory``, so every record —
yours and those of third-party libraries, whatever logger or handler they use — gets:

``trace_id``   32 hex digits of the span current when the record was made ("" outside one)
``span_id``    16 hex digits ("" outside a span)
``trace_sampled``  True when that span is being exported (its trace can be found)
``service_name``   the ``service.name`` given to ``configure()``

Use them in any format string, or print JSON lines with :class:`JsonFormatter`::

    import logging
    from spanscope.sdk import configure, span
    from spanscope.sdk.logs import JsonFormatter

    configure("orders")                      # installs the correlation (logs=True)
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    with span("reserve-stock"):
        logging.getLogger("orders").info("reserved", extra={"sku": "A-1"})
    # {"timestamp": "2026-...Z", "level": "INFO", "logger": "orders", "message": "reserved",
    #  "trace_id": "4bf9...", "span_id": "00f0...", "service.name": "orders", "sku": "A-1"}

Search Spanscope for the ``trace_id`` of a log line to open the request that wrote it.

**OTLP export.** ``configure(logs=True)`` also ships the records to Spanscope:
:func:`install_log_export` builds an OpenTelemetry ``LoggerProvider`` (same resource as the
spans) with a ``BatchLogRecordProcessor`` and an ``OTLPLogExporter`` to
``<endpoint>/v1/logs``, and attaches an :class:`OtlpLogHandler` (an OpenTelemetry
``LoggingHandler``) to the root logger. Every record that reaches the root logger — yours
and third-party ones, at the root logger's level — is exported with the trace id and span
id of the span current when it was made, its severity, its message as the body and its
``extra=`` fields as attributes; ``GET /api/v1/traces/{id}/logs`` then finds it::

    configure("orders")                       # endpoint http://127.0.0.1:4318
    logging.getLogger().setLevel(logging.INFO)
    with span("find-order"):
        logging.getLogger("orders").warning("slow query", extra={"duration_ms": 84})

Export failures cost one warning, never an exception or a log line per batch. The
exporter's own records (``opentelemetry.*`` loggers) are never exported, so a failing
export cannot feed itself. ``logging.basicConfig()`` called after ``configure()`` still
configures the root logger (the handler steps aside while it runs, as OpenTelemetry's
logging instrumentation does).
"""

from __future__ import annotations

import copy
import json
import logging
import logging.config
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import context
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import get_current_span

try:  # the maintained handler; the SDK's own is deprecated since 1.3x but still works
    from opentelemetry.instrumentation.logging.handler import LoggingHandler as _OTelHandler
except ImportError:  # pragma: no cover - depends on what is installed
    from opentelemetry.sdk._logs import LoggingHandler as _OTelHandler  # type: ignore[assignment]

try:
    from opentelemetry.sdk._logs.export import LogRecordExporter as _LogExporter
    from opentelemetry.sdk._logs.export import LogRecordExportResult as _ExportResult
except ImportError:  # pragma: no cover - OpenTelemetry SDK before the rename
    from opentelemetry.sdk._logs.export import (  # type: ignore[assignment,no-redef]
        LogExporter as _LogExporter,
    )
    from opentelemetry.sdk._logs.export import (  # type: ignore[assignment,no-redef]
        LogExportResult as _ExportResult,
    )

_service_name = ""
_installed: Callable[..., logging.LogRecord] | None = None  # our factory, once installed
_previous: Callable[..., logging.LogRecord] | None = None

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "trace_id",
    "span_id",
    "trace_sampled",
    "service_name",
    "taskName",
}


def install_log_correlation(service_name: str = "") -> None:
    """Stamp trace context on every log record from now on (idempotent)."""
    global _service_name, _installed, _previous
    _service_name = service_name
    if _installed is not None and logging.getLogRecordFactory() is _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        ctx = get_current_span().get_span_context()
        if ctx.is_valid:
            record.trace_id = f"{ctx.trace_id:032x}"
            record.span_id = f"{ctx.span_id:016x}"
            record.trace_sampled = ctx.trace_flags.sampled
        else:
            record.trace_id = ""
            record.span_id = ""
            record.trace_sampled = False
        record.service_name = _service_name
        return record

    _previous, _installed = previous, factory
    logging.setLogRecordFactory(factory)


def uninstall_log_correlation() -> None:
    """Put back the factory that was there before, if nobody has wrapped ours since."""
    global _installed, _previous
    if _installed is not None and logging.getLogRecordFactory() is _installed:
        assert _previous is not None
        logging.setLogRecordFactory(_previous)
    _installed = _previous = None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, trace ids, ``extra`` fields.

    Records made before correlation was installed still format (without the ids).
    """

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "timestamp": _iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        trace_id = getattr(record, "trace_id", "")
        if trace_id:
            out["trace_id"] = trace_id
            out["span_id"] = getattr(record, "span_id", "")
        service = getattr(record, "service_name", "")
        if service:
            out["service.name"] = service
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, default=str)


def _iso(created: float) -> str:
    ms = int(created * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{ms:03d}Z"


# --- OTLP export ----------------------------------------------------------------------------

# Our correlation fields are on every record; as OTLP attributes they would only repeat the
# record's own trace id, span id, flags and resource.
_CORRELATION_FIELDS = ("trace_id", "span_id", "trace_sampled", "service_name")

_export_log = logging.getLogger(__name__ + ".export")


class OtlpLogHandler(_OTelHandler):
    """OpenTelemetry's ``LoggingHandler`` minus our correlation fields, and minus what the
    exporters themselves log: records of ``opentelemetry.*`` loggers, and anything logged
    while an export runs (urllib3's "Starting new HTTP connection" at DEBUG would otherwise
    be exported, which logs it again — a loop)."""

    def __init__(self, logger_provider: LoggerProvider, level: int = logging.NOTSET) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the SDK's fallback warns
            super().__init__(level=level, logger_provider=logger_provider)

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("opentelemetry") or record.name == _export_log.name:
            return
        if context.get_value(_SUPPRESS_INSTRUMENTATION_KEY):  # set by the SDK around exports
            return
        if hasattr(record, "trace_id"):
            record = copy.copy(record)  # other handlers still format the fields
            for name in _CORRELATION_FIELDS:
                record.__dict__.pop(name, None)
        try:
            super().emit(record)
        except Exception:  # logging must never take the app down
            self.handleError(record)


class QuietLogExporter(_LogExporter):
    """Wraps an exporter so failures warn once, then stay silent and never raise."""

    def __init__(self, inner: Any, endpoint: str) -> None:
        self.inner = inner
        self.endpoint = endpoint
        self.failures = 0

    def export(self, batch: Sequence[Any]) -> Any:
        try:
            result = self.inner.export(batch)
        except Exception:  # a log export hiccup must never take the app down
            result = _ExportResult.FAILURE
        if result is _ExportResult.FAILURE:
            self.failures += 1
            if self.failures == 1:
                _export_log.warning(
                    "log export to %s failed; is Spanscope (or a collector) listening there? "
                    "Further failures are not logged (configure(logs=False) turns export off).",
                    self.endpoint,
                )
        return result

    def force_flush(self, timeout_millis: int = 10_000) -> bool:
        try:
            return bool(self.inner.force_flush(timeout_millis))
        except Exception:
            return False

    def shutdown(self) -> None:
        try:
            self.inner.shutdown()
        except Exception:
            pass


def otlp_log_processor(endpoint: str) -> LogRecordProcessor:
    """A batch processor exporting OTLP/HTTP protobuf to ``endpoint`` (a full /v1/logs URL)."""
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    # The exporter logs each failed export itself; its logger speaks only of exports.
    logging.getLogger(OTLPLogExporter.__module__).addFilter(_Silence())
    return BatchLogRecordProcessor(QuietLogExporter(OTLPLogExporter(endpoint=endpoint), endpoint))


class _Silence(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return False


@dataclass
class LogExport:
    """What :func:`install_log_export` set up; ``shutdown()`` flushes and detaches it."""

    provider: LoggerProvider
    handler: OtlpLogHandler
    _patched: dict[str, Callable[..., Any]] = field(default_factory=dict)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return bool(self.provider.force_flush(timeout_millis))

    def shutdown(self) -> None:
        root = logging.getLogger()
        if self.handler in root.handlers:
            root.removeHandler(self.handler)
        for name, original in self._patched.items():
            owner = logging if name == "basicConfig" else logging.config
            setattr(owner, name, original)
        self._patched.clear()
        self.provider.shutdown()


def install_log_export(
    resource: Resource,
    processors: Sequence[LogRecordProcessor],
    level: int = logging.NOTSET,
) -> LogExport:
    """Export every record reaching the root logger through ``processors`` (see the module
    docs); :func:`otlp_log_processor` makes the OTLP one."""
    provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    for processor in processors:
        provider.add_log_record_processor(processor)
    handler = OtlpLogHandler(provider, level)
    logging.getLogger().addHandler(handler)
    export = LogExport(provider, handler)
    _keep_through_logging_config(export)
    _set_logger_provider(provider)
    return export


def _keep_through_logging_config(export: LogExport) -> None:
    """``basicConfig()`` does nothing when the root logger has a handler, and ``dictConfig``
    may drop root's handlers: step aside while they run, come back after."""
    root = logging.getLogger()
    handler = export.handler

    def wrap(config_fn: Callable[..., Any]) -> Callable[..., Any]:
        def configured(*args: Any, **kwargs: Any) -> Any:
            present = handler in root.handlers
            if present:
                root.removeHandler(handler)
            try:
                return config_fn(*args, **kwargs)
            finally:
                if present and handler not in root.handlers:
                    root.addHandler(handler)

        return configured

    for owner, name in ((logging, "basicConfig"), (logging.config, "dictConfig"),
                        (logging.config, "fileConfig")):  # fmt: skip
        original = getattr(owner, name)
        export._patched[name] = original
        setattr(owner, name, wrap(original))


def _set_logger_provider(provider: LoggerProvider) -> None:
    # As for traces and metrics: a re-configure replaces the global provider on purpose.
    from opentelemetry import _logs as logs_api
    from opentelemetry._logs import _internal as logs_internal
    from opentelemetry.util._once import Once

    logs_internal._LOGGER_PROVIDER_SET_ONCE = Once()
    logs_api.set_logger_provider(provider)

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
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from opentelemetry.trace import get_current_span

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

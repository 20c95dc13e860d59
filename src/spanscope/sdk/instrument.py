"""Automatic instrumentation of the libraries this process has installed.

Every installed OpenTelemetry instrumentation package (``opentelemetry-instrumentation-
requests``, ``-httpx``, ``-fastapi``, ``-flask``, ``-sqlalchemy``, ``-redis``, … — the
``spanscope[sdk]`` extra brings the common ones) registers an ``opentelemetry_instrumentor``
entry point. :func:`instrument_installed` activates each one whose library is installed in
a compatible version, exactly as ``opentelemetry-instrument`` would, and skips the rest
quietly. ``sqlite3`` is covered through the DB-API instrumentation when its own package is
absent, so a SQLite-backed service gets ``db.*`` spans with only the base extra.

Skip some with ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=redis,httpx`` (the standard variable).

The ASGI instrumentation behind FastAPI and Starlette makes, besides the server span, an
internal ``http send`` / ``http receive`` span for every ASGI message — two or three per
request, about a third of a small request's spans, each a few microseconds with nothing to
read in it. They are left out (the instrumentations' ``exclude_spans=["send", "receive"]``)
unless ``exclude_asgi_message_spans=False`` (``configure(asgi_message_spans=True)``).
The ``logging`` instrumentation is always skipped: :mod:`spanscope.sdk.logs` does the log
correlation, once.
"""

from __future__ import annotations

import inspect
import logging
import os
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

_log = logging.getLogger(__name__)

ALWAYS_SKIPPED = {"logging"}
ASGI_MESSAGE_SPANS = ["send", "receive"]
ASGI_FRAMEWORKS = {"fastapi", "starlette"}


@dataclass
class Instrumented:
    """What :func:`instrument_installed` switched on, so it can be switched off again."""

    names: list[str] = field(default_factory=list)
    instrumentors: list[Any] = field(default_factory=list)
    sqlite3: bool = False

    def uninstrument(self) -> None:
        for instrumentor in reversed(self.instrumentors):
            try:
                instrumentor.uninstrument()
            except Exception:  # uninstrumenting is best effort at shutdown
                _log.debug("uninstrumenting %r failed", instrumentor, exc_info=True)
        if self.sqlite3:
            import sqlite3

            from opentelemetry.instrumentation.dbapi import unwrap_connect

            unwrap_connect(sqlite3, "connect")  # type: ignore[arg-type]
        self.instrumentors.clear()
        self.names.clear()
        self.sqlite3 = False


def disabled_instrumentations() -> set[str]:
    raw = os.environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "")
    return {name.strip() for name in raw.split(",") if name.strip()} | ALWAYS_SKIPPED


def instrument_installed(exclude_asgi_message_spans: bool = True, **kwargs: Any) -> Instrumented:
    """Instrument every installed, compatible library; ``kwargs`` go to each ``instrument()``
    (``tracer_provider=``, ``meter_provider=``)."""
    try:
        from opentelemetry.instrumentation.dependencies import get_dist_dependency_conflicts
    except ImportError:
        _log.warning(
            "configure(instrument=True) needs opentelemetry-instrumentation; "
            "pip install 'spanscope[sdk]' or pass instrument=False"
        )
        return Instrumented()
    done = Instrumented()
    skip = disabled_instrumentations()
    for entry_point in entry_points(group="opentelemetry_instrumentor"):
        if entry_point.name in skip or "*" in skip:
            continue
        try:
            dist = getattr(entry_point, "dist", None)
            if dist is not None and get_dist_dependency_conflicts(dist) is not None:
                continue  # the library is missing or of a version the package does not know
            instrumentor = entry_point.load()()
            if getattr(instrumentor, "is_instrumented_by_opentelemetry", False):
                continue  # someone (opentelemetry-instrument, an earlier configure) did it
            extra = {}
            if exclude_asgi_message_spans and entry_point.name in ASGI_FRAMEWORKS:
                extra = _exclude_spans_kwargs(type(instrumentor))
            instrumentor.instrument(skip_dep_check=True, **kwargs, **extra)
        except Exception as e:  # one broken instrumentation must not stop the app
            # A library that is simply absent (or of the wrong version) is not news.
            absent = isinstance(e, ImportError) or type(e).__name__ == "DependencyConflictError"
            (_log.debug if absent else _log.warning)(
                "instrumenting %s failed, skipped: %s", entry_point.name, e
            )
            continue
        done.names.append(entry_point.name)
        done.instrumentors.append(instrumentor)
    if "sqlite3" not in done.names and "sqlite3" not in skip:
        done.sqlite3 = _instrument_sqlite3(kwargs.get("tracer_provider"))
        if done.sqlite3:
            done.names.append("sqlite3")
    return done


def _exclude_spans_kwargs(instrumentor: type) -> dict[str, Any]:
    """``{"exclude_spans": ["send", "receive"]}`` if this instrumentation version takes it
    (FastAPI's since 0.49b0); older ones keep their message spans rather than fail."""
    instrument_app = getattr(instrumentor, "instrument_app", None)
    try:
        accepted = instrument_app is not None and (
            "exclude_spans" in inspect.signature(instrument_app).parameters
        )
    except (TypeError, ValueError):
        accepted = False
    return {"exclude_spans": list(ASGI_MESSAGE_SPANS)} if accepted else {}


def _instrument_sqlite3(tracer_provider: Any) -> bool:
    try:
        import sqlite3

        from opentelemetry.instrumentation.dbapi import trace_integration
    except ImportError:
        return False
    if getattr(sqlite3.connect, "__wrapped__", None) is not None:
        return False  # already wrapped by someone else
    trace_integration(
        sqlite3,  # type: ignore[arg-type]
        "connect",
        "sqlite",
        tracer_provider=tracer_provider,
        # The C connection class cannot take attributes, so the DB-API proxy wraps it.
        capture_parameters=False,
    )
    return True


def instrument_app(app: Any, *, asgi_message_spans: bool = False) -> Any:
    """Instrument one web app object explicitly; returns it.

    Auto-instrumentation swaps ``fastapi.FastAPI`` (and ``flask.Flask``) for an instrumented
    subclass, so an app built from a class imported *before* ``configure()`` ran
    (``from fastapi import FastAPI`` at the top of the module) is missed. Pass such an app
    here — FastAPI, Starlette and Flask apps are recognised; doing it twice is harmless.
    ``asgi_message_spans=True`` keeps the per-message ``http send``/``http receive`` spans.
    """
    from opentelemetry import metrics, trace

    providers: dict[str, Any] = {
        "tracer_provider": trace.get_tracer_provider(),
        "meter_provider": metrics.get_meter_provider(),
    }
    if getattr(app, "_is_instrumented_by_opentelemetry", False):
        return app
    kinds = {cls.__module__.split(".")[0] + "." + cls.__name__ for cls in type(app).__mro__}
    if "fastapi.FastAPI" in kinds:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        extra = {} if asgi_message_spans else _exclude_spans_kwargs(FastAPIInstrumentor)
        FastAPIInstrumentor.instrument_app(app, **providers, **extra)
    elif "starlette.Starlette" in kinds:
        from opentelemetry.instrumentation.starlette import StarletteInstrumentor

        extra = {} if asgi_message_spans else _exclude_spans_kwargs(StarletteInstrumentor)
        StarletteInstrumentor.instrument_app(app, **providers, **extra)
    elif "flask.Flask" in kinds:
        from opentelemetry.instrumentation.flask import FlaskInstrumentor

        FlaskInstrumentor.instrument_app(app, **providers)
    else:
        raise TypeError(
            f"instrument_app({type(app).__name__}): not a FastAPI, Starlette or Flask app; "
            "wrap other ASGI/WSGI apps with opentelemetry.instrumentation.asgi/wsgi middleware"
        )
    return app

"""Manual spans that read well: ``@traced`` and ``with span(...)``.

    from spanscope.sdk import span, traced

    @traced                                   # span named after the function's qualname
    def load_cart(user_id): ...

    @traced("charge card", kind="client", payment_provider="stripe")
    async def charge(order): ...              # async functions are spanned around the await

    with span("reserve-stock", sku="A-1", quantity=2) as s:
        s.set_attribute("warehouse", "north")

Keyword arguments become span attributes (``**{"db.system": "sqlite"}`` for dotted keys, or
the helpers in :mod:`spanscope.sdk.semconv`). An exception leaving the block or function is
recorded on the span as an ``exception`` event and sets status ERROR, then re-raised.
``kind`` is ``internal`` (default), ``server``, ``client``, ``producer`` or ``consumer``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar, overload

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Tracer

F = TypeVar("F", bound=Callable[..., Any])

TRACER_NAME = "spanscope.sdk"
KINDS = {
    "internal": SpanKind.INTERNAL,
    "server": SpanKind.SERVER,
    "client": SpanKind.CLIENT,
    "producer": SpanKind.PRODUCER,
    "consumer": SpanKind.CONSUMER,
}

_tracer_cache: tuple[object, Tracer] | None = None


def tracer() -> Tracer:
    """The ``spanscope.sdk`` tracer of the current global provider (follows a re-configure)."""
    global _tracer_cache
    provider = trace.get_tracer_provider()
    cached = _tracer_cache
    if cached is not None and cached[0] is provider:
        return cached[1]
    t = provider.get_tracer(TRACER_NAME)
    _tracer_cache = (provider, t)
    return t


def _kind(kind: str | SpanKind) -> SpanKind:
    if isinstance(kind, SpanKind):
        return kind
    try:
        return KINDS[kind.lower()]
    except KeyError:
        raise ValueError(f"span kind {kind!r}: use one of {', '.join(KINDS)}") from None


def span(
    name: str,
    /,
    *,
    kind: str | SpanKind = SpanKind.INTERNAL,
    attributes: dict[str, Any] | None = None,
    **attrs: Any,
) -> AbstractContextManager[Span]:
    """A span around the ``with`` block, current inside it; ``attrs`` become its attributes."""
    merged = {**attributes, **attrs} if attributes else attrs
    # The tracer's own context manager, not a wrapper around it: one generator per span.
    return tracer().start_as_current_span(name, kind=_kind(kind), attributes=merged)


@overload
def traced(func: F) -> F: ...
@overload
def traced(
    func: str | None = None, /, *, kind: str | SpanKind = ..., **attrs: Any
) -> Callable[[F], F]: ...


def traced(
    func: Callable[..., Any] | str | None = None,
    /,
    *,
    kind: str | SpanKind = SpanKind.INTERNAL,
    **attrs: Any,
) -> Any:
    """Decorator: run each call of the function in a span (sync, async and generators alike)."""
    if callable(func):
        return _wrap(func, func.__qualname__, _kind(kind), attrs)
    name = func
    span_kind = _kind(kind)

    def decorator(f: F) -> F:
        return _wrap(f, name or f.__qualname__, span_kind, attrs)  # type: ignore[return-value]

    return decorator


def _wrap(f: Callable[..., Any], name: str, kind: SpanKind, attrs: dict[str, Any]) -> Any:
    code_attrs = {"code.function": f.__qualname__, "code.namespace": f.__module__, **attrs}
    if inspect.iscoroutinefunction(f):

        @functools.wraps(f)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            with tracer().start_as_current_span(name, kind=kind, attributes=code_attrs):
                return await f(*args, **kwargs)

        return async_wrapper

    if inspect.isgeneratorfunction(f):

        @functools.wraps(f)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
            with tracer().start_as_current_span(name, kind=kind, attributes=code_attrs):
                return (yield from f(*args, **kwargs))

        return gen_wrapper

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with tracer().start_as_current_span(name, kind=kind, attributes=code_attrs):
            return f(*args, **kwargs)

    return wrapper

"""What every API router needs from a request: its tenant, that tenant's store, its
parameters parsed with errors that name them, and traces through the app's cache.

A route declares the store it reads as a parameter, and FastAPI resolves it per request::

    from spanscope.api.deps import SpanKindParam, StoreDep

    @router.get("/api/v1/services/{service}/operations")
    def operations(store: StoreDep, service: str, span_kind: SpanKindParam = None) -> Any:
        kind = SpanKind.from_label(span_kind) if span_kind else None
        ...

A parameter with a fixed set of values is a ``Literal`` (:data:`SpanKindParam`,
``query.model.TraceOrder``...): FastAPI checks it, ``/openapi.json`` lists the values, and
the app renders a bad one as a 400 naming the parameter, the value and the values allowed
(:func:`spanscope.api.app.create_app`).

Every read of every API (native, Jaeger, analysis, signals) goes through :func:`store_of`,
so no endpoint can read another tenant's database (:mod:`spanscope.tenancy`); a bad
parameter is a 400 naming the parameter, the value and what was expected (:func:`param`);
an unknown trace is a 404 (:func:`cached_trace`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Literal, Protocol, TypeVar

from fastapi import Depends, Request
from pydantic import BeforeValidator

from spanscope.api.errors import ApiError, bad_request
from spanscope.api.trace_cache import CachedTrace, app_trace_cache
from spanscope.model.spans import Trace, parse_trace_id
from spanscope.query.durations import shown
from spanscope.query.model import now_ns, parse_duration, parse_time
from spanscope.store.base import Store
from spanscope.tenancy import DEFAULT_TENANT, TenantError, empty_store, tenant_of_scope

T = TypeVar("T")


class TenantStores(Protocol):
    """``app.state.tenants`` (:class:`spanscope.tenants.Tenants` under ``spanscope serve``)."""

    def store(self, tenant_id: str) -> Store: ...


def request_tenant(request: Request) -> str:
    """The request's tenant: its token's, its ``X-Scope-OrgID``, or the default
    (:mod:`spanscope.tenancy`); a bad id is a 400, a token's other tenant a 403."""
    try:
        return tenant_of_scope(request.scope)
    except TenantError as exc:
        raise ApiError(exc.status, exc.message) from None


def store_of(request: Request) -> Store:
    """The store of the request's tenant: every read of the API goes through here, so no
    endpoint can read another tenant's database (``app.state.tenants``, see
    :func:`spanscope.api.app.create_app`; a tenant that never wrote reads an empty store)."""
    tenant = request_tenant(request)
    if tenant == DEFAULT_TENANT:
        store: Store = request.app.state.store
        return store
    tenants: TenantStores | None = getattr(request.app.state, "tenants", None)
    if tenants is None:  # an app over one store: no other tenant has data here
        return empty_store()
    return tenants.store(tenant)


async def get_store(request: Request) -> Store:
    # async: FastAPI runs a sync dependency in its thread pool, one more thread hop per
    # request (~0.2 ms, more under load) for an attribute read.
    return store_of(request)


StoreDep = Annotated[Store, Depends(get_store)]
"""The request's tenant's store, as a route parameter: ``def route(store: StoreDep)``."""


SpanKindName = Literal["unspecified", "internal", "server", "client", "producer", "consumer"]
""":class:`~spanscope.model.spans.SpanKind` labels, in OTLP's order."""


def kind_spelling(value: object) -> object:
    """Every spelling of a span kind that :meth:`SpanKind.from_label` takes, as its label:
    "SPAN_KIND_SERVER", "SERVER", " Server " -> "server"; empty -> None (no filter). Any
    other value is left as it is, for the ``Literal`` to refuse."""
    if not isinstance(value, str):
        return value
    return value.strip().lower().removeprefix("span_kind_") or None


def empty_is_none(value: object) -> object:
    """``status=`` (an empty value) is no filter, as if the parameter were not sent."""
    return None if value == "" else value


SpanKindParam = Annotated[SpanKindName | None, BeforeValidator(kind_spelling)]
"""An optional span-kind parameter: ``span_kind: SpanKindParam = None``."""
SpanKindOrAny = Annotated[Literal[SpanKindName, "any"], BeforeValidator(kind_spelling)]
"""One value of a repeatable span-kind filter in which ``any`` means every kind."""


def param(name: str, value: str, parse: Callable[[str], T]) -> T:
    """Parse one query parameter; a ValueError becomes a 400 that names the parameter and
    shows its value (cut for display: a 40,000-character value is not echoed whole)."""
    try:
        return parse(value)
    except ValueError as e:
        detail = str(e).replace(repr(value), shown(value))  # parsers that quote it whole
        raise bad_request(f"parameter {name}={shown(value)}: {detail}") from None


def window(
    start: str | None, end: str | None, lookback: str | None, default_ns: int
) -> tuple[int, int]:
    """[start, end] in unix ns from start/end (RFC 3339 or unix) or end - lookback."""
    end_ns = param("end", end, parse_time) if end else now_ns()
    if start:
        start_ns = param("start", start, parse_time)
    else:
        span = param("lookback", lookback, parse_duration) if lookback else default_ns
        start_ns = max(0, end_ns - span)  # "36500d": everything since 1970, not negative
    if end_ns < start_ns:
        raise bad_request(
            f"time parameters start={shown(start or '')}, end={shown(end or 'now')}: "
            "end is before start"
        )
    return start_ns, end_ns


def cached_trace(request: Request, store: Store, trace_id: str, name: str) -> CachedTrace:
    """The trace named by parameter ``name``, through the app's cache of recently read
    traces (one read serves the trace view's several requests); 404 if unknown."""
    tid = param(name, trace_id, parse_trace_id)
    found = cached_entry(request, store, tid)
    if found is None:
        raise ApiError(404, f"trace {tid.hex()} not found")
    return found


def cached_traces(request: Request, store: Store, trace_ids: Sequence[bytes]) -> dict[bytes, Trace]:
    """Many traces through the app's cache in one stamp look-up and one read of the
    misses (TraceQL search's candidates); unknown ones are left out."""
    cache = app_trace_cache(request.app.state)
    entries = cache.entries(store, trace_ids, request_tenant(request))
    return {trace_id: entry.stored for trace_id, entry in entries.items()}


def cached_entry(request: Request, store: Store, trace_id: bytes) -> CachedTrace | None:
    """The trace through the app's cache of recently read traces, None if unknown: for
    endpoints that answer an unknown trace in their own API's shape (the Jaeger APIs)."""
    # Keyed by tenant too: two tenants may hold one trace id, with the same stamp.
    return app_trace_cache(request.app.state).entry(store, trace_id, request_tenant(request))

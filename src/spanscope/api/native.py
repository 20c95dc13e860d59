"""The native query API, ``/api/v1``: what the CLI and the web UI are built on.

docs/api.md is its specification. Every endpoint answers JSON with nanosecond integers and
hex ids; a search answers trace *summaries* (never whole traces), and a trace is fetched
whole by id::

    curl -s 'localhost:16686/api/v1/traces?service=orders&tag=http.status_code>=500&lookback=1h'
    curl -s localhost:16686/api/v1/traces/4bf92f3577b34da6a3ce929d0e0e4736

A bad parameter answers 400 naming the parameter, the value and what was expected; an
unknown trace answers 404. Every read is of the request's tenant (``X-Scope-OrgID``, see
:func:`store_of` and :mod:`spanscope.tenancy`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response

from spanscope.api.errors import ApiError, OrjsonResponse, bad_request
from spanscope.api.serialize import sampling_to_native, summary_to_native
from spanscope.api.trace_cache import CachedTrace, app_trace_cache
from spanscope.model import SpanKind, Trace, parse_trace_id
from spanscope.query.durations import shown
from spanscope.query.model import (
    DEFAULT_LIMIT,
    DEFAULT_LOOKBACK_NS,
    SearchQuery,
    now_ns,
    parse_condition,
    parse_duration,
    parse_time,
)
from spanscope.store.base import Store
from spanscope.tenancy import DEFAULT_TENANT, TenantError, empty_store, tenant_of_scope

router = APIRouter(prefix="/api/v1", tags=["native"], default_response_class=OrjsonResponse)
T = TypeVar("T")


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
    tenants = getattr(request.app.state, "tenants", None)
    if tenants is None:  # an app over one store: no other tenant has data here
        return empty_store()
    return tenants.store(tenant)  # type: ignore[no-any-return]


async def get_store(request: Request) -> Store:
    # async: FastAPI runs a sync dependency in its thread pool, one more thread hop per
    # request (~0.2 ms, more under load) for an attribute read.
    return store_of(request)


StoreDep = Annotated[Store, Depends(get_store)]


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


@router.get("/services", summary="Every service name seen, sorted")
def services(store: StoreDep) -> Any:
    return {"services": store.services()}


@router.get("/services/{service}/operations", summary="Span names of a service with kinds")
def operations(
    store: StoreDep,
    service: str,
    span_kind: Annotated[
        str | None, Query(description="server, client, producer, consumer or internal")
    ] = None,
) -> Any:
    kind = param("span_kind", span_kind, SpanKind.from_label) if span_kind else None
    return {
        "operations": [
            {"name": op.name, "span_kind": op.kind.label} for op in store.operations(service, kind)
        ]
    }


@router.get("/traces", summary="Search: summaries of traces with a span matching every filter")
def search(
    store: StoreDep,
    service: str | None = None,
    operation: str | None = None,
    tag: Annotated[
        list[str],
        Query(description="attribute condition key<op>value, e.g. http.status_code>=500"),
    ] = [],  # noqa: B006 - FastAPI copies the default; a list is how it declares a repeatable
    min_duration: Annotated[str | None, Query(description="e.g. 250ms, 1.5s")] = None,
    max_duration: Annotated[str | None, Query(description="e.g. 2s")] = None,
    status: Annotated[str | None, Query(description="error, ok or unset")] = None,
    start: Annotated[str | None, Query(description="RFC 3339 or unix timestamp")] = None,
    end: Annotated[str | None, Query(description="RFC 3339 or unix timestamp; default now")] = None,
    lookback: Annotated[str | None, Query(description="window before end, default 1h")] = None,
    limit: Annotated[int, Query(description="1..1000")] = DEFAULT_LIMIT,
    order: Annotated[str, Query(description="newest or slowest")] = "newest",
) -> Any:
    start_ns, end_ns = window(start, end, lookback, DEFAULT_LOOKBACK_NS)
    try:
        query = SearchQuery(
            start_ns=start_ns,
            end_ns=end_ns,
            service=service or None,
            operation=operation or None,
            conditions=[param("tag", t, parse_condition) for t in tag],
            min_duration_ns=param("min_duration", min_duration, parse_duration)
            if min_duration
            else None,
            max_duration_ns=param("max_duration", max_duration, parse_duration)
            if max_duration
            else None,
            status=status or None,  # type: ignore[arg-type]  # SearchQuery checks the value
            limit=limit,
            order=order,  # type: ignore[arg-type]
        )
    except ValueError as e:
        raise bad_request(str(e)) from None
    found = store.search(query)
    kept = kept_by(store, [t.trace_id for t in found])
    # A response, not a dict: FastAPI would run jsonable_encoder over every value first.
    return OrjsonResponse({"traces": [summary_to_native(t, kept.get(t.trace_id)) for t in found]})


def kept_by(store: Store, trace_ids: list[bytes]) -> dict[bytes, tuple[str, float]]:
    """(policy, weight) of the traces the tail sampler kept (absent: stored whole, weight 1)."""
    return store.sampling(trace_ids) if trace_ids else {}


def cached_trace(request: Request, store: Store, trace_id: str, name: str) -> CachedTrace:
    """The trace named by parameter ``name``, through the app's cache of recently read
    traces (one read serves the trace view's several requests); 404 if unknown."""
    tid = param(name, trace_id, parse_trace_id)
    found = cached_entry(request, store, tid)
    if found is None:
        raise ApiError(404, f"trace {tid.hex()} not found")
    return found


def cached_entry(request: Request, store: Store, trace_id: bytes) -> CachedTrace | None:
    """The trace through the app's cache of recently read traces, None if unknown: for
    endpoints that answer an unknown trace in their own API's shape (the Jaeger APIs)."""
    # Keyed by tenant too: two tenants may hold one trace id, with the same stamp.
    return app_trace_cache(request.app.state).entry(store, trace_id, request_tenant(request))


@router.get("/traces/{trace_id}", summary="One whole trace, spans ordered by start")
def trace(
    request: Request,
    store: StoreDep,
    trace_id: str,
    raw: Annotated[bool, Query(description="true: as stored, no clock-skew adjustment")] = False,
) -> Any:
    entry = cached_trace(request, store, trace_id, "trace_id")
    # The JSON bytes are cached with the trace: a 10,000-span trace is ~8 MB of it. The
    # sampling record commits with the trace's spans, so it is as fresh as the entry.
    body = entry.derived("native+sampling", raw, lambda t: with_sampling(store, t, entry, raw))
    return Response(body, media_type="application/json")


def with_sampling(store: Store, t: Trace, entry: CachedTrace, raw: bool) -> bytes:
    """The trace's native JSON with ``"sampling"`` appended when the tail sampler kept it."""
    body = entry.native_json(raw)
    kept = kept_by(store, [t.trace_id]).get(t.trace_id)
    if kept is None:
        return body
    return body[:-1] + b',"sampling":' + orjson.dumps(sampling_to_native(kept)) + b"}"


@router.get("/dependencies", summary="Caller -> callee edges between services")
def dependencies(
    store: StoreDep,
    service: str | None = None,
    start: str | None = None,
    end: str | None = None,
    lookback: Annotated[str | None, Query(description="window before end, default 1h")] = None,
) -> Any:
    start_ns, end_ns = window(start, end, lookback, DEFAULT_LOOKBACK_NS)
    edges = store.dependencies(start_ns, end_ns, service or None)
    return {
        "dependencies": [
            {
                "parent": e.parent,
                "child": e.child,
                "call_count": e.call_count,
                "error_count": e.error_count,
            }
            for e in edges
        ]
    }

"""The native query API, ``/api/v1``: what the CLI and the web UI are built on.

docs/api.md is its specification. Every endpoint answers JSON with nanosecond integers and
hex ids; a search answers trace *summaries* (never whole traces), and a trace is fetched
whole by id::

    curl -s 'localhost:16686/api/v1/traces?service=orders&tag=http.status_code>=500&lookback=1h'
    curl -s localhost:16686/api/v1/traces/4bf92f3577b34da6a3ce929d0e0e4736
    curl -G -s localhost:16686/api/v1/traces --data-urlencode 'q={ status = error }'

``q=`` takes a TraceQL query (docs/traceql.md) in place of the form's filters (service,
operation, tag, min/max_duration, status: giving both is a 400); it answers the same
summaries.

A bad parameter answers 400 naming the parameter, the value and what was expected; an
unknown trace answers 404. Every read is of the request's tenant (``X-Scope-OrgID``, see
:func:`spanscope.api.deps.store_of` and :mod:`spanscope.tenancy`).
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request, Response
from pydantic import BeforeValidator

from spanscope.api.deps import SpanKindParam, StoreDep, cached_trace, empty_is_none, param, window
from spanscope.api.errors import OrjsonResponse, bad_request
from spanscope.api.serialize import sampling_to_native, summary_to_native
from spanscope.api.trace_cache import CachedTrace
from spanscope.model.spans import SpanKind, Trace
from spanscope.query.model import (
    DEFAULT_LIMIT,
    DEFAULT_LOOKBACK_NS,
    MAX_LIMIT,
    SearchQuery,
    TraceOrder,
    TraceStatus,
    parse_condition,
    parse_duration,
)
from spanscope.query.traceql import TraceQLError
from spanscope.query.traceql import parse as parse_traceql
from spanscope.query.traceql.planner import search as planned_search
from spanscope.store.base import Store

router = APIRouter(prefix="/api/v1", tags=["native"], default_response_class=OrjsonResponse)


@router.get("/services", summary="Every service name seen, sorted")
def services(store: StoreDep) -> Any:
    return {"services": store.services()}


@router.get("/services/{service}/operations", summary="Span names of a service with kinds")
def operations(
    store: StoreDep,
    service: str,
    span_kind: Annotated[
        SpanKindParam, Query(description="server, client, producer, consumer or internal")
    ] = None,
) -> Any:
    kind = SpanKind.from_label(span_kind) if span_kind else None
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
    status: Annotated[
        TraceStatus | None,
        BeforeValidator(empty_is_none),
        Query(description="spans whose status is error, ok or unset"),
    ] = None,
    start: Annotated[str | None, Query(description="RFC 3339 or unix timestamp")] = None,
    end: Annotated[str | None, Query(description="RFC 3339 or unix timestamp; default now")] = None,
    lookback: Annotated[str | None, Query(description="window before end, default 1h")] = None,
    limit: Annotated[int, Query(description="1..1000")] = DEFAULT_LIMIT,
    order: Annotated[
        TraceOrder, Query(description="newest (by trace start) or slowest (by duration)")
    ] = "newest",
    q: Annotated[
        str | None,
        Query(
            description="a TraceQL query, e.g. { status = error && duration > 1s }; "
            "instead of service, operation, tag, min/max_duration and status"
        ),
    ] = None,
) -> Any:
    start_ns, end_ns = window(start, end, lookback, DEFAULT_LOOKBACK_NS)
    if q is not None and q.strip():
        form = {
            "service": service, "operation": operation, "tag": tag or None,
            "min_duration": min_duration, "max_duration": max_duration, "status": status,
        }  # fmt: skip
        return traceql_search(store, q, [k for k, v in form.items() if v], start_ns, end_ns,
                              limit, order)  # fmt: skip
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
            status=status,
            limit=limit,
            order=order,
        )
    except ValueError as e:
        raise bad_request(str(e)) from None
    found = store.search(query)
    kept = kept_by(store, [t.trace_id for t in found])
    # A response, not a dict: FastAPI would run jsonable_encoder over every value first.
    return OrjsonResponse({"traces": [summary_to_native(t, kept.get(t.trace_id)) for t in found]})


def traceql_search(
    store: Store,
    q: str,
    form: list[str],
    start_ns: int,
    end_ns: int,
    limit: int,
    order: TraceOrder,
) -> Response:
    """``q=``: the traces a TraceQL query matches, as the same summaries, newest first.

    The form's filters and ``q`` are two ways to say the same thing, so a request gives one
    of them: ``q`` with any of ``form`` is a 400 naming them. The window (start, end,
    lookback) and ``limit`` apply to both."""
    if form:
        raise bad_request(
            f"q cannot be combined with {', '.join(form)}: write them into the TraceQL "
            'query instead, e.g. { resource.service.name = "checkout" && duration > 1s }'
        )
    if order != "newest":
        raise bad_request("order=slowest cannot be combined with q: TraceQL answers newest first")
    if not 1 <= limit <= MAX_LIMIT:
        raise bad_request(f"limit {limit}: expected 1 to {MAX_LIMIT}")
    try:
        query = parse_traceql(q)
        if query.metrics is not None:
            raise bad_request(
                "q: a metrics query (| rate() ...) answers time series, not traces: "
                "ask /tempo/api/metrics/query_range for it"
            )
        outcome = planned_search(store, query, start_ns, end_ns, limit)
    except TraceQLError as exc:
        raise bad_request(f"q: invalid TraceQL query: {exc}") from None
    found = [m.summary for m in outcome.matches]
    kept = kept_by(store, [t.trace_id for t in found])
    return OrjsonResponse(
        {
            "traces": [summary_to_native(t, kept.get(t.trace_id)) for t in found],
            "inspected_traces": outcome.inspected_traces,
        }
    )


def kept_by(store: Store, trace_ids: list[bytes]) -> dict[bytes, tuple[str, float]]:
    """(policy, weight) of the traces the tail sampler kept (absent: stored whole, weight 1)."""
    return store.sampling(trace_ids) if trace_ids else {}


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

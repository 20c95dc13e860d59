"""Jaeger's v3 query API under ``/api/v3``: what the current Jaeger UI calls.

Answers are Jaeger's grpc-gateway JSON: traces as OTLP JSON wrapped in ``{"result": ...}``,
errors as ``{"error": {"httpCode": 400, "message": "..."}}``. Endpoints::

    GET /api/v3/services                      {"services": [...]}
    GET /api/v3/operations?service=&spanKind= {"operations": [{"name", "spanKind"}]}
    GET /api/v3/traces?query.serviceName=...  {"result": {"resourceSpans": [...]}}, 404 if none
    GET /api/v3/traces/{traceId}              the same for one trace, 404 if unknown
    GET /api/v3/trace-summaries?query...      {"summaries": [...]} (no spans: fast lists)

Search parameters (camelCase, Jaeger 2.19+; the older snake_case names are accepted too):
``query.serviceName``, ``query.operationName``, ``query.startTimeMin`` and
``query.startTimeMax`` (RFC 3339, required), ``query.durationMin``/``query.durationMax``
(``250ms``), ``query.searchDepth`` (max traces, default 20; ``query.num_traces`` is its old
name), ``query.attributes`` (a JSON map of attribute equalities; Jaeger's synthetic ones,
``error``, ``otel.status_code``, ``span.kind``..., filter the span fields they name:
:mod:`spanscope.api.jaeger_filters`), ``query.rawTraces``.
Unlike Jaeger, the service name is optional: a search may span every service.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from spanscope.api.deps import StoreDep, cached_entry, param
from spanscope.api.errors import ApiError, OrjsonResponse, bad_request
from spanscope.api.jaeger import attribute_map, kind_label
from spanscope.api.jaeger_filters import SpanFields, Synthetic, search_traces, split_synthetic
from spanscope.api.serialize import traces_to_otlp
from spanscope.model.spans import SpanKind, parse_trace_id
from spanscope.model.summaries import TraceSummary
from spanscope.query.durations import parse_integer
from spanscope.query.model import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Condition,
    SearchQuery,
    parse_duration,
    parse_time,
    parse_value,
)

NON_STR = orjson.OPT_NON_STR_KEYS  # as OrjsonResponse renders
router = APIRouter(prefix="/api/v3", tags=["jaeger-v3"], default_response_class=OrjsonResponse)


def _documented(*names: str) -> dict[str, Any]:
    """The query parameters a handler reads from ``request`` itself, for /openapi.json."""
    return {
        "parameters": [
            {"name": n, "in": "query", "required": False, "schema": {"type": "string"}}
            for n in names
        ]
    }


SEARCH_PARAMS = _documented(
    "query.serviceName", "query.operationName", "query.startTimeMin", "query.startTimeMax",
    "query.durationMin", "query.durationMax", "query.searchDepth", "query.num_traces",
    "query.attributes", "query.rawTraces", "query.service_name", "query.start_time_min",
    "query.start_time_max", "query.operation_name", "query.duration_min", "query.duration_max",
    "query.search_depth", "query.numTraces",
)  # fmt: skip


def _get(request: Request, *names: str) -> tuple[str, str | None]:
    """The first of ``names`` present in the query string, as (name, value)."""
    for name in names:
        value = request.query_params.get(name)
        if value is not None and value != "":
            return name, value
    return names[0], None


def _count(name: str, text: str) -> int:
    return param(name, text, lambda t: parse_integer(t, 1, "traces"))


def _attributes(name: str, text: str) -> tuple[list[Condition], Synthetic]:
    synthetic = split_synthetic(list(attribute_map(name, text).items()), name)
    try:
        conditions = [
            Condition(str(k), "=", parse_value(v) if isinstance(v, str) else v)
            for k, v in synthetic.attributes
        ]
    except ValueError as e:
        raise bad_request(f"parameter {name}: {e}") from None
    return conditions, synthetic


def search_query(request: Request) -> tuple[SearchQuery, SpanFields]:
    """Read Jaeger v3's ``query.*`` parameters into a SearchQuery and the span fields it
    cannot carry (Jaeger's synthetic attributes, :mod:`spanscope.api.jaeger_filters`);
    a 400 on a bad one."""
    min_name, time_min = _get(request, "query.startTimeMin", "query.start_time_min")
    max_name, time_max = _get(request, "query.startTimeMax", "query.start_time_max")
    if time_min is None or time_max is None:
        raise bad_request(
            "query.startTimeMin and query.startTimeMax are required "
            "(RFC 3339, e.g. 2026-11-25T09:00:00Z)"
        )
    start_ns = param(min_name, time_min, parse_time)
    end_ns = param(max_name, time_max, parse_time)
    _, service = _get(request, "query.serviceName", "query.service_name")
    _, operation = _get(request, "query.operationName", "query.operation_name")
    dmin_name, dmin = _get(request, "query.durationMin", "query.duration_min")
    dmax_name, dmax = _get(request, "query.durationMax", "query.duration_max")
    depth_name, depth = _get(
        request, "query.searchDepth", "query.search_depth", "query.num_traces", "query.numTraces"
    )
    attr_name, attrs = _get(request, "query.attributes")
    limit = _count(depth_name, depth) if depth else DEFAULT_LIMIT
    conditions, synthetic = (
        _attributes(attr_name, attrs) if attrs else ([], split_synthetic([], attr_name))
    )
    try:
        query = SearchQuery(
            start_ns=start_ns,
            end_ns=end_ns,
            service=service,
            operation=operation,
            conditions=conditions,
            status=synthetic.status,
            min_duration_ns=param(dmin_name, dmin, parse_duration) if dmin else None,
            max_duration_ns=param(dmax_name, dmax, parse_duration) if dmax else None,
            limit=min(limit, MAX_LIMIT) if limit > 0 else DEFAULT_LIMIT,
        )
    except ValueError as e:
        raise bad_request(str(e)) from None
    return query, synthetic.fields


@router.get("/services", summary="Jaeger v3: service names")
def services(store: StoreDep) -> Any:
    return {"services": store.services()}


@router.get(
    "/operations",
    summary="Jaeger v3: operations of a service with span kinds",
    openapi_extra=_documented("spanKind", "span_kind"),
)
def operations(store: StoreDep, request: Request, service: str = "") -> Any:
    if not service:
        raise bad_request("parameter service is required (e.g. /api/v3/operations?service=orders)")
    kind_name, kind_text = _get(request, "spanKind", "span_kind")
    kind = param(kind_name, kind_text, SpanKind.from_label) if kind_text else None
    ops = store.operations(service, kind)
    return {"operations": [{"name": op.name, "spanKind": kind_label(op.kind)} for op in ops]}


@router.get(
    "/traces",
    summary="Jaeger v3: search, answering whole traces as OTLP JSON",
    openapi_extra=SEARCH_PARAMS,
)
def find_traces(store: StoreDep, request: Request) -> Any:
    query, fields = search_query(request)
    traces = [
        t
        for s, found in search_traces(store, query, fields)
        if (t := found or store.trace(s.trace_id)) is not None
    ]
    if not traces:
        raise ApiError(404, "trace not found: no trace matches the query")
    return {"result": traces_to_otlp(traces)}


@router.get(
    "/traces/{trace_id}",
    summary="Jaeger v3: one trace as OTLP JSON",
    openapi_extra=_documented("startTime", "endTime", "start_time", "end_time"),
)
def get_trace(store: StoreDep, request: Request, trace_id: str) -> Any:
    tid = param("trace_id", trace_id, parse_trace_id)
    start_name, start = _get(request, "startTime", "start_time")
    end_name, end = _get(request, "endTime", "end_time")
    start_ns = param(start_name, start, parse_time) if start else None
    end_ns = param(end_name, end, parse_time) if end else None
    # The time range only narrows where Jaeger's storage looks; the per-trace index answers
    # exactly without it (the values are still checked: a 400 for a bad one).
    del start_ns, end_ns
    # Through the native API's cache of recently read traces; the cached body skips
    # FastAPI's jsonable_encoder. As stored (raw): Jaeger v3 adjusts no clock skew.
    entry = cached_entry(request, store, tid)
    if entry is None:
        raise ApiError(404, f"trace not found: {tid.hex()}")
    body = entry.derived(
        "jaeger-v3", True, lambda t: orjson.dumps({"result": traces_to_otlp([t])}, option=NON_STR)
    )
    return Response(body, media_type="application/json")


def summary_to_v3(s: TraceSummary) -> dict[str, Any]:
    return {
        "traceId": s.trace_id.hex(),
        "rootServiceName": s.root_service,
        "rootOperationName": s.root_operation,
        # int64 as decimal strings: proto3 JSON for (fixed)int64, as the Jaeger UI parses it
        "minStartTimeUnixNano": str(s.start_ns),
        "maxEndTimeUnixNano": str(s.start_ns + s.duration_ns),
        "spanCount": s.span_count,
        "errorSpanCount": s.error_count,
        "orphanSpanCount": s.orphan_count,
        "services": [
            {"name": c.name, "spanCount": c.span_count, "errorSpanCount": c.error_count}
            for c in s.services
        ],
    }


@router.get(
    "/trace-summaries",
    summary="Jaeger v3: search, answering one summary per trace",
    openapi_extra=SEARCH_PARAMS,
)
def trace_summaries(store: StoreDep, request: Request) -> Any:
    query, fields = search_query(request)
    return {"summaries": [summary_to_v3(s) for s, _ in search_traces(store, query, fields)]}

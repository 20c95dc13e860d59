"""Jaeger's v1 query API under ``/api``: what Grafana's Jaeger data source calls.

Point Grafana's Jaeger data source at ``http://127.0.0.1:16686`` and it works unchanged
(docs/jaeger.md). Every answer is Jaeger's wrapper::

    {"data": ..., "total": 0, "limit": 0, "offset": 0, "errors": null}

with ``total`` set for services and operations only, and errors as
``"errors": [{"code": 400, "msg": "..."}]`` (plus ``traceID`` when about one trace).

Endpoints: ``/api/services``, ``/api/services/{service}/operations``,
``/api/operations?service=&spanKind=``, ``/api/traces`` (search: whole traces),
``/api/traces/{traceID}``, ``/api/dependencies?endTs=&lookback=`` (milliseconds).

Search parameters follow Jaeger's: ``start``/``end`` in unix microseconds (default the
last 48 hours), ``minDuration``/``maxDuration`` as Go durations, ``tags`` as a JSON map
(Grafana's form) or repeated ``tag=key:value``, ``limit`` (default 20), repeated
``traceID`` to fetch given traces. Jaeger's synthetic tags (``error=true``,
``otel.status_code``, ``span.kind``, ``otel.status_description``...) search the span
fields they came from: :mod:`spanscope.api.jaeger_filters`.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request, Response

from spanscope.api.deps import SpanKindParam, StoreDep, cached_entry, param
from spanscope.api.errors import ApiError, OrjsonResponse, bad_request
from spanscope.api.jaeger_filters import SpanFields, search_traces, split_synthetic
from spanscope.api.serialize import trace_to_jaeger
from spanscope.model.spans import SpanKind, parse_trace_id
from spanscope.query.durations import MS, US, parse_integer, shown, shown_int
from spanscope.query.model import (
    DEFAULT_LIMIT,
    MAX_CONDITIONS,
    MAX_LIMIT,
    Condition,
    SearchQuery,
    now_ns,
    parse_duration,
    parse_value,
)

NON_STR = orjson.OPT_NON_STR_KEYS  # as OrjsonResponse renders
router = APIRouter(prefix="/api", tags=["jaeger"], default_response_class=OrjsonResponse)

DEFAULT_SEARCH_LOOKBACK_NS = 48 * 3600 * 1_000_000_000
DEFAULT_DEPENDENCIES_LOOKBACK_MS = 24 * 3600 * 1000
MAX_LIMIT_TEXT = 2**31 - 1  # Jaeger reads limit as a Go int and clamps; a 400-digit one is a 400


def wrap(data: Any, total: int = 0, errors: list[dict[str, Any]] | None = None) -> Any:
    return {"data": data, "total": total, "limit": 0, "offset": 0, "errors": errors}


def kind_label(kind: SpanKind) -> str:
    # Jaeger shows an unspecified kind as the empty string, not "unspecified".
    return "" if kind == SpanKind.UNSPECIFIED else kind.label


def _ns(name: str, value: str, unit: str) -> int:
    """A whole number of µs or ms, as nanoseconds (400 naming ``name`` if not one)."""
    scale = US if unit == "microseconds" else MS
    return param(name, value, lambda text: parse_integer(text, scale, unit))


@router.get("/services", summary="Jaeger: service names")
def services(store: StoreDep) -> Any:
    names = store.services()
    return wrap(names, total=len(names))


@router.get("/services/{service}/operations", summary="Jaeger: operation names of a service")
def service_operations(store: StoreDep, service: str) -> Any:
    names = sorted({op.name for op in store.operations(service)})
    return wrap(names, total=len(names))


@router.get("/operations", summary="Jaeger: operations of a service with span kinds")
def operations(
    store: StoreDep,
    service: str = "",
    span_kind: Annotated[SpanKindParam, Query(alias="spanKind")] = None,
) -> Any:
    if not service:
        raise bad_request("parameter service is required (e.g. /api/operations?service=orders)")
    kind = SpanKind.from_label(span_kind) if span_kind else None
    ops = [
        {"name": op.name, "spanKind": kind_label(op.kind)} for op in store.operations(service, kind)
    ]
    return wrap(ops, total=len(ops))


def tag_condition(key: str, value: str) -> Condition:
    return Condition(key, "=", parse_value(value))


def attribute_map(name: str, text: str) -> dict[str, str | int | float | bool]:
    """A JSON object of attribute equalities (Grafana's ``tags``, v3's ``query.attributes``):
    at most MAX_CONDITIONS entries, each value a string, number or boolean."""
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise bad_request(
            f"parameter {name}={shown(text)}: expected a JSON object such as "
            '{"http.status_code":"500"}'
        )
    if len(parsed) > MAX_CONDITIONS:
        raise bad_request(
            f"parameter {name}: {len(parsed)} attributes; at most {MAX_CONDITIONS} per search"
        )
    for key, value in parsed.items():
        if isinstance(value, dict | list) or value is None:
            raise bad_request(
                f"parameter {name}: attribute {shown(key)} is {shown(orjson.dumps(value).decode())}"
                "; expected a string, number or boolean"
            )
    return parsed


def _tag_conditions(tags: str | None, tag: list[str]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    if tags:
        pairs.extend(
            (str(k), v if isinstance(v, str) else orjson.dumps(v).decode())
            for k, v in attribute_map("tags", tags).items()
        )
    for t in tag:
        key, sep, value = t.partition(":")
        if not sep or not key.strip():
            raise bad_request(
                f"parameter tag={shown(t)}: expected key:value (e.g. http.method:GET)"
            )
        pairs.append((key.strip(), value))
    if len(pairs) > MAX_CONDITIONS:
        raise bad_request(
            f"parameter tag/tags: {len(pairs)} tag filters; at most {MAX_CONDITIONS} per search"
        )
    return pairs


def _search_query(
    service: str,
    operation: str | None,
    pairs: list[tuple[str, str]],
    start: str | None,
    end: str | None,
    min_duration: str | None,
    max_duration: str | None,
    limit: int,
) -> tuple[SearchQuery, SpanFields]:
    end_ns = _ns("end", end, "microseconds") if end else now_ns()
    start_ns = (
        _ns("start", start, "microseconds")
        if start
        else max(0, end_ns - DEFAULT_SEARCH_LOOKBACK_NS)
    )
    conditions: list[Condition] = []
    synthetic = split_synthetic(list(pairs), "tag/tags")
    for key, raw in synthetic.attributes:
        value = str(raw)
        try:
            conditions.append(tag_condition(key, value))
        except ValueError as e:
            raise bad_request(f"parameter tag={shown(f'{key}:{value}')}: {e}") from None
    if not -MAX_LIMIT_TEXT <= limit <= MAX_LIMIT_TEXT:
        raise bad_request(
            f"parameter limit={shown_int(limit)}: expected a whole number of traces, at most "
            f"{MAX_LIMIT} are answered"
        )
    try:
        query = SearchQuery(
            start_ns=start_ns,
            end_ns=end_ns,
            service=service,
            operation=operation or None,
            conditions=conditions,
            min_duration_ns=param("minDuration", min_duration, parse_duration)
            if min_duration
            else None,
            max_duration_ns=param("maxDuration", max_duration, parse_duration)
            if max_duration
            else None,
            status=synthetic.status,
            limit=min(limit, MAX_LIMIT) if limit > 0 else DEFAULT_LIMIT,
        )
    except ValueError as e:
        raise bad_request(str(e)) from None
    return query, synthetic.fields


@router.get("/traces", summary="Jaeger: search, answering whole traces")
def search(
    store: StoreDep,
    service: str = "",
    operation: str | None = None,
    tags: str | None = None,
    tag: list[str] = Query([]),  # noqa: B008 - FastAPI's way to declare a repeatable
    start: str | None = None,
    end: str | None = None,
    min_duration: Annotated[str | None, Query(alias="minDuration")] = None,
    max_duration: Annotated[str | None, Query(alias="maxDuration")] = None,
    limit: int = DEFAULT_LIMIT,
    lookback: str | None = None,
    trace_ids: list[str] = Query([], alias="traceID"),  # noqa: B008
) -> Any:
    del lookback  # the Jaeger UI sends it beside start/end, which already say the window
    if trace_ids:
        found, errors = [], []
        for text in trace_ids:
            tid = param("traceID", text, parse_trace_id)
            trace = store.trace(tid)
            if trace is None:
                errors.append({"code": 404, "msg": "trace not found", "traceID": tid.hex()})
            else:
                found.append(trace_to_jaeger(trace))
        return wrap(found, errors=errors or None)
    if not service:
        raise bad_request(
            "parameter service is required unless traceID is given "
            "(e.g. /api/traces?service=orders&limit=20)"
        )
    pairs = _tag_conditions(tags, tag)
    query, fields = _search_query(
        service, operation, pairs, start, end, min_duration, max_duration, limit
    )
    traces = []
    for summary, matched in search_traces(store, query, fields):
        whole = matched or store.trace(summary.trace_id)
        if whole is not None:
            traces.append(trace_to_jaeger(whole))
    return wrap(traces)


@router.get("/traces/{trace_id}", summary="Jaeger: one trace by id")
def trace(
    request: Request,
    store: StoreDep,
    trace_id: str,
    start: str | None = None,
    end: str | None = None,
    raw: bool = False,
    pretty_print: Annotated[bool, Query(alias="prettyPrint")] = False,
) -> Any:
    del pretty_print  # orjson output is compact either way
    tid = param("traceID", trace_id, parse_trace_id)
    start_ns = _ns("start", start, "microseconds") if start else None
    end_ns = _ns("end", end, "microseconds") if end else None
    # start/end only narrow where Jaeger's storage looks; the per-trace index answers exactly
    # without them, so they are checked (a 400 for a bad value) and the read does not need them.
    del start_ns, end_ns
    # Through the native API's cache: Grafana's trace view asks for the same trace again
    # (and the web UI may have read it); the cached body skips FastAPI's jsonable_encoder.
    entry = cached_entry(request, store, tid)
    if entry is None:
        raise ApiError(404, "trace not found", trace_id=tid.hex())
    # raw=true: as stored; otherwise Jaeger's clock-skew adjuster, as Jaeger does
    body = entry.derived(
        "jaeger", raw, lambda t: orjson.dumps(wrap([trace_to_jaeger(t)]), option=NON_STR)
    )
    return Response(body, media_type="application/json")


@router.get("/dependencies", summary="Jaeger: service dependency links")
def dependencies(
    store: StoreDep,
    end_ts: Annotated[str | None, Query(alias="endTs")] = None,
    lookback: str | None = None,
    service: str | None = None,
) -> Any:
    end_ns = _ns("endTs", end_ts, "milliseconds") if end_ts else now_ns()
    lookback_ns = (
        _ns("lookback", lookback, "milliseconds")
        if lookback
        else DEFAULT_DEPENDENCIES_LOOKBACK_MS * MS
    )
    edges = store.dependencies(max(0, end_ns - lookback_ns), end_ns, service or None)
    return wrap([{"parent": e.parent, "child": e.child, "callCount": e.call_count} for e in edges])

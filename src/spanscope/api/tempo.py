"""Tempo's HTTP query API over Spanscope, for Grafana's Tempo data source (docs/tempo.md).

Point Grafana's Tempo data source at ``http://<host>:16686/tempo``: every endpoint is under
that prefix. All but trace-by-id are also served at the root (``/api/search``...), where
``/api/traces/{id}`` stays the Jaeger API's::

    curl -G -s localhost:16686/tempo/api/search --data-urlencode 'q={ status = error }'
    curl -s localhost:16686/tempo/api/v2/traces/4bf92f3577b34da6a3ce929d0e0e4736
    curl -s localhost:16686/tempo/api/v2/search/tags
    curl -s localhost:16686/tempo/api/v2/search/tag/resource.service.name/values
    curl -G -s localhost:16686/tempo/api/metrics/query_range --data-urlencode \\
        'q={ status = error } | rate() by (resource.service.name)' --data-urlencode since=1h

Answers are Tempo's shapes (:mod:`spanscope.api.tempo_render`); a bad query is a 400 with
Tempo's plain-text error (``invalid TraceQL query: parse error at line 1, col 27: ...``).
Search results are newest first, always (Tempo's own order is whatever its shards answer
first). Reads are of the request's tenant (``X-Scope-OrgID``,
:func:`spanscope.api.deps.store_of`).

Tags and tag values come from the services and operations the store lists plus a sample
of the newest traces in the window (:data:`TAG_SAMPLE_TRACES`); Tempo's are best-effort too.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import PlainTextResponse, Response

import spanscope
from spanscope.api.deps import StoreDep, cached_entry, cached_traces
from spanscope.api.errors import OrjsonResponse
from spanscope.api.serialize import otlp_value
from spanscope.api.tempo_render import (
    search_trace,
    summary_json,
    trace_json,
    trace_protobuf,
    wrap_v2_protobuf,
)
from spanscope.model.spans import SpanKind, Trace, parse_trace_id
from spanscope.query.durations import parse_duration, parse_time, shown
from spanscope.query.model import DEFAULT_LOOKBACK_NS, MAX_LIMIT, Condition, SearchQuery, now_ns
from spanscope.query.traceql import TraceQLError, parse
from spanscope.query.traceql.ast import Attribute, Intrinsic, SpansetFilter, Unary
from spanscope.query.traceql.ast import Query as TraceQLQuery
from spanscope.query.traceql.engine import TraceView, evaluate, query_fields, spans_value
from spanscope.query.traceql.metrics import MAX_METRIC_TRACES, MetricsResult, run_metrics
from spanscope.query.traceql.planner import search as traceql_search
from spanscope.store.base import Store

router = APIRouter(tags=["tempo"], default_response_class=OrjsonResponse)
"""Every endpoint; mounted under ``/tempo``."""
root_router = APIRouter(tags=["tempo"], default_response_class=OrjsonResponse)
"""The same but trace-by-id (Jaeger's ``/api/traces/{id}`` keeps the root)."""

TAG_SAMPLE_TRACES = 25
DEFAULT_SPSS = 3
INTRINSIC_TAGS = [
    "duration", "event:name", "event:timeSinceStart", "instrumentation:name",
    "instrumentation:version", "kind", "name", "rootName", "rootServiceName", "span:duration",
    "span:kind", "span:name", "span:status", "span:statusMessage", "status", "statusMessage",
    "trace:duration", "trace:rootName", "trace:rootService", "traceDuration",
]  # fmt: skip
SCOPES = ("resource", "span", "event", "link", "instrumentation", "intrinsic")


class BadRequest(Exception):
    def __init__(self, message: str) -> None:
        self.message = message


def _route(path: str, *, root: bool = True, **kw: Any) -> Callable[[Any], Any]:
    def register(fn: Any) -> Any:
        router.add_api_route(path, fn, methods=["GET"], **kw)
        if root:
            root_router.add_api_route(path, fn, methods=["GET"], include_in_schema=False, **kw)
        return fn

    return register


def _bad(message: str) -> Response:
    return PlainTextResponse(message, status_code=400)


def _answers(fn: Callable[[], Response]) -> Response:
    try:
        return fn()
    except BadRequest as exc:
        return _bad(exc.message)
    except TraceQLError as exc:
        return _bad(f"invalid TraceQL query: {exc}")


def _int(name: str, value: str | None, default: int, low: int, high: int) -> int:
    """An integer parameter; absent, empty or 0 (Tempo's "not set") is the default."""
    if value is None or value.strip() in ("", "0"):
        return default
    try:
        n = int(value)
    except ValueError:
        raise BadRequest(f"invalid {name} {shown(value)}: expected an integer") from None
    if not low <= n <= high:
        raise BadRequest(f"invalid {name} {n}: expected {low} to {high}")
    return n


def _window(start: str | None, end: str | None) -> tuple[int, int]:
    """Tempo's start/end (unix seconds; RFC 3339 and finer units accepted too)."""
    try:
        end_ns = parse_time(end) if end else now_ns()
        start_ns = parse_time(start) if start else max(0, end_ns - DEFAULT_LOOKBACK_NS)
    except ValueError as exc:
        raise BadRequest(f"invalid start or end: {exc}") from None
    if end_ns < start_ns:
        raise BadRequest("invalid start and end: end is before start")
    return start_ns, end_ns


def _duration(name: str, value: str | None) -> int | None:
    if not value:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise BadRequest(f"invalid {name}: {exc}") from None


# --- search ---------------------------------------------------------------------------


Reader = Callable[[bytes], Trace | None]


def _reader(request: Request, store: Store) -> Reader:
    """Whole traces through the app's cache of recently read traces (keyed by tenant and
    the trace's stamp, so a trace that grew is read again): Grafana repeats searches."""

    def read(trace_id: bytes) -> Trace | None:
        entry = cached_entry(request, store, trace_id)
        return entry.stored if entry is not None else None

    return read


@_route("/api/search", summary="Tempo: search with TraceQL (q) or tags")
def search(
    request: Request,
    store: StoreDep,
    q: str | None = None,
    tags: str | None = None,
    minDuration: str | None = None,  # noqa: N803 - Tempo's parameter names
    maxDuration: str | None = None,  # noqa: N803
    limit: str | None = None,
    start: str | None = None,
    end: str | None = None,
    spss: str | None = None,
) -> Response:
    def run() -> Response:
        start_ns, end_ns = _window(start, end)
        n = _int("limit", limit, 20, 1, MAX_LIMIT)
        per_set = _int("spss", spss, DEFAULT_SPSS, 1, 1000)
        low, high = _duration("minDuration", minDuration), _duration("maxDuration", maxDuration)
        if q and q.strip():
            query = parse(q)
            if query.metrics is not None:
                raise BadRequest(
                    "invalid TraceQL query: metrics queries are served by /api/metrics/query_range"
                )
            outcome = traceql_search(
                store, query, start_ns, end_ns, n, low, high,
                read_many=lambda ids: cached_traces(request, store, ids),
            )  # fmt: skip
            fields = query_fields(query)
            traces = [search_trace(m, per_set, fields) for m in outcome.matches]
            metrics = {
                "inspectedTraces": outcome.inspected_traces,
                "inspectedSpans": str(outcome.inspected_spans),
            }
            return OrjsonResponse({"traces": traces, "metrics": _nonzero(metrics)})
        return OrjsonResponse(_tag_search(store, tags or "", start_ns, end_ns, n, low, high))

    return _answers(run)


def _nonzero(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v not in (0, "0")}


def parse_logfmt(text: str) -> list[tuple[str, str]]:
    """Tempo's ``tags`` parameter: ``key=value`` pairs split by spaces, values quotable."""
    try:
        parts = shlex.split(text)
    except ValueError as exc:
        raise BadRequest(f"invalid tags {shown(text)}: {exc}") from None
    pairs = []
    for part in parts:
        key, eq, value = part.partition("=")
        if not eq or not key:
            raise BadRequest(
                f"invalid tags {shown(text)}: expected key=value pairs, got {shown(part)}"
            )
        pairs.append((key, value))
    return pairs


def _tag_search(
    store: Store,
    tags: str,
    start_ns: int,
    end_ns: int,
    limit: int,
    low: int | None,
    high: int | None,
) -> dict[str, Any]:
    service = operation = status = None
    conditions = []
    for key, value in parse_logfmt(tags):
        if key in ("service.name", "resource.service.name"):
            service = value
        elif key in ("name", "span:name"):
            operation = value
        elif key in ("status", "status.code") and value in ("error", "ok", "unset"):
            status = value
        else:
            try:
                conditions.append(Condition(key, "=", value))
            except ValueError as exc:
                raise BadRequest(f"invalid tags: {exc}") from None
    filtered = low is not None or high is not None
    try:
        sq = SearchQuery(
            start_ns, end_ns, service=service, operation=operation, conditions=conditions,
            status=status, limit=MAX_LIMIT if filtered else limit,  # type: ignore[arg-type]
        )  # fmt: skip
    except ValueError as exc:
        raise BadRequest(f"invalid search: {exc}") from None
    found = [
        t
        for t in store.search(sq)
        if (low is None or t.duration_ns >= low) and (high is None or t.duration_ns <= high)
    ][:limit]
    return {
        "traces": [summary_json(t) for t in found],
        "metrics": {"inspectedTraces": len(found)} if found else {},
    }


# --- traces by id -----------------------------------------------------------------------


def _trace(store: Store, trace_id: str, start: str | None, end: str | None) -> Trace | Response:
    try:
        tid = parse_trace_id(trace_id)
    except ValueError as exc:
        return _bad(f"invalid trace id: {exc}")
    window = _window(start, end) if start or end else (None, None)
    trace = store.trace(tid, *window)
    if trace is None or not trace.spans:
        return PlainTextResponse("trace not found", status_code=404)
    return trace


def _wants_protobuf(request: Request) -> bool:
    return "application/protobuf" in request.headers.get("accept", "")


@_route("/api/traces/{trace_id}", root=False, summary="Tempo: a trace as OTLP (JSON or protobuf)")
def trace_v1(
    request: Request,
    store: StoreDep,
    trace_id: str,
    start: str | None = None,
    end: str | None = None,
) -> Response:
    def run() -> Response:
        found = _trace(store, trace_id, start, end)
        if isinstance(found, Response):
            return found
        if _wants_protobuf(request):
            return Response(trace_protobuf(found), media_type="application/protobuf")
        return OrjsonResponse(trace_json(found))

    return _answers(run)


@_route("/api/v2/traces/{trace_id}", summary="Tempo: a trace wrapped as TraceByIDResponse")
def trace_v2(
    request: Request,
    store: StoreDep,
    trace_id: str,
    start: str | None = None,
    end: str | None = None,
) -> Response:
    def run() -> Response:
        found = _trace(store, trace_id, start, end)
        if isinstance(found, Response):
            return found
        if _wants_protobuf(request):
            return Response(
                wrap_v2_protobuf(trace_protobuf(found)), media_type="application/protobuf"
            )
        return OrjsonResponse({"trace": trace_json(found)})

    return _answers(run)


# --- tags -------------------------------------------------------------------------------


def _sample(
    store: Store, start_ns: int, end_ns: int, q: str | None, read: Reader | None = None
) -> list[tuple[TraceView, list[Any]]]:
    """(trace, its spans that ``q`` keeps — all without q) for the newest traces in the
    window. A ``q`` that does not parse is ignored, as Tempo does for autocomplete."""
    query = None
    if q and q.strip():
        try:
            query = parse(q)
        except TraceQLError:
            query = None
    out = []
    for summary in store.search(SearchQuery(start_ns, end_ns, limit=TAG_SAMPLE_TRACES)):
        trace = read(summary.trace_id) if read is not None else store.trace(summary.trace_id)
        if trace is None:
            continue
        if query is None:
            spans = list(trace.spans)
        else:
            spans = [s for ss in evaluate(query, trace) for s in ss.spans]
        if spans:
            out.append((TraceView(trace), spans))
    return out


def _scoped_tags(
    store: Store, start_ns: int, end_ns: int, q: str | None, read: Reader | None = None
) -> dict[str, set[str]]:
    tags: dict[str, set[str]] = {s: set() for s in SCOPES if s != "intrinsic"}
    for _view, spans in _sample(store, start_ns, end_ns, q, read):
        for s in spans:
            tags["span"].update(s.attributes)
            tags["resource"].update(s.resource)
            tags["resource"].add("service.name")
            for e in s.events:
                tags["event"].update(e.attributes)
            for link in s.links:
                tags["link"].update(link.attributes)
    return tags


@_route("/api/search/tags", summary="Tempo: attribute names")
def search_tags(
    request: Request,
    store: StoreDep,
    scope: str | None = None,
    start: str | None = None,
    end: str | None = None,
) -> Response:
    def run() -> Response:
        wanted = _scope(scope)
        start_ns, end_ns = _window(start, end)
        tags = _scoped_tags(store, start_ns, end_ns, None, _reader(request, store))
        names: set[str] = set()
        for name, keys in tags.items():
            if wanted is None and name in ("span", "resource") or wanted == name:
                names |= keys
        if wanted == "intrinsic":
            names |= set(INTRINSIC_TAGS)
        return OrjsonResponse({"tagNames": sorted(names), "metrics": {}})

    return _answers(run)


def _scope(scope: str | None) -> str | None:
    if scope in (None, "", "all"):
        return None
    if scope not in SCOPES:
        raise BadRequest(
            f"invalid scope {shown(scope)}: expected one of {', '.join(SCOPES)} or all"
        )
    return scope


@_route("/api/v2/search/tags", summary="Tempo: attribute names per scope")
def search_tags_v2(
    request: Request,
    store: StoreDep,
    scope: str | None = None,
    q: str | None = None,
    start: str | None = None,
    end: str | None = None,
) -> Response:
    def run() -> Response:
        wanted = _scope(scope)
        start_ns, end_ns = _window(start, end)
        tags = _scoped_tags(store, start_ns, end_ns, q, _reader(request, store))
        scopes = [
            {"name": name, "tags": sorted(keys)}
            for name, keys in tags.items()
            if keys and (wanted is None or wanted == name)
        ]
        if wanted in (None, "intrinsic"):
            scopes.append({"name": "intrinsic", "tags": list(INTRINSIC_TAGS)})
        return OrjsonResponse({"scopes": scopes, "metrics": {}})

    return _answers(run)


def _typed(value: Any) -> dict[str, str] | None:
    if isinstance(value, tuple):
        return {"type": "keyword", "value": str(value[1])}
    if isinstance(value, bool):
        return {"type": "bool", "value": "true" if value else "false"}
    if isinstance(value, int):
        return {"type": "int", "value": str(value)}
    if isinstance(value, float):
        return {"type": "float", "value": repr(value)}
    if isinstance(value, str):
        return {"type": "string", "value": value}
    return None


def _field_of(tag: str) -> Attribute | Intrinsic:
    """A v2 tag (a TraceQL identifier: ``.service.name``, ``span.http.method``, ``status``)."""
    problem = (
        f"invalid tag {shown(tag)}: expected a TraceQL attribute or intrinsic, "
        "e.g. resource.service.name"
    )
    try:
        query = parse(f"{{ {tag} != nil }}")
    except TraceQLError:
        raise BadRequest(problem) from None
    stages = query.pipeline.stages
    # "{ .a } && { .b != nil }" parses too: only one field, alone, is a tag
    if query.metrics is not None or len(stages) != 1 or not isinstance(stages[0], SpansetFilter):
        raise BadRequest(problem)
    expr = stages[0].expr
    if not (isinstance(expr, Unary) and isinstance(expr.operand, Attribute | Intrinsic)):
        raise BadRequest(problem)
    return expr.operand


def _values(
    store: Store,
    field: Attribute | Intrinsic,
    start_ns: int,
    end_ns: int,
    q: str | None,
    limit: int,
    read: Reader | None = None,
) -> list[dict[str, str]]:
    found: dict[tuple[str, str], dict[str, str]] = {}

    def add(v: Any) -> None:
        typed = _typed(v)
        if typed is not None and len(found) < limit:
            found.setdefault((typed["type"], typed["value"]), typed)

    if isinstance(field, Intrinsic) and field.name == "span:status":
        for word in ("error", "ok", "unset"):
            add(("status", word))
    elif isinstance(field, Intrinsic) and field.name == "span:kind":
        for k in SpanKind:
            add(("kind", k.label))
    elif not q and field == Intrinsic("span:name"):
        for svc in store.services():
            for op in store.operations(svc):
                add(op.name)
    elif (
        not q
        and isinstance(field, Attribute)
        and field.name == "service.name"
        and field.scope in (None, "resource")
    ):
        for svc in store.services():
            add(svc)
    else:
        for view, spans in _sample(store, start_ns, end_ns, q, read):
            for s in spans:
                add(spans_value(field, s, view))
    return sorted(found.values(), key=lambda t: (t["type"], t["value"]))


@_route("/api/search/tag/{tag}/values", summary="Tempo: values of an attribute")
def tag_values(
    request: Request,
    store: StoreDep,
    tag: str,
    start: str | None = None,
    end: str | None = None,
    limit: str | None = None,
) -> Response:
    def run() -> Response:
        start_ns, end_ns = _window(start, end)
        n = _int("limit", limit, 1000, 1, 10_000)
        values = []
        for scope in ("span", "resource"):
            values += _values(
                store, Attribute(scope, tag), start_ns, end_ns, None, n, _reader(request, store)
            )
        if tag == "service.name":
            values += [{"type": "string", "value": s} for s in store.services()]
        texts = sorted({v["value"] for v in values})[:n]
        return OrjsonResponse({"tagValues": texts, "metrics": {}})

    return _answers(run)


@_route("/api/v2/search/tag/{tag}/values", summary="Tempo: typed values of a TraceQL field")
def tag_values_v2(
    request: Request,
    store: StoreDep,
    tag: str,
    q: str | None = None,
    start: str | None = None,
    end: str | None = None,
    limit: str | None = None,
) -> Response:
    def run() -> Response:
        start_ns, end_ns = _window(start, end)
        n = _int("limit", limit, 1000, 1, 10_000)
        values = _values(store, _field_of(tag), start_ns, end_ns, q, n, _reader(request, store))
        return OrjsonResponse({"tagValues": values, "metrics": {}})

    return _answers(run)


# --- TraceQL metrics -------------------------------------------------------------------


def _metrics_window(start: str | None, end: str | None, since: str | None) -> tuple[int, int]:
    if since and not start:
        span = _duration("since", since) or DEFAULT_LOOKBACK_NS
        end_ns = _window(None, end)[1]
        return max(0, end_ns - span), end_ns
    return _window(start, end)


def _metrics_query(q: str | None) -> TraceQLQuery:
    if not q or not q.strip():
        raise BadRequest("invalid TraceQL query: q is required, e.g. { } | rate()")
    query = parse(q)
    if query.metrics is None:
        raise BadRequest(
            "invalid TraceQL query: not a metrics query: end it with a function such as "
            "| rate() or | quantile_over_time(duration, .99)"
        )
    return query


def _metrics_extras(result: MetricsResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "metrics": _nonzero(
            {
                "inspectedTraces": result.inspected_traces,
                "inspectedSpans": str(result.inspected_spans),
            }
        )
    }
    notes = []
    if result.partial:
        out["status"] = "PARTIAL"
        notes.append(
            f"counted the newest {MAX_METRIC_TRACES} matching traces only; "
            "narrow the query or the window"
        )
    if result.weighted:
        notes.append("counts are weighted by each span's sampling adjusted count")
    if notes:
        out["message"] = "; ".join(notes)
    return out


@_route("/api/metrics/query_range", summary="Tempo: TraceQL metrics as time series")
def metrics_query_range(
    store: StoreDep,
    q: str | None = None,
    start: str | None = None,
    end: str | None = None,
    since: str | None = None,
    step: str | None = None,
    exemplars: str | None = None,
) -> Response:
    def run() -> Response:
        query = _metrics_query(q)
        start_ns, end_ns = _metrics_window(start, end, since)
        result = run_metrics(store, query, start_ns, end_ns, _duration("step", step))
        series = [
            {
                "labels": [_label(k, v) for k, v in s.labels],
                "samples": [
                    {"timestampMs": str(ts), **({"value": v} if v else {})} for ts, v in s.samples
                ],
            }
            for s in result.series
        ]
        return OrjsonResponse({"series": series, **_metrics_extras(result)})

    return _answers(run)


@_route("/api/metrics/query", summary="Tempo: TraceQL metrics, one value per series")
def metrics_query(
    store: StoreDep,
    q: str | None = None,
    start: str | None = None,
    end: str | None = None,
    since: str | None = None,
) -> Response:
    def run() -> Response:
        query = _metrics_query(q)
        start_ns, end_ns = _metrics_window(start, end, since)
        result = run_metrics(store, query, start_ns, end_ns, instant=True)
        series = [
            {
                "labels": [_label(k, v) for k, v in s.labels],
                **({"value": s.samples[0][1]} if s.samples and s.samples[0][1] else {}),
            }
            for s in result.series
        ]
        return OrjsonResponse({"series": series, **_metrics_extras(result)})

    return _answers(run)


def _label(key: str, value: Any) -> dict[str, Any]:
    return {"key": key, "value": otlp_value(value)}


# --- status -----------------------------------------------------------------------------


@_route("/api/echo", summary="Tempo: the data source's connection test")
def echo() -> Response:
    return PlainTextResponse("echo")


@_route("/api/status/buildinfo", summary="Tempo: build information")
def buildinfo() -> Response:
    version = str(getattr(spanscope, "__version__", "0.0.0"))
    return OrjsonResponse(
        {
            # Grafana turns features on by Tempo version: claim the API level we follow,
            # with our own version as semver build metadata (ignored in comparisons).
            "version": f"{TEMPO_API_VERSION}+spanscope.{version}",
            "revision": "",
            "branch": "",
            "buildDate": "",
            "buildUser": "",
            "goVersion": "",
        }
    )


TEMPO_API_VERSION = "2.8.0"

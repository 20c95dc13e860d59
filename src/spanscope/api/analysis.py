"""Analysis endpoints: find where the time went, in one trace and across many.

docs/analysis.md is their specification (the web UI builds on these shapes)::

    curl -s localhost:16686/api/v1/traces/4bf92f3577b34da6a3ce929d0e0e4736/explain
    curl -s 'localhost:16686/api/v1/compare?service=orders&operation=POST%20/orders&slower_than=1s'
    curl -s 'localhost:16686/api/v1/service-map?lookback=24h'
    curl -s 'localhost:16686/api/v1/red?service=orders&step=1m'

(Jaeger's SPM endpoints for the Monitor tab are in :mod:`spanscope.api.jaeger_spm`).
Handlers only parse parameters, ask the store, and shape JSON:
the analysis itself is in :mod:`spanscope.analysis`, pure functions over traces and the
store's aggregates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from spanscope.analysis import compare as cmp
from spanscope.analysis.breakdown import Breakdown, breakdown
from spanscope.analysis.critical_path import CriticalPath, critical_path
from spanscope.analysis.dependencies import error_rate, service_map
from spanscope.analysis.diff import diff_traces
from spanscope.analysis.red import (
    HISTOGRAM_BOUNDS_NS,
    MIN_STEP_NS,
    QUANTILES,
    RedSeries,
    error_ratio,
    headline,
    rate_per_s,
    red_series,
)
from spanscope.analysis.smells import Smell, find_smells
from spanscope.api.deps import SpanKindOrAny, StoreDep, cached_trace, param, window
from spanscope.api.errors import OrjsonResponse, bad_request
from spanscope.model.aggregates import RedPoint
from spanscope.model.spans import SpanKind, Trace
from spanscope.query.model import DEFAULT_LOOKBACK_NS, parse_duration

router = APIRouter(tags=["analysis"], default_response_class=OrjsonResponse)

DAY_NS = 86400 * 1_000_000_000
MS = 1_000_000


def _trace(
    request: Request, store: StoreDep, trace_id: str, raw: bool, name: str = "trace_id"
) -> Trace:
    return cached_trace(request, store, trace_id, name).trace(raw)


def critical_path_json(trace: Trace, path: CriticalPath, bd: Breakdown) -> dict[str, Any]:
    return {
        "trace_id": trace.trace_id.hex(),
        "root_span_id": path.root.span_id.hex() if path.root else None,
        "duration_ns": path.duration_ns,
        "headline": bd.headline,
        "segments": [
            {
                "span_id": seg.span.span_id.hex(),
                "service": seg.span.service,
                "name": seg.span.name,
                "start_time_unix_nano": seg.start_ns,
                "end_time_unix_nano": seg.end_ns,
                "duration_ns": seg.duration_ns,
            }
            for seg in path.segments
        ],
        "spans": [
            {
                "span_id": s.span_id.hex(),
                "service": s.service,
                "name": s.name,
                "critical_ns": ns,
                "share": ns / path.duration_ns if path.duration_ns else 0.0,
            }
            for s, ns in path.ranked()
        ],
        "warnings": list(path.warnings),
    }


def breakdown_json(trace: Trace, bd: Breakdown) -> dict[str, Any]:
    def share(s: Any, with_name: bool) -> dict[str, Any]:
        out = {"service": s.service}
        if with_name:
            out["name"] = s.name
        return out | {
            "span_count": s.span_count,
            "self_ns": s.self_ns,
            "self_share": s.self_share,
            "critical_ns": s.critical_ns,
            "critical_share": s.critical_share,
        }

    return {
        "trace_id": trace.trace_id.hex(),
        "duration_ns": bd.duration_ns,
        "headline": bd.headline,
        "services": [share(s, False) for s in bd.services],
        "operations": [share(s, True) for s in bd.operations],
        "spans": [
            {
                "span_id": t.span.span_id.hex(),
                "service": t.span.service,
                "name": t.span.name,
                "duration_ns": t.span.duration_ns,
                "self_ns": t.self_ns,
                "critical_ns": t.critical_ns,
            }
            for t in bd.spans
        ],
    }


def smells_json(trace: Trace, smells: list[Smell]) -> dict[str, Any]:
    return {
        "trace_id": trace.trace_id.hex(),
        "headline": smells[0].message
        if smells
        else "no smells: no N+1, retries or sequential calls found",
        "smells": [
            {
                "type": s.type,
                "message": s.message,
                "parent_span_id": s.parent.span_id.hex(),
                "service": s.service or None,
                "name": s.name or None,
                "count": len(s.spans),
                "span_ids": [x.span_id.hex() for x in s.spans],
                "total_ns": s.total_ns,
                "saving_ns": s.saving_ns,
            }
            for s in smells
        ],
    }


RAW = Annotated[bool, Query(description="true: skip the clock-skew adjustment")]


@router.get("/api/v1/traces/{trace_id}/critical-path", summary="The critical path of a trace")
def get_critical_path(request: Request, store: StoreDep, trace_id: str, raw: RAW = False) -> Any:
    entry = cached_trace(request, store, trace_id, "trace_id")
    # A response, not a dict: FastAPI would run jsonable_encoder over every value first.
    return OrjsonResponse(entry.derived("critical-path", raw, _critical_path_answer))


def _critical_path_answer(trace: Trace) -> dict[str, Any]:
    path = critical_path(trace)
    return critical_path_json(trace, path, breakdown(trace, path))


@router.get("/api/v1/traces/{trace_id}/breakdown", summary="Self and critical time per service")
@router.get("/api/v1/traces/{trace_id}/where-the-time-went", include_in_schema=False)
def get_breakdown(request: Request, store: StoreDep, trace_id: str, raw: RAW = False) -> Any:
    entry = cached_trace(request, store, trace_id, "trace_id")
    return OrjsonResponse(entry.derived("breakdown", raw, _breakdown_answer))


def _breakdown_answer(trace: Trace) -> dict[str, Any]:
    return breakdown_json(trace, breakdown(trace))


@router.get("/api/v1/traces/{trace_id}/smells", summary="N+1 calls, retries, sequential calls")
def get_smells(request: Request, store: StoreDep, trace_id: str, raw: RAW = False) -> Any:
    trace = _trace(request, store, trace_id, raw)
    return OrjsonResponse(smells_json(trace, find_smells(trace)))


@router.get("/api/v1/traces/{trace_id}/explain", summary="Critical path, breakdown and smells")
def get_explain(request: Request, store: StoreDep, trace_id: str, raw: RAW = False) -> Any:
    trace = _trace(request, store, trace_id, raw)
    path = critical_path(trace)
    bd = breakdown(trace, path)
    return OrjsonResponse(
        {
            "trace_id": trace.trace_id.hex(),
            "headline": bd.headline,
            "critical_path": critical_path_json(trace, path, bd),
            "breakdown": breakdown_json(trace, bd),
            "smells": smells_json(trace, find_smells(trace)),
        }
    )


@router.get("/api/v1/diff", summary="Two traces aligned by service/operation path")
def get_diff(request: Request, store: StoreDep, a: str, b: str, raw: RAW = False) -> Any:
    ta, tb = _trace(request, store, a, raw, "a"), _trace(request, store, b, raw, "b")
    d = diff_traces(ta, tb)
    return {
        "a": {"trace_id": ta.trace_id.hex(), "duration_ns": _root_ns(ta)},
        "b": {"trace_id": tb.trace_id.hex(), "duration_ns": _root_ns(tb)},
        "headline": d.headline,
        "paths": [
            {
                "path": list(p.path),
                "service": p.service,
                "name": p.name,
                "a_count": p.a_count,
                "b_count": p.b_count,
                "a_total_ns": p.a_total_ns,
                "b_total_ns": p.b_total_ns,
                "delta_ns": p.delta_ns,
                "a_self_ns": p.a_self_ns,
                "b_self_ns": p.b_self_ns,
                "self_delta_ns": p.self_delta_ns,
                "status": p.status,
            }
            for p in d.paths
        ],
    }


def _root_ns(t: Trace) -> int:
    root = t.root()
    return root.duration_ns if root else t.duration_ns


@router.get("/api/v1/compare", summary="Slow vs normal requests: operations and attributes")
def get_compare(
    store: StoreDep,
    service: str | None = None,
    operation: str | None = None,
    slower_than: Annotated[str | None, Query(description="e.g. 1s, 250ms")] = None,
    slowest_percent: Annotated[float | None, Query(description="e.g. 10")] = None,
    start: str | None = None,
    end: str | None = None,
    lookback: Annotated[str | None, Query(description="default 1h")] = None,
) -> Any:
    start_ns, end_ns = window(start, end, lookback, DEFAULT_LOOKBACK_NS)
    threshold = param("slower_than", slower_than, parse_duration) if slower_than else None
    requests = store.request_durations(start_ns, end_ns, service or None, operation or None)
    try:
        split = cmp.split_requests(requests, threshold, slowest_percent)
    except ValueError as e:
        raise bad_request(str(e)) from None
    groups = split.groups()
    if split.slow:
        stats = store.operation_stats(groups)
        counts = store.attribute_counts(groups, focus=cmp.SLOW, min_traces=cmp.MIN_SLOW_TRACES)
    else:
        stats, counts = [], []
    subject = " · ".join(x for x in (service, operation) if x) or "root"
    result = cmp.compare(split, stats, counts, subject=f"{subject} requests")
    return {
        "headline": result.headline,
        "split": {
            "threshold_ns": split.threshold_ns,
            "slow_count": len(split.slow),
            "normal_count": len(split.normal),
            "slow_mean_ns": round(split.mean_ns(cmp.SLOW)),
            "normal_mean_ns": round(split.mean_ns(cmp.NORMAL)),
            "slow_p50_ns": split.p50_ns(cmp.SLOW),
            "normal_p50_ns": split.p50_ns(cmp.NORMAL),
        },
        "operations": [
            {
                "service": o.service,
                "name": o.name,
                "slow_mean_ns": round(o.slow_mean_ns),
                "normal_mean_ns": round(o.normal_mean_ns),
                "delta_ns": round(o.delta_ns),
                "contribution": o.contribution,
                "slow_calls_per_trace": o.slow_calls_per_trace,
                "normal_calls_per_trace": o.normal_calls_per_trace,
            }
            for o in result.operations[:50]
        ],
        "attributes": [
            {
                "key": a.key,
                "value": a.value,
                "slow_traces": a.slow_traces,
                "normal_traces": a.normal_traces,
                "slow_share": a.slow_share,
                "normal_share": a.normal_share,
                "difference": a.difference,
            }
            for a in result.attributes[:50]
        ],
        "exemplars": {
            "slow": [t.hex() for t, _ in split.slow[:5]],
            "normal": [t.hex() for t, _ in split.normal[len(split.normal) // 2 :][:5]],
        },
    }


@router.get("/api/v1/service-map", summary="Services and caller -> callee edges with latency")
def get_service_map(
    store: StoreDep,
    service: str | None = None,
    start: str | None = None,
    end: str | None = None,
    lookback: Annotated[str | None, Query(description="default 24h")] = None,
) -> Any:
    start_ns, end_ns = window(start, end, lookback, DAY_NS)
    graph = service_map(store.dependency_stats(start_ns, end_ns, service or None), service)
    return {
        "headline": graph.headline,
        "start_time_unix_nano": start_ns,
        "end_time_unix_nano": end_ns,
        "nodes": [
            {
                "service": n.service,
                "calls_in": n.calls_in,
                "calls_out": n.calls_out,
                "errors_in": n.errors_in,
            }
            for n in graph.nodes
        ],  # fmt: skip
        "edges": [
            {
                "parent": e.parent,
                "child": e.child,
                "call_count": e.call_count,
                "error_count": e.error_count,
                "error_rate": error_rate(e),
                "p50_ns": e.quantiles_ns[0],
                "p95_ns": e.quantiles_ns[1],
                "p99_ns": e.quantiles_ns[2],
            }
            for e in graph.edges
        ],
    }


def kinds_param(span_kind: Sequence[str]) -> list[SpanKind] | None:
    if any(k.strip().lower() == "any" for k in span_kind):
        return None
    return [param("span_kind", k, SpanKind.from_label) for k in span_kind or ["server"]]


def _point_json(p: RedPoint, seconds: float) -> dict[str, Any]:
    q = p.quantiles_ns
    return {
        "request_count": p.request_count,
        "rate_per_s": rate_per_s(p, seconds),
        "error_count": p.error_count,
        "error_ratio": error_ratio(p),
        "p50_ns": q[0],
        "p95_ns": q[1],
        "p99_ns": q[2],
    }


def _series_json(s: RedSeries, step_ns: int, window_ns: int) -> dict[str, Any]:
    return {
        "service": s.service,
        "operation": s.operation,
        "points": [
            {"time_unix_nano": p.bucket_start_ns} | _point_json(p, step_ns / 1e9) for p in s.points
        ],
        "totals": _point_json(s.totals, window_ns / 1e9) if s.totals else None,
        "histogram": [
            {
                "le_ns": HISTOGRAM_BOUNDS_NS[b.bucket_index]
                if b.bucket_index < len(HISTOGRAM_BOUNDS_NS)
                else None,
                "count": b.count,
                "exemplar_trace_ids": [t.hex() for t in b.exemplar_trace_ids],
            }
            for b in s.histogram
        ],
    }


@router.get("/api/v1/red", summary="Rate, errors, duration per service/operation over time")
def get_red(
    store: StoreDep,
    service: Annotated[list[str], Query(description="repeatable, required")] = [],  # noqa: B006
    operation: str | None = None,
    span_kind: Annotated[
        list[SpanKindOrAny], Query(description="repeatable; default server; any = every kind")
    ] = [],  # noqa: B006
    group_by_operation: bool = False,
    step: Annotated[str, Query(description="bucket width, default 1m")] = "1m",
    start: str | None = None,
    end: str | None = None,
    lookback: Annotated[str | None, Query(description="default 1h")] = None,
) -> Any:
    if not service:
        raise bad_request("parameter service: required, e.g. /api/v1/red?service=orders")
    start_ns, end_ns = window(start, end, lookback, DEFAULT_LOOKBACK_NS)
    step_ns = param("step", step, parse_duration)
    if step_ns < MIN_STEP_NS:
        raise bad_request(f"parameter step={step!r}: expected at least 1s")
    kinds = kinds_param(span_kind)
    group = group_by_operation or operation is not None
    points = store.red(start_ns, end_ns, step_ns, service, operation, kinds, group, QUANTILES)
    buckets = store.latency_histogram(
        start_ns, end_ns, HISTOGRAM_BOUNDS_NS, service, operation, kinds, group
    )
    series = red_series(points, buckets)
    window_ns = max(1, end_ns - start_ns)
    return {
        "headline": headline(series, window_ns / 1e9),
        "start_time_unix_nano": start_ns,
        "end_time_unix_nano": end_ns,
        "step_ns": step_ns,
        "series": [_series_json(s, step_ns, window_ns) for s in series],
    }

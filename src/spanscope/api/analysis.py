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
from spanscope.analysis import rca
from spanscope.analysis.breakdown import Breakdown, breakdown
from spanscope.analysis.critical_path import CriticalPath, critical_path
from spanscope.analysis.dependencies import error_rate, service_map
from spanscope.analysis.diff import diff_traces
from spanscope.analysis.names import operation_names
from spanscope.analysis.red import (
    HISTOGRAM_BOUNDS_NS,
    MIN_STEP_NS,
    QUANTILES,
    RedSeries,
    data_seconds,
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
from spanscope.query.model import DEFAULT_LOOKBACK_NS, SearchQuery, parse_duration

router = APIRouter(tags=["analysis"], default_response_class=OrjsonResponse)

DAY_NS = 86400 * 1_000_000_000
MS = 1_000_000


def _trace(
    request: Request, store: StoreDep, trace_id: str, raw: bool, name: str = "trace_id"
) -> Trace:
    return cached_trace(request, store, trace_id, name).trace(raw)


def critical_path_json(
    trace: Trace, path: CriticalPath, bd: Breakdown, headline: str | None = None
) -> dict[str, Any]:
    names = operation_names(trace)
    return {
        "trace_id": trace.trace_id.hex(),
        "root_span_id": path.root.span_id.hex() if path.root else None,
        "duration_ns": path.duration_ns,
        "headline": headline or bd.headline,
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
                "display_name": names.get(s.span_id, s.name),
                "critical_ns": ns,
                "share": ns / path.duration_ns if path.duration_ns else 0.0,
            }
            for s, ns in path.ranked()
        ],
        "warnings": list(path.warnings),
    }


def breakdown_json(
    trace: Trace, bd: Breakdown, explained: rca.Explanation | None = None
) -> dict[str, Any]:
    """The breakdown, each span and operation with its own work, waiting and gap
    (:mod:`spanscope.analysis.rca`) beside its self and critical time."""
    explained = explained or rca.explain(trace, _root_request(trace))
    split = {t.span.span_id: t for t in explained.request.spans}
    per_op: dict[tuple[str, str], list[int]] = {}
    shown: dict[tuple[str, str], set[str]] = {}
    for t in explained.request.spans:
        shown.setdefault((t.span.service, t.span.name), set()).add(t.name)
        a = per_op.setdefault((t.span.service, t.span.name), [0, 0, 0])
        a[0] += t.own_ns
        a[1] += t.waiting_ns
        a[2] += t.gap_ns

    def share(s: Any, with_name: bool) -> dict[str, Any]:
        out = {"service": s.service}
        if with_name:
            names = shown.get((s.service, s.name), set())
            out["name"] = s.name
            out["display_name"] = next(iter(names)) if len(names) == 1 else s.name
        own = (
            per_op.get((s.service, s.name), [0, 0, 0])
            if with_name
            else _service_times(per_op, s.service)
        )
        return out | {
            "span_count": s.span_count,
            "self_ns": s.self_ns,
            "self_share": s.self_share,
            "critical_ns": s.critical_ns,
            "critical_share": s.critical_share,
            "own_ns": own[0],
            "waiting_ns": own[1],
            "gap_ns": own[2],
        }

    def span_times(t: Any) -> dict[str, Any]:
        found = split.get(t.span.span_id)
        return {
            "display_name": found.name if found else t.span.name,
            "own_ns": found.own_ns if found else None,
            "waiting_ns": found.waiting_ns if found else None,
            "gap_ns": found.gap_ns if found else None,
            "async": found is None,
        }

    return {
        "trace_id": trace.trace_id.hex(),
        "duration_ns": bd.duration_ns,
        "headline": explained.headline,
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
            | span_times(t)
            for t in bd.spans
        ],
    }


def _service_times(per_op: dict[tuple[str, str], list[int]], service: str) -> list[int]:
    out = [0, 0, 0]
    for (svc, _), v in per_op.items():
        if svc == service:
            out = [a + b for a, b in zip(out, v, strict=True)]
    return out


def _root_request(trace: Trace) -> rca.Request | None:
    # The trace handed to analysis is already skew-adjusted (unless the caller asked raw).
    found = rca.requests_in(trace, adjust_skew=False)
    return found[0] if found else None


def cause_json(c: rca.Cause, total_ns: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "service": c.service,
        "name": c.name,
        "label": rca.describe(c),
        "kind": c.kind,
        "critical_ns": round(c.critical_ns),
        "own_ns": round(c.own_ns),
        "waiting_ns": round(c.waiting_ns),
        "gap_ns": round(c.gap_ns),
        "retry": {
            "attempts": c.retry.attempts,
            "failed_ns": c.retry.failed_ns,
            "backoff_ns": c.retry.backoff_ns,
        }
        if c.retry
        else None,
    }
    if total_ns is not None:
        out["share"] = c.critical_ns / total_ns if total_ns else 0.0
    return out


def explanation_json(e: rca.Explanation) -> dict[str, Any]:
    """The request's causes ranked (own work first) and each async path apart."""
    total = e.request.path.duration_ns
    return {
        "headline": e.headline,
        "causes": [cause_json(c, total) for c in e.causes[:30] if c.critical_ns or c.own_ns],
        "async_paths": [
            {
                "span_id": top.span_id.hex(),
                "service": top.service,
                "name": top.name,
                "duration_ns": path.duration_ns,
                "spans": [
                    {
                        "span_id": s.span_id.hex(),
                        "service": s.service,
                        "name": s.name,
                        "critical_ns": ns,
                    }
                    for s, ns in path.ranked()[:15]
                ],  # fmt: skip
            }
            for top, path in e.async_paths
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


def _analysed(trace: Trace) -> tuple[CriticalPath, Breakdown, rca.Explanation]:
    """The request's critical path (async work left out: :mod:`spanscope.analysis.rca`),
    the breakdown along it, and the ranked causes."""
    req = _root_request(trace)
    path = req.path if req is not None else critical_path(trace)
    return path, breakdown(trace, path), rca.explain(trace, req)


def _critical_path_answer(trace: Trace) -> dict[str, Any]:
    path, bd, explained = _analysed(trace)
    return critical_path_json(trace, path, bd, explained.headline)


@router.get("/api/v1/traces/{trace_id}/breakdown", summary="Self and critical time per service")
@router.get("/api/v1/traces/{trace_id}/where-the-time-went", include_in_schema=False)
def get_breakdown(request: Request, store: StoreDep, trace_id: str, raw: RAW = False) -> Any:
    entry = cached_trace(request, store, trace_id, "trace_id")
    return OrjsonResponse(entry.derived("breakdown", raw, _breakdown_answer))


def _breakdown_answer(trace: Trace) -> dict[str, Any]:
    _, bd, explained = _analysed(trace)
    return breakdown_json(trace, bd, explained)


@router.get("/api/v1/traces/{trace_id}/smells", summary="N+1 calls, retries, sequential calls")
def get_smells(request: Request, store: StoreDep, trace_id: str, raw: RAW = False) -> Any:
    trace = _trace(request, store, trace_id, raw)
    return OrjsonResponse(smells_json(trace, find_smells(trace)))


@router.get("/api/v1/traces/{trace_id}/explain", summary="Critical path, breakdown and smells")
def get_explain(request: Request, store: StoreDep, trace_id: str, raw: RAW = False) -> Any:
    trace = _trace(request, store, trace_id, raw)
    req = _root_request(trace)
    if req is not None:
        rca.account_loop_blocking([req], loop_context(store, [req]))
    path = req.path if req is not None else critical_path(trace)
    bd, explained = breakdown(trace, path), rca.explain(trace, req)
    return OrjsonResponse(
        {
            "trace_id": trace.trace_id.hex(),
            "headline": explained.headline,
            "critical_path": critical_path_json(trace, path, bd, explained.headline),
            "breakdown": breakdown_json(trace, bd, explained),
            "smells": smells_json(trace, find_smells(trace)),
        }
        | explanation_json(explained)
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
                "a_gap_ns": p.a_gap_ns,
                "b_gap_ns": p.b_gap_ns,
                "own_delta_ns": p.own_delta_ns,
                "gap_delta_ns": p.gap_delta_ns,
                "status": p.status,
            }
            for p in d.paths
        ],
    }


LOOP_CONTEXT_TRACES = 40
"""Traces read per stalled service when looking for the request that held its loop."""
LOOP_CONTEXT_SERVICES = 3


def loop_context(store: StoreDep, reqs: Sequence[rca.Request]) -> list[Trace]:
    """Other traces that ran in the requests' services while one of their spans sat still
    for at least :data:`rca.MIN_BLOCK_NS` (own work or a gap): where a request that held an
    event loop would be. Bounded: the services with the most such time, the longest
    traces of each (the blocker lasted at least the stall)."""
    stalled: dict[str, tuple[int, int, int]] = {}
    seen = {r.trace.trace_id for r in reqs}
    for r in reqs:
        for t in r.spans:
            ns = t.gap_ns if t.gap_ns else t.own_ns
            if ns < rca.MIN_BLOCK_NS or t.span.kind == SpanKind.CLIENT and not t.gap_ns:
                continue
            service = t.span.service
            if t.gap_ns:  # a call into a stalled process: look there
                service = next(
                    (c.span.service for c in r.spans if c.span.parent_span_id == t.span.span_id),
                    service,
                )
            total, lo, hi = stalled.get(service, (0, t.span.start_ns, t.span.end_ns))
            stalled[service] = (total + ns, min(lo, t.span.start_ns), max(hi, t.span.end_ns))
    out: list[Trace] = []
    top = sorted(stalled.items(), key=lambda kv: -kv[1][0])[:LOOP_CONTEXT_SERVICES]
    for service, (_, lo, hi) in top:
        # A blocker started before the stall ended and lasted at least MIN_BLOCK_NS.
        query = SearchQuery(
            max(0, lo - 10 * 1_000_000_000), hi, service=service,
            min_duration_ns=rca.MIN_BLOCK_NS, limit=LOOP_CONTEXT_TRACES, order="slowest",
        )  # fmt: skip
        for summary in store.search(query):
            if summary.trace_id in seen:
                continue
            seen.add(summary.trace_id)
            trace = store.trace(summary.trace_id)
            if trace is not None:
                out.append(trace)
    return out


def _root_ns(t: Trace) -> int:
    root = t.root()
    return root.duration_ns if root else t.duration_ns


COMPARE_SAMPLE = 100
"""Traces read per group (slow, normal; erroring, healthy), thinned evenly by duration: a
trace read costs ~5 ms on DuckDB, so the reads add about a second."""


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
    errors: Annotated[bool, Query(description="true: erroring vs healthy requests")] = False,
) -> Any:
    start_ns, end_ns = window(start, end, lookback, DEFAULT_LOOKBACK_NS)
    threshold = param("slower_than", slower_than, parse_duration) if slower_than else None
    requests = store.request_durations(start_ns, end_ns, service or None, operation or None)
    try:
        split = cmp.split_requests(requests, threshold, slowest_percent)
    except ValueError as e:
        raise bad_request(str(e)) from None
    subject = " · ".join(x for x in (service, operation) if x) or "root"
    key = (service or None, operation or None)
    if errors or not split.slow:
        everyone = _sample(sorted(requests, key=lambda r: (-r[1], r[0])), 2 * COMPARE_SAMPLE)
        reqs = _requests(store, everyone, key)
        if errors or any(r.is_error for r in reqs):
            ranking = rca.compare_errors(reqs, subject=f"{subject} requests")
            return _compare_json(ranking, split, [r for r in reqs if r.span.is_error], reqs)
        return _compare_json(
            rca.compare_groups(split, [], [], f"{subject} requests"), split, [], []
        )
    slow = _requests(store, _sample(split.slow, COMPARE_SAMPLE), key)
    normal = _requests(store, _sample(split.normal, COMPARE_SAMPLE), key)
    sampled = slow + normal
    rca.account_loop_blocking(
        sampled, loop_context(store, slow[:LOOP_CONTEXT_TRACES]) + [r.trace for r in sampled]
    )
    ranking = rca.compare_groups(split, slow, normal, subject=f"{subject} requests")
    return _compare_json(ranking, split, slow, normal)


def _sample(rows: list[tuple[bytes, int]], n: int) -> list[bytes]:
    stride = max(1, -(-len(rows) // n))
    return [tid for tid, _ in rows[::stride]]


def _requests(
    store: StoreDep, ids: list[bytes], key: tuple[str | None, str | None]
) -> list[rca.Request]:
    out: list[rca.Request] = []
    for tid in ids:
        trace = store.trace(tid)
        if trace is not None:
            out.extend(rca.requests_in(trace, key)[:1])
    return out


def _compare_json(
    ranking: rca.Ranking, split: cmp.Split, focus: list[rca.Request], rest: list[rca.Request]
) -> dict[str, Any]:
    gap = split.mean_ns(cmp.SLOW) - split.mean_ns(cmp.NORMAL)
    erroring = ranking.mode == "errors"
    exemplars = {
        "slow": [t.hex() for t, _ in split.slow[:5]],
        "normal": [t.hex() for t, _ in split.normal[len(split.normal) // 2 :][:5]],
    }
    if erroring:
        exemplars |= {
            "erroring": [r.trace.trace_id.hex() for r in focus[:5]],
            "healthy": [r.trace.trace_id.hex() for r in rest if not r.is_error][:5],
        }
    return {
        "headline": ranking.headline,
        "mode": ranking.mode,
        "split": {
            "threshold_ns": split.threshold_ns,
            "slow_count": len(split.slow),
            "normal_count": len(split.normal),
            "slow_mean_ns": round(split.mean_ns(cmp.SLOW)),
            "normal_mean_ns": round(split.mean_ns(cmp.NORMAL)),
            "slow_p50_ns": split.p50_ns(cmp.SLOW),
            "normal_p50_ns": split.p50_ns(cmp.NORMAL),
            "sampled_focus": ranking.focus_count,
            "sampled_other": ranking.other_count,
        },
        "operations": [
            {
                "service": c.service,
                "name": c.name,
                "label": rca.describe(c),
                "kind": c.kind,
                "slow_mean_ns": round(c.critical_ns),
                "normal_mean_ns": round(c.normal_critical_ns),
                "delta_ns": round(c.delta_ns),
                "contribution": c.delta_ns / gap if gap > 0 and not erroring else 0.0,
                "on_critical_path_share": c.on_path_share,
                "slow_own_ns": round(c.own_ns),
                "normal_own_ns": round(c.normal_own_ns),
                "slow_waiting_ns": round(c.waiting_ns),
                "normal_waiting_ns": round(c.normal_waiting_ns),
                "slow_gap_ns": round(c.gap_ns),
                "normal_gap_ns": round(c.normal_gap_ns),
                "slow_calls_per_trace": c.calls,
                "normal_calls_per_trace": c.normal_calls,
                "error_origin_share": c.error_share if erroring else None,
                "normal_error_origin_share": c.normal_error_share if erroring else None,
                "retry": cause_json(c)["retry"],
            }
            for c in ranking.causes[:50]
        ],
        "attributes": [
            {
                "key": a.key,
                "value": a.value,
                "slow_traces": a.focus_traces,
                "normal_traces": a.other_traces,
                "slow_share": a.focus_share,
                "normal_share": a.other_share,
                "difference": a.focus_share - a.other_share,
                "lift": a.lift,
                "cardinality": a.cardinality,
                "id_like": a.id_like,
            }
            for a in ranking.attributes[:50]
        ],
        "exemplars": exemplars,
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
        "totals": _point_json(s.totals, data_seconds(s, step_ns, window_ns / 1e9))
        if s.totals
        else None,
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
        "headline": headline(series, window_ns / 1e9, step_ns),
        "start_time_unix_nano": start_ns,
        "end_time_unix_nano": end_ns,
        "step_ns": step_ns,
        "series": [_series_json(s, step_ns, window_ns) for s in series],
    }

"""TraceQL metrics: ``{ ... } | rate() by (resource.service.name)`` as time series.

The spans a query's pipeline keeps are counted in steps of the window by their start time,
as Tempo does (``pkg/traceql/engine_metrics.go``): the window is aligned to the step
(start rounded down, end up), interval ``i`` holds the spans that started in
``(start + i*step, start + (i+1)*step]`` and its sample is stamped at its right edge.
An instant query is one interval, the whole window, stamped at its end.

Functions (values of durations in seconds, as Tempo's):

==================================  ==========================================================
``rate()``                          spans per second in each step
``count_over_time()``               spans in each step
``sum_over_time(f)`` ``avg_...``    sum / mean of ``f`` (weighted by each span's count)
``min_over_time(f)`` ``max_...``    smallest / largest ``f``
``quantile_over_time(f, q, ...)``   exact continuous quantiles of ``f`` over the stored spans,
                                    one series per ``q``, labelled ``p`` (Tempo estimates
                                    them from power-of-two buckets; ours are exact)
``histogram_over_time(f)``          spans per power-of-two bucket of ``f``, labelled ``__bucket``
``compare({sel}, n, start, end)``   spans per attribute value, selection vs baseline (Tempo's
                                    shape, :func:`_compare`)
==================================  ==========================================================

Counts are weighted by each span's sampling adjusted count (OTEP 235's ``th`` in its
tracestate, :func:`spanscope.analysis.red.adjusted_count`): a span kept at 1-in-10 counts
10. The answer says so (``weighted``) when any span counted more than once.

The common dashboards — ``rate()``, ``count_over_time()`` and
``quantile_over_time(duration, ...)``, alone or ``by (resource.service.name)``, over one
``{ }`` of ``resource.service.name = "x"``, ``name = "x"``, ``kind = k`` and
``status = error`` terms — are answered by the store's own RED aggregate
(:meth:`~spanscope.store.base.Store.red`, SQL over every span, no trace read). Its steps
are left-closed, so it is asked from ``start + 1 ns``: ``[start + 1 + k*step, ...)`` is
exactly Tempo's ``(start + k*step, start + (k+1)*step]`` for integer nanoseconds.

Every other query reads candidate traces from the store's search (:mod:`.planner`'s
pushdown), at most :data:`MAX_METRIC_TRACES`; a window with more answers from the newest
ones and says it is partial. Weights there are the span's adjusted count times the tail
sampler's weight for its trace, as in the RED aggregate.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from spanscope.analysis.red import adjusted_count
from spanscope.model.spans import Span, SpanKind, Trace
from spanscope.query.model import MAX_LIMIT, SearchQuery
from spanscope.query.traceql.ast import (
    Attribute,
    Binary,
    Intrinsic,
    Pipeline,
    Query,
    SpansetFilter,
    Static,
)
from spanscope.query.traceql.engine import TraceView, compare, evaluate, spans_value
from spanscope.query.traceql.lexer import TraceQLError
from spanscope.query.traceql.planner import _conjuncts, pushdown
from spanscope.store.base import Store

MAX_METRIC_TRACES = MAX_LIMIT
MAX_INTERVALS = 11_000
"""Most steps in one range query (Prometheus's own limit)."""
NS_PER_S = 1_000_000_000
_SECONDS = {"span:duration", "trace:duration", "event:timeSinceStart"}
_COUNTING = ("rate", "count_over_time", "histogram_over_time")


@dataclass(slots=True)
class Series:
    labels: list[tuple[str, Any]]
    samples: list[tuple[int, float]]
    """(timestamp in ms, value), oldest first."""


@dataclass(slots=True)
class MetricsResult:
    series: list[Series] = field(default_factory=list)
    inspected_traces: int = 0
    inspected_spans: int = 0
    partial: bool = False
    weighted: bool = False


def default_step(start_ns: int, end_ns: int) -> int:
    """Tempo's default: ~240 points, at least 1 s (50 ms steps under a minute)."""
    delta = end_ns - start_ns
    baseline = delta // 240
    if delta < 60 * NS_PER_S:
        grain = 50_000_000
        return max(grain, baseline // grain * grain)
    return max(NS_PER_S, baseline // NS_PER_S * NS_PER_S)


@dataclass(slots=True)
class _Intervals:
    start: int
    end: int
    step: int
    count: int
    instant: bool

    @classmethod
    def of(cls, start_ns: int, end_ns: int, step_ns: int | None, instant: bool) -> _Intervals:
        if end_ns <= start_ns:
            raise TraceQLError("end must be after start")
        if instant:
            return cls(start_ns, end_ns, end_ns - start_ns, 1, True)
        step = step_ns or default_step(start_ns, end_ns)
        if step <= 0:
            raise TraceQLError("step must be positive")
        start = start_ns - start_ns % step
        end = end_ns if end_ns % step == 0 else end_ns + step - end_ns % step
        count = (end - start) // step
        if count > MAX_INTERVALS:
            raise TraceQLError(
                f"{count} steps of {step // 1_000_000} ms: at most {MAX_INTERVALS}, "
                "use a larger step"
            )
        return cls(start, end, step, count, False)

    def index(self, ts: int) -> int:
        if self.instant:
            return 0 if self.start <= ts <= self.end else -1
        if not self.start < ts <= self.end:
            return -1
        i = (ts - self.start) // self.step
        return i - 1 if (ts - self.start) % self.step == 0 else i

    def stamp_ms(self, i: int) -> int:
        return (self.end if self.instant else self.start + (i + 1) * self.step) // 1_000_000


def run_metrics(
    store: Store,
    query: Query,
    start_ns: int,
    end_ns: int,
    step_ns: int | None = None,
    instant: bool = False,
) -> MetricsResult:
    m = query.metrics
    if m is None:
        raise TraceQLError("not a metrics query: end it with a function such as | rate()")
    iv = _Intervals.of(start_ns, end_ns, step_ns, instant)
    if m.fn == "compare":
        out = _compare(store, query, iv)
    else:
        out = _red_fast_path(store, query, iv) or _over_traces(store, query, iv)
    out.series = second_stage(out.series, m.second_stage)
    return out


def second_stage(series: list[Series], stages: tuple[tuple[Any, ...], ...]) -> list[Series]:
    """Tempo's second stage: ``topk``/``bottomk`` keep, at each timestamp, the k series with
    the highest/lowest values there (ties: by labels); a filter keeps the data points that
    pass it. A series left without data points is dropped."""
    for stage in stages:
        if stage[0] == "filter":
            _, op, x = stage
            series = [
                Series(s.labels, [(t, v) for t, v in s.samples if compare(op, v, x)])
                for s in series
            ]
        else:
            fn, k = stage
            by_ts: dict[int, list[tuple[float, str, int]]] = {}
            for n, s in enumerate(series):
                for t, v in s.samples:
                    if not math.isnan(v):
                        by_ts.setdefault(t, []).append((v, repr(s.labels), n))
            keep: set[tuple[int, int]] = set()
            for t, entries in by_ts.items():
                entries.sort(key=lambda e: (-e[0] if fn == "topk" else e[0], e[1]))
                keep.update((n, t) for _, _, n in entries[:k])
            series = [
                Series(s.labels, [(t, v) for t, v in s.samples if (n, t) in keep])
                for n, s in enumerate(series)
            ]
        series = [s for s in series if s.samples]
    return series


def _candidates(store: Store, query: Query, iv: _Intervals) -> Iterator[tuple[Trace, float]]:
    """The traces the query's pushdown finds in the window, read whole, each with the tail
    sampler's weight for it (1 where none was recorded)."""
    plan = pushdown(query)
    sq = SearchQuery(
        start_ns=iv.start if iv.instant else iv.start + 1,
        end_ns=iv.end,
        service=plan.service,
        operation=plan.operation,
        conditions=plan.conditions,
        min_duration_ns=plan.min_duration_ns,
        max_duration_ns=plan.max_duration_ns,
        status=plan.status,  # type: ignore[arg-type]
        limit=MAX_METRIC_TRACES,
    )
    summaries = store.search(sq)
    lookup = getattr(store, "sampling", None)  # tail-sampling weights, where recorded
    kept = lookup([t.trace_id for t in summaries]) if lookup is not None and summaries else {}
    for summary in summaries:
        trace = store.trace(summary.trace_id)
        if trace is not None:
            yield trace, float(kept[summary.trace_id][1]) if summary.trace_id in kept else 1.0


def _over_traces(store: Store, query: Query, iv: _Intervals) -> MetricsResult:
    m = query.metrics
    assert m is not None
    out = MetricsResult()
    # series key -> interval -> [weight sum, values with weights]
    cells: dict[tuple[Any, ...], dict[int, list[Any]]] = {}
    for trace, tail_weight in _candidates(store, query, iv):
        out.inspected_traces += 1
        out.inspected_spans += len(trace.spans)
        view = TraceView(trace)
        seen: set[bytes] = set()
        for ss in evaluate(query, trace):
            for span in ss.spans:
                if span.span_id in seen:
                    continue
                seen.add(span.span_id)
                i = iv.index(span.start_ns)
                if i < 0:
                    continue
                _observe(cells, m.fn, m.attr, m.by, span, view, i, out, tail_weight)
    out.partial = out.inspected_traces >= MAX_METRIC_TRACES
    out.series = _series(cells, m.fn, m.by, m.quantiles, iv)
    return out


# --- compare() -------------------------------------------------------------------------

COMPARE_TYPES = ("baseline", "selection", "baseline_total", "selection_total")
TOO_MANY_VALUES = "__too_many_values__"
NIL = "nil"
"""How Tempo writes a label without a value (a total's, an error's): the string ``nil``."""


def _compare_fields(span: Span) -> Iterator[tuple[str, Any]]:
    """Every attribute and intrinsic of a span, named as TraceQL writes them; durations and
    ids are left out (their cardinality tells nothing), as Tempo leaves them out."""
    for k, v in span.attributes.items():
        if isinstance(v, str | int | float | bool):
            yield f"span.{k}", v
    for k, v in span.resource.items():
        if isinstance(v, str | int | float | bool):
            yield f"resource.{k}", v
    yield "name", span.name
    yield "status", span.status_code.name.lower()
    yield "kind", span.kind.label
    if span.status_message:
        yield "statusMessage", span.status_message


def _compare(store: Store, query: Query, iv: _Intervals) -> MetricsResult:
    """Tempo's ``compare({selection}, topN, start, end)``: the query's spans split into the
    selection (spans the filter matches, inside the window if one is given) and the baseline
    (the rest); for each group, a series per attribute value (``__meta_type`` baseline or
    selection), the top N values of each attribute by count, a total per attribute
    (``baseline_total``/``selection_total``, its value ``nil``), and an error series
    (``__meta_error="__too_many_values__"``) for each attribute with more than N values."""
    m = query.metrics
    assert m is not None and m.selection is not None
    selector = Query(Pipeline((m.selection,)))
    out = MetricsResult()
    # group -> attribute -> value -> counts per interval
    counts: dict[str, dict[str, dict[Any, list[float]]]] = {"baseline": {}, "selection": {}}
    totals: dict[str, dict[str, list[float]]] = {"baseline": {}, "selection": {}}
    for trace, tail_weight in _candidates(store, query, iv):
        out.inspected_traces += 1
        out.inspected_spans += len(trace.spans)
        chosen = {s.span_id for ss in evaluate(selector, trace) for s in ss.spans}
        seen: set[bytes] = set()
        for ss in evaluate(query, trace):
            for span in ss.spans:
                i = iv.index(span.start_ns)
                if span.span_id in seen or i < 0:
                    continue
                seen.add(span.span_id)
                weight = adjusted_count(span.trace_state) * tail_weight
                out.weighted |= weight != 1.0
                inside = m.window is None or m.window[0] <= span.start_ns < m.window[1]
                group = "selection" if span.span_id in chosen and inside else "baseline"
                for name, value in _compare_fields(span):
                    by_value = counts[group].setdefault(name, {})
                    by_value.setdefault(value, [0.0] * iv.count)[i] += weight
                    totals[group].setdefault(name, [0.0] * iv.count)[i] += weight
    out.partial = out.inspected_traces >= MAX_METRIC_TRACES
    too_many: set[str] = set()
    for group in ("baseline", "selection"):
        for name in sorted(counts[group]):
            by_value = counts[group][name]
            ranked = sorted(by_value, key=lambda v: (-sum(by_value[v]), str(v)))
            if len(ranked) > m.top_n:
                too_many.add(name)
            for value in ranked[: m.top_n]:
                samples = [(iv.stamp_ms(i), c) for i, c in enumerate(by_value[value])]
                out.series.append(Series([("__meta_type", group), (name, value)], samples))
    for name in sorted(too_many):
        out.series.append(Series([("__meta_error", TOO_MANY_VALUES), (name, NIL)], []))
    for group in ("baseline", "selection"):
        for name in sorted(totals[group]):
            samples = [(iv.stamp_ms(i), c) for i, c in enumerate(totals[group][name])]
            out.series.append(Series([("__meta_type", f"{group}_total"), (name, NIL)], samples))
    return out


def _value(f: Attribute | Intrinsic, span: Span, view: TraceView) -> float | None:
    v = spans_value(f, span, view)
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    if isinstance(f, Intrinsic) and f.name in _SECONDS:
        return v / NS_PER_S
    return float(v)


def _observe(
    cells: dict[tuple[Any, ...], dict[int, list[Any]]],
    fn: str,
    attr: Attribute | Intrinsic | None,
    by: tuple[Attribute | Intrinsic, ...],
    span: Span,
    view: TraceView,
    i: int,
    out: MetricsResult,
    tail_weight: float = 1.0,
) -> None:
    weight = adjusted_count(span.trace_state) * tail_weight
    if weight != 1.0:
        out.weighted = True
    key: tuple[Any, ...] = tuple(_label_value(spans_value(f, span, view)) for f in by)
    value = None
    if attr is not None:
        value = _value(attr, span, view)
        if value is None:
            return
    if fn == "histogram_over_time":
        assert value is not None
        bucket = 2.0 ** math.ceil(math.log2(value)) if value > 0 else 0.0
        key = (*key, bucket)
    cell = cells.setdefault(key, {}).setdefault(i, [0.0, []])
    cell[0] += weight
    if value is not None:
        cell[1].append((value, weight))


def _label_value(v: Any) -> Any:
    if isinstance(v, tuple):  # status or kind
        return v[1]
    return v if isinstance(v, str | int | float | bool) else None


def _series(
    cells: dict[tuple[Any, ...], dict[int, list[Any]]],
    fn: str,
    by: tuple[Attribute | Intrinsic, ...],
    quantiles: tuple[float, ...],
    iv: _Intervals,
) -> list[Series]:
    out: list[Series] = []
    for key in sorted(cells, key=lambda k: tuple((v is None, str(v)) for v in k)):
        by_cells = cells[key]
        labels: list[tuple[str, Any]] = [
            (str(f), v) for f, v in zip(by, key, strict=False) if v is not None
        ]
        if not by:
            labels = [("__name__", fn)]
        if fn == "histogram_over_time":
            labels.append(("__bucket", key[-1]))
        if fn == "quantile_over_time":
            for q in quantiles:
                samples = [
                    (iv.stamp_ms(i), _quantile(sorted(v for v, _ in c[1]), q))
                    for i, c in sorted(by_cells.items())
                ]
                out.append(Series([*labels, ("p", q)], samples))
            continue
        samples = []
        for i in range(iv.count) if fn in _COUNTING else sorted(by_cells):
            c = by_cells.get(i)
            samples.append((iv.stamp_ms(i), _aggregate(fn, c, iv.step)))
        out.append(Series(labels, samples))
    return out


def _aggregate(fn: str, cell: list[Any] | None, step_ns: int) -> float:
    if cell is None:
        return 0.0
    weight, values = cell
    if fn == "rate":
        return float(weight / (step_ns / NS_PER_S))
    if fn in ("count_over_time", "histogram_over_time"):
        return float(weight)
    if fn == "min_over_time":
        return float(min(v for v, _ in values))
    if fn == "max_over_time":
        return float(max(v for v, _ in values))
    total = sum(v * w for v, w in values)
    if fn == "sum_over_time":
        return float(total)
    return float(total / sum(w for _, w in values))  # avg_over_time


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    pos = q * (len(values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


_SERVICE = Attribute("resource", "service.name")


def _red_fast_path(store: Store, query: Query, iv: _Intervals) -> MetricsResult | None:
    """The store's RED aggregate for the queries it answers exactly (module docstring)."""
    m = query.metrics
    assert m is not None
    stages = query.pipeline.stages
    if m.fn not in ("rate", "count_over_time", "quantile_over_time") or m.by not in (
        (),
        (_SERVICE,),
    ):
        return None
    if m.fn == "quantile_over_time" and m.attr != Intrinsic("span:duration"):
        return None
    if len(stages) != 1 or not isinstance(stages[0], SpansetFilter):
        return None
    terms = [t for t in _conjuncts(stages[0].expr) if t != Static("bool", True)]
    service = operation = None
    kinds: list[SpanKind] | None = None
    errors_only = False
    for t in terms:
        if not (isinstance(t, Binary) and t.op == "=" and isinstance(t.rhs, Static)):
            return None
        if t.lhs == _SERVICE and t.rhs.type == "string" and service is None:
            service = t.rhs.value
        elif t.lhs == Intrinsic("span:name") and t.rhs.type == "string" and operation is None:
            operation = t.rhs.value
        elif t.lhs == Intrinsic("span:kind") and t.rhs.type == "kind" and kinds is None:
            kinds = [SpanKind.from_label(t.rhs.value)]
        elif t.lhs == Intrinsic("span:status") and t.rhs.value == "error" and not errors_only:
            errors_only = True
        else:
            return None
    if errors_only and m.fn == "quantile_over_time":
        return None  # RED quantiles are over all the spans, not the failed ones
    services = [service] if service is not None else store.services()
    quantiles = m.quantiles or (0.5,)
    if iv.instant:  # one closed window [start, end]: the whole-window points
        first, step = iv.start, iv.end - iv.start + 1
    else:
        first, step = iv.start + 1, iv.step
    points = store.red(first, iv.end, step, services, operation, kinds, False, quantiles)
    out = MetricsResult()
    per_series: dict[str | None, dict[int, Any]] = {}
    for p in points:
        if (p.bucket_start_ns is None) != iv.instant:
            continue
        i = 0 if iv.instant else (p.bucket_start_ns - first) // iv.step  # type: ignore[operator]
        if not 0 <= i < iv.count:
            continue
        key = p.service if m.by else None
        cell = per_series.setdefault(key, {})
        count = p.error_count if errors_only else p.request_count
        if p.request_count != p.span_count:
            out.weighted = True
        prev = cell.get(i)
        cell[i] = (prev[0] + count, p.quantiles_ns) if prev is not None else (count, p.quantiles_ns)
    for key in sorted(per_series, key=lambda k: (k is None, k or "")):
        cells = per_series[key]
        labels: list[tuple[str, Any]] = [(str(_SERVICE), key)] if m.by else [("__name__", m.fn)]
        if m.fn == "quantile_over_time":
            for qi, q in enumerate(m.quantiles):
                samples = [(iv.stamp_ms(i), c[1][qi] / NS_PER_S) for i, c in sorted(cells.items())]
                out.series.append(Series([*labels, ("p", q)], samples))
            continue
        samples = []
        for i in range(iv.count):
            c = cells.get(i)
            value = 0.0 if c is None else float(c[0])
            if m.fn == "rate":
                value /= iv.step / NS_PER_S
            samples.append((iv.stamp_ms(i), value))
        if errors_only and not any(v for _, v in samples):
            continue  # no failed span in this series: Tempo has no such series
        out.series.append(Series(labels, samples))
    return out

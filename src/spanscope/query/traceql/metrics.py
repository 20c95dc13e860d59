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
==================================  ==========================================================

Counts are weighted by each span's sampling adjusted count (OTEP 235's ``th`` in its
tracestate, :func:`spanscope.analysis.red.adjusted_count`): a span kept at 1-in-10 counts
10. The answer says so (``weighted``) when any span counted more than once.

Candidate traces come from the store's search (:mod:`.planner`'s pushdown), at most
:data:`MAX_METRIC_TRACES`; a window with more answers from the newest ones and says it is
partial.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from spanscope.analysis.red import adjusted_count
from spanscope.model import Span
from spanscope.query.model import MAX_LIMIT, SearchQuery
from spanscope.query.traceql.ast import Attribute, Intrinsic, Query
from spanscope.query.traceql.engine import TraceView, evaluate, spans_value
from spanscope.query.traceql.lexer import TraceQLError
from spanscope.query.traceql.planner import pushdown
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
    plan = pushdown(query)
    sq = SearchQuery(
        start_ns=max(0, iv.start - 1 if not instant else iv.start),
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
    out = MetricsResult(partial=len(summaries) >= MAX_METRIC_TRACES)
    # series key -> interval -> [weight sum, values with weights]
    cells: dict[tuple[Any, ...], dict[int, list[Any]]] = {}
    for summary in summaries:
        trace = store.trace(summary.trace_id, sq.start_ns, sq.end_ns)
        if trace is None:
            continue
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
                _observe(cells, m.fn, m.attr, m.by, span, view, i, out)
    out.series = _series(cells, m.fn, m.by, m.quantiles, iv)
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
) -> None:
    weight = adjusted_count(span.trace_state)
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

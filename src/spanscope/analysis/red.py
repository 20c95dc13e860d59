"""RED metrics from spans: Rate, Errors, Duration per service (and operation).

No metrics pipeline is needed: the spans are the data. For a window cut into steps, each
series (a service, or a service and operation) gets, per step, the request count and rate,
the error count and ratio, and latency percentiles, plus a latency histogram whose every
bucket carries exemplar trace ids — click a bar, open a trace that is in it::

    points = store.red(start, end, step, ["orders"])
    buckets = store.latency_histogram(start, end, HISTOGRAM_BOUNDS_NS, ["orders"])
    for series in red_series(points, buckets, step):
        print(series.service, series.totals.request_count)

**Sampling.** When a span was kept with a known probability, it stands for more than one
request. OTEP 235 puts the sampling threshold in the tracestate (``ot=th:<hex>``): with
``th`` the 1–14 hex digits padded right to 56 bits, the span's *adjusted count* is
``2**56 / (2**56 - th)`` (``th:8`` = 50 % → 2, ``th:c`` = 25 % → 4, no ``th`` → 1). Counts
and rates are sums of adjusted counts; percentiles are over the stored spans (a sample
of a population has the population's percentiles). :func:`adjusted_count` (defined with
the other OTEP 235 facts in :mod:`spanscope.sampling.threshold`) is the definition; a store
computing it in SQL must agree with it (the conformance suite checks).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from spanscope.model.aggregates import LatencyBucket, RedPoint
from spanscope.sampling.threshold import TH_PATTERN as TH_PATTERN  # the stores' SQL uses it
from spanscope.sampling.threshold import tracestate_adjusted_count
from spanscope.units import format_duration

MS = 1_000_000
HISTOGRAM_BOUNDS_NS: tuple[int, ...] = tuple(
    int(ms * MS) for ms in (1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
)
"""Upper bounds of the latency histogram's buckets; one more bucket is +Inf."""

adjusted_count = tracestate_adjusted_count
"""How many requests a span stands for, by its tracestate's OTEP 235 threshold."""

QUANTILES = (0.5, 0.95, 0.99)
MIN_STEP_NS = 1_000_000_000


def quantile_cont(sorted_values: Sequence[int], q: float) -> int:
    """Continuous quantile (linear interpolation between closest ranks), rounded to the
    nearest ns:
    the reference every store's quantiles are checked against."""
    if not sorted_values:
        return 0
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    value = sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)
    return math.floor(value + 0.5)


def bucket_index(duration_ns: int, bounds_ns: Sequence[int] = HISTOGRAM_BOUNDS_NS) -> int:
    """The histogram bucket of a duration: the first bound it does not exceed."""
    for i, bound in enumerate(bounds_ns):
        if duration_ns <= bound:
            return i
    return len(bounds_ns)


@dataclass(slots=True)
class RedSeries:
    service: str
    operation: str | None
    points: list[RedPoint]
    totals: RedPoint | None
    histogram: list[LatencyBucket] = field(default_factory=list)


def red_series(
    points: Sequence[RedPoint], buckets: Sequence[LatencyBucket] = ()
) -> list[RedSeries]:
    """Group a store's RED points and histogram buckets into series, sorted by service,
    operation; points in time order, buckets by bound."""
    series: dict[tuple[str, str | None], RedSeries] = {}
    for p in points:
        s = series.setdefault((p.service, p.operation), RedSeries(p.service, p.operation, [], None))
        if p.bucket_start_ns is None:
            s.totals = p
        else:
            s.points.append(p)
    for b in buckets:
        key = (b.service, b.operation)
        s = series.setdefault(key, RedSeries(b.service, b.operation, [], None))
        s.histogram.append(b)
    for s in series.values():
        s.points.sort(key=lambda p: p.bucket_start_ns or 0)
        s.histogram.sort(key=lambda b: b.bucket_index)
    return [series[k] for k in sorted(series, key=lambda k: (k[0], k[1] or ""))]


def data_seconds(series: RedSeries, step_ns: int, window_s: float) -> float:
    """How long the series had data: from its first step to the end of its last, at most
    the window. A rate over the whole lookback would understate a service that started
    sending a minute ago (1.24 req/s where its steps showed ~8)."""
    starts = [p.bucket_start_ns for p in series.points if p.bucket_start_ns is not None]
    if not starts or step_ns <= 0:
        return window_s
    return min(window_s, (max(starts) - min(starts) + step_ns) / 1e9)


def rate_per_s(point: RedPoint, seconds: float) -> float:
    return point.request_count / seconds if seconds > 0 else 0.0


def error_ratio(point: RedPoint) -> float:
    return point.error_count / point.request_count if point.request_count else 0.0


def headline(series: Sequence[RedSeries], window_s: float, step_ns: int = 0) -> str:
    """The series a person should look at first: the highest error ratio, else the
    slowest p99. With ``step_ns``, rates are over the time each series had data."""
    seconds = {id(s): data_seconds(s, step_ns, window_s) for s in series}
    with_totals = [(s, s.totals) for s in series if s.totals is not None]
    if not with_totals:
        return "no spans of these services in the window"

    def name(s: RedSeries) -> str:
        return f"{s.service} · {s.operation}" if s.operation else s.service

    worst, t = max(with_totals, key=lambda st: (error_ratio(st[1]), _p99(st[1])))
    p99 = format_duration(_p99(t))
    rate = rate_per_s(t, seconds[id(worst)])
    if error_ratio(t) > 0:
        return f"{name(worst)}: {error_ratio(t) * 100:.1f} % errors at {rate:.3g} req/s, p99 {p99}"
    slowest, t = max(with_totals, key=lambda st: _p99(st[1]))
    return (
        f"{name(slowest)}: no errors; p99 {format_duration(_p99(t))} at "
        f"{rate_per_s(t, seconds[id(slowest)]):.3g} req/s"
    )


def _p99(p: RedPoint) -> int:
    return p.quantiles_ns[-1] if p.quantiles_ns else 0

"""Metric points -> series over a range with a step, and histogram quantiles over time.

Pure functions over :class:`~spanscope.model.signals.MetricPoint` lists (no database), used by the
signals API (``/api/v1/metrics/...``) and the CLI. What a step holds, per kind:

=====================  =================================================================
gauge                  the mean over the group's series of each one's last value
sum, monotonic         ``increase`` in the step and ``rate`` per second (counters)
sum, not monotonic     the sum over the group's series of each one's last value
histogram (both)       ``count``, ``rate``, ``mean`` and the requested quantiles, from
                       the bucket counts the step added (Prometheus'
                       ``histogram_quantile``: linear inside the bucket that holds the
                       rank; the +Inf bucket answers its lower bound)
=====================  =================================================================

Cumulative points (OTLP temporality 2) are turned into increments by subtracting the
previous point of the same series (same service and labels); a point whose start time
changed is a reset and counts whole. The first point of a series counts whole only if the
series started inside the range — otherwise it is the baseline.

>>> from spanscope.model.signals import MetricPoint
>>> p = MetricPoint("http.server.duration", "histogram", time_ns=10, temporality=1,
...                 count=4, bounds=[100.0, 200.0], bucket_counts=[2, 2, 0])
>>> s = series([p], start_ns=0, end_ns=60, step_ns=60, quantiles=(0.5, 0.75))
>>> s[0].points[0].quantiles
(100.0, 150.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from spanscope.model.signals import MetricPoint
from spanscope.model.spans import Attributes

Buckets = dict[float, float]
"""Upper bound -> count (math.inf for the last bucket)."""
Increment = tuple[MetricPoint, float, Buckets, float]
"""(point, count or value added, bucket counts added, histogram sum added)."""


@dataclass(slots=True)
class StepValue:
    time_ns: int
    """Start of the step."""
    value: float | None = None
    count: float = 0.0
    rate: float | None = None
    mean: float | None = None
    quantiles: tuple[float | None, ...] = ()


@dataclass(slots=True)
class Series:
    labels: dict[str, str]
    points: list[StepValue] = field(default_factory=list)


def explicit_buckets(p: MetricPoint) -> Buckets:
    """A histogram point's counts by upper bound (exponential ones converted: bucket i
    covers (base**i, base**(i+1)], zero and negative counts go below 0)."""
    if p.kind == "histogram":
        bounds = [*p.bounds, math.inf]
        return {b: float(c) for b, c in zip(bounds, p.bucket_counts, strict=False)}
    base = 2.0 ** (2.0**-p.scale)
    out: Buckets = {}
    below = p.zero_count + sum(p.negative_counts)
    if below:
        out[0.0] = float(below)
    for i, c in enumerate(p.positive_counts):
        if c:
            upper = base ** (p.positive_offset + i + 1)
            out[upper] = out.get(upper, 0.0) + c
    return out


def quantile(buckets: Buckets, q: float) -> float | None:
    """The q-quantile of a bucketed distribution (None when empty)."""
    total = sum(buckets.values())
    if total <= 0:
        return None
    rank = q * total
    seen = 0.0
    lower = 0.0
    for upper in sorted(buckets):
        count = buckets[upper]
        if count > 0 and seen + count >= rank:
            if math.isinf(upper):
                return lower
            if upper <= 0:
                return upper
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
        lower = upper
    return lower


def _key(p: MetricPoint) -> tuple[str, tuple[tuple[str, str], ...]]:
    return p.service, tuple(sorted((k, _text(v)) for k, v in p.attributes.items()))


def _text(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _increments(points: Sequence[MetricPoint], start_ns: int) -> list[Increment]:
    """(point, count/value increase, bucket increase) per point of ONE series, in order."""
    out = []
    prev: MetricPoint | None = None
    for p in sorted(points, key=lambda x: x.time_ns):
        histogram = p.kind in ("histogram", "exponential_histogram")
        now = explicit_buckets(p) if histogram else {}
        amount = float(p.count) if histogram else (p.value or 0.0)
        added_sum = p.sum or 0.0
        if p.temporality == 2 and (p.kind != "sum" or p.monotonic):
            if prev is not None and prev.start_ns == p.start_ns:
                before = explicit_buckets(prev) if histogram else {}
                last = float(prev.count) if histogram else (prev.value or 0.0)
                if amount >= last:
                    amount -= last
                    added_sum -= prev.sum or 0.0
                    now = {b: c - before.get(b, 0.0) for b, c in now.items()}
            elif prev is None and p.start_ns < start_ns:
                prev = p  # baseline: what it held before the range is unknown
                continue
        out.append((p, amount, now, added_sum))
        prev = p
    return out


def series(
    points: Sequence[MetricPoint],
    start_ns: int,
    end_ns: int,
    step_ns: int,
    quantiles: Sequence[float] = (0.5, 0.95, 0.99),
    group_by: Sequence[str] = (),
) -> list[Series]:
    """One series per group (``service`` and the ``group_by`` labels), one value per step
    that had data, steps starting at ``start_ns + k * step_ns``."""
    if step_ns <= 0:
        raise ValueError(f"step {step_ns} ns: expected a positive step")
    raw: dict[tuple[str, tuple[tuple[str, str], ...]], list[MetricPoint]] = {}
    for p in points:
        raw.setdefault(_key(p), []).append(p)
    groups: dict[tuple[str, ...], dict[int, list[Increment]]] = {}
    labels_of: dict[tuple[str, ...], dict[str, str]] = {}
    for (service, attrs), pts in raw.items():
        a = dict(attrs)
        labels = {"service": service, **{k: a.get(k, "") for k in group_by}}
        gkey = tuple(labels.values())
        labels_of[gkey] = labels
        steps = groups.setdefault(gkey, {})
        for inc in _increments(pts, start_ns):
            t = inc[0].time_ns
            if start_ns <= t <= end_ns:
                steps.setdefault((t - start_ns) // step_ns, []).append(inc)
    out = []
    for gkey in sorted(groups):
        s = Series(labels_of[gkey])
        for k in sorted(groups[gkey]):
            s.points.append(_step(start_ns + k * step_ns, groups[gkey][k], step_ns, quantiles))
        out.append(s)
    return out


def _step(t: int, incs: list[Increment], step_ns: int, qs: Sequence[float]) -> StepValue:
    kind = incs[0][0].kind
    seconds = step_ns / 1e9
    if kind in ("histogram", "exponential_histogram"):
        merged: Buckets = {}
        count = total = 0.0
        has_sum = True
        for p, amount, buckets, added_sum in incs:
            count += amount
            total += added_sum
            for b, c in buckets.items():
                merged[b] = merged.get(b, 0.0) + c
            has_sum = has_sum and p.sum is not None
        return StepValue(
            t,
            count=count,
            rate=count / seconds,
            mean=total / count if count and has_sum else None,
            quantiles=tuple(quantile(merged, q) for q in qs),
        )
    if kind == "sum" and incs[0][0].monotonic:
        increase = sum(inc[1] for inc in incs)
        return StepValue(t, value=increase, count=increase, rate=increase / seconds)
    last: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for p, amount, _, _ in incs:
        last[_key(p)] = amount
    values = list(last.values())
    value = sum(values) / len(values) if kind == "gauge" else sum(values)
    return StepValue(t, value=value, count=len(incs))


def label_matches(attributes: Attributes, key: str, value: str) -> bool:
    """Does a point's label ``key`` hold ``value`` (as text)?"""
    return key in attributes and _text(attributes[key]) == value

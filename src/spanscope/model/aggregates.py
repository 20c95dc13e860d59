"""Cross-trace aggregates a store computes for :mod:`spanscope.analysis`.

The analyses that compare many traces (compare, RED, latency histograms, the dependency
map with percentiles) would need every span in Python if they read whole traces; instead
the store sums in its engine and answers these small rows, and the pure functions of
``spanscope.analysis`` work on them (tests build them by hand). Durations are in ns;
``quantiles_ns`` follow the quantiles the caller asked for, in that order.

>>> stat = OperationStat(group="slow", service="orders", name="SELECT", trace_count=3,
...                      span_count=9, total_ns=900, self_ns=600)
>>> stat.total_ns - stat.self_ns  # time covered by the spans' children
300
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True, frozen=True)
class DependencyStats:
    """A service-map edge with the callee's latency percentiles (ns, p50/p95/p99)."""

    parent: str
    child: str
    call_count: int
    error_count: int
    quantiles_ns: tuple[int, ...]


@dataclass(slots=True, frozen=True)
class OperationStat:
    """Per (group of traces, service, span name): how many of the group's traces have the
    operation, how many spans, their summed duration and summed self time (duration not
    covered by the span's children)."""

    group: str
    service: str
    name: str
    trace_count: int
    span_count: int
    total_ns: int
    self_ns: int


@dataclass(slots=True, frozen=True)
class AttributeCount:
    """How many traces of a group have a span (or span resource) with ``key = value``;
    ``value`` is the attribute's text (true/false for bools)."""

    group: str
    key: str
    value: str
    trace_count: int


@dataclass(slots=True, frozen=True)
class RedPoint:
    """RED figures of one series (service, operation or None) in one step
    (``bucket_start_ns``; None for the whole window). Counts are weighted by the
    spans' adjusted counts; quantiles are over the stored spans."""

    service: str
    operation: str | None
    bucket_start_ns: int | None
    span_count: int
    request_count: float
    error_count: float
    quantiles_ns: tuple[int, ...]


@dataclass(slots=True, frozen=True)
class LatencyBucket:
    """One latency-histogram bucket of a series: index into the bounds (len(bounds) is
    +Inf), span count, and up to three exemplar trace ids (the slowest in the bucket)."""

    service: str
    operation: str | None
    bucket_index: int
    count: int
    exemplar_trace_ids: tuple[bytes, ...]

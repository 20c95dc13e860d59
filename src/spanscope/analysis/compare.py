"""Slow vs normal: what the slow requests have in common, and where their time went.

Take the requests of one endpoint in a window (``service``/``operation`` spans, or root
spans) and split them: requests slower than a threshold, or the slowest N %, form the
*slow* group; the rest are *normal*. Then

(a) per operation (service + span name), the mean self time per trace in each group —
    ``delta_ns`` is how much more time slow traces spent there, and ``contribution`` is
    that delta's share of the gap between the groups' mean request durations: the
    operations that explain the slowness rank first;
(b) per attribute value (``db.statement = SELECT … WHERE email = ?``, ``host.name =
    api-7``, ``cache.hit = false``), the share of slow and of normal traces that have it —
    a value found in 95 % of slow traces and 2 % of normal ones ranks first. That is the
    comparison "where the insight usually appears".

The store does the counting over every span (see ``Store.operation_stats`` and
``Store.attribute_counts``); this module splits, ranks and words the answer::

    requests = store.request_durations(start, end, "orders", "POST /orders")
    split = split_requests(requests, slower_than_ns=1_000_000_000)
    groups = split.groups()
    result = compare(split, store.operation_stats(groups),
                     store.attribute_counts(groups, focus=SLOW), subject="orders · POST /orders")

Groups larger than :data:`MAX_GROUP_TRACES` are thinned evenly (every k-th trace by
duration), which keeps shares and means while bounding the work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from spanscope.analysis.red import quantile_cont
from spanscope.analysis.tree import format_ns, percent
from spanscope.model.aggregates import AttributeCount, OperationStat

SLOW, NORMAL = "slow", "normal"
DEFAULT_SLOWEST_PERCENT = 10.0
MAX_GROUP_TRACES = 10_000
MIN_SLOW_TRACES = 2


@dataclass(slots=True)
class Split:
    threshold_ns: int
    slow: list[tuple[bytes, int]]
    """(trace id, request duration), slowest first."""
    normal: list[tuple[bytes, int]]

    def groups(self) -> dict[str, list[bytes]]:
        return {SLOW: _thin(self.slow), NORMAL: _thin(self.normal)}

    def mean_ns(self, group: str) -> float:
        rows = self.slow if group == SLOW else self.normal
        return sum(d for _, d in rows) / len(rows) if rows else 0.0

    def p50_ns(self, group: str) -> int:
        rows = self.slow if group == SLOW else self.normal
        return quantile_cont(sorted(d for _, d in rows), 0.5)


def _thin(rows: list[tuple[bytes, int]]) -> list[bytes]:
    stride = max(1, -(-len(rows) // MAX_GROUP_TRACES))
    return [tid for tid, _ in rows[::stride]]


def split_requests(
    requests: Sequence[tuple[bytes, int]],
    slower_than_ns: int | None = None,
    slowest_percent: float | None = None,
) -> Split:
    """Split (trace id, duration) pairs by a threshold, or the slowest N % (default 10)."""
    if slower_than_ns is not None and slowest_percent is not None:
        raise ValueError(
            f"slower_than={slower_than_ns}ns and slowest_percent={slowest_percent}: "
            "give one way to split, not both"
        )
    ordered = sorted(requests, key=lambda r: (-r[1], r[0]))
    if slower_than_ns is not None:
        slow = [r for r in ordered if r[1] > slower_than_ns]
        return Split(slower_than_ns, slow, ordered[len(slow) :])
    pct = DEFAULT_SLOWEST_PERCENT if slowest_percent is None else slowest_percent
    if not 0 < pct < 100:
        raise ValueError(f"slowest_percent {pct}: expected a number between 0 and 100, e.g. 10")
    n = max(1, round(len(ordered) * pct / 100)) if ordered else 0
    # The threshold is the slowest normal request; equal durations straddling the cut go
    # to the normal side, since "slower than" is strict.
    threshold = ordered[n][1] if n < len(ordered) else 0
    slow = [r for r in ordered[:n] if r[1] > threshold] or ordered[:n]
    return Split(threshold, slow, ordered[len(slow) :])


@dataclass(slots=True)
class OperationShift:
    service: str
    name: str
    slow_mean_ns: float
    normal_mean_ns: float
    delta_ns: float
    contribution: float
    slow_calls_per_trace: float
    normal_calls_per_trace: float


@dataclass(slots=True)
class AttributeSkew:
    key: str
    value: str
    slow_traces: int
    normal_traces: int
    slow_share: float
    normal_share: float

    @property
    def difference(self) -> float:
        return self.slow_share - self.normal_share


@dataclass(slots=True)
class Comparison:
    subject: str
    split: Split
    operations: list[OperationShift]
    attributes: list[AttributeSkew]
    headline: str


def rank_operations(stats: Sequence[OperationStat], split: Split) -> list[OperationShift]:
    sizes = {g: len(ids) for g, ids in split.groups().items()}
    per_op: dict[tuple[str, str], dict[str, OperationStat]] = {}
    for st in stats:
        per_op.setdefault((st.service, st.name), {})[st.group] = st
    gap = split.mean_ns(SLOW) - split.mean_ns(NORMAL)
    out = []
    for (service, name), by_group in per_op.items():

        def mean(group: str, attr: str, by_group: dict[str, OperationStat] = by_group) -> float:
            st = by_group.get(group)
            return getattr(st, attr) / sizes[group] if st and sizes[group] else 0.0

        slow_mean, normal_mean = mean(SLOW, "self_ns"), mean(NORMAL, "self_ns")
        delta = slow_mean - normal_mean
        out.append(
            OperationShift(
                service, name, slow_mean, normal_mean, delta, delta / gap if gap > 0 else 0.0,
                mean(SLOW, "span_count"), mean(NORMAL, "span_count"),
            )
        )  # fmt: skip
    out.sort(key=lambda o: (-o.delta_ns, o.service, o.name))
    return out


def rank_attributes(
    counts: Sequence[AttributeCount], split: Split, min_slow_traces: int = MIN_SLOW_TRACES
) -> list[AttributeSkew]:
    sizes = {g: len(ids) for g, ids in split.groups().items()}
    per_value: dict[tuple[str, str], dict[str, int]] = {}
    for c in counts:
        per_value.setdefault((c.key, c.value), {})[c.group] = c.trace_count
    out = []
    for (key, value), n in per_value.items():
        slow, normal = n.get(SLOW, 0), n.get(NORMAL, 0)
        if slow < min_slow_traces or not sizes[SLOW]:
            continue
        normal_share = normal / sizes[NORMAL] if sizes[NORMAL] else 0.0
        out.append(AttributeSkew(key, value, slow, normal, slow / sizes[SLOW], normal_share))
    out.sort(key=lambda a: (-a.difference, -a.slow_traces, a.key, a.value))
    return [a for a in out if a.difference > 0]


def compare(
    split: Split,
    stats: Sequence[OperationStat],
    counts: Sequence[AttributeCount],
    subject: str = "requests",
) -> Comparison:
    operations = rank_operations(stats, split)
    attributes = rank_attributes(counts, split)
    return Comparison(
        subject, split, operations, attributes, _headline(subject, split, operations, attributes)
    )


def _headline(
    subject: str, split: Split, ops: list[OperationShift], attrs: list[AttributeSkew]
) -> str:
    if not split.slow:
        return f"no slow {subject} in the window (threshold {format_ns(split.threshold_ns)})"
    lead = (
        f"{len(split.slow)} slow {subject} (> {format_ns(split.threshold_ns)}, mean "
        f"{format_ns(split.mean_ns(SLOW))} vs {format_ns(split.mean_ns(NORMAL))})"
    )
    if attrs and attrs[0].difference >= 0.5:
        a = attrs[0]
        return (
            f"{lead}: {a.key} = {a.value} in {percent(a.slow_share)} of slow traces, "
            f"{percent(a.normal_share)} of normal ones"
        )
    if ops and ops[0].delta_ns > 0:
        o = ops[0]
        return (
            f"{lead}: {o.service} · {o.name} explains {percent(max(0.0, o.contribution))} "
            f"of the gap (+{format_ns(o.delta_ns)} per trace)"
        )
    if attrs:
        a = attrs[0]
        return (
            f"{lead}: {a.key} = {a.value} in {percent(a.slow_share)} of slow traces, "
            f"{percent(a.normal_share)} of normal ones"
        )
    return f"{lead}: no operation or attribute stands out"

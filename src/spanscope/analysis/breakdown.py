"""Where the time went: self time per span, summed per service and per operation.

A span's *self time* is its duration not covered by any of its children (each child cut
to the span; overlapping children count once). It is the time the span's own code (or
the network, or a queue) took. Summed per service and per operation it answers "which
part of the system spent the time"; as a share of the trace's duration it is the line a
person reads first::

    b = breakdown(trace)
    b.headline                 # "78 % of this trace is inventory · SELECT …, on the critical path"
    b.operations[0].critical_share, b.operations[0].self_share

Self-time shares can add up past 100 % when work ran in parallel (two 100 ms calls at once
under a 100 ms request). The critical-path time (:mod:`spanscope.analysis.critical_path`)
of each service/operation is given beside it; those shares add up to exactly 100 % of the
root span, which is why the headline names the top of the critical path.
"""

from __future__ import annotations

from dataclasses import dataclass

from spanscope.analysis.critical_path import CriticalPath, critical_path
from spanscope.analysis.tree import SpanTree, format_ns, label, percent, span_tree
from spanscope.model.spans import Span, Trace


@dataclass(slots=True)
class Share:
    """Time of one service, or one (service, operation), in a trace."""

    service: str
    name: str | None
    span_count: int
    self_ns: int
    self_share: float
    critical_ns: int
    critical_share: float


@dataclass(slots=True)
class SpanTime:
    span: Span
    self_ns: int
    critical_ns: int


@dataclass(slots=True)
class Breakdown:
    duration_ns: int
    """The root span's duration (the trace's extent if it has no spans with a root)."""
    services: list[Share]
    operations: list[Share]
    spans: list[SpanTime]
    critical_path: CriticalPath
    headline: str


def self_times(
    trace: Trace, tree: SpanTree | None = None, stored_children_only: bool = False
) -> dict[bytes, int]:
    """span id -> self time (ns): duration minus the union of its children within it.

    Orphans count as children of the root (see :mod:`spanscope.analysis.tree`) unless
    ``stored_children_only``, the definition stores use in ``Store.operation_stats``."""
    tree = tree or span_tree(trace)
    out: dict[bytes, int] = {}
    for s in trace.spans:
        start, end = s.start_ns, max(s.start_ns, s.end_ns)
        covered, reach = 0, start
        for c in tree.children.get(s.span_id, ()):  # sorted by start
            if stored_children_only and c.parent_span_id != s.span_id:
                continue
            cs, ce = max(c.start_ns, reach), min(c.end_ns, end)
            if ce > cs:
                covered += ce - cs
                reach = ce
        out[s.span_id] = (end - start) - covered
    return out


def breakdown(trace: Trace, path: CriticalPath | None = None) -> Breakdown:
    tree = span_tree(trace)
    path = path or critical_path(trace, tree)
    own = self_times(trace, tree)
    top = tree.top
    duration = max(0, top.end_ns - top.start_ns) if top is not None else 0
    spans = [SpanTime(s, own[s.span_id], path.per_span.get(s.span_id, 0)) for s in trace.spans]
    services = _shares(spans, duration, by_operation=False)
    operations = _shares(spans, duration, by_operation=True)
    spans.sort(key=lambda t: (-t.self_ns, -t.critical_ns, t.span.start_ns))
    return Breakdown(duration, services, operations, spans, path, _headline(operations, path))


def _shares(spans: list[SpanTime], duration: int, by_operation: bool) -> list[Share]:
    acc: dict[tuple[str, str | None], list[int]] = {}
    for t in spans:
        key = (t.span.service, t.span.name if by_operation else None)
        a = acc.setdefault(key, [0, 0, 0])
        a[0] += 1
        a[1] += t.self_ns
        a[2] += t.critical_ns
    base = duration or 1
    out = [
        Share(svc, name, n, self_ns, self_ns / base, crit, crit / base)
        for (svc, name), (n, self_ns, crit) in acc.items()
    ]
    out.sort(key=lambda s: (-s.critical_ns, -s.self_ns, s.service, s.name or ""))
    return out


def _headline(operations: list[Share], path: CriticalPath) -> str:
    if path.root is None or not operations:
        return "this trace has no spans"
    top = operations[0]
    if path.duration_ns == 0:
        return f"this trace took 0ns; its root is {label(path.root)}"
    where = f"{top.service} · {top.name}"
    if path.root.service == top.service and path.root.name == top.name:
        where += " itself"
    return (
        f"{percent(top.critical_share)} of this trace ({format_ns(top.critical_ns)} of "
        f"{format_ns(path.duration_ns)}) is {where}, on the critical path"
    )

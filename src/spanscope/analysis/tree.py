"""The span tree of one trace, as the analyses walk it.

A trace arrives as a flat list of spans with parent ids. :func:`span_tree` links them into
a tree with one *top*: the root span (the earliest span without a parent). Spans whose
parent is not stored (*orphans*) and any further parentless spans hang under the top, so
their time is analysed rather than lost; ``SpanTree.orphans`` says which they were.

Each span also gets a *clipped* interval: its own, cut to its parent's clipped interval.
A child that starts before its parent or outlives it (clock skew the adjuster could not
fix, or async work that goes on after the parent returned) did not delay its parent
outside the parent's own bounds, so the critical path only counts the clipped part::

    tree = span_tree(trace)
    tree.top.name, [c.name for c in tree.children[tree.top.span_id]]

Walks are iterative: a 10,000-deep chain must not hit Python's recursion limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from spanscope.model.spans import Span, Trace
from spanscope.units import format_duration


@dataclass(slots=True)
class SpanTree:
    top: Span | None
    """The root span, or the earliest span without a stored parent; None for no spans."""
    children: dict[bytes, list[Span]]
    """span id -> its children (orphans and extra roots under the top), by start time."""
    clipped: dict[bytes, tuple[int, int]]
    """span id -> (start, end) cut to the parent's clipped interval; spans reachable from
    the top only (a span in a parent cycle is not)."""
    orphans: list[Span]
    """Spans whose parent is not in the trace."""
    parent: dict[bytes, Span]
    """span id -> its parent span, for spans whose parent is stored."""


def span_tree(trace: Trace) -> SpanTree:
    by_id = {s.span_id: s for s in trace.spans}
    children: dict[bytes, list[Span]] = {}
    parent: dict[bytes, Span] = {}
    tops: list[Span] = []
    orphans: list[Span] = []
    for s in trace.spans:
        p = by_id.get(s.parent_span_id) if s.parent_span_id else None
        if p is None or p is s:
            tops.append(s)
            if s.parent_span_id:
                orphans.append(s)
        else:
            children.setdefault(p.span_id, []).append(s)
            parent[s.span_id] = p
    roots = [s for s in tops if s.parent_span_id is None]
    top = min(roots or tops, key=lambda s: (s.start_ns, -s.end_ns), default=None)
    if top is not None:
        extra = [s for s in tops if s is not top]
        if extra:
            children.setdefault(top.span_id, []).extend(extra)
    for kids in children.values():
        kids.sort(key=lambda s: (s.start_ns, s.end_ns))
    return SpanTree(top, children, _clip(top, children), orphans, parent)


def _clip(top: Span | None, children: dict[bytes, list[Span]]) -> dict[bytes, tuple[int, int]]:
    if top is None:
        return {}
    clipped = {top.span_id: (top.start_ns, max(top.start_ns, top.end_ns))}
    stack = [top]
    while stack:
        s = stack.pop()
        ps, pe = clipped[s.span_id]
        for c in children.get(s.span_id, ()):
            if c.span_id in clipped:  # a span listed twice (bad data): walk it once
                continue
            cs = min(max(c.start_ns, ps), pe)
            clipped[c.span_id] = (cs, max(cs, min(c.end_ns, pe)))
            stack.append(c)
    return clipped


def label(span: Span) -> str:
    """``service · operation``, as the CLI and the headlines name a span's operation."""
    return f"{span.service} · {span.name}"


def format_ns(ns: int | float) -> str:
    """A duration for people, as everywhere (:func:`spanscope.units.format_duration`):
    950ms, 1.25s, 12.5µs, 3m5s."""
    return format_duration(ns)


def percent(share: float) -> str:
    """0.781 -> '78 %' (the spaced form the CLI and headlines use)."""
    return f"{share * 100:.0f} %"

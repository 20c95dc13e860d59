"""Critical path: the chain of spans that determined a trace's end-to-end latency.

Walk back from the root's end: the child that finished last is what the root was waiting
for, so the path steps into it and explains it the same way; back in the parent, it
continues from the moment that child started, looking for the child that finished last
*before* then. Time in which no such child was running belongs to the parent itself.
Children that overlapped the one on the path did not make the trace later and are not on
it. That is Jaeger's algorithm (jaeger-ui ``criticalPath``), here iterative so a
10,000-deep chain is fine::

    path = critical_path(trace)
    for seg in path.segments:                 # time order, covering the root exactly
        print(seg.span.name, seg.end_ns - seg.start_ns)
    path.per_span[span_id]                    # that span's time on the path (ns)

Intervals are clipped to the parent first (see :mod:`spanscope.analysis.tree`), which is
how children that start early (clock skew) or outlive their parent (async work: a CONSUMER
under a PRODUCER, fire-and-forget) are handled; orphans hang under the root. Run the clock
skew adjuster (:mod:`spanscope.analysis.skew`) before this to fix what can be fixed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from spanscope.analysis.tree import SpanTree, span_tree
from spanscope.model.spans import Span, Trace


@dataclass(slots=True, frozen=True)
class Segment:
    span: Span
    start_ns: int
    end_ns: int

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


@dataclass(slots=True)
class CriticalPath:
    root: Span | None
    segments: list[Segment]
    per_span: dict[bytes, int]
    """span id -> ns on the critical path (only spans that are on it)."""
    warnings: list[str] = field(default_factory=list)

    @property
    def duration_ns(self) -> int:
        return sum(s.duration_ns for s in self.segments)

    def ranked(self) -> list[tuple[Span, int]]:
        """Spans on the path with their time on it, largest first."""
        by_id = {seg.span.span_id: seg.span for seg in self.segments}
        return sorted(
            ((by_id[sid], ns) for sid, ns in self.per_span.items()),
            key=lambda item: (-item[1], item[0].start_ns),
        )


def critical_path(trace: Trace, tree: SpanTree | None = None) -> CriticalPath:
    """The critical path of ``trace`` (pass ``tree`` if you already built it)."""
    tree = tree or span_tree(trace)
    top = tree.top
    if top is None:
        return CriticalPath(None, [], {})
    clip = tree.clipped
    # Each child list sorted by clipped end, latest first: the walk's cursor only moves on.
    by_end = {
        sid: sorted(
            (c for c in kids if c.span_id in clip and clip[c.span_id][1] > clip[c.span_id][0]),
            key=lambda c: (-clip[c.span_id][1], -clip[c.span_id][0]),
        )
        for sid, kids in tree.children.items()
    }
    reversed_segments: list[Segment] = []
    # Frame: [span, explain-until time, cursor into its children]
    stack: list[list] = [[top, clip[top.span_id][1], 0]]
    while stack:
        frame = stack[-1]
        span, until, i = frame
        kids = by_end.get(span.span_id, ())
        while i < len(kids) and clip[kids[i].span_id][1] > until:
            i += 1
        if i < len(kids):
            child = kids[i]
            cs, ce = clip[child.span_id]
            if ce < until:
                reversed_segments.append(Segment(span, ce, until))
            frame[1], frame[2] = cs, i + 1
            stack.append([child, ce, 0])
        else:
            start = clip[span.span_id][0]
            if until > start:
                reversed_segments.append(Segment(span, start, until))
            stack.pop()
    segments = _merge(reversed_segments[::-1])
    per_span: dict[bytes, int] = {}
    for seg in segments:
        per_span[seg.span.span_id] = per_span.get(seg.span.span_id, 0) + seg.duration_ns
    warnings = []
    if tree.orphans:
        warnings.append(
            f"{len(tree.orphans)} span(s) have no stored parent; they were analysed as "
            f"children of {top.name!r}"
        )
    return CriticalPath(top, segments, per_span, warnings)


def _merge(segments: list[Segment]) -> list[Segment]:
    out: list[Segment] = []
    for seg in segments:
        if out and out[-1].span is seg.span and out[-1].end_ns == seg.start_ns:
            out[-1] = Segment(seg.span, out[-1].start_ns, seg.end_ns)
        else:
            out.append(seg)
    return out

"""Trace diff: two traces of the same request, aligned by where each span sits.

A span's *path* is the chain of ``service · operation`` from the root down to it. Two
traces of one endpoint share most paths; what differs is what explains the difference in
latency: a path present in one trace only (a cache miss that went to the database), a path
with more spans in one (an N+1 loop that ran 20 times instead of once), or a path whose
spans took longer::

    d = diff_traces(fast, slow)
    d.headline      # "b is 950ms slower; orders · SELECT order_items ran 20 times in b, 1 in a"
    d.paths[0]      # PathDiff(path=(...), a_count=1, b_count=20, delta_ns=380000000, ...)

Paths are sorted by the size of their *self-time* change (time not spent in children),
largest first: a parent's total grows with its children's, so sorting by totals would
always name the root first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from spanscope.analysis.breakdown import self_times
from spanscope.analysis.tree import format_ns, label, span_tree
from spanscope.model.spans import Span, Trace

Status = Literal["only_a", "only_b", "changed", "same"]


@dataclass(slots=True)
class PathDiff:
    path: tuple[str, ...]
    service: str
    name: str
    a_count: int
    b_count: int
    a_total_ns: int
    b_total_ns: int
    a_self_ns: int
    b_self_ns: int

    @property
    def delta_ns(self) -> int:
        return self.b_total_ns - self.a_total_ns

    @property
    def self_delta_ns(self) -> int:
        """Change in self time: what this path itself added, not what its children did."""
        return self.b_self_ns - self.a_self_ns

    @property
    def status(self) -> Status:
        if self.b_count == 0:
            return "only_a"
        if self.a_count == 0:
            return "only_b"
        return "changed" if self.a_count != self.b_count else "same"


@dataclass(slots=True)
class TraceDiff:
    a: Trace
    b: Trace
    paths: list[PathDiff]
    headline: str


def span_paths(trace: Trace) -> dict[bytes, tuple[str, ...]]:
    """span id -> its path from the top of the trace (orphans hang under the root)."""
    tree = span_tree(trace)
    if tree.top is None:
        return {}
    paths: dict[bytes, tuple[str, ...]] = {tree.top.span_id: (label(tree.top),)}
    stack = [tree.top]
    while stack:
        s = stack.pop()
        for c in tree.children.get(s.span_id, ()):
            if c.span_id not in paths:
                paths[c.span_id] = (*paths[s.span_id], label(c))
                stack.append(c)
    return paths


def _per_path(trace: Trace) -> dict[tuple[str, ...], tuple[Span, int, int, int]]:
    by_id = {s.span_id: s for s in trace.spans}
    own = self_times(trace)
    out: dict[tuple[str, ...], tuple[Span, int, int, int]] = {}
    for sid, path in span_paths(trace).items():
        s = by_id[sid]
        first, n, total, self_ns = out.get(path, (s, 0, 0, 0))
        out[path] = (first, n + 1, total + s.duration_ns, self_ns + own[sid])
    return out


def diff_traces(a: Trace, b: Trace) -> TraceDiff:
    pa, pb = _per_path(a), _per_path(b)
    paths = []
    for path in pa.keys() | pb.keys():
        span = (pa.get(path) or pb[path])[0]
        _, an, at, aself = pa.get(path, (span, 0, 0, 0))
        _, bn, bt, bself = pb.get(path, (span, 0, 0, 0))
        paths.append(PathDiff(path, span.service, span.name, an, bn, at, bt, aself, bself))
    # By self-time change: a parent's total grows with its children's; its self time
    # grows only with what it did itself, so the path that explains the gap comes first.
    paths.sort(key=lambda p: (-abs(p.self_delta_ns), -abs(p.delta_ns), p.path))
    return TraceDiff(a, b, paths, _headline(a, b, paths))


def _headline(a: Trace, b: Trace, paths: list[PathDiff]) -> str:
    if not a.spans or not b.spans:
        return "one of the traces has no spans"
    gap = _root_duration(b) - _root_duration(a)
    lead = f"b is {format_ns(abs(gap))} {'slower' if gap >= 0 else 'faster'}"
    if gap == 0:
        lead = "a and b took the same time"
    changed = [p for p in paths if p.status != "same" or p.self_delta_ns]
    if not changed:
        return f"{lead}; their spans line up path for path"
    top = changed[0]
    where = f"{top.service} · {top.name}"
    if top.status == "only_a":
        return f"{lead}; {where} ran only in a ({top.a_count}×)"
    if top.status == "only_b":
        return f"{lead}; {where} ran only in b ({top.b_count}×)"
    if top.status == "changed":
        return f"{lead}; {where} ran {top.b_count} times in b, {top.a_count} in a"
    more = "more" if top.self_delta_ns > 0 else "less"
    return f"{lead}; {where} took {format_ns(abs(top.self_delta_ns))} {more} in b"


def _root_duration(t: Trace) -> int:
    root = span_tree(t).top
    return root.duration_ns if root is not None else 0

"""Trace diff: two traces of the same request, aligned by where each span sits.

A span's *path* is the chain of ``service · operation`` from the root down to it. Two
traces of one endpoint share most paths; what differs is what explains the difference in
latency: a path present in one trace only (a cache miss that went to the database), a path
with more spans in one (an N+1 loop that ran 20 times instead of once), or a path whose
spans took longer::

    d = diff_traces(fast, slow)
    d.headline      # "b is 950ms slower; orders · SELECT order_items ran 20 times in b, 1 in a"
    d.paths[0]      # PathDiff(path=(...), a_count=1, b_count=20, delta_ns=380000000, ...)

Paths are sorted by the size of their *own-work* change, largest first (own work as in
:mod:`spanscope.analysis.rca`: self time without a CLIENT call's gap, which counts half):
a parent's total grows with its children's, so sorting by totals would always name the
root first, and a call whose gap grew (the machine was busy) is rarely what changed.
CLIENT calls named by their method alone are shown by target (``gateway · POST → orders
/orders``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from spanscope.analysis.breakdown import self_times
from spanscope.analysis.names import operation_names
from spanscope.analysis.rca import GAP_WEIGHT, requests_in
from spanscope.analysis.tree import format_ns, span_tree
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
    a_gap_ns: int = 0
    b_gap_ns: int = 0

    @property
    def own_delta_ns(self) -> int:
        """Change in own work: self time without the gap of a CLIENT call."""
        return (self.b_self_ns - self.b_gap_ns) - (self.a_self_ns - self.a_gap_ns)

    @property
    def gap_delta_ns(self) -> int:
        return self.b_gap_ns - self.a_gap_ns

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
    names = operation_names(trace)

    def label(s: Span) -> str:
        return f"{s.service} · {names.get(s.span_id, s.name)}"

    paths: dict[bytes, tuple[str, ...]] = {tree.top.span_id: (label(tree.top),)}
    stack = [tree.top]
    while stack:
        s = stack.pop()
        for c in tree.children.get(s.span_id, ()):
            if c.span_id not in paths:
                paths[c.span_id] = (*paths[s.span_id], label(c))
                stack.append(c)
    return paths


def _per_path(trace: Trace) -> dict[tuple[str, ...], tuple[Span, int, int, int, int]]:
    by_id = {s.span_id: s for s in trace.spans}
    own = self_times(trace)
    req = requests_in(trace, adjust_skew=False)
    gaps = {t.span.span_id: t.gap_ns for t in req[0].spans} if req else {}
    out: dict[tuple[str, ...], tuple[Span, int, int, int, int]] = {}
    for sid, path in span_paths(trace).items():
        s = by_id[sid]
        first, n, total, self_ns, gap = out.get(path, (s, 0, 0, 0, 0))
        out[path] = (first, n + 1, total + s.duration_ns, self_ns + own[sid],
                     gap + min(gaps.get(sid, 0), own[sid]))  # fmt: skip
    return out


def diff_traces(a: Trace, b: Trace) -> TraceDiff:
    pa, pb = _per_path(a), _per_path(b)
    paths = []
    for path in pa.keys() | pb.keys():
        span = (pa.get(path) or pb[path])[0]
        _, an, at, aself, agap = pa.get(path, (span, 0, 0, 0, 0))
        _, bn, bt, bself, bgap = pb.get(path, (span, 0, 0, 0, 0))
        name = path[-1].split(" · ", 1)[-1]
        paths.append(PathDiff(path, span.service, name, an, bn, at, bt, aself, bself, agap, bgap))
    # By own-work change: a parent's total grows with its children's; its own work grows
    # only with what it did itself, so the path that explains the gap comes first.
    paths.sort(key=lambda p: (-_weight(p), -abs(p.delta_ns), p.path))
    return TraceDiff(a, b, paths, _headline(a, b, paths))


def _weight(p: PathDiff) -> float:
    return abs(p.own_delta_ns) + GAP_WEIGHT * abs(p.gap_delta_ns)


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
    delta = top.own_delta_ns if abs(top.own_delta_ns) >= abs(top.gap_delta_ns) else 0
    if delta == 0 and top.gap_delta_ns:
        more = "more" if top.gap_delta_ns > 0 else "less"
        return (
            f"{lead}; {where} waited {format_ns(abs(top.gap_delta_ns))} {more} on the wire "
            "or in the callee's queue in b"
        )
    more = "more" if delta > 0 else "less"
    return f"{lead}; {where} took {format_ns(abs(delta))} {more} in b"


def _root_duration(t: Trace) -> int:
    root = span_tree(t).top
    return root.duration_ns if root is not None else 0

"""Deep dependency paths: every chain of services a request took through a focal service.

The service map (:mod:`spanscope.analysis.dependencies`) draws one edge per caller/callee
pair and forgets which requests went where; the Jaeger UI's *Deep Dependency Graph*
shows whole paths instead — for ``inventory``, that requests come from ``frontend`` via
``orders`` and go on to ``postgres`` — so a reader sees what is upstream and downstream
of one service or operation.

A path is read from each root-to-leaf chain of spans in a trace, keeping a span when its
service differs from the previous kept one or when it is a SERVER span (a new request
into a service), and it is kept when it holds the focal service (and operation, if
given). That is jaeger-ui's own reduction (``packages/jaeger-ui/src/model/ddg/
transformTracesToPaths.ts``), so our answer draws the graph the UI would draw from the
same traces::

    >>> from spanscope.model.spans import Span, SpanKind, Trace
    >>> a = Span(b"t" * 16, b"a" * 8, "GET /", 0, 9, "web", kind=SpanKind.SERVER)
    >>> b = Span(b"t" * 16, b"b" * 8, "charge", 1, 8, "pay", parent_span_id=b"a" * 8)
    >>> [p.entries for p in dependency_paths([Trace(b"t" * 16, [a, b])], "pay")]
    [(('web', 'GET /'), ('pay', 'charge'))]

Spans whose parent is not in the trace start a chain of their own (as the UI's root spans).
Each path carries up to ``max_exemplars`` ids of traces that took it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from spanscope.model.spans import Span, SpanKind, Trace

Entry = tuple[str, str]
"""(service, operation)"""

DEFAULT_MAX_EXEMPLARS = 20


@dataclass(slots=True)
class DependencyPath:
    entries: tuple[Entry, ...]
    trace_ids: list[bytes] = field(default_factory=list)


def chains(trace: Trace) -> Iterable[list[Span]]:
    """Every root-to-leaf chain of spans (iterative: a 10,000-deep trace is fine)."""
    ids = {s.span_id for s in trace.spans}
    children: dict[bytes, list[Span]] = {}
    roots = []
    for s in trace.spans:
        if (
            s.parent_span_id is not None
            and s.parent_span_id in ids
            and s.parent_span_id != s.span_id
        ):
            children.setdefault(s.parent_span_id, []).append(s)
        else:
            roots.append(s)
    for root in roots:
        stack: list[tuple[Span, list[Span]]] = [(root, [root])]
        seen = {root.span_id}
        while stack:
            span, chain = stack.pop()
            kids = [k for k in children.get(span.span_id, ()) if k.span_id not in seen]
            if not kids:
                yield chain
            for kid in reversed(kids):
                seen.add(kid.span_id)
                stack.append((kid, [*chain, kid]))


def reduce_chain(chain: list[Span]) -> tuple[Entry, ...]:
    """Keep a span where the service changes or a SERVER span starts a new request."""
    kept: list[Span] = []
    for s in chain:
        if not kept or kept[-1].service != s.service or s.kind == SpanKind.SERVER:
            kept.append(s)
    return tuple((s.service, s.name) for s in kept)


def dependency_paths(
    traces: Iterable[Trace],
    service: str,
    operation: str | None = None,
    max_exemplars: int = DEFAULT_MAX_EXEMPLARS,
) -> list[DependencyPath]:
    """The distinct paths through (``service``, ``operation``), sorted, with exemplars."""
    found: dict[tuple[Entry, ...], DependencyPath] = {}
    for trace in traces:
        for chain in chains(trace):
            entries = reduce_chain(chain)
            if not any(s == service and operation in (None, op) for s, op in entries):
                continue
            path = found.setdefault(entries, DependencyPath(entries))
            if trace.trace_id not in path.trace_ids and len(path.trace_ids) < max_exemplars:
                path.trace_ids.append(trace.trace_id)
    return [found[k] for k in sorted(found)]

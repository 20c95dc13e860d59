"""Clock-skew adjustment: put a child span back inside its parent when clocks disagree.

Spans from different hosts are timed by different clocks. When a child on another host
(``host.name`` of its resource, else its service) starts before its parent, or ends after
it by more than network jitter, the child's clock is off — a synchronous call cannot
answer before it was made. As Jaeger's adjuster does, the child is shifted:

- centred in its parent when it fits (the request and the response took the same time
  on the wire), or
- aligned to the parent's start when it is longer than the parent;

and the same shift applies to its descendants on the same host (same clock). Every moved
span gets a warning naming the shift, so the UI can say so; nothing is silently changed::

    adjusted = adjust_clock_skew(trace)        # a new Trace; `trace` is left as it was
                                               # (moved spans share its attribute dicts)
    [w for s in adjusted.spans for w in s.warnings]
    # ['clock skew adjusted: start shifted by +12.5ms to fit parent 00f067aa0ba902b7']

An async child (CONSUMER under a PRODUCER) may well end after its parent; it is moved
only when it *starts* before the parent. Spans on the same host as their parent are never
moved relative to it.
"""

from __future__ import annotations

from spanscope.analysis.tree import format_ns
from spanscope.model.spans import Event, Span, SpanKind, Trace

DEFAULT_JITTER_NS = 1_000_000
"""A child may end this much after its parent before it counts as skew (1 ms)."""


def host_key(span: Span) -> str:
    """Which clock timed this span: its host, or its service when the host is unknown."""
    host = span.resource.get("host.name") or span.resource.get("host.id")
    return f"host:{host}" if isinstance(host, str) and host else f"service:{span.service}"


def skew_ns(child: Span, parent: Span, jitter_ns: int = DEFAULT_JITTER_NS) -> int:
    """How far ``child`` must move (ns, + is later) to sit inside ``parent``; 0 if it fits."""
    if parent.kind == SpanKind.PRODUCER and child.kind == SpanKind.CONSUMER:
        return max(0, parent.start_ns - child.start_ns)
    if child.start_ns >= parent.start_ns and child.end_ns <= parent.end_ns + jitter_ns:
        return 0
    parent_d, child_d = parent.duration_ns, child.duration_ns
    if child_d > parent_d:
        return max(0, parent.start_ns - child.start_ns)
    return parent.start_ns + (parent_d - child_d) // 2 - child.start_ns


def adjust_clock_skew(trace: Trace, jitter_ns: int = DEFAULT_JITTER_NS) -> Trace:
    """A copy of ``trace`` with skewed spans shifted into their parents and marked."""
    by_id = {s.span_id: s for s in trace.spans}
    children: dict[bytes, list[Span]] = {}
    tops = []
    for s in trace.spans:
        p = by_id.get(s.parent_span_id) if s.parent_span_id else None
        if p is None or p is s:
            tops.append(s)
        else:
            children.setdefault(p.span_id, []).append(s)
    # Spans of one process share their resource dict: one host look-up per process.
    hosts: dict[tuple[int, str], str] = {}

    def host(s: Span) -> str:
        key = (id(s.resource), s.service)
        found = hosts.get(key)
        if found is None:
            found = hosts[key] = host_key(s)
        return found

    adjusted: dict[bytes, Span] = {}
    # (span, its parent as adjusted, the shift its parent got)
    stack: list[tuple[Span, Span | None, int]] = [(s, None, 0) for s in tops]
    seen: set[bytes] = set()
    while stack:
        span, parent, parent_shift = stack.pop()
        if span.span_id in seen:
            continue
        seen.add(span.span_id)
        shift = 0
        note = ""
        if parent is not None:
            original_parent = by_id[parent.span_id]
            if host(span) == host(original_parent):
                shift = parent_shift
                if shift:
                    note = f"with its parent {parent.span_id.hex()} (same host)"
            else:
                shift = skew_ns(span, parent, jitter_ns)
                if shift:
                    note = f"to fit parent {parent.span_id.hex()}"
        new = _shifted(span, shift, note) if shift else span
        adjusted[span.span_id] = new
        for c in children.get(span.span_id, ()):
            stack.append((c, new, shift))
    if not any(adjusted.get(s.span_id, s) is not s for s in trace.spans):
        return trace
    spans = [adjusted.get(s.span_id, s) for s in trace.spans]
    spans.sort(key=lambda s: (s.start_ns, s.span_id))
    return Trace(trace.trace_id, spans, list(trace.warnings))


def _shifted(span: Span, shift: int, note: str) -> Span:
    sign = "+" if shift > 0 else "-"
    warning = f"clock skew adjusted: start shifted by {sign}{format_ns(abs(shift))} {note}"
    # The constructor, not dataclasses.replace: replace() introspects the fields on every
    # call and was 5x slower, which mattered when every span of 10,000 moved (measured).
    return Span(
        trace_id=span.trace_id,
        span_id=span.span_id,
        name=span.name,
        start_ns=span.start_ns + shift,
        end_ns=span.end_ns + shift,
        service=span.service,
        parent_span_id=span.parent_span_id,
        kind=span.kind,
        status_code=span.status_code,
        status_message=span.status_message,
        attributes=span.attributes,
        resource=span.resource,
        scope_name=span.scope_name,
        scope_version=span.scope_version,
        trace_state=span.trace_state,
        flags=span.flags,
        events=[
            Event(e.time_ns + shift, e.name, e.attributes, e.dropped_attributes_count)
            for e in span.events
        ]
        if span.events
        else span.events,
        links=span.links,
        dropped_attributes_count=span.dropped_attributes_count,
        dropped_events_count=span.dropped_events_count,
        dropped_links_count=span.dropped_links_count,
        warnings=[*span.warnings, warning],
    )

"""Run a parsed TraceQL query over whole traces: which spansets of each trace match.

The engine is pure (a :class:`~spanscope.model.Trace` in, :class:`Spanset` lists out), so
it runs the same over every store; :mod:`.planner` decides which traces to read.

Semantics, following Tempo's docs (docs/traceql.md has examples):

- ``{ expr }`` keeps the spans for which ``expr`` is true. A missing attribute is nil and
  nil compares false with everything (``!=`` too); ``x = nil`` / ``x != nil`` test presence.
  Values compare only within their kind — numbers (int, float, duration in ns) with
  numbers, strings with strings, booleans, statuses, kinds — so the string "500" is not
  the number 500. Unscoped ``.x`` is the span's attribute, else its resource's.
  ``event.`` and ``link.`` fields hold when one event (link) of the span satisfies the
  whole expression.
- ``A && B`` (between spansets): both found in the trace, their spans together; ``A || B``:
  either. Structural ``A > B`` keeps the B spans whose parent is in A; ``<`` B spans that
  are a parent of an A span; ``>>``/``<<`` descendants/ancestors; ``~`` siblings; ``!``
  forms keep the B spans without that relation; ``&`` forms keep both sides of each pair.
- a pipeline runs its stages left to right over each spanset: a spanset expression
  narrows it, ``count() > 2`` and ``avg(duration) > 20ms`` keep or drop it whole,
  ``by(f)`` splits it by the value of ``f``, ``select(f, ...)`` adds fields to what is
  shown, ``coalesce()`` merges the spansets of a trace back into one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from spanscope.model.spans import Event, Link, Span, Trace
from spanscope.query.traceql.ast import (
    Aggregate,
    Attribute,
    Binary,
    Coalesce,
    Field,
    GroupBy,
    Intrinsic,
    Pipeline,
    Query,
    Scalar,
    ScalarFilter,
    ScalarOp,
    Select,
    SpansetExpr,
    SpansetFilter,
    SpansetOp,
    Static,
    Unary,
)
from spanscope.query.traceql.regex import compile_regex


@dataclass(slots=True)
class Spanset:
    spans: list[Span]
    attributes: dict[str, Any] = field(default_factory=dict)
    """``by()`` labels: ``{"by(resource.service.name)": "orders"}``."""
    selected: tuple[Attribute | Intrinsic, ...] = ()
    """``select()`` fields, shown for every span."""


class TraceView:
    """One trace with the relations the structural operators and intrinsics need."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self.by_id: dict[bytes, Span] = {s.span_id: s for s in trace.spans}
        self.children: dict[bytes, list[Span]] = {}
        for s in trace.spans:
            if s.parent_span_id is not None and s.parent_span_id in self.by_id:
                self.children.setdefault(s.parent_span_id, []).append(s)
        root = trace.root()
        self.root = root
        self.duration_ns = trace.duration_ns

    def parent(self, s: Span) -> Span | None:
        return self.by_id.get(s.parent_span_id) if s.parent_span_id is not None else None

    def ancestors(self, s: Span) -> Iterator[Span]:
        seen = {s.span_id}
        p = self.parent(s)
        while p is not None and p.span_id not in seen:  # a cycle of bad parents ends here
            seen.add(p.span_id)
            yield p
            p = self.parent(p)


def evaluate(query: Query, trace: Trace) -> list[Spanset]:
    """The spansets of ``trace`` that ``query``'s pipeline keeps (metrics are not run)."""
    if not trace.spans:
        return []
    view = TraceView(trace)
    return _pipeline(query.pipeline, view, [Spanset(list(trace.spans))])


# --- spanset level ---------------------------------------------------------------------


def _pipeline(p: Pipeline, view: TraceView, sets: list[Spanset]) -> list[Spanset]:
    for stage in p.stages:
        if not sets:
            return []
        if isinstance(stage, ScalarFilter):
            sets = [s for s in sets if _scalar_filter(stage, s)]
        elif isinstance(stage, GroupBy):
            sets = [g for s in sets for g in _group(stage, view, s)]
        elif isinstance(stage, Select):
            sets = [Spanset(s.spans, s.attributes, s.selected + stage.fields) for s in sets]
        elif isinstance(stage, Coalesce):
            sets = [_merge(sets)]
        else:
            out: list[Spanset] = []
            for s in sets:
                for found in _spanset(stage, view, s):
                    if found.spans:
                        out.append(
                            Spanset(
                                found.spans,
                                {**s.attributes, **found.attributes},
                                s.selected + found.selected,
                            )
                        )
            sets = out
    return sets


def _spanset(e: SpansetExpr, view: TraceView, within: Spanset) -> list[Spanset]:
    if isinstance(e, SpansetFilter):
        kept = [s for s in within.spans if _truthy(e.expr, view, s)]
        return [Spanset(kept)] if kept else []
    if isinstance(e, Pipeline):
        return _pipeline(e, view, [Spanset(within.spans)])
    lhs = _spanset(e.lhs, view, within)
    rhs = _spanset(e.rhs, view, within)
    if e.op == "&&":
        return [_merge([a, b]) for a in lhs for b in rhs]
    if e.op == "||":
        if not lhs or not rhs:
            return lhs or rhs
        return [_merge([a, b]) for a in lhs for b in rhs]
    out = []
    for a in lhs:
        for b in rhs:
            spans = _structural(e.op, view, a.spans, b.spans)
            if spans:
                out.append(Spanset(spans, {**a.attributes, **b.attributes}))
    return out


def _merge(sets: Iterable[Spanset]) -> Spanset:
    seen: dict[bytes, Span] = {}
    attributes: dict[str, Any] = {}
    selected: tuple[Attribute | Intrinsic, ...] = ()
    for s in sets:
        for span in s.spans:
            seen.setdefault(span.span_id, span)
        attributes.update(s.attributes)
        selected += tuple(f for f in s.selected if f not in selected)
    return Spanset(
        sorted(seen.values(), key=lambda s: (s.start_ns, s.span_id)), attributes, selected
    )


def _structural(op: str, view: TraceView, left: list[Span], right: list[Span]) -> list[Span]:
    """The right spans that stand in ``op``'s relation to a left span (or, ``!``, do not);
    ``&`` forms add the left spans of each related pair. Linear in the spans times the
    trace's depth: no relation is found by trying every pair."""
    base = op.lstrip("!&")
    related = _siblings(view, left) if base == "~" else _relation(base, view, left)
    if op.startswith("!"):
        return [r for r in right if r.span_id not in related]
    kept = [r for r in right if r.span_id in related]
    if not op.startswith("&"):
        return kept
    both: dict[bytes, Span] = {r.span_id: r for r in kept}
    added: set[int] = set()  # sibling groups are shared lists: add each once
    for r in kept:
        group = related[r.span_id]
        if id(group) in added:
            continue
        added.add(id(group))
        for s in group:
            both.setdefault(s.span_id, s)
    return sorted(both.values(), key=lambda s: (s.start_ns, s.span_id))


def _relation(base: str, view: TraceView, left: list[Span]) -> dict[bytes, list[Span]]:
    """span id -> the left spans it relates to, for every span related to one: a child of
    a left span for ``>``, its parent for ``<``, a descendant for ``>>``, an ancestor for
    ``<<``."""
    rel: dict[bytes, list[Span]] = {}
    for s in left:
        targets: Iterable[Span]
        if base == ">":
            targets = view.children.get(s.span_id, ())
        elif base == "<":
            p = view.parent(s)
            targets = [p] if p is not None else []
        elif base == ">>":
            targets = _descendants(view, s)
        else:  # "<<"
            targets = view.ancestors(s)
        for t in targets:
            rel.setdefault(t.span_id, []).append(s)
    return rel


def _siblings(view: TraceView, left: list[Span]) -> dict[bytes, list[Span]]:
    """span id -> its parent's left children (shared lists: a flat trace of 10,000
    siblings costs 10,000 entries, not 10,000^2), for spans with a left sibling."""
    groups: dict[bytes, list[Span]] = {}
    for s in left:
        if s.parent_span_id is not None and s.parent_span_id in view.by_id:
            groups.setdefault(s.parent_span_id, []).append(s)
    rel: dict[bytes, list[Span]] = {}
    for pid, group in groups.items():
        ids = {g.span_id for g in group}
        for t in view.children.get(pid, ()):
            if len(group) - (t.span_id in ids) > 0:
                rel[t.span_id] = group
    return rel


def _descendants(view: TraceView, s: Span) -> Iterator[Span]:
    stack = list(view.children.get(s.span_id, ()))
    seen = {s.span_id}
    while stack:
        c = stack.pop()
        if c.span_id in seen:
            continue
        seen.add(c.span_id)
        yield c
        stack.extend(view.children.get(c.span_id, ()))


def _group(g: GroupBy, view: TraceView, s: Spanset) -> list[Spanset]:
    label = f"by({field_text(g.expr)})"
    groups: dict[Any, list[Span]] = {}
    for span in s.spans:
        value = _value(g.expr, _Ctx(view, span))
        groups.setdefault(_hashable(value), []).append(span)
    out = []
    for key, spans in groups.items():
        attrs = dict(s.attributes)
        if key is not None:
            attrs[label] = _unhash(key)
        out.append(Spanset(spans, attrs, s.selected))
    return out


def _hashable(v: Any) -> Any:
    return (type(v).__name__, v) if not isinstance(v, list | dict) else ("text", repr(v))


def _unhash(key: Any) -> Any:
    return None if key == ("NoneType", None) else key[1]


# --- scalar filters ------------------------------------------------------------------------


def _scalar_filter(f: ScalarFilter, s: Spanset) -> bool:
    return compare(f.op, _scalar(f.lhs, s), _scalar(f.rhs, s))


def _scalar(e: Scalar, s: Spanset) -> Any:
    if isinstance(e, Static):
        return runtime_static(e)
    if isinstance(e, ScalarOp):
        return _arith(e.op, _scalar(e.lhs, s), _scalar(e.rhs, s))
    if e.fn == "count":
        return len(s.spans)
    values = []
    assert e.expr is not None
    for span in s.spans:
        v = _value(e.expr, _Ctx(None, span))
        if _is_number(v):
            values.append(v)
    if not values:
        return None
    if e.fn == "sum":
        return sum(values)
    if e.fn == "avg":
        return sum(values) / len(values)
    return min(values) if e.fn == "min" else max(values)


# --- field level -------------------------------------------------------------------------


class _Ctx:
    __slots__ = ("view", "span", "event", "link")

    def __init__(
        self,
        view: TraceView | None,
        span: Span,
        event: Event | None = None,
        link: Link | None = None,
    ) -> None:
        self.view = view
        self.span = span
        self.event = event
        self.link = link


def _truthy(expr: Field, view: TraceView, span: Span) -> bool:
    uses_event, uses_link = _uses(expr)
    events: list[Event | None] = list(span.events) if uses_event and span.events else [None]
    links: list[Link | None] = list(span.links) if uses_link and span.links else [None]
    for ev in events:
        for ln in links:
            if _value(expr, _Ctx(view, span, ev, ln)) is True:
                return True
    return False


@lru_cache(maxsize=1024)
def _uses(expr: Field) -> tuple[bool, bool]:
    """Whether ``expr`` reads event fields, link fields (the tree is frozen: hashable)."""
    ev = ln = False
    for f in _fields(expr):
        name = f.scope if isinstance(f, Attribute) else f.name.split(":")[0]
        ev = ev or name == "event"
        ln = ln or name == "link"
    return ev, ln


def _fields(expr: Field) -> Iterator[Attribute | Intrinsic]:
    if isinstance(expr, Attribute | Intrinsic):
        yield expr
    elif isinstance(expr, Binary):
        yield from _fields(expr.lhs)
        yield from _fields(expr.rhs)
    elif isinstance(expr, Unary):
        yield from _fields(expr.operand)


def runtime_static(s: Static) -> Any:
    if s.type in ("status", "kind"):
        return (s.type, s.value)
    return s.value


def _value(expr: Field, ctx: _Ctx) -> Any:
    if isinstance(expr, Static):
        return runtime_static(expr)
    if isinstance(expr, Attribute):
        return attribute_value(expr, ctx.span, ctx.view, ctx.event, ctx.link)
    if isinstance(expr, Intrinsic):
        return intrinsic_value(expr.name, ctx.span, ctx.view, ctx.event, ctx.link)
    if isinstance(expr, Unary):
        if expr.op == "exists":
            return _value(expr.operand, ctx) is not None
        if expr.op == "missing":
            return _value(expr.operand, ctx) is None
        v = _value(expr.operand, ctx)
        if expr.op == "!":
            return (not v) if isinstance(v, bool) else None
        return -v if _is_number(v) else None
    op = expr.op
    if op == "&&":
        return _value(expr.lhs, ctx) is True and _value(expr.rhs, ctx) is True
    if op == "||":
        return _value(expr.lhs, ctx) is True or _value(expr.rhs, ctx) is True
    lhs = _value(expr.lhs, ctx)
    if op in ("=~", "!~"):
        if not isinstance(lhs, str):
            return False
        assert isinstance(expr.rhs, Static)
        hit = compile_regex(expr.rhs.value).matches(lhs)
        return hit if op == "=~" else not hit
    rhs = _value(expr.rhs, ctx)
    if op in ("=", "!=", ">", ">=", "<", "<="):
        return compare(op, lhs, rhs)
    return _arith(op, lhs, rhs)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def compare(op: str, a: Any, b: Any) -> bool:
    """``a op b`` with TraceQL's typing: nil or values of different kinds never match."""
    if a is None or b is None:
        return False
    if _is_number(a) and _is_number(b):
        pass
    elif type(a) is not type(b) or isinstance(a, list | dict | bytes):
        return False
    elif isinstance(a, bool | tuple) and op not in ("=", "!="):
        return False
    if op == "=":
        return bool(a == b)
    if op == "!=":
        return bool(a != b)
    if op == ">":
        return bool(a > b)
    if op == ">=":
        return bool(a >= b)
    if op == "<":
        return bool(a < b)
    return bool(a <= b)


def _arith(op: str, a: Any, b: Any) -> Any:
    if not (_is_number(a) and _is_number(b)):
        return None
    try:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return (
                a / b
                if isinstance(a, float) or isinstance(b, float)
                else (a // b if a * b >= 0 else -(-a // b))
            )
        if op == "%":
            return math.fmod(a, b) if isinstance(a, float) or isinstance(b, float) else a % b
        if op == "^":
            if abs(b) > 1024:
                return None
            r = a**b
            return r if not isinstance(r, complex) else None
    except (ZeroDivisionError, OverflowError, ValueError):
        return None
    return None


def attribute_value(
    a: Attribute,
    span: Span,
    view: TraceView | None,
    event: Event | None = None,
    link: Link | None = None,
) -> Any:
    if a.parent:
        p = view.parent(span) if view is not None else None
        if p is None:
            return None
        return attribute_value(Attribute(a.scope, a.name), p, view)
    scope = a.scope
    if scope == "span":
        return span.attributes.get(a.name)
    if scope == "resource":
        if a.name == "service.name":
            return span.resource.get("service.name", span.service)
        return span.resource.get(a.name)
    if scope == "event":
        return event.attributes.get(a.name) if event is not None else None
    if scope == "link":
        return link.attributes.get(a.name) if link is not None else None
    if scope == "instrumentation":
        return None  # scope attributes are not stored
    v = span.attributes.get(a.name)
    if v is None:
        v = span.resource.get(a.name)
        if v is None and a.name == "service.name":
            v = span.service
    return v


def intrinsic_value(
    name: str,
    span: Span,
    view: TraceView | None,
    event: Event | None = None,
    link: Link | None = None,
) -> Any:
    if name == "span:name":
        return span.name
    if name == "span:duration":
        return span.duration_ns
    if name == "span:status":
        return ("status", span.status_code.label)
    if name == "span:statusMessage":
        return span.status_message
    if name == "span:kind":
        return ("kind", span.kind.label)
    if name == "span:id":
        return span.span_id.hex()
    if name == "span:parentID":
        return span.parent_span_id.hex() if span.parent_span_id else None
    if name == "instrumentation:name":
        return span.scope_name or None
    if name == "instrumentation:version":
        return span.scope_version or None
    if name == "event:name":
        return event.name if event is not None else None
    if name == "event:timeSinceStart":
        return event.time_ns - span.start_ns if event is not None else None
    if name == "link:traceID":
        return link.trace_id.hex() if link is not None else None
    if name == "link:spanID":
        return link.span_id.hex() if link is not None else None
    if name == "trace:id":
        return span.trace_id.hex()
    if view is None:
        return None
    if name == "span:childCount":
        return len(view.children.get(span.span_id, ()))
    if name == "trace:duration":
        return view.duration_ns
    if name == "trace:rootName":
        return view.root.name if view.root is not None else None
    if name == "trace:rootService":
        return view.root.service if view.root is not None else None
    return None


def field_text(f: Field) -> str:
    """A field expression written back as TraceQL (for ``by()`` labels)."""
    if isinstance(f, Attribute | Intrinsic):
        return str(f)
    if isinstance(f, Static):
        return repr(f.value) if f.type == "string" else str(f.value)
    if isinstance(f, Unary):
        if f.op in ("exists", "missing"):
            return f"{field_text(f.operand)} {'!=' if f.op == 'exists' else '='} nil"
        return f"{f.op}{field_text(f.operand)}"
    return f"{field_text(f.lhs)} {f.op} {field_text(f.rhs)}"


def spans_value(f: Attribute | Intrinsic, span: Span, view: TraceView | None) -> Any:
    """The value of a selected field for one span (event/link fields: the first event's)."""
    if isinstance(f, Attribute):
        return attribute_value(
            f,
            span,
            view,
            span.events[0] if span.events else None,
            span.links[0] if span.links else None,
        )
    return intrinsic_value(
        f.name,
        span,
        view,
        span.events[0] if span.events else None,
        span.links[0] if span.links else None,
    )


def query_fields(q: Query) -> list[Attribute | Intrinsic]:
    """Every attribute and intrinsic the query's spanset filters read, first-seen order."""
    out: list[Attribute | Intrinsic] = []

    def walk(e: Any) -> None:
        if isinstance(e, SpansetFilter):
            for f in _fields(e.expr):
                if f not in out:
                    out.append(f)
        elif isinstance(e, SpansetOp):
            walk(e.lhs)
            walk(e.rhs)
        elif isinstance(e, Pipeline):
            for s in e.stages:
                walk(s)

    walk(q.pipeline)
    return out


__all__ = [
    "Spanset",
    "TraceView",
    "evaluate",
    "compare",
    "query_fields",
    "spans_value",
    "field_text",
]
_ = Aggregate  # re-exported for type users

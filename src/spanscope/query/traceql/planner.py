"""Run a TraceQL search over a store: push down what its search can narrow, evaluate the rest.

Every store answers :class:`~spanscope.query.model.SearchQuery` — traces with ONE span
matching service, span name, a span duration range, status and attribute conditions, in a
time window — in its own SQL. That is exactly a conjunction inside one ``{ }``, so the
planner takes the spanset filter every match needs (the only one, either side of ``&&`` or
of a structural operator, the right side of a negated one; none under ``||``) and pushes its
top-level ``&&`` terms down::

    >>> p = pushdown(parse('{ resource.service.name = "api" && duration > 1s && .x = 1 } > { }'))
    >>> p.service, p.min_duration_ns, p.conditions
    ('api', 1000000001, [Condition(key='x', op='=', value=1)])

The store returns candidate traces, newest first; each is read whole and the FULL query is
evaluated over it (:func:`~.engine.evaluate`), so pushdown only ever narrows, never
decides. Candidates are bounded (:data:`MAX_CANDIDATES` traces read per search): a query
the store cannot narrow answers from the newest candidates and says how many it inspected.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from spanscope.model.spans import Trace
from spanscope.model.summaries import TraceSummary
from spanscope.query.model import MAX_CONDITIONS, MAX_LIMIT, Condition, SearchQuery
from spanscope.query.traceql.ast import (
    Attribute,
    Binary,
    Field,
    Intrinsic,
    Pipeline,
    Query,
    SpansetExpr,
    SpansetFilter,
    SpansetOp,
    Static,
)
from spanscope.query.traceql.engine import Spanset, evaluate
from spanscope.query.traceql.parser import parse
from spanscope.store.base import Store

MAX_CANDIDATES = 500
"""Most traces read whole for one search."""
READ_PAGE = 50
"""Candidates read per store call: a query that matches early stops after one page."""
EXACT, WIDER = 2, 1


@dataclass(slots=True)
class Pushdown:
    service: str | None = None
    operation: str | None = None
    conditions: list[Condition] = field(default_factory=list)
    min_duration_ns: int | None = None
    max_duration_ns: int | None = None
    status: str | None = None
    trace_min_ns: int | None = None
    trace_max_ns: int | None = None
    """``trace:duration`` bounds: checked on the store's trace summaries, before any read."""
    exact: bool = False
    """True when the store's answer IS the query's (one filter, every term pushed)."""


@dataclass(slots=True)
class Match:
    summary: TraceSummary
    trace: Trace
    spansets: list[Spanset]


@dataclass(slots=True)
class SearchOutcome:
    matches: list[Match]
    inspected_traces: int = 0
    inspected_spans: int = 0


def pushdown(query: Query) -> Pushdown:
    """What of ``query`` a store's :class:`SearchQuery` can narrow by."""
    out = Pushdown()
    required = _required(query.pipeline)
    if required is None:
        return out
    terms = [t for t in _conjuncts(required.expr) if t != Static("bool", True)]
    pushed = [_push(term, out) for term in terms]
    out.exact = (
        all(p == EXACT for p in pushed)
        and len(query.pipeline.stages) == 1
        and isinstance(query.pipeline.stages[0], SpansetFilter)
    )
    return out


def _required(e: SpansetExpr | Pipeline) -> SpansetFilter | None:
    if isinstance(e, SpansetFilter):
        return e
    if isinstance(e, Pipeline):
        first = e.stages[0]
        return _required(first) if isinstance(first, SpansetFilter | SpansetOp | Pipeline) else None
    if e.op == "||":
        return None
    if e.op.startswith("!"):
        return _required(e.rhs)
    sides = [f for f in (_required(e.lhs), _required(e.rhs)) if f is not None]
    if not sides:
        return None
    return max(sides, key=lambda f: sum(1 for t in _conjuncts(f.expr) if _push(t, Pushdown())))


def _conjuncts(expr: Field) -> list[Field]:
    if isinstance(expr, Binary) and expr.op == "&&":
        return _conjuncts(expr.lhs) + _conjuncts(expr.rhs)
    return [expr]


def _push(term: Field, out: Pushdown) -> int:
    """Add ``term`` to ``out`` when the store can narrow by it: :data:`EXACT` when the
    store applies it exactly, :data:`WIDER` when it may also match more, 0 if not pushed."""
    if not (isinstance(term, Binary) and isinstance(term.rhs, Static)):
        return 0
    op, lhs, value = term.op, term.lhs, term.rhs
    if isinstance(lhs, Intrinsic):
        if lhs.name == "trace:duration" and value.type in ("duration", "int"):
            return _trace_bound(op, int(value.value), out)
        if (
            lhs.name == "span:name"
            and op == "="
            and value.type == "string"
            and out.operation is None
        ):
            out.operation = value.value
            return EXACT
        if (
            lhs.name == "span:status"
            and op == "="
            and value.type == "status"
            and out.status is None
        ):
            out.status = value.value
            return EXACT
        if lhs.name == "span:duration" and value.type in ("duration", "int") and value.value >= 0:
            ns = int(value.value)
            if op in (">", ">="):
                low = ns + 1 if op == ">" else ns
                out.min_duration_ns = max(out.min_duration_ns or 0, low)
                return EXACT
            if op in ("<", "<=") and (ns > 0 or op == "<="):
                high = ns - 1 if op == "<" else ns
                out.max_duration_ns = (
                    high if out.max_duration_ns is None else min(out.max_duration_ns, high)
                )
                return EXACT
        return 0
    if not isinstance(lhs, Attribute) or lhs.parent or lhs.scope not in (None, "span", "resource"):
        return 0
    if lhs.scope == "resource" and lhs.name == "service.name":
        if op == "=" and value.type == "string" and out.service is None:
            out.service = value.value
            return EXACT
        return 0
    if lhs.name == "service.name" or value.type not in ("string", "int", "float", "bool"):
        return 0
    if op not in ("=", ">", ">=", "<", "<=") or len(out.conditions) >= MAX_CONDITIONS:
        return 0
    try:
        out.conditions.append(Condition(lhs.name, op, value.value))  # type: ignore[arg-type]
    except ValueError:
        return 0
    # The store also matches a string holding a number's text, and span OR resource for a
    # scoped attribute: narrower would be wrong, wider is re-checked by the engine.
    return WIDER


def _trace_bound(op: str, ns: int, out: Pushdown) -> int:
    if op in (">", ">="):
        low = ns + 1 if op == ">" else ns
        out.trace_min_ns = low if out.trace_min_ns is None else max(out.trace_min_ns, low)
        return WIDER
    if op in ("<", "<="):
        high = ns - 1 if op == "<" else ns
        out.trace_max_ns = high if out.trace_max_ns is None else min(out.trace_max_ns, high)
        return WIDER
    return 0


def search(
    store: Store,
    query: Query | str,
    start_ns: int,
    end_ns: int,
    limit: int = 20,
    min_trace_ns: int | None = None,
    max_trace_ns: int | None = None,
    read: Callable[[bytes], Trace | None] | None = None,
    read_many: Callable[[Sequence[bytes]], Mapping[bytes, Trace]] | None = None,
) -> SearchOutcome:
    """Up to ``limit`` traces whose spans make ``query`` match, newest first, each with its
    spansets. ``min_trace_ns``/``max_trace_ns`` bound the whole trace's duration.

    Candidates are read whole a page at a time (:data:`READ_PAGE` or ``limit`` traces,
    whichever is more) by ``read_many`` — default the store's own many-trace read
    (``trace_stamps`` + ``traces_read``: one look-up and one scan per page instead of two
    queries per trace); the API passes its cache of recently read traces. ``read`` reads
    one trace at a time instead (a caller's own single-trace reader)."""
    q = parse(query) if isinstance(query, str) else query
    plan = pushdown(q)
    if plan.trace_min_ns is not None:
        min_trace_ns = max(min_trace_ns or 0, plan.trace_min_ns)
    if plan.trace_max_ns is not None:
        max_trace_ns = (
            plan.trace_max_ns if max_trace_ns is None else min(max_trace_ns, plan.trace_max_ns)
        )
    candidates = (
        limit if plan.exact and min_trace_ns is None and max_trace_ns is None else MAX_CANDIDATES
    )
    sq = SearchQuery(
        start_ns=start_ns,
        end_ns=end_ns,
        service=plan.service,
        operation=plan.operation,
        conditions=plan.conditions,
        min_duration_ns=plan.min_duration_ns,
        max_duration_ns=plan.max_duration_ns,
        status=plan.status,  # type: ignore[arg-type]
        limit=min(MAX_LIMIT, max(1, candidates)),
    )
    outcome = SearchOutcome([])
    wanted = [
        s for s in store.search(sq)
        if (min_trace_ns is None or s.duration_ns >= min_trace_ns)
        and (max_trace_ns is None or s.duration_ns <= max_trace_ns)
    ]  # fmt: skip
    if read_many is None:
        read_many = _one_by_one(read) if read is not None else _store_reader(store)
    page = max(READ_PAGE, limit)
    for at in range(0, len(wanted), page):
        chunk = wanted[at : at + page]
        traces = read_many([s.trace_id for s in chunk])
        for summary in chunk:
            trace = traces.get(summary.trace_id)
            if trace is None:
                continue
            outcome.inspected_traces += 1
            outcome.inspected_spans += len(trace.spans)
            sets = evaluate(q, trace)
            if sets:
                outcome.matches.append(Match(summary, trace, sets))
                if len(outcome.matches) >= limit:
                    return outcome
    return outcome


def _store_reader(store: Store) -> Callable[[Sequence[bytes]], Mapping[bytes, Trace]]:
    def read(trace_ids: Sequence[bytes]) -> Mapping[bytes, Trace]:
        return store.traces_read(store.trace_stamps(trace_ids))

    return read


def _one_by_one(
    read: Callable[[bytes], Trace | None],
) -> Callable[[Sequence[bytes]], Mapping[bytes, Trace]]:
    def read_each(trace_ids: Sequence[bytes]) -> Mapping[bytes, Trace]:
        found = {t: read(t) for t in trace_ids}
        return {t: trace for t, trace in found.items() if trace is not None}

    return read_each

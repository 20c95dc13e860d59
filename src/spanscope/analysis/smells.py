"""Smells: patterns in one trace that usually cost time and are cheap to fix.

- **N+1** (``n_plus_one``): the same operation called many times, one after another,
  under one parent — a loop issuing one query per item instead of one query for all.
  Found when at least :data:`N_PLUS_ONE_MIN` sibling spans share service and name and at
  most a fifth of consecutive pairs overlap.
- **Retry** (``retry``): the same operation started again after an attempt ended in
  error, under one parent. The failed attempts' time is what it cost.
- **Sequential** (``sequential``): calls to *different* operations (CLIENT or PRODUCER
  spans) made one after another under one parent, together at least a fifth of the
  parent's time — if they do not depend on each other they could run in parallel. The
  statements of one database transaction (a run with ``BEGIN``/``COMMIT``/``ROLLBACK``)
  depend on each other by definition and are never suggested.

Each smell names the spans involved and ``saving_ns``, the most a fix could save (for N+1
and sequential calls: their total minus the longest; for retries: the failed attempts)::

    for smell in find_smells(trace):
        print(smell.type, smell.message, smell.saving_ns)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from spanscope.analysis.tree import format_ns, span_tree
from spanscope.model.spans import Span, SpanKind, Trace

N_PLUS_ONE_MIN = 5
SEQUENTIAL_MIN_SHARE = 0.2
_CALL_KINDS = (SpanKind.CLIENT, SpanKind.PRODUCER)
_TRANSACTION = ("BEGIN", "START TRANSACTION", "COMMIT", "ROLLBACK", "SAVEPOINT")

SmellType = Literal["n_plus_one", "retry", "sequential"]


@dataclass(slots=True)
class Smell:
    type: SmellType
    message: str
    parent: Span
    spans: list[Span]
    saving_ns: int
    service: str = ""
    name: str = ""
    extra: dict[str, int] = field(default_factory=dict)

    @property
    def total_ns(self) -> int:
        return sum(s.duration_ns for s in self.spans)


def find_smells(trace: Trace, n_plus_one_min: int = N_PLUS_ONE_MIN) -> list[Smell]:
    tree = span_tree(trace)
    by_id = {s.span_id: s for s in trace.spans}
    found: list[Smell] = []
    for parent_id, kids in tree.children.items():
        parent = by_id[parent_id]
        same_op: dict[tuple[str, str], list[Span]] = {}
        for k in kids:  # sorted by start
            same_op.setdefault((k.service, k.name), []).append(k)
        for (service, name), group in same_op.items():
            smell = _n_plus_one(parent, service, name, group, n_plus_one_min)
            if smell:
                found.append(smell)
            smell = _retry(parent, service, name, group)
            if smell:
                found.append(smell)
        found.extend(_sequential(parent, kids))
    found.sort(key=lambda s: (-s.saving_ns, s.type, s.parent.start_ns))
    return found


def _n_plus_one(
    parent: Span, service: str, name: str, group: list[Span], minimum: int
) -> Smell | None:
    if len(group) < minimum:
        return None
    overlaps = sum(1 for x, y in zip(group, group[1:], strict=False) if y.start_ns < x.end_ns)
    if overlaps * 5 > len(group) - 1:
        return None
    total = sum(s.duration_ns for s in group)
    saving = total - max(s.duration_ns for s in group)
    message = (
        f"N+1: {service} · {name} called {len(group)} times in a row under "
        f"{parent.service} · {parent.name} ({format_ns(total)} in all)"
    )
    return Smell("n_plus_one", message, parent, group, saving, service, name)


def _retry(parent: Span, service: str, name: str, group: list[Span]) -> Smell | None:
    failed_then_retried = [
        s
        for i, s in enumerate(group)
        if s.is_error and any(later.start_ns >= s.start_ns for later in group[i + 1 :])
    ]
    if not failed_then_retried:
        return None
    lost = sum(s.duration_ns for s in failed_then_retried)
    message = (
        f"retry: {service} · {name} attempted {len(group)} times under "
        f"{parent.service} · {parent.name}, {len(failed_then_retried)} failed "
        f"({format_ns(lost)} lost)"
    )
    return Smell(
        "retry", message, parent, group, lost, service, name,
        {"failed": len(failed_then_retried)},
    )  # fmt: skip


def _statement(span: Span) -> str:
    text = span.attributes.get("db.query.text") or span.attributes.get("db.statement")
    return text if isinstance(text, str) and text else span.name


def _sequential(parent: Span, kids: list[Span]) -> list[Smell]:
    calls = [k for k in kids if k.kind in _CALL_KINDS]
    runs: list[list[Span]] = []
    for c in calls:  # by start: a run goes on while each call starts after the last ended
        if runs and c.start_ns >= runs[-1][-1].end_ns:
            runs[-1].append(c)
        else:
            runs.append([c])
    out = []
    for run in runs:
        ops = {(s.service, s.name) for s in run}
        total = sum(s.duration_ns for s in run)
        if len(ops) < 2 or total < SEQUENTIAL_MIN_SHARE * max(parent.duration_ns, 1):
            continue
        if any(_statement(s).upper().startswith(_TRANSACTION) for s in run):
            continue
        saving = total - max(s.duration_ns for s in run)
        names = ", ".join(f"{s.service} · {s.name}" for s in run[:4])
        more = f" and {len(run) - 4} more" if len(run) > 4 else ""
        message = (
            f"sequential: {len(run)} calls one after another under {parent.service} · "
            f"{parent.name} ({names}{more}); they could run in parallel"
        )
        out.append(Smell("sequential", message, parent, run, saving))
    return out

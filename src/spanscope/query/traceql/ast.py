"""The TraceQL syntax tree: what :mod:`.parser` builds and :mod:`.engine` runs.

Three layers, as in Tempo's ``pkg/traceql/ast.go``:

- **field expressions** (inside ``{ }``, and the arguments of ``avg()``, ``by()``...):
  :class:`Static` literals, :class:`Attribute` and :class:`Intrinsic` fields,
  :class:`Binary` and :class:`Unary` operations;
- **spanset expressions**: :class:`SpansetFilter` (``{ ... }``) combined by
  :class:`SpansetOp` (``&& ||`` and the structural ``> < >> << ~`` with their ``!`` and
  ``&`` variants) and :class:`Pipeline` (stages after ``|``: another spanset expression,
  :class:`ScalarFilter` such as ``count() > 2``, :class:`GroupBy`, :class:`Select`,
  :class:`Coalesce`);
- the **query**: :class:`Query` — a pipeline, optionally a :class:`MetricsAggregate`
  (``| rate() by (...)``) and hints (``with (most_recent=true)``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

StaticType = Literal["string", "int", "float", "bool", "duration", "status", "kind", "nil"]


@dataclass(frozen=True, slots=True)
class Static:
    type: StaticType
    value: Any
    """str | int | float | bool; ns for durations; "error"/"ok"/"unset" for status;
    "server"/"client"/... for kind; None for nil."""


@dataclass(frozen=True, slots=True)
class Attribute:
    scope: str | None
    """span resource event link instrumentation, or None for ``.name`` (span, then resource)."""
    name: str
    parent: bool = False
    """``parent.x``: the attribute of the span's parent."""

    def __str__(self) -> str:
        head = "parent." if self.parent else ""
        return f"{head}{self.scope or ''}.{self.name}"


INTRINSICS = {
    # unscoped name -> canonical
    "name": "span:name",
    "status": "span:status",
    "statusMessage": "span:statusMessage",
    "duration": "span:duration",
    "kind": "span:kind",
    "childCount": "span:childCount",
    "rootName": "trace:rootName",
    "rootServiceName": "trace:rootService",
    "traceDuration": "trace:duration",
}
SCOPED_INTRINSICS = {
    "span": ("name", "status", "statusMessage", "duration", "kind", "id", "parentID", "childCount"),
    "trace": ("duration", "rootName", "rootService", "id"),
    "event": ("name", "timeSinceStart"),
    "link": ("traceID", "spanID"),
    "instrumentation": ("name", "version"),
}


@dataclass(frozen=True, slots=True)
class Intrinsic:
    name: str
    """Canonical ``scope:name``, e.g. ``span:duration``, ``trace:rootService``."""

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    """&& || = != > >= < <= =~ !~ + - * / % ^"""
    lhs: Field
    rhs: Field


@dataclass(frozen=True, slots=True)
class Unary:
    op: str
    """``-`` ``!``, or ``exists`` (``x != nil``) / ``missing`` (``x = nil``)."""
    operand: Field


Field: TypeAlias = Static | Attribute | Intrinsic | Binary | Unary


@dataclass(frozen=True, slots=True)
class SpansetFilter:
    expr: Field


@dataclass(frozen=True, slots=True)
class SpansetOp:
    op: str
    lhs: SpansetExpr
    rhs: SpansetExpr


@dataclass(frozen=True, slots=True)
class Aggregate:
    fn: Literal["count", "avg", "min", "max", "sum"]
    expr: Field | None = None


@dataclass(frozen=True, slots=True)
class ScalarOp:
    op: str
    lhs: Scalar
    rhs: Scalar


Scalar: TypeAlias = Aggregate | Static | ScalarOp


@dataclass(frozen=True, slots=True)
class ScalarFilter:
    op: str
    lhs: Scalar
    rhs: Scalar


@dataclass(frozen=True, slots=True)
class GroupBy:
    expr: Field


@dataclass(frozen=True, slots=True)
class Select:
    fields: tuple[Attribute | Intrinsic, ...]


@dataclass(frozen=True, slots=True)
class Coalesce:
    pass


Stage: TypeAlias = "SpansetExpr | ScalarFilter | GroupBy | Select | Coalesce"


@dataclass(frozen=True, slots=True)
class Pipeline:
    stages: tuple[Stage, ...]


SpansetExpr: TypeAlias = SpansetFilter | SpansetOp | Pipeline

METRICS_FUNCTIONS = (
    "rate",
    "count_over_time",
    "min_over_time",
    "max_over_time",
    "avg_over_time",
    "sum_over_time",
    "quantile_over_time",
    "histogram_over_time",
    "compare",
)


@dataclass(frozen=True, slots=True)
class MetricsAggregate:
    fn: str
    attr: Attribute | Intrinsic | None = None
    quantiles: tuple[float, ...] = ()
    by: tuple[Attribute | Intrinsic, ...] = ()
    second_stage: tuple[tuple[Any, ...], ...] = ()
    """After the function, in order: ``("topk", k)``, ``("bottomk", k)``, or a filter on
    each data point ``("filter", op, value)`` (``| rate() > 10``)."""
    selection: SpansetFilter | None = None
    """``compare({selection}, top_n, start, end)``: the spans compared with the rest."""
    top_n: int = 10
    window: tuple[int, int] | None = None
    """compare's selection window, unix ns ``[start, end)``; None: the whole query window."""


@dataclass(frozen=True, slots=True)
class Query:
    pipeline: Pipeline
    metrics: MetricsAggregate | None = None
    hints: dict[str, Any] = field(default_factory=dict)

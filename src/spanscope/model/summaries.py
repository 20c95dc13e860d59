"""What the store answers about many traces without returning them whole.

A search answers one :class:`TraceSummary` per trace (its root, duration, span and error
counts per service), never the trace's spans; the service pages list :class:`Operation`
(span name + kind); the service map is a list of :class:`DependencyEdge` (caller ->
callee, found from parent/child spans of different services). Every store answers these
(:class:`spanscope.store.base.Store`), and the APIs render them.

>>> edge = DependencyEdge(parent="frontend", child="orders", call_count=12, error_count=1)
>>> edge.child
'orders'
"""

from __future__ import annotations

from dataclasses import dataclass

from spanscope.model.spans import SpanKind


@dataclass(slots=True, frozen=True)
class ServiceCount:
    name: str
    span_count: int
    error_count: int


@dataclass(slots=True)
class TraceSummary:
    """What a search returns per trace: never the whole trace."""

    trace_id: bytes
    root_service: str
    root_operation: str
    start_ns: int
    duration_ns: int
    span_count: int
    error_count: int
    services: list[ServiceCount]
    """Per-service span and error counts, sorted by name."""
    orphan_count: int = 0
    """Spans whose parent is not stored (Jaeger v3's orphanSpanCount)."""


@dataclass(slots=True, frozen=True)
class Operation:
    name: str
    kind: SpanKind


@dataclass(slots=True, frozen=True)
class DependencyEdge:
    """Caller -> callee, found from parent/child spans in different services."""

    parent: str
    child: str
    call_count: int
    error_count: int = 0

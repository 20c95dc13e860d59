"""The Store protocol: what every storage backend provides.

Backends (DuckDB, the embedded default; ClickHouse later) implement this small surface and
pass ONE conformance suite, ``tests/store/test_conformance.py``.

Rules every backend keeps:

- ``write`` is idempotent per (trace id, span id): a span written twice (a retrying
  client, a WAL replay) is stored and counted once.
- ``write(spans, wal_position=p)`` stores the spans and records ``p`` as the write-ahead
  log checkpoint in ONE transaction; ``wal_position()`` returns the last recorded one. That
  is what makes replay after a crash exact.
- Reads never scan every span for one trace: a per-trace index (first/last time, span
  count, errors, services, root) answers trace-level questions.
- Times are unix nanoseconds; ids are raw bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from spanscope.model import DependencyEdge, Operation, Span, SpanKind, Trace, TraceSummary
from spanscope.query.model import SearchQuery


@runtime_checkable
class Store(Protocol):
    def write(self, spans: Sequence[Span], wal_position: int | None = None) -> int:
        """Store spans (duplicates of already-stored spans are skipped) and, in the same
        transaction, the WAL checkpoint. Returns how many spans were newly stored."""
        ...

    def wal_position(self) -> int | None:
        """The WAL checkpoint recorded by the last ``write`` that carried one."""
        ...

    def trace(
        self, trace_id: bytes, start_ns: int | None = None, end_ns: int | None = None
    ) -> Trace | None:
        """Every stored span of a trace (each once), ordered by start; None if unknown.
        start/end only narrow where to look; a trace overlapping them is returned whole."""
        ...

    def search(self, query: SearchQuery) -> list[TraceSummary]:
        """Summaries of the traces matching ``query``, ordered and limited as it says."""
        ...

    def services(self) -> list[str]:
        """Every service name seen, sorted."""
        ...

    def operations(self, service: str, kind: SpanKind | None = None) -> list[Operation]:
        """Span names of a service with their kinds, sorted by name then kind."""
        ...

    def dependencies(
        self, start_ns: int, end_ns: int, service: str | None = None
    ) -> list[DependencyEdge]:
        """Caller -> callee edges from parent/child spans in different services whose
        child span started in the window; with ``service``, only edges touching it."""
        ...

    def span_count(self) -> int:
        """How many spans are stored (each once)."""
        ...

    def close(self) -> None: ...

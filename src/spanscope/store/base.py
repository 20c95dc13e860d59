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
- A failed write says which kind of failure it is, so the ingest pipeline knows whether
  to set the batch aside or wait: :class:`StoreRefusedError` (this data cannot be stored
  — a value out of the column's range; other spans can) or :class:`StoreUnavailableError`
  (nothing can be stored now — disk full, database invalidated; ``reopen`` says whether
  :meth:`Recoverable.reopen` is needed before the next try). Anything else counts as
  transient and is retried.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from spanscope.model.aggregates import (
    AttributeCount,
    DependencyStats,
    LatencyBucket,
    OperationStat,
    RedPoint,
)
from spanscope.model.signals import LogRecord, MetricPoint, SignalBatch
from spanscope.model.spans import Span, SpanKind, Trace
from spanscope.model.summaries import DependencyEdge, Operation, TraceSummary
from spanscope.query.model import LogQuery, SearchQuery


class StoreRefusedError(ValueError):
    """The store refuses this data (say, ``start + duration`` overflows its 64-bit
    column); the same write without the offending spans would succeed."""


class StoreUnavailableError(RuntimeError):
    """The store cannot write anything now (disk full, database invalidated after a fatal
    error, connection lost). Retry later; when ``reopen`` is True call the store's
    ``reopen()`` first, the current connection will not recover by itself."""

    def __init__(self, message: str, *, reopen: bool = False) -> None:
        super().__init__(message)
        self.reopen = reopen


@runtime_checkable
class Recoverable(Protocol):
    """A store that can drop its connection and open the same database again (after
    :class:`StoreUnavailableError` with ``reopen=True``)."""

    def reopen(self) -> None:
        """Close the connection (ignoring its errors), connect again, reload every cache
        kept from the database. Raises StoreUnavailableError while that is impossible."""
        ...


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

    # --- cross-trace aggregates for spanscope.analysis: plain fetches or SQL aggregates;
    # the analysis (splits, rankings, weights' meaning) stays in analysis/.

    def request_durations(
        self,
        start_ns: int,
        end_ns: int,
        service: str | None = None,
        operation: str | None = None,
    ) -> list[tuple[bytes, int]]:
        """(trace id, duration) per trace with a span of ``service``/``operation`` (root
        spans when both are None) that started in the window; the slowest such span's
        duration when a trace has several. Any order."""
        ...

    def operation_stats(self, groups: Mapping[str, Sequence[bytes]]) -> list[OperationStat]:
        """Per (group, service, span name) over every span of the given traces: traces
        having it, spans, summed duration, summed self time (duration minus the union of
        its stored children's intervals, clipped to it). Any order."""
        ...

    def attribute_counts(
        self, groups: Mapping[str, Sequence[bytes]], focus: str, min_traces: int = 2
    ) -> list[AttributeCount]:
        """Per (group, key, value): how many of the group's traces have a span whose string,
        int or bool attribute (or resource attribute) has that value, as text. Only pairs
        found in at least ``min_traces`` traces of group ``focus`` are returned (for every
        group). Any order."""
        ...

    def red(
        self,
        start_ns: int,
        end_ns: int,
        step_ns: int,
        services: Sequence[str],
        operation: str | None = None,
        kinds: Sequence[SpanKind] | None = None,
        group_by_operation: bool = False,
        quantiles: Sequence[float] = (0.5, 0.95, 0.99),
    ) -> list[RedPoint]:
        """RED points of spans of ``services`` (and ``operation``, ``kinds``) that started in
        the window: one per (series, step that had spans) with ``bucket_start_ns`` =
        ``start_ns + k * step_ns``, plus one per series for the whole window
        (``bucket_start_ns`` None). Counts weighted by each span's adjusted count
        (:func:`spanscope.analysis.red.adjusted_count`). Quantiles are continuous
        (interpolated), in ns, rounded to the nearest. ``operation`` is None unless grouped."""
        ...

    def latency_histogram(
        self,
        start_ns: int,
        end_ns: int,
        bounds_ns: Sequence[int],
        services: Sequence[str],
        operation: str | None = None,
        kinds: Sequence[SpanKind] | None = None,
        group_by_operation: bool = False,
    ) -> list[LatencyBucket]:
        """Span counts per latency bucket (bucket i holds durations <= bounds_ns[i] and
        > bounds_ns[i-1]; index len(bounds_ns) is +Inf), only non-empty buckets, each with
        up to 3 trace ids of its slowest spans as exemplars."""
        ...

    def dependency_stats(
        self, start_ns: int, end_ns: int, service: str | None = None
    ) -> list[DependencyStats]:
        """``dependencies`` with the child spans' p50/p95/p99 durations (continuous
        quantiles, to the nearest ns), plus CONSUMER spans linked to a PRODUCER span of
        another service; sorted by (parent, child)."""
        ...

    def span_count(self) -> int:
        """How many spans are stored (each once)."""
        ...

    # --- logs and metric points, linked to traces by trace/span ids (issue #7)

    def write_signals(self, batches: Sequence[SignalBatch], wal_position: int | None = None) -> int:
        """Store the batches' log records and metric points and, in the same transaction,
        the WAL checkpoint. Not de-duplicated (they have no identity). Returns how many."""
        ...

    def logs(self, query: LogQuery) -> list[LogRecord]:
        """Log records matching every filter of ``query``, newest (or oldest) first."""
        ...

    def metric_points(
        self,
        name: str,
        start_ns: int,
        end_ns: int,
        service: str | None = None,
        labels: Sequence[tuple[str, str]] = (),
    ) -> list[MetricPoint]:
        """Points of metric ``name`` whose time is in the window, oldest first; ``labels``
        are point attributes compared as text (``("http.route", "/orders")``)."""
        ...

    def metric_names(self, service: str | None = None) -> list[str]:
        """Every stored metric name (of ``service``), sorted."""
        ...

    def close(self) -> None: ...

"""The storage contract: small role protocols, a declared capabilities object, and the rules.

A backend is one class that plays every role below and declares what it can do in
``capabilities``; the server reads that declaration and never probes a store for methods.
Every backend passes ONE conformance suite, ``tests/store/`` (the in-memory reference
store :mod:`spanscope.store.memory`, DuckDB, and later ClickHouse through chDB).

================  ============================================================================
role              what it answers
================  ============================================================================
SpanWriter        ``write`` / ``write_tables`` (Arrow batches, :mod:`spanscope.batch`), the WAL
                  checkpoint (``wal_position``) and the engine's own ``checkpoint``
TraceReader       trace by id (with ``trace_stamp`` / ``trace_read`` for caches, and their
                  many-trace forms ``trace_stamps`` / ``traces_read``), search,
                  services, operations, dependencies, span count
Analytics         the cross-trace aggregates spanscope.analysis asks for (RED, histograms, ...)
SignalStore       logs and metric points, linked to traces by ids
SamplingRecords   which tail-sampling policy kept a trace, and retention by class (``expire``)
Recoverable       ``reopen`` after :class:`StoreUnavailableError` with ``reopen=True``
EngineMemory      what the engine's buffer pool holds, and its limit
================  ============================================================================

Rules every backend keeps:

- ``write`` is idempotent per (trace id, span id): a span written twice (a retrying
  client, a WAL replay) is stored and counted once, whatever the copy's times say.
- A write is atomic: ``write_tables(tables, wal_position=p, signals=...)`` stores the spans,
  the log records and metric points, the tail-sampling decisions the tables carry, and
  records ``p`` as the write-ahead log checkpoint in ONE transaction — all or nothing;
  ``wal_position()`` returns the last recorded one. That is what makes replay after a crash
  exact. A durable store (``capabilities.durable``) closed without ``checkpoint()`` (or
  killed) reopens with every write it acknowledged.
- Reads never scan every span for one trace: a per-trace index (first/last time, span
  count, errors, services, root) answers trace-level questions.
- Times are unix nanoseconds in int64; ids are raw bytes.
- A failed write says which kind of failure it is, so the ingest pipeline knows whether
  to set the batch aside or wait: :class:`StoreRefusedError` (this data cannot be stored
  — a span whose end overflows int64 nanoseconds; other spans can) or
  :class:`StoreUnavailableError` (nothing can be stored now — disk full, database
  invalidated; ``reopen`` says whether :meth:`Recoverable.reopen` is needed before the
  next try). Anything else counts as transient and is retried.
- Retention classes come from the per-trace index: **error** (any span with status
  ERROR), **slow** (first start to last end at least the slow threshold), else
  **normal**; a trace expires when its last span ended longer ago than its class keeps.
- Each store is one tenant's: two stores opened at two locations share nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

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

if TYPE_CHECKING:
    from spanscope.batch import SpanTable

TRACE_CLASSES = ("error", "slow", "normal")
"""Retention classes, in the order :meth:`SamplingRecords.expire` reports them."""

TraceStamp = tuple[int, int, int]
"""(write batches that stored spans of the trace, first start, last end): changes whenever
the trace does, so a cache of read traces can key on it (:mod:`spanscope.api.trace_cache`)."""


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


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a backend declares about itself; the server reads this, never ``hasattr``.

    >>> Capabilities(backend="duckdb", durable=True, engine_memory=True).durable
    True
    """

    backend: str
    """The backend's name, as ``--store`` URLs will say it (``duckdb``, ``memory``)."""
    durable: bool = False
    """Acknowledged writes survive a close without checkpoint, or a crash: the same location
    opened again has them (False for the in-memory reference and DuckDB ``:memory:``)."""
    engine_memory: bool = False
    """``memory_bytes()`` measures and ``set_memory_limit()`` caps a buffer pool the engine
    keeps (DuckDB's): ``/metrics`` exports it and tenants share one budget. When False both
    are no-ops and the server leaves them alone."""


@dataclass(frozen=True)
class ClassReport:
    """What retention removed (or would remove) from one trace class."""

    trace_class: str
    retention_ns: int
    traces: int
    spans: int
    oldest_end_ns: int | None


class SpanWriter(Protocol):
    """Storing spans and the write-ahead log checkpoint that goes with them."""

    def write(self, spans: Sequence[Span], wal_position: int | None = None) -> int:
        """Store spans (duplicates of already-stored spans are skipped) and, in the same
        transaction, the WAL checkpoint. Returns how many spans were newly stored."""
        ...

    def write_tables(
        self,
        tables: Sequence[SpanTable],
        wal_position: int | None = None,
        *,
        signals: Sequence[SignalBatch] = (),
    ) -> int:
        """:meth:`write` for Arrow batches (the receivers' and tail sampler's path), with the
        tables' tail-sampling decisions and ``signals`` (logs, metric points) in the same
        transaction. Returns how many spans were newly stored."""
        ...

    def wal_position(self) -> int | None:
        """The WAL checkpoint recorded by the last write that carried one."""
        ...

    def checkpoint(self) -> None:
        """Make what was written durable in the engine's own files (DuckDB: fold its log into
        the database file). The server calls it from a background thread; a no-op where
        every commit is already in place."""
        ...

    @property
    def last_checkpoint(self) -> float | None:
        """When the store last checkpointed by itself (``time.monotonic()``), so the server
        need not; None when it never does (the server then calls ``checkpoint`` on its
        interval)."""
        ...


class TraceReader(Protocol):
    """Whole traces and trace-level searches and listings."""

    def trace(
        self, trace_id: bytes, start_ns: int | None = None, end_ns: int | None = None
    ) -> Trace | None:
        """Every stored span of a trace (each once), ordered by start; None if unknown.
        start/end only narrow where to look; a trace overlapping them is returned whole."""
        ...

    def trace_stamp(self, trace_id: bytes) -> TraceStamp | None:
        """The trace's :data:`TraceStamp` from the per-trace index, None if unknown."""
        ...

    def trace_read(self, trace_id: bytes, stamp: TraceStamp) -> Trace | None:
        """:meth:`trace` for a stamp just read by :meth:`trace_stamp` (its time range bounds
        the read), so a caller that checked the stamp does not look it up twice."""
        ...

    def trace_stamps(self, trace_ids: Sequence[bytes]) -> dict[bytes, TraceStamp]:
        """:meth:`trace_stamp` of many traces in one look-up; unknown ids are left out."""
        ...

    def traces_read(self, stamps: Mapping[bytes, TraceStamp]) -> dict[bytes, Trace]:
        """:meth:`trace_read` of many traces (stamps just read by :meth:`trace_stamps`) in
        one read, not one per trace: what TraceQL search, which reads every candidate
        trace whole, costs per page. Traces no longer stored are left out."""
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


class Analytics(Protocol):
    """Cross-trace aggregates for spanscope.analysis: plain fetches or SQL aggregates; the
    analysis (splits, rankings, weights' meaning) stays in analysis/."""

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


class SignalStore(Protocol):
    """Logs and metric points, linked to traces by trace/span ids (issue #7)."""

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


class SamplingRecords(Protocol):
    """Tail-sampling decisions (written with their traces by ``write_tables``) and
    retention by trace class."""

    def sampling(self, trace_ids: Sequence[bytes]) -> dict[bytes, tuple[str, float]]:
        """(policy, weight) of each given trace that tail sampling kept (its latest
        decision); traces stored without tail sampling are absent (weight 1)."""
        ...

    def expire(
        self,
        now_ns: int,
        retention_ns: dict[str, int],
        slow_threshold_ns: int,
        dry_run: bool = False,
    ) -> list[ClassReport]:
        """Delete (or with ``dry_run`` only count) the traces past their class's retention
        (``retention_ns`` maps each of :data:`TRACE_CLASSES` to how long it is kept): their
        spans, index entries and sampling records. One report per class, in that order."""
        ...


@runtime_checkable
class Recoverable(Protocol):
    """A store that can drop its connection and open the same database again (after
    :class:`StoreUnavailableError` with ``reopen=True``)."""

    def reopen(self) -> None:
        """Close the connection (ignoring its errors), connect again, reload every cache
        kept from the database. Raises StoreUnavailableError while that is impossible."""
        ...


class EngineMemory(Protocol):
    """The engine's buffer pool (see :attr:`Capabilities.engine_memory`)."""

    def memory_bytes(self) -> int:
        """What the engine holds in memory for this store now; 0 if it cannot say."""
        ...

    def set_memory_limit(self, limit_bytes: int) -> None:
        """Cap the engine's buffer pool for this store at ``limit_bytes`` now."""
        ...


class Store(
    SpanWriter,
    TraceReader,
    Analytics,
    SignalStore,
    SamplingRecords,
    Recoverable,
    EngineMemory,
    Protocol,
):
    """Every role, plus what the backend declares and ``close``."""

    @property
    def capabilities(self) -> Capabilities:
        """What this backend can do (see :class:`Capabilities`)."""
        ...

    def close(self) -> None:
        """Release the store; writes acknowledged before are kept if ``durable``."""
        ...

"""DuckDBStore: the embedded default store — one DuckDB file, no server to run.

>>> store = DuckDBStore(":memory:")          # or DuckDBStore("spanscope-data/spans.duckdb")
>>> store.write(spans, wal_position=42)       # doctest: +SKIP
>>> store.trace(bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736"))   # doctest: +SKIP

How it keeps the Store rules (src/spanscope/store/base.py):

- **Idempotent writes**, by (trace id, span id) whatever the copy's times say. A batch is
  de-duplicated in Python; then ``trace_fragments`` (small: one row per trace per write)
  gives the stored extent of the batch's traces — none stored yet, the usual case, and the
  look-up ends there — and the batch is anti-joined against the stored spans on
  (trace_id, span_id) *restricted to that extent*, which lets DuckDB's zone maps skip
  every row group outside it. (Restricting to the batch's own start times instead missed
  a span re-sent with another start time: it was stored twice.)
- **WAL position in the same transaction** as the insert (table ``wal_checkpoint``).
- **A per-trace index**, ``trace_fragments``: appended from the rows actually inserted.
  One row per (trace, write batch). Trace by id reads the trace's [first start, last end]
  there, then only the span row groups overlapping it.
- **Thread safety.** One writer connection guarded by a lock; every reading thread gets its
  own cursor (DuckDB connections are not thread-safe, its database is — MVCC lets reads
  proceed while a write is in flight).
- **Time limits.** Each read claims its thread's cursor for the request's deadline
  (:mod:`spanscope.store.deadline`), which interrupts it when the request runs too long.
- **Checkpoints off the insert path.** DuckDB's automatic checkpoint stalls the write that
  triggers it for seconds; ``wal_autocheckpoint`` is raised to 1 GB and the server calls
  :meth:`DuckDBStore.checkpoint` from a background thread instead.

- **Failures say what they are.** A write that fails for its values (``start + duration``
  beyond BIGINT, ...) raises :class:`~spanscope.store.base.StoreRefusedError`; one that
  fails because nothing can be written (disk full, a fatal error that invalidated the
  database) raises :class:`~spanscope.store.base.StoreUnavailableError`, with
  ``reopen=True`` once DuckDB says the database "must be restarted": :meth:`reopen`
  then closes every connection, opens the same file again (DuckDB replays its own WAL:
  every committed write is back) and reloads the caches below.

Only one process may open a file at a time (DuckDB takes a file lock); a second one gets
DuckDB's lock error naming the holding process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from spanscope.batch import (
    SpanTable,
    columns_table,
    rows_to_spans,
    spans_table,
    table_to_spans,
)
from spanscope.columnar import SpanColumns
from spanscope.model.aggregates import (
    AttributeCount,
    DependencyStats,
    LatencyBucket,
    OperationStat,
    RedPoint,
)
from spanscope.model.signals import LogRecord, MetricPoint, SignalBatch
from spanscope.model.spans import Attributes, Span, SpanKind, Trace
from spanscope.model.summaries import DependencyEdge, Operation, ServiceCount, TraceSummary
from spanscope.query.model import LogQuery, SearchQuery
from spanscope.store import deadline
from spanscope.store.base import (
    Capabilities,
    ClassReport,
    Store,
    StoreRefusedError,
    StoreUnavailableError,
    TraceStamp,
)
from spanscope.store.duckdb import analysis as duckdb_analysis
from spanscope.store.duckdb import sampling as duckdb_sampling
from spanscope.store.duckdb import signals as duckdb_signals
from spanscope.store.duckdb.sampling import record_sampling
from spanscope.store.duckdb.schema import (
    BATCH_TRACE_ID,
    DDL,
    SPAN_COLUMNS,
    TRACE_READ_COLUMNS,
    decode_attrs,
    resource_key,
    resources_table,
)
from spanscope.store.duckdb.search import ranked_traces

log = logging.getLogger(__name__)

_SPAN_SELECT = SPAN_COLUMNS.replace("trace_id,", f"{BATCH_TRACE_ID},", 1)

# Where the batch's traces already have stored spans: every stored span of a trace starts
# within its fragments' [first start, last end]. NULLs when none of them is stored yet.
_STORED_EXTENT_SQL = f"""
    SELECT min(min_start_ns), max(max_end_ns) FROM trace_fragments
    WHERE trace_id IN (SELECT {BATCH_TRACE_ID} FROM batch b)
"""

# Rows of the batch that are already stored (b.i lists them); the start range (the stored
# extent of the batch's traces) prunes row groups.
_DUPLICATES_SQL = f"""
    SELECT b.i FROM batch b JOIN spans s
      ON s.trace_id = {BATCH_TRACE_ID} AND s.span_id = b.span_id
    WHERE s.start_ns BETWEEN ? AND ?
"""

_FRAGMENTS_SQL = """
    INSERT INTO trace_fragments
    SELECT (trace_hi::UHUGEINT << 64) | trace_lo::UHUGEINT, min(first), max(last),
           list(struct_pack(name := service, span_count := n::UINTEGER,
                            error_count := e::UINTEGER) ORDER BY service),
           arg_min(service, root_start), arg_min(root_name, root_start), min(root_start),
           flatten(list(ext) FILTER (WHERE ext IS NOT NULL))
    FROM (
        SELECT b.trace_hi, b.trace_lo, b.service,
               min(b.start_ns) AS first, max(b.start_ns + b.duration_ns) AS last,
               count(*) AS n, count(*) FILTER (WHERE b.status_code = 2) AS e,
               min(b.start_ns) FILTER (WHERE b.parent_span_id IS NULL) AS root_start,
               arg_min(b.name, b.start_ns) FILTER (WHERE b.parent_span_id IS NULL) AS root_name,
               list(b.parent_span_id) FILTER (WHERE b.parent_span_id IS NOT NULL
                                              AND p.span_id IS NULL) AS ext
        FROM batch b LEFT JOIN batch p
          ON p.trace_hi = b.trace_hi AND p.trace_lo = b.trace_lo
         AND p.span_id = b.parent_span_id
        GROUP BY b.trace_hi, b.trace_lo, b.service
    )
    GROUP BY trace_hi, trace_lo
"""


MEMORY_LIMIT = os.environ.get("SPANSCOPE_DUCKDB_MEMORY_LIMIT", "1GB")
"""DuckDB's buffer pool limit (``SPANSCOPE_DUCKDB_MEMORY_LIMIT``, DuckDB size syntax). With
tenants, the server's databases share it (:mod:`spanscope.tenants`)."""

_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b|bytes)?\s*", re.IGNORECASE)
_UNITS = {"b": 1, "bytes": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}  # fmt: skip


def size_bytes(text: str) -> int | None:
    """A DuckDB size (``1GB``, ``256MiB``, ``500 MB``) in bytes; None if not one of those."""
    found = _SIZE.fullmatch(text)
    if found is None:
        return None
    return int(float(found.group(1)) * _UNITS[(found.group(2) or "b").lower()])


_CANNOT_WRITE = ("No space left", "Could not write file", "Failed to commit", "Disk quota")
"""Texts of DuckDB errors that mean nothing can be written now, whatever their class."""

ROW_GROUP_ROWS = 122_880
"""DuckDB's row-group size (rows): the unit it compresses and rewrites at a checkpoint."""


READ_GAP_NS = 60 * 10**9
"""Traces whose time ranges lie closer than this are read in one scan (:meth:`traces_read`):
a minute of spans is a few row groups at most at the ingest rates measured here."""


def _clusters(stamps: Mapping[bytes, TraceStamp]) -> list[tuple[int, int, list[bytes]]]:
    """(first start, last end, trace ids) of groups of traces with overlapping or close
    time ranges, so one bounded scan reads each group."""
    out: list[tuple[int, int, list[bytes]]] = []
    for tid, (_, lo, hi) in sorted(stamps.items(), key=lambda kv: kv[1][1]):
        if out and lo <= out[-1][1] + READ_GAP_NS:
            first, last, ids = out[-1]
            ids.append(tid)
            out[-1] = (first, max(last, hi), ids)
        else:
            out.append((lo, hi, [tid]))
    return out


def _split_rows(parts: list[pa.Table], n: int) -> tuple[list[pa.Table], list[pa.Table]]:
    """The first ``n`` rows of ``parts`` and the rest (zero-copy slices)."""
    head: list[pa.Table] = []
    for i, part in enumerate(parts):
        if part.num_rows >= n:
            head.append(part.slice(0, n))
            rest = [part.slice(n)] if part.num_rows > n else []
            return head, rest + parts[i + 1 :]
        head.append(part)
        n -= part.num_rows
    return head, []


def _first_copies(batch: pa.Table) -> pa.Table:
    """The batch without repeats of a (trace id, span id); the first copy of each stays.
    Span ids alone are checked first, in C: almost every batch has no repeat at all."""
    if pc.count_distinct(batch["span_id"]).as_py() == batch.num_rows:
        return batch
    keys = zip(
        batch["trace_hi"].to_pylist(),
        batch["trace_lo"].to_pylist(),
        batch["span_id"].to_pylist(),
        strict=True,
    )
    first: dict[tuple[int, int, int], int] = {}
    for i, key in enumerate(keys):
        first.setdefault(key, i)
    if len(first) == batch.num_rows:
        return batch
    return batch.take(pa.array(sorted(first.values()), pa.int64()))


class DuckDBStore:
    """The Store protocol over one DuckDB database file (or ``":memory:"``)."""

    def __init__(self, path: str | Path, memory_limit: str | None = None) -> None:
        self.path = str(path)
        self.capabilities = Capabilities(
            backend="duckdb", durable=self.path != ":memory:", engine_memory=True
        )
        self._memory_limit = memory_limit or MEMORY_LIMIT
        """DuckDB's buffer pool limit for this database (each database has its own pool:
        the server shares one budget between its tenants, :mod:`spanscope.tenants`)."""
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._write_lock = threading.Lock()
        self._cursor_lock = threading.Lock()
        self._local = threading.local()
        self._generation = 0
        """Bumped by reopen(): a reading thread's cursor of an older one is stale."""
        self._closed = False
        self._open()
        self.last_checkpoint: float | None = time.monotonic()
        """When DuckDB's WAL was last folded into the file (``time.monotonic()``)."""

    def _open(self) -> None:
        """Connect and load every cache kept from the database (at start and reopen)."""
        # A bounded buffer pool keeps the server's memory flat: DuckDB's default is 80 % of
        # RAM, and it keeps every block it read or wrote cached up to that.
        self._db = duckdb.connect(
            self.path, config={"wal_autocheckpoint": "1GB", "memory_limit": self._memory_limit}
        )
        self._db.execute(DDL)
        self._db.execute(duckdb_signals.DDL)
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._writer = self._db.cursor()
        # resource hash -> small sequential id (small ids bit-pack; random hashes did not)
        self._resource_ids: dict[int, int] = dict(
            self._writer.execute("SELECT hash, id FROM resources").fetchall()
        )
        self._resource_cache: dict[int, Attributes] = {}
        self._operations: set[tuple[str, str, int]] = set(
            self._writer.execute("SELECT service, name, kind FROM operations").fetchall()
        )
        # services()/operations() answer from the set above (one SQL statement is ~1 ms);
        # keyed by its size, which only grows: (size, sorted services, {service: [(name, kind)]})
        self._listing: tuple[int, list[str], dict[str, list[tuple[str, int]]]] = (-1, [], {})
        # Whether any tail-sampling decision was ever recorded: until one is, sampling() needs
        # no SQL (~1 ms per trace read). Set before the write commits, so a reader that sees
        # the sampled trace's spans sees the flag too.
        self._sampling_recorded = bool(
            self._writer.execute("SELECT count(*) FROM (FROM trace_sampling LIMIT 1)").fetchall()[
                0
            ][0]
        )
        # Checkpoint only when the spans table ends on a row-group boundary: a checkpoint
        # of a partly filled row group leaves that copy's blocks free in the file once the
        # group is rewritten full (63-117 B/span on disk instead of ~60; docs/performance.md).
        self._align_row_groups = self.path != ":memory:"
        row = self._writer.execute("SELECT count(*) FROM spans").fetchone()
        self._rows = int(row[0]) if row else 0

    # --- connections ------------------------------------------------------------------

    def _reader(self) -> duckdb.DuckDBPyConnection:
        cur = getattr(self._local, "cursor", None)
        if cur is None or getattr(self._local, "generation", -1) != self._generation:
            with self._cursor_lock:
                if self._closed:
                    raise RuntimeError(f"store {self.path!r} is closed: open a new DuckDBStore")
                cur = self._db.cursor()
                self._cursors.append(cur)
                self._local.generation = self._generation
            self._local.cursor = cur
        # The request's --query-timeout interrupts this cursor if the read runs past it.
        deadline.claim(self._local, cur)
        return cur

    def set_memory_limit(self, limit_bytes: int) -> None:
        """Change this database's buffer pool limit now (DuckDB evicts down to it)."""
        self._memory_limit = f"{int(limit_bytes)}B"
        with self._write_lock:
            self._writer.execute(f"SET memory_limit = '{self._memory_limit}'")

    def memory_bytes(self) -> int:
        """What DuckDB holds in memory for this database now (``duckdb_memory()``: its
        buffer pool of table blocks plus query and insert buffers), capped by its memory
        limit; 0 if the database cannot answer. ``/metrics`` exports it, so a growing
        RSS can be told apart from a filling, capped cache (benchmarks/soak.py)."""
        try:
            rows = (
                self._reader()
                .execute("SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory()")
                .fetchall()
            )
        except duckdb.Error:
            return 0
        return int(rows[0][0])

    def checkpoint(self) -> None:
        """Fold DuckDB's WAL into the file (call from a background thread, not the writer).
        Writes checkpoint by themselves at each filled row group; this is for the rest."""
        try:
            self._reader().execute("CHECKPOINT")
        except duckdb.Error as exc:
            raise self._failure(exc) from exc
        self.last_checkpoint = time.monotonic()

    def _failure(self, exc: duckdb.Error) -> Exception:
        """DuckDB's error as the Store protocol's kind of failure (see the module docs)."""
        text = str(exc)
        if isinstance(exc, duckdb.FatalException) or "invalidated" in text:
            return StoreUnavailableError(
                f"the DuckDB database {self.path} was invalidated and is being reopened: {text}",
                reopen=True,
            )
        if isinstance(exc, duckdb.ConnectionException):
            return StoreUnavailableError(f"DuckDB {self.path}: {text}", reopen=True)
        # A full disk also arrives as "TransactionContext Error: Failed to commit: Could not
        # write file ...: No space left on device" (a TransactionException).
        if isinstance(exc, duckdb.IOException | duckdb.OutOfMemoryException) or any(
            sign in text for sign in _CANNOT_WRITE
        ):
            return StoreUnavailableError(f"DuckDB {self.path} cannot write: {text}")
        if isinstance(exc, duckdb.DataError | duckdb.IntegrityError):
            return StoreRefusedError(f"DuckDB refuses the spans: {text}")
        return exc

    def reopen(self) -> None:
        """Close every connection (their errors ignored: the database may be invalidated)
        and open the same file again, reloading resource ids, operations, the row count
        and the sampling flag. Raises StoreUnavailableError while that fails (say, the
        disk is still full and DuckDB cannot replay its WAL)."""
        with self._write_lock, self._cursor_lock:
            if self._closed:
                raise RuntimeError(f"store {self.path!r} is closed: open a new DuckDBStore")
            for conn in (*self._cursors, self._writer, self._db):
                with contextlib.suppress(duckdb.Error):
                    conn.close()
            self._cursors = []
            self._generation += 1
            self._resource_cache = {}
            try:
                self._open()
            except duckdb.Error as exc:
                raise StoreUnavailableError(
                    f"cannot reopen the DuckDB database {self.path}: {exc}", reopen=True
                ) from exc

    def close(self) -> None:
        with self._write_lock, self._cursor_lock:
            if self._closed:
                return
            self._closed = True
            for cur in self._cursors:
                cur.close()
            self._writer.close()
            self._db.close()

    # --- writing ------------------------------------------------------------------------

    def write(self, spans: Sequence[Span], wal_position: int | None = None) -> int:
        return self.write_tables([spans_table(spans)], wal_position)

    def write_columns(self, cols: SpanColumns, wal_position: int | None = None) -> int:
        """:meth:`write` for spans already in columns."""
        return self.write_tables([columns_table(cols)], wal_position)

    def write_tables(
        self,
        tables: Sequence[SpanTable],
        wal_position: int | None = None,
        *,
        signals: Sequence[SignalBatch] = (),
    ) -> int:
        """:meth:`write` for batches already in Arrow (the receivers' fast path): the only
        per-span work left here is DuckDB's, which runs without the GIL. ``signals`` (logs
        and metric points) are stored in the same transaction as the spans."""
        try:
            return self._write_tables(tables, wal_position, signals)
        except duckdb.Error as exc:
            raise self._failure(exc) from exc

    def _write_tables(
        self,
        tables: Sequence[SpanTable],
        wal_position: int | None,
        signals: Sequence[SignalBatch],
    ) -> int:
        with self._write_lock:
            parts: list[pa.Table] = []
            new_resources: dict[int, tuple[int, Attributes]] = {}
            for t in tables:
                if not len(t):
                    continue
                ids, new = self._resource_ids_for(t.resources, new_resources)
                new_resources.update(new)
                ids_array = pa.array(ids, pa.uint32())
                parts.append(
                    t.table.append_column("resource_id", ids_array.take(t.table["resource_ix"]))
                )
            operations = set().union(*(t.operations for t in tables)) - self._operations
            sampling = [t.sampling for t in tables if t.sampling is not None]
            inserted = 0
            # Spans that fill the current row group commit (and checkpoint) on their own;
            # the rest, with the WAL position, in the write's main transaction. A crash in
            # between replays the whole WAL record, and the filled part is found stored.
            while self._align_row_groups:
                room = ROW_GROUP_ROWS - self._rows % ROW_GROUP_ROWS
                if sum(p.num_rows for p in parts) <= room:
                    break
                head, parts = _split_rows(parts, room)
                inserted += self._commit(head, new_resources, operations, [], (), None)
                new_resources, operations = {}, set()
            inserted += self._commit(
                parts, new_resources, operations, sampling, signals, wal_position
            )
        return inserted

    def _commit(
        self,
        parts: list[pa.Table],
        new_resources: dict[int, tuple[int, Attributes]],
        operations: set[tuple[str, str, int]],
        sampling: list[Any],
        signals: Sequence[SignalBatch],
        wal_position: int | None,
    ) -> int:
        """One write transaction (caller holds the write lock); checkpoints when it leaves
        the spans table at a row-group boundary."""
        cur = self._writer
        if sampling:
            self._sampling_recorded = True
        cur.execute("BEGIN TRANSACTION")
        try:
            inserted = self._insert(cur, parts, new_resources, operations)
            if sampling:  # tail-sampling decisions commit with their traces' spans
                record_sampling(cur, sampling)
            if signals:
                duckdb_signals.insert(cur, signals)
            if wal_position is not None:
                cur.execute("DELETE FROM wal_checkpoint")
                cur.execute("INSERT INTO wal_checkpoint VALUES (1, ?)", [wal_position])
            cur.execute("COMMIT")
        except BaseException:
            # The first error is the one to report: a ROLLBACK after a failed COMMIT (or
            # in an invalidated database) fails too, and would hide it.
            with contextlib.suppress(duckdb.Error):
                cur.execute("ROLLBACK")
            raise
        # Only after COMMIT: a rolled-back write must not leave these marked as stored.
        self._resource_ids.update({h: v[0] for h, v in new_resources.items()})
        self._operations.update(operations)
        self._rows += inserted
        if self._align_row_groups and inserted and self._rows % ROW_GROUP_ROWS == 0:
            try:
                cur.execute("CHECKPOINT")
                self.last_checkpoint = time.monotonic()
            except duckdb.Error as exc:  # an optimisation only: the data is committed
                log.warning("row-group checkpoint skipped: %s", exc)
        return inserted

    def _resource_ids_for(
        self, resources: list[Attributes], pending: dict[int, tuple[int, Attributes]]
    ) -> tuple[list[int], dict[int, tuple[int, Attributes]]]:
        """The id of each resource, and those not stored yet as {hash: (id, attrs)}
        (``pending``: new ones already numbered in this write)."""
        ids: list[int] = []
        new: dict[int, tuple[int, Attributes]] = {}
        next_id = len(self._resource_ids) + len(pending) + 1
        for resource in resources:
            h, _ = resource_key(resource)
            rid = self._resource_ids.get(h)
            if rid is None:
                known = pending.get(h) or new.get(h)
                if known is None:
                    known = new[h] = (next_id, resource)
                    next_id += 1
                rid = known[0]
            ids.append(rid)
        return ids, new

    def _insert(
        self,
        cur: duckdb.DuckDBPyConnection,
        parts: list[pa.Table],
        new_resources: dict[int, tuple[int, Attributes]],
        operations: set[tuple[str, str, int]],
    ) -> int:
        if new_resources:  # even if every span turns out a duplicate: the ids are now taken
            cur.register("new_resources", resources_table(new_resources))
            cur.execute("INSERT INTO resources SELECT * FROM new_resources")
            cur.unregister("new_resources")
        if operations:
            cur.executemany(
                "INSERT INTO operations VALUES (?, ?, ?)", [list(o) for o in operations]
            )
        if not parts:
            return 0
        batch = pa.concat_tables(parts, promote_options="none") if len(parts) > 1 else parts[0]
        # Row numbers across the whole write, so "the first copy" is well defined.
        batch = batch.set_column(0, "i", pa.array(range(batch.num_rows), pa.int64()))
        batch = _first_copies(batch)
        cur.register("batch", batch)
        try:
            lo, hi = cur.execute(_STORED_EXTENT_SQL).fetchall()[0]
            dups = (
                []
                if lo is None  # no trace of the batch is stored yet: nothing can repeat
                else [r[0] for r in cur.execute(_DUPLICATES_SQL, [lo, hi]).fetchall()]
            )
            if dups:
                batch = batch.filter(pc.invert(pc.is_in(batch["i"], pa.array(dups, pa.int64()))))
                cur.unregister("batch")
                cur.register("batch", batch)
            if batch.num_rows:
                cur.execute(f"INSERT INTO spans SELECT {_SPAN_SELECT} FROM batch b")
                cur.execute(_FRAGMENTS_SQL)
        finally:
            with contextlib.suppress(duckdb.Error):  # fails in an aborted transaction
                cur.unregister("batch")
        return int(batch.num_rows)

    def write_signals(self, batches: Sequence[SignalBatch], wal_position: int | None = None) -> int:
        """Store logs and metric points (and the WAL checkpoint) in one transaction."""
        self.write_tables([], wal_position, signals=batches)
        return sum(len(b) for b in batches)

    def logs(self, query: LogQuery) -> list[LogRecord]:
        return duckdb_signals.logs(self._reader(), query)

    def metric_points(
        self,
        name: str,
        start_ns: int,
        end_ns: int,
        service: str | None = None,
        labels: Sequence[tuple[str, str]] = (),
    ) -> list[MetricPoint]:
        return duckdb_signals.metric_points(self._reader(), name, start_ns, end_ns, service, labels)

    def metric_names(self, service: str | None = None) -> list[str]:
        return duckdb_signals.metric_names(self._reader(), service)

    def wal_position(self) -> int | None:
        row = self._reader().execute("SELECT max(position) FROM wal_checkpoint").fetchone()
        return None if row is None else row[0]

    # --- reading ------------------------------------------------------------------------

    def _resources(self, cur: duckdb.DuckDBPyConnection, ids: set[int]) -> dict[int, Attributes]:
        missing = [i for i in ids if i not in self._resource_cache]
        if missing:
            rows = cur.execute(
                "SELECT id, attr_str, attr_int, attr_dbl, attr_bool, attr_other FROM resources "
                "WHERE id IN (SELECT unnest(?::UBIGINT[]))",
                [missing],
            ).fetchall()
            for rid, *maps in rows:
                self._resource_cache[rid] = decode_attrs(*maps)
        return {i: self._resource_cache.get(i, {}) for i in ids}

    def trace(
        self, trace_id: bytes, start_ns: int | None = None, end_ns: int | None = None
    ) -> Trace | None:
        # The fragments table is small and answers exactly, so the hints are not needed here.
        del start_ns, end_ns
        stamp = self.trace_stamp(trace_id)
        return None if stamp is None else self.trace_read(trace_id, stamp)

    def trace_read(self, trace_id: bytes, stamp: TraceStamp) -> Trace | None:
        """:meth:`trace` for a stamp just read by :meth:`trace_stamp` (its time range bounds
        the scan), so a caller that checked the stamp does not look it up twice."""
        cur = self._reader()
        # Arrow, column by column: row tuples cost ~60 µs per span (see table_to_spans).
        # Sorted by Arrow, not ORDER BY: DuckDB's sort took 1.6 of 4.6 ms for a 20-span trace.
        table = cur.sql(
            f"SELECT {TRACE_READ_COLUMNS} FROM spans "
            "WHERE start_ns BETWEEN ? AND ? AND trace_id = ?::UHUGEINT",
            params=[stamp[1], stamp[2], int.from_bytes(trace_id, "big")],
        ).to_arrow_table()
        if not table.num_rows:
            return None
        table = table.sort_by([("start_ns", "ascending"), ("span_id", "ascending")])
        resources = self._resources(cur, set(table.column("resource_id").unique().to_pylist()))
        return Trace(trace_id=trace_id, spans=table_to_spans(table, trace_id, resources))

    def traces_read(self, stamps: Mapping[bytes, TraceStamp]) -> dict[bytes, Trace]:
        """:meth:`trace_read` of many traces: one scan per cluster of their time ranges
        (ranges closer than :data:`READ_GAP_NS` share a scan), not one query per trace —
        20 traces of 20 spans at 1M spans: ~5 ms instead of 20 x 4 ms."""
        if not stamps:
            return {}
        cur = self._reader()
        tables = []
        for lo, hi, ids in _clusters(stamps):
            tables.append(
                cur.sql(
                    "SELECT (trace_id >> 64)::UBIGINT AS t_hi, "
                    "(trace_id & 18446744073709551615::UHUGEINT)::UBIGINT AS t_lo, "
                    f"{TRACE_READ_COLUMNS} FROM spans WHERE start_ns BETWEEN ? AND ? "
                    "AND trace_id IN (SELECT unnest(?::VARCHAR[])::UHUGEINT)",
                    # As text: DuckDB infers a list mixing ids above and below 2**127 as DOUBLE[].
                    params=[lo, hi, [str(int.from_bytes(t, "big")) for t in ids]],
                ).to_arrow_table()
            )
        table = pa.concat_tables(tables)
        if not table.num_rows:
            return {}
        table = table.sort_by(
            [("t_hi", "ascending"), ("t_lo", "ascending"), ("start_ns", "ascending"),
             ("span_id", "ascending")]
        )  # fmt: skip
        his, los = table.column("t_hi").to_pylist(), table.column("t_lo").to_pylist()
        trace_ids = [((h << 64) | low).to_bytes(16, "big") for h, low in zip(his, los, strict=True)]
        resources = self._resources(cur, set(table.column("resource_id").unique().to_pylist()))
        spans = rows_to_spans(table.drop_columns(["t_hi", "t_lo"]), trace_ids, resources)
        out: dict[bytes, list[Span]] = {}
        for trace_id, span in zip(trace_ids, spans, strict=True):
            out.setdefault(trace_id, []).append(span)
        return {tid: Trace(trace_id=tid, spans=group) for tid, group in out.items()}

    def trace_stamps(self, trace_ids: Sequence[bytes]) -> dict[bytes, TraceStamp]:
        """:meth:`trace_stamp` of many traces in one look-up of the per-trace index."""
        if not trace_ids:
            return {}
        rows = (
            self._reader()
            .execute(
                "SELECT trace_id::VARCHAR, count(*), min(min_start_ns), max(max_end_ns) "
                "FROM trace_fragments "
                "WHERE trace_id IN (SELECT unnest(?::VARCHAR[])::UHUGEINT) GROUP BY trace_id",
                [[str(int.from_bytes(t, "big")) for t in dict.fromkeys(trace_ids)]],
            )
            .fetchall()
        )
        return {int(t).to_bytes(16, "big"): (int(n), int(lo), int(hi)) for t, n, lo, hi in rows}

    def trace_stamp(self, trace_id: bytes) -> TraceStamp | None:
        """(write batches, first start, last end) of a stored trace from the per-trace index,
        None if unknown. Every write that stores a span of the trace adds a batch, so the
        stamp changes whenever the trace does and a cache of read traces can key on it
        (spanscope.api.trace_cache). (Summing the batches' span counts too cost 0.9 ms of
        a 2.4 ms look-up at 10M spans: the count of batches says the same.)"""
        row = (
            self._reader()
            .execute(
                "SELECT count(*), min(min_start_ns), max(max_end_ns) FROM trace_fragments "
                "WHERE trace_id = ?::UHUGEINT",
                [int.from_bytes(trace_id, "big")],
            )
            .fetchall()  # not fetchone: DuckDB refuses the next relation on an unfinished result
        )
        if not row or not row[0][0]:
            return None
        n, lo, hi = row[0]
        return int(n), int(lo), int(hi)

    def search(self, query: SearchQuery) -> list[TraceSummary]:
        cur = self._reader()
        ranked = ranked_traces(cur, query)
        if not ranked:
            return []
        return self._summaries(cur, ranked)

    def _summaries(
        self, cur: duckdb.DuckDBPyConnection, ranked: list[tuple[int, int, int]]
    ) -> list[TraceSummary]:
        rows = cur.execute(
            "SELECT trace_id, services, root_start_ns, root_service, root_name, ext_parents "
            "FROM trace_fragments WHERE trace_id IN (SELECT unnest(?::VARCHAR[])::UHUGEINT)",
            # As text: DuckDB infers a list mixing ids above and below 2**127 as DOUBLE[].
            [[str(r[0]) for r in ranked]],
        ).fetchall()
        per_trace: dict[int, list[tuple[Any, ...]]] = {}
        for r in rows:
            per_trace.setdefault(r[0], []).append(r)
        known = self._stored_parents(cur, ranked, per_trace)
        out = []
        for tid, t_start, t_duration in ranked:
            frags = per_trace.get(tid, [])
            counts: dict[str, list[int]] = {}
            for f in frags:
                for svc in f[1]:
                    c = counts.setdefault(svc["name"], [0, 0])
                    c[0] += svc["span_count"]
                    c[1] += svc["error_count"]
            services = [ServiceCount(name, n, e) for name, (n, e) in sorted(counts.items())]
            roots = [f for f in frags if f[2] is not None]
            root = min(roots, key=lambda f: (f[2], f[3])) if roots else None
            orphans = sum(1 for f in frags for p in (f[5] or []) if (tid, p) not in known)
            out.append(
                TraceSummary(
                    trace_id=tid.to_bytes(16, "big"),
                    root_service=root[3] if root else "",
                    root_operation=root[4] if root else "",
                    start_ns=t_start,
                    duration_ns=t_duration,
                    span_count=sum(s.span_count for s in services),
                    error_count=sum(s.error_count for s in services),
                    services=services,
                    orphan_count=orphans,
                )
            )
        return out

    def _stored_parents(
        self,
        cur: duckdb.DuckDBPyConnection,
        ranked: list[tuple[int, int, int]],
        per_trace: dict[int, list[tuple[Any, ...]]],
    ) -> set[tuple[int, int]]:
        """Which parents referenced across fragments are stored spans (the rest are orphans'
        missing parents). Reads only the span row groups of these traces' time ranges."""
        wanted = [(tid, p) for tid, frags in per_trace.items() for f in frags for p in f[5] or []]
        if not wanted:
            return set()
        lo = min(r[1] for r in ranked)
        hi = max(r[1] + r[2] for r in ranked)
        rows = cur.execute(
            "SELECT trace_id, span_id FROM spans WHERE start_ns BETWEEN ? AND ? "
            "AND trace_id IN (SELECT unnest(?::VARCHAR[])::UHUGEINT) "
            "AND span_id IN (SELECT unnest(?::VARCHAR[])::UBIGINT)",
            [lo, hi, [str(w[0]) for w in wanted], [str(w[1]) for w in wanted]],
        ).fetchall()
        return set(rows)

    def services(self) -> list[str]:
        return list(self._listings()[1])

    def operations(self, service: str, kind: SpanKind | None = None) -> list[Operation]:
        ops = self._listings()[2].get(service, [])
        return [Operation(name, SpanKind(k)) for name, k in ops if kind is None or k == kind]

    def _listings(self) -> tuple[int, list[str], dict[str, list[tuple[str, int]]]]:
        """Services and their operations, sorted, from the set of stored operations that
        every committed write extends (rows are never removed from ``operations``): no SQL,
        rebuilt only when the set has grown."""
        listing = self._listing
        if listing[0] == len(self._operations):
            return listing
        ops = list(self._operations)  # a C-level copy: safe while a write adds to the set
        by_service: dict[str, list[tuple[str, int]]] = {}
        for service, name, kind in sorted(set(ops)):
            by_service.setdefault(service, []).append((name, kind))
        listing = self._listing = (len(ops), sorted(by_service), by_service)
        return listing

    def dependencies(
        self, start_ns: int, end_ns: int, service: str | None = None
    ) -> list[DependencyEdge]:
        cur = self._reader()
        # Parents may start before the window: bound their scan by the extent of the traces
        # that have a child in it (from the small fragments table), not by a guess.
        lo, hi = cur.execute(
            """
            SELECT min(min_start_ns), max(max_end_ns) FROM trace_fragments
            WHERE trace_id IN (SELECT trace_id FROM spans WHERE start_ns BETWEEN ? AND ?
                               AND parent_span_id IS NOT NULL)
            """,
            [start_ns, end_ns],
        ).fetchone() or (None, None)
        if lo is None:
            return []
        sql = """
            SELECT p.service, c.service, count(*), count(*) FILTER (WHERE c.status_code = 2)
            FROM spans c JOIN spans p
              ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id
            WHERE c.start_ns BETWEEN ? AND ? AND p.start_ns BETWEEN ? AND ?
              AND p.service <> c.service
        """
        params: list[Any] = [start_ns, end_ns, lo, hi]
        if service is not None:
            sql += " AND (p.service = ? OR c.service = ?)"
            params += [service, service]
        rows = cur.execute(sql + " GROUP BY 1, 2 ORDER BY 1, 2", params).fetchall()
        return [DependencyEdge(p, c, n, e) for p, c, n, e in rows]

    def span_count(self) -> int:
        row = self._reader().execute("SELECT count(*) FROM spans").fetchone()
        return int(row[0]) if row else 0

    # --- cross-trace aggregates for spanscope.analysis: SQL in duckdb/analysis.py -------

    def request_durations(
        self,
        start_ns: int,
        end_ns: int,
        service: str | None = None,
        operation: str | None = None,
    ) -> list[tuple[bytes, int]]:
        return duckdb_analysis.request_durations(
            self._reader(), start_ns, end_ns, service, operation
        )

    def operation_stats(self, groups: Mapping[str, Sequence[bytes]]) -> list[OperationStat]:
        return duckdb_analysis.operation_stats(self._reader(), groups)

    def attribute_counts(
        self, groups: Mapping[str, Sequence[bytes]], focus: str, min_traces: int = 2
    ) -> list[AttributeCount]:
        return duckdb_analysis.attribute_counts(self._reader(), groups, focus, min_traces)

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
        return duckdb_analysis.red(
            self._reader(), start_ns, end_ns, step_ns, services, operation, kinds,
            group_by_operation, quantiles,
        )  # fmt: skip

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
        return duckdb_analysis.latency_histogram(
            self._reader(), start_ns, end_ns, bounds_ns, services, operation, kinds,
            group_by_operation,
        )  # fmt: skip

    def dependency_stats(
        self, start_ns: int, end_ns: int, service: str | None = None
    ) -> list[DependencyStats]:
        return duckdb_analysis.dependency_stats(self._reader(), start_ns, end_ns, service)

    # --- tail sampling records and retention by class: SQL in duckdb/sampling.py ---------

    def sampling(self, trace_ids: Sequence[bytes]) -> dict[bytes, tuple[str, float]]:
        """(policy, weight) of each given trace that tail sampling kept."""
        if not self._sampling_recorded:
            return {}
        return duckdb_sampling.sampling_of(self._reader(), trace_ids)

    def expire(
        self,
        now_ns: int,
        retention_ns: dict[str, int],
        slow_threshold_ns: int,
        dry_run: bool = False,
    ) -> list[ClassReport]:
        """Delete (or count, with ``dry_run``) traces past their class's retention."""
        with self._write_lock:
            return duckdb_sampling.expire(
                self._writer, now_ns, retention_ns, slow_threshold_ns, dry_run
            )


if TYPE_CHECKING:  # mypy checks that the class plays every role of the contract
    _conforms: type[Store] = DuckDBStore

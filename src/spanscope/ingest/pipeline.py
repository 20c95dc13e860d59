"""From an accepted request to stored spans: admit → WAL → queue → store writer thread.

Every receiver (OTLP/HTTP, OTLP/gRPC, Zipkin) decodes a request, then hands the decoded
spans and the raw payload to :class:`IngestPipeline`:

1. **admit** — if more than ``settings.max_pending_spans`` spans are acknowledged but not
   yet stored, the receiver answers 429 / RESOURCE_EXHAUSTED with a retry hint instead of
   queueing: memory stays bounded under any offered load.
2. **WAL** — the payload is appended to the write-ahead log and the receiver waits for
   the group-committed fsync (``await pipeline.accept(...)`` in asyncio, or
   ``accept_blocking`` on a gRPC worker thread). Only then does it answer OK.
3. **queue → writer** — one thread gathers batches for up to ``settings.flush_interval_s``
   or ~20k spans and calls ``store.write_tables(batches, wal_position=p)`` (Arrow span
   batches, :mod:`spanscope.batch`, with the logs and metric points), where ``p`` is the
   highest WAL position whose predecessors are all stored; after a commit, WAL segments
   wholly below ``p`` are deleted.
4. **checkpoint** — a second thread runs ``store.checkpoint()`` (DuckDB's CHECKPOINT)
   every ``checkpoint_interval_s``, or, for a store that checkpoints by itself when it
   can do so cheaply (``store.last_checkpoint``), when it has not for ``CHECKPOINT_MAX_S``.

On start, :meth:`IngestPipeline.replay` decodes every WAL record after
``store.wal_position()`` with the same decoders and writes it again (writes are
idempotent). :meth:`IngestPipeline.stop` drains the queue into the store and checkpoints.

When a store write fails (:meth:`IngestPipeline._store_units`), nothing is dropped and the
writer never retries one batch forever:

- **store unavailable** (:class:`~spanscope.store.base.StoreUnavailableError`, an OSError:
  disk full, database invalidated) — retried with backoff for as long as it lasts, after
  ``store.reopen()`` when the store asks for it; the spans stay queued and in the WAL,
  ``pending_spans`` stays high so receivers answer 429 at the bound, and :meth:`health`
  says why;
- **anything else** — retried ``write_attempts`` times, then the write is bisected (per
  WAL record, then halves of a record) down to the spans the store refuses; the rest is
  stored, the refused spans go to ``<data-dir>/quarantine/`` (:mod:`.quarantine`) and the
  checkpoint passes them. If every piece is refused and not for a data error, the store
  refuses everything: that is an outage again, and nothing is quarantined.

:meth:`IngestPipeline.stop` takes a deadline: writes get one more try each and, if the
store still fails or hangs, what is not stored stays in the WAL for the next start.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from spanscope.batch import SpanTable, columns_table
from spanscope.columnar import SpanColumns
from spanscope.config import Settings
from spanscope.ingest.decode_worker import DecodePool
from spanscope.ingest.decoders import Decoder, load_decoder
from spanscope.ingest.forward_wire import DECIDED_FORMAT, FORWARDED_FORMAT
from spanscope.ingest.quarantine import Quarantine, split
from spanscope.ingest.refusals import RefusalLog
from spanscope.ingest.results import DecodeResult, SignalResult
from spanscope.ingest.stats import PipelineStats
from spanscope.ingest.wal import WalRecord, WriteAheadLog
from spanscope.model.signals import SignalBatch
from spanscope.model.spans import Span
from spanscope.sampling.tail import TailSampler
from spanscope.store.base import Store, StoreUnavailableError

if TYPE_CHECKING:
    from spanscope.ingest.forward import Forwarder

log = logging.getLogger(__name__)

BATCH_SPANS = 20_000
"""Spans per store write when the queue is full: DuckDB inserts best in ~10k+ batches."""

CHECKPOINT_MAX_S = 60.0
"""Longest wait between checkpoints of a store that also checkpoints by itself."""

WEDGED_AFTER_S = 120.0
"""Liveness fails when the writer made no progress this long while spans are pending (a
write of 20k spans takes well under a second; a row-group checkpoint a few)."""

Batch = list[Span] | SpanColumns | SpanTable | SignalBatch
"""What a receiver hands over: Span objects, columns from the in-process OTLP protobuf
decoder, an Arrow table from a decode worker process (only with a DuckDB store), or the
logs and metric points of an OTLP logs/metrics request."""


class OverloadedError(RuntimeError):
    """Too many spans are waiting for the store; the client should retry later."""

    def __init__(self, pending: int, limit: int, retry_after_s: int) -> None:
        super().__init__(
            f"{pending} spans are waiting to be stored (limit {limit}); "
            f"retry after {retry_after_s} s"
        )
        self.retry_after_s = retry_after_s


@dataclass(slots=True)
class _Item:
    position: int
    spans: Batch
    fmt: str = ""
    """The WAL tag: forwarded and decided requests are never routed to peers again."""


@dataclass(frozen=True, slots=True)
class Health:
    """Why the server is not alive (``live``) or not ready to take data (``ready``); empty
    lists mean healthy. ``ready`` includes every ``live`` reason."""

    live: list[str] = field(default_factory=list)
    ready: list[str] = field(default_factory=list)


class _StoreOutage(Exception):
    """Raised inside a bisection when the store turns out unavailable, not refusing."""


class _Stopping(Exception):
    """Raised inside a bisection when stop() was called: it ends, unfinished."""


def _is_outage(exc: BaseException) -> bool:
    return isinstance(exc, StoreUnavailableError | OSError | MemoryError)


def _is_data_error(exc: BaseException) -> bool:
    """A failure caused by the values written (StoreRefusedError is a ValueError; Arrow's
    ArrowInvalid / ArrowTypeError and int conversions are ValueError / TypeError /
    OverflowError)."""
    return isinstance(exc, ValueError | TypeError | ArithmeticError)


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 1000 else text[:1000] + "..."


def _as_columns(batch: list[Span] | SpanColumns) -> SpanColumns:
    return batch if isinstance(batch, SpanColumns) else SpanColumns.from_spans(batch)


def _as_table(batch: list[Span] | SpanColumns | SpanTable) -> SpanTable:
    return batch if isinstance(batch, SpanTable) else columns_table(_as_columns(batch))


class IngestPipeline:
    def __init__(
        self,
        store: Store,
        wal: WriteAheadLog,
        settings: Settings,
        *,
        decoders: dict[str, Decoder] | None = None,
        checkpoint_interval_s: float = 5.0,
        decode_pool: DecodePool | None = None,
        tail_sampler: TailSampler | None = None,
        forwarder: Forwarder | None = None,
    ) -> None:
        self.store = store
        self.forwarder = forwarder
        """Sends spans of traces other collectors own to them (None: keep every span here;
        :mod:`spanscope.ingest.forward`)."""
        self.tail_sampler = tail_sampler
        """Holds traces between the WAL and the store until decided (None: keep all)."""
        # Without a sampler the writer sleeps until a batch comes; with one it wakes to
        # decide traces whose decision wait ran out.
        self._tick_s = None if tail_sampler is None and forwarder is None else 0.1
        self._written_position: int | None = None
        self.decode_pool = decode_pool
        """Worker processes that decode OTLP protobuf for the receivers (None: in-process)."""
        self.wal = wal
        self.settings = settings
        self._decoders = dict(decoders or {})
        self._checkpoint_interval_s = checkpoint_interval_s
        self._queue: queue.Queue[_Item | None] = queue.Queue()
        self._pending = 0
        self._pending_lock = threading.Lock()
        # Positions acknowledged to clients but not yet stored, so the checkpoint never
        # passes a record whose spans are still in flight.
        self._done: set[int] = set()
        self._watermark = store.wal_position() or 0
        self._stopping = threading.Event()
        self._writer: threading.Thread | None = None
        self._checkpointer: threading.Thread | None = None
        self.stored_batches = 0
        self.refusals = RefusalLog()
        """Requests the WAL could not take (full disk, I/O error): counted and logged."""
        self.stats = PipelineStats()
        """Counters for ``/metrics`` (:mod:`spanscope.ingest.stats`)."""
        self.quarantine = Quarantine(settings.data_dir)
        self.write_attempts = 3
        """Tries of a failing write before it is bisected for what the store refuses."""
        self.retry_delay_s = 0.5
        """First wait between tries; doubles up to ``max_retry_delay_s``."""
        self.max_retry_delay_s = 10.0
        self.wedged_after_s = WEDGED_AFTER_S
        self._heartbeat = time.monotonic()
        self._failing_since: float | None = None
        self._store_error: str | None = None
        self._outage = False
        self._reopening = False
        self._gave_up = False
        """A write was left to the WAL at shutdown: nothing later may pass its position."""
        self._writer_error: BaseException | None = None
        self._reopen_wanted: StoreUnavailableError | None = None
        """Set by a checkpoint that found the database invalidated; the writer reopens."""
        self._reopen_next = 0.0

    # -- admission -----------------------------------------------------------------

    @property
    def pending_spans(self) -> int:
        """Spans acknowledged (or being acknowledged) but not yet written to the store."""
        return self._pending

    def admit(self, span_count: int) -> None:
        """Reserve room for ``span_count`` spans or raise OverloadedError. A request is
        always admitted into an empty pipeline, so one big request cannot wedge it."""
        limit = self.settings.max_pending_spans
        if self.forwarder is not None and self.forwarder.full():
            f = self.forwarder
            raise OverloadedError(f.queued_spans, f.queue_spans, max(1, round(f.max_backoff_s)))
        with self._pending_lock:
            if self._pending and self._pending + span_count > limit:
                retry = max(1, round(self.settings.flush_interval_s * 4))
                raise OverloadedError(self._pending, limit, retry)
            self._pending += span_count

    def _release(self, span_count: int) -> None:
        with self._pending_lock:
            self._pending -= span_count

    # -- accepting -------------------------------------------------------------------

    async def accept(self, fmt: str, payload: bytes, spans: Batch) -> None:
        """Admit, log durably (awaiting the group fsync without blocking the loop), and
        queue. Returning means the client may be told OK; raising means it must not."""
        if not spans:
            return
        self.admit(len(spans))
        try:
            position, durable = self.wal.append(fmt, payload)
        except BaseException as exc:
            self._release(len(spans))
            self.refusals.refused(len(spans), exc)
            raise
        try:
            await asyncio.wrap_future(durable)
        except BaseException as exc:
            self._abandon(position, len(spans))
            self.refusals.refused(len(spans), exc)
            raise
        self.refusals.accepted()
        self._queue.put(_Item(position, spans, fmt))

    def accept_blocking(self, fmt: str, payload: bytes, spans: Batch) -> None:
        """:meth:`accept` for threads (the gRPC worker pool)."""
        if not spans:
            return
        self.admit(len(spans))
        try:
            position, durable = self.wal.append(fmt, payload)
        except BaseException as exc:
            self._release(len(spans))
            self.refusals.refused(len(spans), exc)
            raise
        try:
            durable.result()
        except BaseException as exc:
            self._abandon(position, len(spans))
            self.refusals.refused(len(spans), exc)
            raise
        self.refusals.accepted()
        self._queue.put(_Item(position, spans, fmt))

    def _abandon(self, position: int, span_count: int) -> None:
        # The fsync failed: the client hears an error and retries, so this position is
        # skipped rather than left as a gap that would freeze the checkpoint.
        self._release(span_count)
        self._queue.put(_Item(position, []))

    # -- replay ----------------------------------------------------------------------

    def replay(self) -> int:
        """Write every WAL record after the store's checkpoint; return spans replayed. A
        record the store refuses is quarantined like any other write, so this returns."""
        if self.tail_sampler is not None or self.forwarder is not None:
            return self._replay_sampled()  # through the writer: it routes and samples
        after = self.store.wal_position() or 0
        deferred: list[_Item] = []
        last, replayed = self._replay_range(after, None, deferred)
        if deferred:
            # The store is out: start anyway, with the rest queued for the writer (which
            # retries until the store is back; readiness says why meanwhile).
            last = deferred[0].position - 1
            for item in deferred:
                with self._pending_lock:
                    self._pending += len(item.spans)
                self._queue.put(item)
            log.warning(
                "the store is unavailable: WAL positions %d..%d (%d spans) are queued for "
                "the store writer instead of replayed before start",
                deferred[0].position, deferred[-1].position, self._pending,
            )  # fmt: skip
        self._watermark = max(self._watermark, last)
        self._written_position = max(self._written_position or 0, last)
        self.wal.release(self._watermark)
        if last > after:
            log.info(
                "replayed WAL positions %d..%d: %d spans newly stored", after + 1, last, replayed
            )
        self._log_unreadable()
        return replayed

    def _log_unreadable(self) -> None:
        # The WAL logged each damaged region as it read it; this is the total to act on.
        if self.wal.bad_records:
            log.warning(
                "WAL replay skipped %d unreadable regions (%d bytes): any request in them "
                "is not stored (see the warnings above for segments and offsets)",
                self.wal.bad_records,
                self.wal.skipped_bytes,
            )

    def _decode_record(self, record: WalRecord) -> Batch:
        try:
            result = self.decoder(record.format)(record.payload, self.settings.limits)
        except Exception as exc:  # decoded fine before the ack; keep going if not now
            log.warning(
                "WAL record %d (%s) no longer decodes: %s", record.position, record.format, exc
            )
            result = DecodeResult()
        return result.signals if isinstance(result, SignalResult) else result.spans

    def _replay_range(
        self, after: int, upto: int | None, deferred: list[_Item] | None = None
    ) -> tuple[int, int]:
        """Store the WAL records in (after, upto]; return (last position, spans stored).
        With ``deferred``, a store still unavailable after ``write_attempts`` tries does not
        block: that chunk and every later record are appended there, unstored."""
        chunk: list[_Item] = []
        size = 0
        last = after
        before = self.stats.stored_spans
        bound = self.write_attempts if deferred is not None else None

        def flush() -> None:
            units = [(i.position, i.spans) for i in chunk if len(i.spans)]
            if deferred is None:
                self._store_units(units, chunk[-1].position)
            elif deferred or not self._store_units(units, chunk[-1].position, bound):
                deferred.extend(chunk)  # the store is out: this and everything after

        for record in self.wal.records(after=after):
            if upto is not None and record.position > upto:
                break
            decoded = self._decode_record(record)
            chunk.append(_Item(record.position, decoded))  # empty ones too: no gaps
            size += len(decoded)
            last = record.position
            if size >= BATCH_SPANS:
                flush()
                chunk, size = [], 0
        if chunk:
            flush()
        return last, self.stats.stored_spans - before

    def _replay_sampled(self) -> int:
        """Replay into the tail sampler: these records' traces were not decided yet (the
        checkpoint never passes an undecided trace), so they wait for their decision again.
        They are queued for the writer (which hands them to the sampler first thing), so
        a store that is out at start does not hold the start up."""
        count = 0
        records = 0
        for record in self.wal.records(after=self.store.wal_position() or 0):
            item = _Item(record.position, self._decode_record(record), record.format)
            with self._pending_lock:
                self._pending += len(item.spans)
            self._queue.put(item)
            count += len(item.spans)
            records += 1
        if records:
            log.info("replaying %d WAL records (%d spans) into the tail sampler", records, count)
        self._log_unreadable()
        return count

    def decoder(self, fmt: str) -> Decoder:
        """The decoder for a WAL format tag; receivers and replay share it."""
        if fmt not in self._decoders:
            self._decoders[fmt] = load_decoder(fmt)
        return self._decoders[fmt]

    # -- writer and checkpointer -----------------------------------------------------

    def start(self) -> None:
        """Start the store writer and checkpointer threads."""
        # A daemon: a store call that never returns must not keep the process alive after
        # stop() gave up on it (the spans it held are in the WAL).
        self._writer = threading.Thread(target=self._write_loop, name="store-writer", daemon=True)
        self._heartbeat = time.monotonic()
        self._writer.start()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, name="store-checkpoint", daemon=True
        )
        self._checkpointer.start()

    def stop(self, timeout_s: float | None = None) -> bool:
        """Write everything queued, checkpoint the store, and stop the threads. Call
        after the receivers stopped accepting.

        Returns True when the store holds everything acknowledged (the WAL may go). With a
        store that fails or hangs, each write gets one more try and ``stop`` returns within
        ``timeout_s`` (None: no bound) with False: what is not stored stays in the WAL and
        the next start replays it."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s

        def remaining() -> float | None:
            return None if deadline is None else max(0.0, deadline - time.monotonic())

        # First: a writer waiting between retries wakes now instead of after the join.
        self._stopping.set()
        self._queue.put(None)
        if self._writer is not None:
            self._writer.join(remaining())
        writer_done = self._writer is None or not self._writer.is_alive()
        if self._checkpointer is not None:
            self._checkpointer.join(remaining())
        stored_all = (
            writer_done and not self._gave_up and self._writer_error is None and not self._pending
        )
        if self.forwarder is not None:
            sent = self.forwarder.stop(remaining())
            stored_all = stored_all and sent and self._final_checkpoint()
        if writer_done and not self._gave_up and self._writer_error is None:
            self._checkpoint()
        if not stored_all:
            held = self.tail_sampler.buffered_spans if self.tail_sampler is not None else 0
            log.warning(
                "stopping with %d spans not stored (store %s): they stay in the write-ahead "
                "log and the next start replays them",
                self._pending + held,
                "still busy in a write" if not writer_done else "failing",
            )
        return stored_all

    def _final_checkpoint(self) -> bool:
        """After the peers acknowledged the last forwarded spans: the checkpoint past them."""
        assert self.forwarder is not None
        position = self.forwarder.safe_position(self._watermark)
        if self.tail_sampler is not None:
            position = self.tail_sampler.safe_position(position)
        if position == self._written_position:
            return True
        try:
            self._timed_write([], position)
        except Exception as exc:
            self._failed(exc, _is_outage(exc), 0, "final WAL checkpoint")
            return False
        self._written_position = position
        return True

    @property
    def store_failing(self) -> bool:
        """True from a failed store write until the next one that succeeds."""
        return self._failing_since is not None

    @property
    def writer_busy(self) -> bool:
        """True while the writer thread is still inside a store call after stop() gave up."""
        return self._writer is not None and self._writer.is_alive()

    def health(self) -> Health:
        """Liveness and readiness, each as the list of reasons it fails (empty: fine)."""
        live: list[str] = []
        now = time.monotonic()
        writer = self._writer
        if writer is not None and not writer.is_alive() and not self._stopping.is_set():
            live.append(f"the store writer thread stopped: {self._writer_error!r}")
        elif writer is not None and self._pending and now - self._heartbeat > self.wedged_after_s:
            live.append(
                f"the store writer made no progress for {now - self._heartbeat:.0f} s "
                f"with {self._pending} spans pending"
            )
        ready = list(live)
        if self._failing_since is not None:
            since = f"for {now - self._failing_since:.0f} s"
            if self._outage:
                state = "reopening" if self._reopening else "unavailable"
                ready.append(f"the store is {state} {since}: {self._store_error}")
            else:
                ready.append(f"store writes are failing {since}: {self._store_error}")
        wal_problem = self.refusals.problem(self.wal.directory)
        if wal_problem:
            ready.append(f"the write-ahead log cannot write: {wal_problem}")
        limit = self.settings.max_pending_spans
        if self._pending >= limit:
            ready.append(
                f"{self._pending} spans are waiting for the store (limit {limit}): "
                "receivers answer 429"
            )
        return Health(live, ready)

    def _write_loop(self) -> None:
        try:
            self._write_batches()
        except BaseException as exc:
            self._writer_error = exc
            log.exception("the store writer thread stopped; spans stay in the write-ahead log")
            raise

    def _write_batches(self) -> None:
        # Wake at least every second without a sampler too: the heartbeat says "alive".
        tick = self._tick_s if self._tick_s is not None else 1.0
        stop = False
        while not stop:
            self._heartbeat = time.monotonic()
            if self._reopen_wanted is not None and self._heartbeat >= self._reopen_next:
                self._reopen_for_checkpoint(self._reopen_wanted)
            try:
                first = self._queue.get(timeout=tick)
            except queue.Empty:
                if self.tail_sampler is not None or self.forwarder is not None:
                    self._write([])  # no traffic, but decision waits run out, peers ack
                continue
            if first is None:
                break
            items = [first]
            count = len(first.spans)
            deadline = time.monotonic() + self.settings.flush_interval_s
            while count < BATCH_SPANS:
                remaining = deadline - time.monotonic()
                try:
                    item = (
                        self._queue.get(timeout=max(remaining, 0))
                        if remaining > 0
                        else (self._queue.get_nowait())
                    )
                except queue.Empty:
                    break
                if item is None:
                    stop = True  # drain: write what we hold, then whatever is left
                    break
                items.append(item)
                count += len(item.spans)
            self._write(items)
        # Anything queued after the stop marker (a request finishing its fsync late).
        leftovers: list[_Item] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                leftovers.append(item)
        if leftovers or self.tail_sampler is not None or self.forwarder is not None:
            # A clean stop decides every buffered trace now (counted as decided early).
            self._write(leftovers, flush=True)

    def _store_write(self, batches: list[Batch], wal_position: int | None) -> int:
        """One store write of several receivers' batches, as Arrow tables (no Span objects
        on the fast path); logs and metric points ride in the spans' transaction: one
        checkpoint for all."""
        signals = [b for b in batches if isinstance(b, SignalBatch)]
        tables = [_as_table(b) for b in batches if not isinstance(b, SignalBatch)]
        return self.store.write_tables(tables, wal_position=wal_position, signals=signals)

    def _write(self, items: list[_Item], flush: bool = False) -> None:
        self._heartbeat = time.monotonic()
        if self._gave_up:
            return  # an earlier write is left to the WAL: a checkpoint now would pass it
        span_count = sum(len(item.spans) for item in items)
        for item in items:
            self._done.add(item.position)
        while self._watermark + 1 in self._done:
            self._watermark += 1
            self._done.discard(self._watermark)
        contiguous = self._watermark
        if self.forwarder is not None:
            self._route(items)
            contiguous = self.forwarder.safe_position(contiguous)
        units = [(item.position, item.spans) for item in items if len(item.spans)]
        position = contiguous
        if self.forwarder is not None and not units and position == self._written_position:
            self._release(span_count)  # all queued for peers, whose queue bounds them
            return
        if self.tail_sampler is not None:
            batches, position = self._sample(items, flush, contiguous)
            if not batches and position == self._written_position:
                self._release(span_count)  # all held by the sampler, which bounds them
                return
            # Decided traces mix records: a refused span is filed under the checkpoint.
            units = [(position, b) for b in batches if len(b)]
        if not self._store_units(units, position):
            self._gave_up = True
            return
        self.stored_batches += 1
        self._written_position = position
        self._release(span_count)
        try:
            self.wal.release(position)
        except OSError:
            log.exception("could not delete WAL segments below %d", position)

    def _timed_write(self, batches: list[Batch], wal_position: int | None) -> int:
        start = time.perf_counter()
        stored = self._store_write(batches, wal_position)
        self.stats.store_write_seconds.observe(time.perf_counter() - start)
        self.stats.stored_spans += stored
        self._heartbeat = time.monotonic()
        return stored

    def _store_units(
        self, units: list[tuple[int, Batch]], position: int, outage_tries: int | None = None
    ) -> bool:
        """Store the (WAL position, batch) units and the checkpoint ``position``; retry,
        reopen, or quarantine what the store refuses (see the module docstring). Returns
        False when stopping with them not stored (they stay in the WAL), or after
        ``outage_tries`` tries with the store unavailable (None: no limit)."""
        batches = [b for _, b in units]
        delay = self.retry_delay_s
        attempts = 0
        outages = 0
        while True:
            self._heartbeat = time.monotonic()  # trying is progress; a hung call is not
            try:
                self._timed_write(batches, position)
                self._recovered()
                return True
            except Exception as exc:
                error = exc
                outage = _is_outage(exc)
                self._failed(exc, outage, sum(len(b) for b in batches))
            if self._stopping.is_set():
                return False  # shutdown: no more tries, the next start replays them
            if outage:
                outages += 1
                if outage_tries is not None and outages >= outage_tries:
                    return False
                self._try_reopen(error)
            else:
                attempts += 1
                # Bisect once the tries are used up; if that found a store refusing
                # everything, again only every 20th try (a bisection costs ~2 writes/span).
                due = (attempts - self.write_attempts) % 20 == 0
                if attempts >= self.write_attempts and due and self._isolate(units, position):
                    self._recovered()
                    return True
            if self._stopping.wait(delay):
                return False
            delay = min(delay * 2, self.max_retry_delay_s)

    def _isolate(self, units: list[tuple[int, Batch]], position: int) -> bool:
        """Bisect a failing write: store what the store takes, quarantine the spans it
        refuses, then record the checkpoint. False when it turns out to be an outage."""
        refused: list[tuple[int, Batch, BaseException]] = []
        stored_any = False

        def attempt(part: list[tuple[int, Batch]]) -> None:
            nonlocal stored_any
            self._heartbeat = time.monotonic()
            if self._stopping.is_set():
                raise _Stopping  # the rest waits in the WAL; what is stored is idempotent
            try:
                # No checkpoint: until the whole write is settled, a crash replays it all.
                self._timed_write([b for _, b in part], None)
                stored_any = True
                return
            except Exception as exc:
                if _is_outage(exc):
                    raise _StoreOutage(exc) from exc
                error = exc
            if len(part) > 1:
                attempt(part[: len(part) // 2])
                attempt(part[len(part) // 2 :])
            elif len(part[0][1]) > 1:
                first, second = split(part[0][1])
                attempt([(part[0][0], first)])
                attempt([(part[0][0], second)])
            else:
                refused.append((part[0][0], part[0][1], error))

        try:
            attempt(units)
        except _Stopping:
            return False
        except _StoreOutage as outage:
            self._failed(outage.__cause__ or outage, True, 0)
            return False
        if refused and not stored_any and not all(_is_data_error(e) for *_, e in refused):
            # Every span refused, and not for its values: the store is broken, not the data.
            self._outage = True
            log.warning(
                "the store refuses every span of the write (%s): treated as unavailable, "
                "nothing quarantined",
                _describe(refused[0][2]),
            )
            return False
        if refused:
            by_position: dict[int, list[tuple[Batch, str]]] = {}
            for pos, batch, error in refused:
                by_position.setdefault(pos, []).append((batch, _describe(error)))
            try:
                for pos, pieces in by_position.items():
                    path = self.quarantine.add(pos, pieces)
                    count = sum(len(b) for b, _ in pieces)
                    self.stats.quarantined_spans += count
                    log.warning(
                        "quarantined %d spans of WAL position %d the store refuses, to %s: %s",
                        count, pos, path, pieces[0][1],
                    )  # fmt: skip
            except OSError as exc:
                self._failed(exc, True, 0)
                log.warning("cannot write the quarantine file: the spans stay in the WAL")
                return False
        delay = self.retry_delay_s
        while True:  # the checkpoint now passes the quarantined spans
            self._heartbeat = time.monotonic()
            try:
                self._timed_write([], position)
                return True
            except Exception as exc:
                self._failed(exc, _is_outage(exc), 0)
            if self._stopping.wait(delay):
                return False
            delay = min(delay * 2, self.max_retry_delay_s)

    def _failed(self, exc: BaseException, outage: bool, span_count: int, action: str = "") -> None:
        self.stats.store_write_failures += 1
        first = self._failing_since is None
        if first:
            self._failing_since = time.monotonic()
        self._store_error = _describe(exc)
        self._outage = outage
        what = (
            "the store is unavailable" if outage else "will retry, then set aside what it refuses"
        )
        log.warning(
            "%s failed (%s); the spans stay in the write-ahead log: %s",
            action or f"store write of {span_count} spans", what, self._store_error,
            exc_info=exc if first else None,
        )  # fmt: skip

    def _recovered(self) -> None:
        if self._failing_since is not None:
            log.info("store writes work again after %.1f s", time.monotonic() - self._failing_since)
        self._failing_since = None
        self._store_error = None
        self._outage = False

    def _try_reopen(self, exc: BaseException) -> bool:
        """Reopen the store if ``exc`` asks for it; True when it did."""
        if not (isinstance(exc, StoreUnavailableError) and exc.reopen):
            return False
        self._reopening = True
        try:
            self.store.reopen()
        except Exception as error:
            log.warning("could not reopen the store (will try again): %s", _describe(error))
            return False
        finally:
            self._reopening = False
        self._reopen_wanted = None
        log.info("reopened the store after: %s", _describe(exc))
        self._rewrite_lost()
        return True

    def _reopen_for_checkpoint(self, exc: StoreUnavailableError) -> None:
        """The checkpoint thread found the database invalidated while no write failed (no
        traffic): reopen from the writer thread, which owns store recovery."""
        if self._try_reopen(exc):
            self._recovered()
        else:
            self._reopen_next = time.monotonic() + self.max_retry_delay_s

    def _rewrite_lost(self) -> None:
        """After a reopen, write again from the WAL what the store says it lost (its
        checkpoint below what was written): the WAL keeps every record after it."""
        try:
            stored = self.store.wal_position() or 0
        except Exception:
            return
        written = self._written_position or 0
        if stored >= written or self.tail_sampler is not None:
            return
        log.warning(
            "the reopened store's WAL checkpoint is %d, below %d: writing %d..%d again",
            stored, written, stored + 1, written,
        )  # fmt: skip
        self._replay_range(stored, written)

    def _route(self, items: list[_Item]) -> None:
        """Keep the spans of traces this collector owns; queue the rest for their peers."""
        forwarder = self.forwarder
        assert forwarder is not None
        for item in items:
            if item.fmt in (FORWARDED_FORMAT, DECIDED_FORMAT) or not len(item.spans):
                continue  # landed where its owner (or the storage node) said: no loops
            if isinstance(item.spans, SignalBatch):
                continue
            item.spans = forwarder.route(item.position, _as_table(item.spans))

    def _sample(
        self, items: list[_Item], flush: bool, contiguous: int | None = None
    ) -> tuple[list[Batch], int]:
        """Hand span batches to the tail sampler; return what to store now (decided traces'
        spans, logs and metrics as they came) and the checkpoint that passes no undecided
        trace. Held spans are released from ``pending_spans``: the sampler bounds them."""
        sampler = self.tail_sampler
        assert sampler is not None
        out: list[Batch] = []
        for item in items:
            if isinstance(item.spans, SignalBatch) or item.fmt == DECIDED_FORMAT:
                out.append(item.spans)  # decided upstream: stored as they are
            elif len(item.spans):
                sampler.add(item.position, _as_table(item.spans))
        out.extend(sampler.collect(flush=flush).tables)
        return out, sampler.safe_position(self._watermark if contiguous is None else contiguous)

    def _checkpoint_loop(self) -> None:
        # A store that checkpoints by itself (DuckDBStore: at each filled row group, as a
        # checkpoint of a partly filled one leaves blocks free in the file; see
        # docs/performance.md) says when it last did; this thread then only covers a slow
        # trickle that fills no row group for CHECKPOINT_MAX_S.
        while not self._stopping.wait(self._checkpoint_interval_s):
            last = self.store.last_checkpoint
            if last is None or time.monotonic() - last >= CHECKPOINT_MAX_S:
                self._checkpoint()

    def _checkpoint(self) -> None:
        try:
            self.store.checkpoint()
        except Exception as exc:
            if not _is_outage(exc):
                log.exception("store checkpoint failed (will try again)")
                return
            # Readiness must say so even with no write in flight to find out.
            self._failed(exc, True, 0, "store checkpoint")
            if isinstance(exc, StoreUnavailableError) and exc.reopen:
                self._reopen_wanted = exc

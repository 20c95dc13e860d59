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
   or ~20k spans and calls ``store.write(spans, wal_position=p)``, where ``p`` is the
   highest WAL position whose predecessors are all stored; after a commit, WAL segments
   wholly below ``p`` are deleted.
4. **checkpoint** — a second thread runs ``store.checkpoint()`` (DuckDB's CHECKPOINT)
   every ``checkpoint_interval_s``, or, for a store that checkpoints by itself when it
   can do so cheaply (``store.last_checkpoint``), when it has not for ``CHECKPOINT_MAX_S``.

On start, :meth:`IngestPipeline.replay` decodes every WAL record after
``store.wal_position()`` with the same decoders and writes it again (writes are
idempotent). :meth:`IngestPipeline.stop` drains the queue into the store and checkpoints.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from spanscope.columnar import SpanColumns
from spanscope.config import Settings
from spanscope.ingest.decode_worker import DecodePool
from spanscope.ingest.limits import DecodeResult, Limits, SignalResult
from spanscope.ingest.otlp_columns import ColumnarResult
from spanscope.ingest.refusals import RefusalLog
from spanscope.ingest.wal import WriteAheadLog
from spanscope.model import SignalBatch, Span
from spanscope.sampling.tail import TailSampler
from spanscope.store.base import Store
from spanscope.store.duckdb_schema import SpanTable, columns_table

log = logging.getLogger(__name__)

BATCH_SPANS = 20_000
"""Spans per store write when the queue is full: DuckDB inserts best in ~10k+ batches."""

CHECKPOINT_MAX_S = 60.0
"""Longest wait between checkpoints of a store that also checkpoints by itself."""

Decoder = Callable[[bytes, Limits], DecodeResult | ColumnarResult | SignalResult]
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


_DECODERS = {
    "otlp-proto": (("spanscope.ingest.otlp_columns",), "decode_otlp_columns"),
    "otlp-json": (("spanscope.ingest.otlp_json", "spanscope.ingest.otlp"), "decode_otlp_json"),
    "zipkin-json": (("spanscope.ingest.zipkin",), "decode_zipkin_json"),
    "otlp-logs-proto": (("spanscope.ingest.otlp_logs",), "decode_otlp_logs_protobuf"),
    "otlp-logs-json": (("spanscope.ingest.otlp_logs",), "decode_otlp_logs_json"),
    "otlp-metrics-proto": (("spanscope.ingest.otlp_metrics",), "decode_otlp_metrics_protobuf"),
    "otlp-metrics-json": (("spanscope.ingest.otlp_metrics",), "decode_otlp_metrics_json"),
}
"""The decoder for each WAL format tag: (modules that may define it, function name)."""


def load_decoder(fmt: str) -> Decoder:
    """Import the decoder for a format tag (late, so each receiver only needs its own)."""
    modules, name = _DECODERS[fmt]
    for module in modules:
        try:
            decoder: Decoder = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
        return decoder
    raise ImportError(f"no decoder {name} for WAL format {fmt!r} in {', '.join(modules)}")


@dataclass(slots=True)
class _Item:
    position: int
    spans: Batch


def _as_columns(batch: list[Span] | SpanColumns) -> SpanColumns:
    return batch if isinstance(batch, SpanColumns) else SpanColumns.from_spans(batch)


def _as_spans(batch: list[Span] | SpanColumns | SpanTable) -> list[Span]:
    if isinstance(batch, SpanTable):
        raise TypeError("an Arrow span batch needs a store with write_tables (DuckDBStore)")
    return batch.to_spans() if isinstance(batch, SpanColumns) else batch


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
    ) -> None:
        self.store = store
        if tail_sampler is not None and not hasattr(store, "write_tables"):
            raise ValueError("tail sampling needs a store with write_tables (DuckDBStore)")
        self.tail_sampler = tail_sampler
        """Holds traces between the WAL and the store until decided (None: keep all)."""
        # Without a sampler the writer sleeps until a batch comes; with one it wakes to
        # decide traces whose decision wait ran out.
        self._tick_s = None if tail_sampler is None else 0.1
        self._written_position: int | None = None
        self.decode_pool = decode_pool if hasattr(store, "write_tables") else None
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

    # -- admission -----------------------------------------------------------------

    @property
    def pending_spans(self) -> int:
        """Spans acknowledged (or being acknowledged) but not yet written to the store."""
        return self._pending

    def admit(self, span_count: int) -> None:
        """Reserve room for ``span_count`` spans or raise OverloadedError. A request is
        always admitted into an empty pipeline, so one big request cannot wedge it."""
        limit = self.settings.max_pending_spans
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
        self._queue.put(_Item(position, spans))

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
        self._queue.put(_Item(position, spans))

    def _abandon(self, position: int, span_count: int) -> None:
        # The fsync failed: the client hears an error and retries, so this position is
        # skipped rather than left as a gap that would freeze the checkpoint.
        self._release(span_count)
        self._queue.put(_Item(position, []))

    # -- replay ----------------------------------------------------------------------

    def replay(self) -> int:
        """Write every WAL record after the store's checkpoint; return spans replayed."""
        if self.tail_sampler is not None:
            return self._replay_sampled()
        after = self.store.wal_position() or 0
        batch: list[Batch] = []
        size = 0
        last = after
        replayed = records = 0
        for record in self.wal.records(after=after):
            records += 1
            try:
                result = self.decoder(record.format)(record.payload, self.settings.limits)
            except Exception as exc:  # decoded fine before the ack; keep going if not now
                log.warning(
                    "WAL record %d (%s) no longer decodes: %s", record.position, record.format, exc
                )
                result = DecodeResult()
            decoded = result.signals if isinstance(result, SignalResult) else result.spans
            batch.append(decoded)
            size += len(decoded)
            last = record.position
            if size >= BATCH_SPANS:
                replayed += self._store_write(batch, last)
                batch, size = [], 0
        if last > after:
            replayed += self._store_write(batch, last)
        self._watermark = max(self._watermark, last)
        self.wal.release(self._watermark)
        if last > after:
            log.info(
                "replayed WAL positions %d..%d (%d records): %d spans newly stored",
                after + 1,
                last,
                records,
                replayed,
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

    def _replay_sampled(self) -> int:
        """Replay into the tail sampler: these records' traces were not decided yet (the
        checkpoint never passes an undecided trace), so they wait for their decision again."""
        items: list[_Item] = []
        for record in self.wal.records(after=self.store.wal_position() or 0):
            try:
                result = self.decoder(record.format)(record.payload, self.settings.limits)
            except Exception as exc:  # decoded fine before the ack; keep going if not now
                log.warning("WAL record %d no longer decodes: %s", record.position, exc)
                result = DecodeResult()
            decoded = result.signals if isinstance(result, SignalResult) else result.spans
            items.append(_Item(record.position, decoded))
        self._write(items)
        count = sum(len(item.spans) for item in items)
        if items:
            log.info("replayed %d WAL records (%d spans) into the tail sampler", len(items), count)
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
        self._writer = threading.Thread(target=self._write_loop, name="store-writer")
        self._writer.start()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, name="store-checkpoint", daemon=True
        )
        self._checkpointer.start()

    def stop(self) -> None:
        """Write everything queued, checkpoint the store, and stop the threads. Call
        after the receivers stopped accepting."""
        self._queue.put(None)
        if self._writer is not None:
            self._writer.join()
        self._stopping.set()
        if self._checkpointer is not None:
            self._checkpointer.join()
        self._checkpoint()

    def _write_loop(self) -> None:
        stop = False
        while not stop:
            try:
                first = self._queue.get(timeout=self._tick_s)
            except queue.Empty:
                self._write([])  # no traffic, but decision waits run out
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
        if leftovers or self.tail_sampler is not None:
            # A clean stop decides every buffered trace now (counted as decided early).
            self._write(leftovers, flush=True)

    def _store_write(self, batches: list[Batch], wal_position: int) -> int:
        """One store write of several receivers' batches, as columns if the store takes
        them (no Span objects on the fast path)."""
        signals = [b for b in batches if isinstance(b, SignalBatch)]
        spans = [b for b in batches if not isinstance(b, SignalBatch)]
        write_tables = getattr(self.store, "write_tables", None)
        if write_tables is not None:
            # Logs and metric points ride in the spans' transaction: one checkpoint for all.
            tables = [_as_table(b) for b in spans]
            if signals:
                return int(write_tables(tables, wal_position=wal_position, signals=signals))
            return int(write_tables(tables, wal_position=wal_position))
        if signals:
            self.store.write_signals(signals, None)
        return self.store.write([s for b in spans for s in _as_spans(b)], wal_position)

    def _write(self, items: list[_Item], flush: bool = False) -> None:
        span_count = sum(len(item.spans) for item in items)
        for item in items:
            self._done.add(item.position)
        while self._watermark + 1 in self._done:
            self._watermark += 1
            self._done.discard(self._watermark)
        batches: list[Batch] = [item.spans for item in items]
        position = self._watermark
        if self.tail_sampler is not None:
            batches, position = self._sample(items, flush)
            if not batches and position == self._written_position:
                return
        delay = 0.5
        while True:
            try:
                self._store_write(batches, position)
                break
            except Exception:
                # The spans are safe in the WAL; keep trying (clients see 429 meanwhile).
                log.exception(
                    "store write of %d spans failed; retrying in %.1f s", span_count, delay
                )
                if self._stopping.wait(delay):
                    return
                delay = min(delay * 2, 10.0)
        self.stored_batches += 1
        self._written_position = position
        self._release(span_count)
        try:
            self.wal.release(position)
        except OSError:
            log.exception("could not delete WAL segments below %d", position)

    def _sample(self, items: list[_Item], flush: bool) -> tuple[list[Batch], int]:
        """Hand span batches to the tail sampler; return what to store now (decided traces'
        spans, logs and metrics as they came) and the checkpoint that passes no undecided
        trace. Held spans are released from ``pending_spans``: the sampler bounds them."""
        sampler = self.tail_sampler
        assert sampler is not None
        out: list[Batch] = []
        for item in items:
            if isinstance(item.spans, SignalBatch):
                out.append(item.spans)
            elif len(item.spans):
                sampler.add(item.position, _as_table(item.spans))
        out.extend(sampler.collect(flush=flush).tables)
        return out, sampler.safe_position(self._watermark)

    def _checkpoint_loop(self) -> None:
        # A store that checkpoints by itself (DuckDBStore: at each filled row group, as a
        # checkpoint of a partly filled one leaves blocks free in the file; see
        # docs/performance.md) says when it last did; this thread then only covers a slow
        # trickle that fills no row group for CHECKPOINT_MAX_S.
        while not self._stopping.wait(self._checkpoint_interval_s):
            last = getattr(self.store, "last_checkpoint", None)
            if last is None or time.monotonic() - last >= CHECKPOINT_MAX_S:
                self._checkpoint()

    def _checkpoint(self) -> None:
        checkpoint = getattr(self.store, "checkpoint", None)
        if checkpoint is None:
            return
        try:
            checkpoint()
        except Exception:
            log.exception("store checkpoint failed (will try again)")

"""The write-ahead log: every accepted request is on disk before the client hears "OK".

A receiver appends the request body it accepted (decompressed, with a format tag saying
which decoder reads it back) and waits for :meth:`WriteAheadLog.append` 's future before
it answers. The store writer later records, in the same transaction as the spans, the
highest log position it has stored; on the next start everything after that position is
decoded again and written again (store writes are idempotent), so an acknowledged span
survives ``kill -9`` and is stored exactly once.

Layout: ``<data-dir>/wal/<first position, 20 digits>.wal`` segment files of CRC-checked
records; ``ingest/wal_segment.py`` has the byte layout and the reader. (This module is
~500 lines because the write path and its failure handling only make sense together.)

Group commit: appends only ``write()`` to the page cache. One background thread runs
``fsync`` in a loop, and each ``fsync`` completes every append that was written before it
started, so N concurrent requests share one disk flush instead of paying N::

    wal = WriteAheadLog(Path("data/wal"))
    position, durable = wal.append("otlp-proto", body)   # raises WalWriteError: refuse
    durable.result()                      # or: await asyncio.wrap_future(durable)
    for record in wal.records(after=checkpoint):
        ...
    wal.release(upto=checkpoint)          # drop segments the store has fully absorbed
    wal.close()

What the log promises when the disk fails (a full disk, an I/O error):

- **A write that does not complete is refused, never acknowledged.** ``append`` raises
  :class:`WalWriteError` (:class:`WalFullError` for ENOSPC/EDQUOT) naming the directory,
  the bytes needed and the system's reason. A short write that reports no error is taken
  as a full disk. The segment is cut back (``ftruncate``) to where the record began, so no
  torn bytes stay in front of later records, and the position is not used: the next
  append takes it. If the cut itself fails, that segment is retired and the next append
  starts a fresh one (the reader skips the torn bytes, see below).
- **A failed fsync acknowledges nothing it covered.** After a failed ``fsync`` the kernel
  may already have dropped the dirty pages (the "fsyncgate" behaviour of Linux), and a
  later ``fsync`` of the same file can succeed without them. So every record of that file
  not yet acknowledged — the failing group and anything written to the file meanwhile —
  fails, the file is cut back to the first of them (best effort) and never written again,
  and the next append starts a new segment. Their positions stay used; the pipeline
  skips them (``IngestPipeline._abandon``).
- **Reading never stops silently.** A record that is short, fails its CRC or has an
  unknown format is logged (segment, offset, bytes skipped) and skipped: the reader scans
  forward for the next offset where a header and CRC check out and goes on.
  :attr:`WriteAheadLog.bad_records` and :attr:`WriteAheadLog.skipped_bytes` count what
  the last :meth:`records` scan could not read.
- **A torn tail is cut off at open.** The end of the last segment after a crash (a write
  that never finished, hence never acknowledged) is logged at info level, counted in
  :attr:`WriteAheadLog.torn_tail_bytes` and truncated; the log then continues in a new
  segment all the same (so a tail that could not be truncated is still never followed by
  new records in the same file).
- **The log is not deleted while it holds anything unstored.** :meth:`release` deletes a
  segment only when every record in it is at or below the store's checkpoint; on a closed
  log, everything only when the checkpoint covers the highest position actually written.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from spanscope.ingest.wal_segment import (
    DEFAULT_SEGMENT_BYTES,
    FORMATS,
    FULL_ERRNOS,
    HEADER,
    SUFFIX,
    Damage,
    WalRecord,
    first_position,
    read_segment,
    record_crc,
    segment_key,
)

__all__ = [
    "DEFAULT_SEGMENT_BYTES",
    "FORMATS",
    "WalClosedError",
    "WalFullError",
    "WalRecord",
    "WalWriteError",
    "WriteAheadLog",
]

log = logging.getLogger(__name__)


class WalClosedError(RuntimeError):
    """The log was closed; the request was not made durable and must not be acknowledged."""


class WalWriteError(OSError):
    """A record could not be written or flushed: it is not acknowledged, and the log
    holds no torn bytes of it in front of later records. ``errno``/``strerror`` are the
    system's; ``directory`` and ``needed`` (bytes) say where and how much."""

    def __init__(self, error: int, directory: Path, needed: int, action: str = "write") -> None:
        super().__init__(error, os.strerror(error))
        self.directory = directory
        self.needed = needed
        self.action = action
        """"write" or "fsync": which system call failed."""

    def __str__(self) -> str:
        verb = "written (" if self.action == "write" else "flushed to disk (fsync: "
        return (
            f"the write-ahead log could not be {verb}{self.strerror}) in {self.directory}: "
            f"{self.needed} bytes needed; nothing of it was acknowledged"
        )


class WalFullError(WalWriteError):
    """The filesystem holding the log is full (ENOSPC) or over quota (EDQUOT)."""


def wal_error(error: int | None, directory: Path, needed: int, action: str) -> WalWriteError:
    """The WalWriteError for a failed system call (EIO when it gave no errno)."""
    code = error or errno.EIO
    cls = WalFullError if code in FULL_ERRNOS else WalWriteError
    return cls(code, directory, needed, action)


@dataclass(eq=False, slots=True)
class _Segment:
    path: Path
    fd: int
    size: int = 0


@dataclass(eq=False, slots=True)
class _Waiter:
    position: int
    durable: Future[int]
    segment: _Segment
    offset: int
    size: int


@dataclass
class _Round:
    """One fsync round's share of the log, taken under the lock."""

    waiters: list[_Waiter]
    segments: list[_Segment]
    retired: list[_Segment] = field(default_factory=list)


class WriteAheadLog:
    """Append-only, CRC-checked, group-committed log of accepted request payloads.

    ``start_after`` is the lowest position the caller already knows is used (for example
    the store's checkpoint, in case every segment was deleted); new positions continue
    after both it and the last valid record on disk. ``fsync``, ``write`` and ``truncate``
    default to the ``os`` functions; tests pass failing ones to play a broken disk.
    """

    def __init__(
        self,
        directory: Path,
        *,
        start_after: int = 0,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        fsync: Callable[[int], None] = os.fsync,
        write: Callable[[int, bytes | memoryview], int] = os.write,
        truncate: Callable[[int, int], None] = os.ftruncate,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._segment_bytes = segment_bytes
        self._fsync = fsync
        self._write = write
        self._truncate = truncate
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._closed = False
        self._waiters: list[_Waiter] = []
        self._retired: list[_Segment] = []
        self.appends = 0
        """Records appended since open (for measuring group commit)."""
        self.fsyncs = 0
        """fsync rounds run since open; far fewer than ``appends`` under concurrency."""
        self.fsync_seconds = 0.0
        """Time spent in those rounds; with ``fsyncs``, the mean group-commit latency."""
        self.write_errors = 0
        """Appends refused since open because the record could not be written."""
        self.fsync_errors = 0
        """fsync rounds that failed since open (their records were not acknowledged)."""
        self.bad_records = 0
        """Unreadable regions the last :meth:`records` scan skipped."""
        self.skipped_bytes = 0
        """Bytes in those regions."""
        self.torn_tail_bytes = 0
        """Bytes of an unfinished last write found (and truncated) at open."""

        last = start_after
        self._highest_written = 0
        segments = self.segments()
        if segments:
            on_disk = first_position(segments[-1]) - 1
            # The end of the log is the last segment with bytes: a restart that crashed
            # before its first write leaves an empty segment after a torn tail.
            written = [path for path in segments if path.stat().st_size]
            tail = self._open_tail(written[-1]) if written else None
            on_disk = max(on_disk, tail or 0)
            self._highest_written = on_disk
            last = max(last, on_disk)
        self._last_position = last
        # Always a new segment: a tail that could not be truncated is never followed by
        # new records in the same file.
        self._segment: _Segment | None = self._open_segment(last + 1)
        self._syncer = threading.Thread(target=self._sync_loop, name="wal-fsync", daemon=True)
        self._syncer.start()

    @property
    def last_position(self) -> int:
        """Position of the newest appended record (0 when none was ever appended)."""
        return self._last_position

    def segments(self) -> list[Path]:
        """Segment files, oldest first."""
        return sorted(self.directory.glob("*" + SUFFIX), key=segment_key)

    def append(self, fmt: str, payload: bytes) -> tuple[int, Future[int]]:
        """Write one record; return its position and a future that completes (with the
        position) once the record is fsynced. Answer the client only after that.

        Raises :class:`WalWriteError` (the record is not in the log; refuse the request)
        or :class:`WalClosedError`. The future fails with WalWriteError if the fsync does.
        """
        try:
            fmt_code = FORMATS.index(fmt)
        except ValueError:
            raise ValueError(f"WAL format {fmt!r}: expected one of {', '.join(FORMATS)}") from None
        durable: Future[int] = Future()
        with self._lock:
            if self._closed:
                raise WalClosedError("the write-ahead log is closed (the server is stopping)")
            position = self._last_position + 1
            header = HEADER.pack(
                len(payload), record_crc(position, fmt_code, payload), position, fmt_code
            )
            # One write per record keeps a torn tail to at most the last record.
            data = header + payload
            segment = self._writable_segment(position, len(data))
            offset = segment.size
            try:
                self._write_all(segment.fd, data)
            except OSError as exc:
                self.write_errors += 1
                self._cut_back(segment, offset)
                raise wal_error(exc.errno, self.directory, len(data), "write") from exc
            segment.size += len(data)
            self._last_position = self._highest_written = position
            self.appends += 1
            self._waiters.append(_Waiter(position, durable, segment, offset, len(data)))
            self._wake.notify()
        return position, durable

    def records(self, after: int = 0) -> Iterator[WalRecord]:
        """Every valid record with a position above ``after``, in order. Unreadable bytes
        are logged and skipped (counted in ``bad_records`` / ``skipped_bytes``)."""
        self.bad_records = self.skipped_bytes = 0
        segments = self.segments()
        last = 0
        for i, path in enumerate(segments):
            nxt = segments[i + 1] if i + 1 < len(segments) else None
            if nxt is not None and first_position(nxt) - 1 <= after:
                continue
            for record in read_segment(path, self._report):
                if record.position <= last:
                    # Positions only rise; a repeat is not a record this log wrote there.
                    self.bad_records += 1
                    self.skipped_bytes += HEADER.size + len(record.payload)
                    log.warning(
                        "write-ahead log segment %s: record %d comes after record %d, skipped",
                        path.name,
                        record.position,
                        last,
                    )
                    continue
                last = record.position
                if record.position > after:
                    yield record
        if self.bad_records:
            log.warning(
                "the write-ahead log in %s had %d unreadable regions (%d bytes), skipped; "
                "every readable record was read",
                self.directory,
                self.bad_records,
                self.skipped_bytes,
            )

    def release(self, upto: int) -> int:
        """Delete segments whose every record is at or below ``upto`` (the store's
        checkpoint); returns how many. The segment being written is kept, unless the log
        is closed and ``upto`` covers the highest position ever written to the files (a
        clean shutdown that stored everything leaves no WAL bytes on disk); a refused
        append wrote nothing and does not count."""
        segments = self.segments()
        if self._closed and segments and upto >= self._highest_written:
            for path in segments:
                path.unlink(missing_ok=True)
            return len(segments)
        removed = 0
        for path, nxt in zip(segments, segments[1:], strict=False):
            # Positions rise across segments: all of this one's are below the next's first.
            if first_position(nxt) - 1 > upto:
                break
            path.unlink(missing_ok=True)
            removed += 1
        return removed

    def close(self) -> None:
        """Make everything appended durable, then stop. Later appends raise WalClosedError."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._wake.notify()
        self._syncer.join()
        with self._lock:
            for segment in [*self._retired, *([self._segment] if self._segment else [])]:
                os.close(segment.fd)
            self._retired, self._segment = [], None

    # -- writing -----------------------------------------------------------------------

    def _writable_segment(self, position: int, needed: int) -> _Segment:
        """The segment to append to; a new one when the current is full or untrusted."""
        segment = self._segment
        if segment is not None and segment.size >= self._segment_bytes:
            self._retired.append(segment)
            self._segment = segment = None
        if segment is None:
            try:
                segment = self._segment = self._open_segment(position)
            except OSError as exc:
                self.write_errors += 1
                raise wal_error(exc.errno, self.directory, needed, "write") from exc
        return segment

    def _write_all(self, fd: int, data: bytes) -> None:
        written = self._write(fd, data)
        if written == len(data):
            return
        view = memoryview(data)
        while written < len(data):
            if written <= 0 or (n := self._write(fd, view[written:])) <= 0:
                # No error but no progress: take it as ENOSPC, as PostgreSQL does.
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            written += n

    def _cut_back(self, segment: _Segment, offset: int) -> None:
        """Remove a failed record's bytes; if that fails, stop writing to the segment."""
        try:
            self._truncate(segment.fd, offset)
        except OSError as exc:
            log.error(
                "could not cut the torn record off %s at offset %d (%s); later records go "
                "to a new segment and the reader will skip the torn bytes",
                segment.path,
                offset,
                exc.strerror,
            )
            self._retired.append(segment)
            self._segment = None
            self._wake.notify()  # the sync thread closes it (after flushing earlier records)

    def _open_segment(self, first_position: int) -> _Segment:
        generation = 0
        while True:
            name = f"{first_position:020d}" + (f"-{generation}" if generation else "")
            path = self.directory / (name + SUFFIX)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
                break
            except FileExistsError:
                generation += 1  # an abandoned segment that never held a record
        # The new file's name must survive a crash too, or replay would not find it.
        try:
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                self._fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        return _Segment(path, fd)

    # -- group commit --------------------------------------------------------------------

    def _sync_loop(self) -> None:
        while True:
            with self._lock:
                while not self._waiters and not self._retired and not self._closed:
                    self._wake.wait()
                if not self._waiters and not self._retired and self._closed:
                    return
                current = [self._segment] if self._segment is not None else []
                work = _Round(self._waiters, self._retired + current, self._retired)
                self._waiters, self._retired = [], []
            # Outside the lock: appends keep arriving while the disk works; they form
            # the next group.
            failed: dict[_Segment, OSError] = {}
            started = time.perf_counter()
            for segment in work.segments:
                try:
                    self._fsync(segment.fd)
                except OSError as exc:
                    failed[segment] = exc
            self.fsync_seconds += time.perf_counter() - started
            self.fsyncs += 1
            with self._lock:
                lost = self._fail_segments(failed, work.waiters) if failed else {}
                for segment in work.retired:
                    if segment not in failed:
                        os.close(segment.fd)
            for waiter in work.waiters:
                if waiter.segment not in failed:
                    waiter.durable.set_result(waiter.position)
            for waiter, error in lost.items():
                waiter.durable.set_exception(error)

    def _fail_segments(
        self, failed: dict[_Segment, OSError], group: list[_Waiter]
    ) -> dict[_Waiter, WalWriteError]:
        """Under the lock: every unacknowledged record of a segment whose fsync failed
        fails with it; the segment is cut back to the first of them and closed."""
        self.fsync_errors += 1
        lost: dict[_Waiter, WalWriteError] = {}
        later = [w for w in self._waiters if w.segment in failed]
        self._waiters = [w for w in self._waiters if w.segment not in failed]
        for segment, exc in failed.items():
            mine = [w for w in (*group, *later) if w.segment is segment]
            error = wal_error(exc.errno, self.directory, sum(w.size for w in mine), "fsync")
            lost.update((w, error) for w in mine)
            cut = min((w.offset for w in mine), default=segment.size)
            log.error(
                "fsync of %s failed (%s): %d records (positions %s) not acknowledged; "
                "cutting it back to offset %d and continuing in a new segment",
                segment.path,
                exc.strerror,
                len(mine),
                ", ".join(str(w.position) for w in mine[:5]) + (" ..." if len(mine) > 5 else ""),
                cut,
            )
            step = "cut"
            try:
                self._truncate(segment.fd, cut)
                step = "flush the cut of"
                self._fsync(segment.fd)
            except OSError as again:
                log.error(
                    "could not %s %s back to offset %d (%s): replay may still find those "
                    "unacknowledged records (harmless: store writes are idempotent)",
                    step,
                    segment.path,
                    cut,
                    again.strerror,
                )
            if self._segment is segment:
                self._segment = None
            if segment in self._retired:
                self._retired.remove(segment)
            os.close(segment.fd)
        return lost

    # -- reading -------------------------------------------------------------------------

    def _open_tail(self, path: Path) -> int | None:
        """At open: the last segment's highest position (None: no record), its torn tail
        reported and truncated. Damage in the middle is left for :meth:`records`."""
        highest: int | None = None
        tail: list[Damage] = []
        for record in read_segment(path, tail.append):
            highest = record.position
        if tail and tail[-1].at_end:
            torn = tail[-1]
            self.torn_tail_bytes = torn.length
            log.info(
                "write-ahead log segment %s: torn tail of %d bytes at offset %d (%s), a write "
                "that never finished and was never acknowledged; truncating it",
                path.name,
                torn.length,
                torn.offset,
                torn.reason,
            )
            try:
                fd = os.open(path, os.O_WRONLY)
                try:
                    self._truncate(fd, torn.offset)
                    self._fsync(fd)
                finally:
                    os.close(fd)
            except OSError as exc:
                log.warning("could not truncate %s (%s); the reader skips it", path, exc)
        return highest

    def _report(self, damage: Damage) -> None:
        self.bad_records += 1
        self.skipped_bytes += damage.length
        where = "at the end" if damage.at_end else "in the middle"
        log.warning(
            "write-ahead log segment %s: %d unreadable bytes at offset %d (%s) %s of the "
            "segment, skipped; reading goes on after them",
            damage.path.name,
            damage.length,
            damage.offset,
            damage.reason,
            where,
        )

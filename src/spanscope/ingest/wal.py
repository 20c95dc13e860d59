"""The write-ahead log: every accepted request is on disk before the client hears "OK".

A receiver appends the request body it accepted (decompressed, with a format tag saying
which decoder reads it back) and waits for :meth:`WriteAheadLog.append` 's future before
it answers. The store writer later records, in the same transaction as the spans, the
highest log position it has stored; on the next start everything after that position is
decoded again and written again (store writes are idempotent), so an acknowledged span
survives ``kill -9`` and is stored exactly once.

Layout: ``<data-dir>/wal/<first position, 20 digits>.wal`` segment files. Each record is::

    length u32 | crc32 u32 | position u64 | format u8 | payload (length bytes)

little-endian, the CRC covering position, format and payload. A crash mid-write leaves a
torn tail; reading stops at the first record that is short or fails its CRC, and the log
continues in a fresh segment, so the torn bytes are never mistaken for data.

Group commit: appends only ``write()`` to the page cache. One background thread runs
``fsync`` in a loop, and each ``fsync`` completes every append that was written before it
started, so N concurrent requests share one disk flush instead of paying N::

    wal = WriteAheadLog(Path("data/wal"))
    position, durable = wal.append("otlp-proto", body)
    durable.result()                      # or: await asyncio.wrap_future(durable)
    for record in wal.records(after=checkpoint):
        ...
    wal.release(upto=checkpoint)          # drop segments the store has fully absorbed
    wal.close()
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

FORMATS = (
    "otlp-proto",
    "otlp-json",
    "zipkin-json",
    "otlp-logs-proto",
    "otlp-logs-json",
    "otlp-metrics-proto",
    "otlp-metrics-json",
)
"""Format tags, stored as their index; append new ones at the end, never reorder."""

_HEADER = struct.Struct("<IIQB")
_POSITION = struct.Struct("<Q")
_SUFFIX = ".wal"
DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class WalRecord:
    position: int
    format: str
    payload: bytes


class WalClosedError(RuntimeError):
    """The log was closed; the request was not made durable and must not be acknowledged."""


def _crc(position: int, fmt_code: int, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(_POSITION.pack(position) + bytes([fmt_code])))


def _read_segment(path: Path) -> Iterator[WalRecord]:
    """Records of one segment, stopping silently at a torn or corrupt tail."""
    data = path.read_bytes()
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, crc, position, fmt_code = _HEADER.unpack_from(data, offset)
        start = offset + _HEADER.size
        payload = data[start : start + length]
        if len(payload) < length or fmt_code >= len(FORMATS):
            return
        if _crc(position, fmt_code, payload) != crc:
            return
        yield WalRecord(position, FORMATS[fmt_code], payload)
        offset = start + length


def _first_position(path: Path) -> int:
    return int(path.name.removesuffix(_SUFFIX))


class WriteAheadLog:
    """Append-only, CRC-checked, group-committed log of accepted request payloads.

    ``start_after`` is the lowest position the caller already knows is used (for example
    the store's checkpoint, in case every segment was deleted); new positions continue
    after both it and the last valid record on disk.
    """

    def __init__(
        self,
        directory: Path,
        *,
        start_after: int = 0,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        fsync: Callable[[int], None] = os.fsync,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._segment_bytes = segment_bytes
        self._fsync = fsync
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._closed = False
        self._waiters: list[tuple[int, Future[int]]] = []
        self._retired_fds: list[int] = []
        self.appends = 0
        """Records appended since open (for measuring group commit)."""
        self.fsyncs = 0
        """fsync rounds run since open; far fewer than ``appends`` under concurrency."""

        last = start_after
        segments = self.segments()
        if segments:
            tail = [r.position for r in _read_segment(segments[-1])]
            last = max(last, tail[-1] if tail else _first_position(segments[-1]) - 1)
        self._last_position = last
        # Always a new segment: never append after a tail a crash may have torn.
        self._fd = self._open_segment(last + 1)
        self._segment_size = 0
        self._syncer = threading.Thread(target=self._sync_loop, name="wal-fsync", daemon=True)
        self._syncer.start()

    @property
    def last_position(self) -> int:
        """Position of the newest appended record (0 when none was ever appended)."""
        return self._last_position

    def segments(self) -> list[Path]:
        """Segment files, oldest first."""
        return sorted(self.directory.glob("*" + _SUFFIX))

    def append(self, fmt: str, payload: bytes) -> tuple[int, Future[int]]:
        """Write one record; return its position and a future that completes (with the
        position) once the record is fsynced. Answer the client only after that."""
        try:
            fmt_code = FORMATS.index(fmt)
        except ValueError:
            raise ValueError(f"WAL format {fmt!r}: expected one of {', '.join(FORMATS)}") from None
        durable: Future[int] = Future()
        with self._lock:
            if self._closed:
                raise WalClosedError("the write-ahead log is closed (the server is stopping)")
            position = self._last_position + 1
            if self._segment_size >= self._segment_bytes:
                self._retired_fds.append(self._fd)
                self._fd = self._open_segment(position)
                self._segment_size = 0
            record = _HEADER.pack(
                len(payload), _crc(position, fmt_code, payload), position, fmt_code
            )
            # One write per record keeps a torn tail to at most the last record.
            os.write(self._fd, record + payload)
            self._segment_size += len(record) + len(payload)
            self._last_position = position
            self.appends += 1
            self._waiters.append((position, durable))
            self._wake.notify()
        return position, durable

    def records(self, after: int = 0) -> Iterator[WalRecord]:
        """Every valid record with a position above ``after``, in order."""
        segments = self.segments()
        for i, path in enumerate(segments):
            nxt = segments[i + 1] if i + 1 < len(segments) else None
            if nxt is not None and _first_position(nxt) - 1 <= after:
                continue
            for record in _read_segment(path):
                if record.position > after:
                    yield record

    def release(self, upto: int) -> int:
        """Delete segments whose every record is at or below ``upto`` (the store's
        checkpoint). The segment being written is never deleted — unless the log is closed
        and the store holds all of it (a clean shutdown leaves no WAL bytes on disk).
        Returns how many."""
        removed = 0
        segments = self.segments()
        if self._closed and segments and upto >= self._last_position:
            for path in segments:
                path.unlink(missing_ok=True)
            return len(segments)
        for path, nxt in zip(segments, segments[1:], strict=False):
            if _first_position(nxt) - 1 > upto:
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
        os.close(self._fd)

    def _open_segment(self, first_position: int) -> int:
        path = self.directory / f"{first_position:020d}{_SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        # The new file's name must survive a crash too, or replay would not find it.
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            self._fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return fd

    def _sync_loop(self) -> None:
        while True:
            with self._lock:
                while not self._waiters and not self._closed:
                    self._wake.wait()
                if not self._waiters and self._closed:
                    return
                waiters, self._waiters = self._waiters, []
                retired, self._retired_fds = self._retired_fds, []
                fd = self._fd
            # Outside the lock: appends keep arriving while the disk works; they form
            # the next group.
            error: OSError | None = None
            try:
                for old in retired:
                    self._fsync(old)
                    os.close(old)
                self._fsync(fd)
            except OSError as exc:
                error = exc
            self.fsyncs += 1
            for position, waiter in waiters:
                if error is None:
                    waiter.set_result(position)
                else:
                    waiter.set_exception(error)

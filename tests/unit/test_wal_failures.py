"""The write-ahead log under a failing disk: a record that could not be written or flushed
is refused (never acknowledged) and leaves no torn bytes behind, the log goes on once the
disk recovers, and reading a damaged log reports and skips the damage instead of stopping.

``Disk`` stands in for a filesystem that fills up: it hands ``WriteAheadLog`` an
``os.write`` that writes for real until its byte budget runs out, then writes what still
fits (a short write, as ext4 and tmpfs do) and raises ENOSPC on the next call.
"""

from __future__ import annotations

import errno
import logging
import os
import random
import struct
import threading
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spanscope.ingest.wal import WalFullError, WalWriteError, WriteAheadLog

HEADER = 17  # length u32 | crc32 u32 | position u64 | format u8


class Disk:
    """``os.write`` with a budget of free bytes (None: unlimited)."""

    def __init__(self, free: int | None = None) -> None:
        self.free = free

    def write(self, fd: int, data: bytes | memoryview) -> int:
        if self.free is None:
            return os.write(fd, data)
        if self.free <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written = os.write(fd, data[: self.free])
        self.free -= written
        return written


def _wal_bytes(wal: WriteAheadLog) -> int:
    return sum(p.stat().st_size for p in wal.segments())


def _payloads(directory: Path) -> list[bytes]:
    wal = WriteAheadLog(directory)
    try:
        return [r.payload for r in wal.records()]
    finally:
        wal.close()


def test_a_write_the_disk_cannot_hold_is_refused_and_leaves_no_torn_bytes(
    tmp_path: Path,
) -> None:
    disk = Disk()
    wal = WriteAheadLog(tmp_path, write=disk.write)
    acked: list[bytes] = []
    for i in range(3):
        body = f"ok {i}".encode() * 10
        wal.append("otlp-proto", body)[1].result(timeout=10)
        acked.append(body)
    before = _wal_bytes(wal)
    disk.free = 25  # room for the header and a little of the payload: a short write

    with pytest.raises(WalFullError) as info:
        wal.append("otlp-proto", b"refused" * 20)
    error = info.value
    assert error.errno == errno.ENOSPC
    assert "No space left on device" in str(error)
    assert str(tmp_path) in str(error)
    assert error.needed == HEADER + 140
    assert _wal_bytes(wal) == before  # the torn record was cut off again
    with pytest.raises(WalFullError):  # still full: refused again, position not used
        wal.append("otlp-json", b"also refused")

    disk.free = None  # space returns
    for i in range(3, 6):
        body = f"ok {i}".encode()
        position, durable = wal.append("otlp-proto", body)
        assert durable.result(timeout=10) == position == i + 1  # no gap for refusals
        acked.append(body)
    wal.close()
    assert _payloads(tmp_path) == acked


def test_a_short_write_that_reports_no_error_is_taken_as_a_full_disk(tmp_path: Path) -> None:
    torn = False

    def write_half_then_nothing(fd: int, data: bytes | memoryview) -> int:
        nonlocal torn
        if len(data) <= 40 and not torn:
            return os.write(fd, data)
        if torn:
            return 0  # no progress, no errno
        torn = True
        return os.write(fd, data[: len(data) // 2])

    wal = WriteAheadLog(tmp_path, write=write_half_then_nothing)
    wal.append("otlp-proto", b"small")[1].result(timeout=10)
    with pytest.raises(WalFullError, match="No space left"):
        wal.append("otlp-proto", b"x" * 100)
    wal.close()
    assert _payloads(tmp_path) == [b"small"]


def test_writes_that_make_progress_in_pieces_complete_the_record(tmp_path: Path) -> None:
    def seven_bytes_at_a_time(fd: int, data: bytes | memoryview) -> int:
        return os.write(fd, data[:7])

    wal = WriteAheadLog(tmp_path, write=seven_bytes_at_a_time)
    bodies = [b"a" * 50, b"b" * 3, b""]
    for body in bodies:
        wal.append("zipkin-json", body)[1].result(timeout=10)
    wal.close()
    assert _payloads(tmp_path) == bodies


def test_an_io_error_is_refused_with_its_errno_text(tmp_path: Path) -> None:
    def broken(fd: int, data: bytes | memoryview) -> int:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    wal = WriteAheadLog(tmp_path, write=broken)
    with pytest.raises(WalWriteError, match="Input/output error") as info:
        wal.append("otlp-proto", b"x")
    assert not isinstance(info.value, WalFullError)
    assert wal.write_errors == 1
    wal.close()


def test_when_the_torn_bytes_cannot_be_cut_off_the_log_moves_to_a_new_segment(
    tmp_path: Path,
) -> None:
    disk = Disk()
    truncate_works = True

    def truncate(fd: int, length: int) -> None:
        if not truncate_works:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        os.ftruncate(fd, length)

    wal = WriteAheadLog(tmp_path, write=disk.write, truncate=truncate)
    wal.append("otlp-proto", b"first")[1].result(timeout=10)
    disk.free, truncate_works = 30, False
    with pytest.raises(WalFullError):
        wal.append("otlp-proto", b"torn" * 20)
    torn_segment = wal.segments()[-1]
    assert torn_segment.stat().st_size > HEADER + 5  # the torn bytes are still there

    disk.free, truncate_works = None, True
    position, durable = wal.append("otlp-proto", b"second")
    assert durable.result(timeout=10) == position == 2
    assert len(wal.segments()) == 2
    assert wal.segments()[-1] != torn_segment
    wal.close()

    reopened = WriteAheadLog(tmp_path)
    assert [(r.position, r.payload) for r in reopened.records()] == [(1, b"first"), (2, b"second")]
    assert reopened.bad_records == 1  # the torn record, reported and skipped
    assert reopened.skipped_bytes == torn_segment.stat().st_size - (HEADER + 5)
    reopened.close()


def test_a_torn_first_record_that_cannot_be_cut_gets_a_segment_of_its_own_name(
    tmp_path: Path,
) -> None:
    disk = Disk(free=10)

    def no_truncate(fd: int, length: int) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    wal = WriteAheadLog(tmp_path, write=disk.write, truncate=no_truncate)
    with pytest.raises(WalFullError):
        wal.append("otlp-proto", b"torn" * 10)
    disk.free = None
    assert wal.append("otlp-proto", b"first")[1].result(timeout=10) == 1
    # Both segments start at position 1: the second is told apart by a suffix, and sorts
    # after the first.
    assert [p.name for p in wal.segments()] == [f"{1:020d}.wal", f"{1:020d}-1.wal"]
    wal.close()
    reopened = WriteAheadLog(tmp_path)
    assert [(r.position, r.payload) for r in reopened.records()] == [(1, b"first")]
    reopened.close()


def test_a_torn_tail_followed_by_an_empty_segment_is_still_cut_at_open(tmp_path: Path) -> None:
    # A crash tore the last write; the restart opened a new segment and crashed again
    # before writing to it.
    wal = WriteAheadLog(tmp_path)
    wal.append("otlp-proto", b"kept")[1].result(timeout=10)
    wal.close()
    segment = wal.segments()[-1]
    segment.write_bytes(segment.read_bytes() + b"\x05\x00\x00")
    (tmp_path / f"{2:020d}.wal").touch()
    reopened = WriteAheadLog(tmp_path)
    assert reopened.torn_tail_bytes == 3
    assert segment.stat().st_size == HEADER + 4
    assert [r.payload for r in reopened.records()] == [b"kept"]
    assert reopened.bad_records == 0
    assert reopened.append("otlp-proto", b"next")[1].result(timeout=10) == 2
    reopened.close()


class FlakyFsync:
    """``os.fsync`` that fails (EIO) while ``failing`` is set; ``gate`` can hold it."""

    def __init__(self) -> None:
        self.failing = False
        self.gate: threading.Event | None = None
        self.entered = threading.Event()

    def __call__(self, fd: int) -> None:
        if self.failing:
            self.entered.set()
            if self.gate is not None:
                self.gate.wait(10)
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        os.fsync(fd)


def test_a_failed_fsync_acknowledges_nothing_and_the_log_moves_to_a_new_segment(
    tmp_path: Path,
) -> None:
    fsync = FlakyFsync()
    wal = WriteAheadLog(tmp_path, fsync=fsync)
    wal.append("otlp-proto", b"acked")[1].result(timeout=10)
    segments = wal.segments()

    fsync.failing = True
    _, durable = wal.append("otlp-proto", b"not flushed")
    with pytest.raises(WalWriteError, match="Input/output error"):
        durable.result(timeout=10)
    assert wal.fsync_errors == 1

    fsync.failing = False
    position, durable = wal.append("otlp-proto", b"after")
    assert durable.result(timeout=10) == position == 3  # position 2 stays used (abandoned)
    assert len(wal.segments()) == len(segments) + 1  # the old segment is not trusted
    wal.close()
    assert _payloads(tmp_path) == [b"acked", b"after"]  # the unflushed record was cut off


def test_records_written_while_a_failing_fsync_runs_fail_with_it(tmp_path: Path) -> None:
    fsync = FlakyFsync()
    wal = WriteAheadLog(tmp_path, fsync=fsync)
    fsync.failing, fsync.gate = True, threading.Event()
    _, first = wal.append("otlp-proto", b"in the failing group")
    assert fsync.entered.wait(10)
    # Written to the same file while its fsync is failing: a later fsync of that file
    # succeeding says nothing about the lost pages, so this one must not be acked either.
    _, second = wal.append("otlp-proto", b"written during the failing fsync")
    fsync.failing = False
    fsync.gate.set()
    for durable in (first, second):
        with pytest.raises(WalWriteError):
            durable.result(timeout=10)
    position, durable = wal.append("otlp-proto", b"fresh")
    assert durable.result(timeout=10) == position
    wal.close()
    assert _payloads(tmp_path) == [b"fresh"]


def test_a_new_segment_that_cannot_be_made_durable_refuses_the_append(tmp_path: Path) -> None:
    fsync = FlakyFsync()
    wal = WriteAheadLog(tmp_path, segment_bytes=10, fsync=fsync)
    wal.append("otlp-proto", b"first, filling the segment")[1].result(timeout=10)
    fsync.failing = True  # the directory fsync that makes the next segment's name durable
    with pytest.raises(WalWriteError, match="Input/output error"):
        wal.append("otlp-proto", b"second")
    fsync.failing = False
    assert wal.append("otlp-proto", b"third")[1].result(timeout=10) == 2
    wal.close()
    assert _payloads(tmp_path) == [b"first, filling the segment", b"third"]


def _three_records(tmp_path: Path) -> tuple[Path, bytes]:
    wal = WriteAheadLog(tmp_path)
    for body in (b"aaaa" * 5, b"bbbb" * 5, b"cccc" * 5):
        wal.append("otlp-proto", body)[1].result(timeout=10)
    wal.close()
    segment = wal.segments()[-1]
    return segment, segment.read_bytes()


def test_a_damaged_record_in_the_middle_is_reported_and_reading_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    segment, data = _three_records(tmp_path)
    damaged = bytearray(data)
    damaged[data.index(b"bbbb")] ^= 0xFF
    segment.write_bytes(bytes(damaged))

    wal = WriteAheadLog(tmp_path)
    with caplog.at_level(logging.WARNING, logger="spanscope.ingest.wal"):
        assert [r.payload for r in wal.records()] == [b"aaaa" * 5, b"cccc" * 5]
    assert wal.bad_records == 1
    assert wal.skipped_bytes == HEADER + 20
    record_offset = HEADER + 20
    assert any(
        segment.name in m and f"offset {record_offset}" in m and "CRC" in m for m in caplog.messages
    ), caplog.messages
    wal.close()


@pytest.mark.parametrize("garbage", [b"\x00" * 4096, os.urandom(3000), b"\xff" * 5])
def test_garbage_between_records_is_skipped_and_counted(tmp_path: Path, garbage: bytes) -> None:
    segment, data = _three_records(tmp_path)
    cut = 2 * (HEADER + 20)
    segment.write_bytes(data[:cut] + garbage + data[cut:])
    wal = WriteAheadLog(tmp_path)
    assert [r.payload for r in wal.records()] == [b"aaaa" * 5, b"bbbb" * 5, b"cccc" * 5]
    assert (wal.bad_records, wal.skipped_bytes) == (1, len(garbage))
    position, durable = wal.append("otlp-proto", b"dddd")
    assert durable.result(timeout=10) == position == 4
    wal.close()


def test_a_torn_tail_is_reported_truncated_and_not_counted_as_damage(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    segment, data = _three_records(tmp_path)
    segment.write_bytes(data[:-7])  # a crash in the middle of the last write
    with caplog.at_level(logging.INFO, logger="spanscope.ingest.wal"):
        wal = WriteAheadLog(tmp_path)
    assert wal.torn_tail_bytes == HEADER + 20 - 7
    assert segment.stat().st_size == 2 * (HEADER + 20)  # cut before anything follows it
    assert any(segment.name in m and "torn" in m for m in caplog.messages), caplog.messages
    assert [r.payload for r in wal.records()] == [b"aaaa" * 5, b"bbbb" * 5]
    assert wal.bad_records == 0
    position, durable = wal.append("otlp-proto", b"next")
    assert durable.result(timeout=10) == position == 3
    wal.close()


def test_a_clean_stop_keeps_the_log_while_a_written_record_is_above_the_checkpoint(
    tmp_path: Path,
) -> None:
    wal = WriteAheadLog(tmp_path, segment_bytes=30)
    for i in range(4):
        wal.append("otlp-proto", bytes(40) + bytes([i]))[1].result(timeout=10)
    wal.close()
    assert wal.release(upto=3) == 3  # segments of records 1..3 only; record 4's stays
    assert [r.position for r in WriteAheadLog(tmp_path).records()] == [4]
    wal.release(upto=4)
    assert wal.segments() == []


def test_a_refused_position_does_not_count_as_written_for_release(tmp_path: Path) -> None:
    disk = Disk()
    wal = WriteAheadLog(tmp_path, write=disk.write)
    wal.append("otlp-proto", b"one")[1].result(timeout=10)
    disk.free = 0
    with pytest.raises(WalFullError):
        wal.append("otlp-proto", b"two")
    wal.close()
    # The store holds record 1, every record in the files: the log may go.
    assert wal.release(upto=1) >= 1
    assert wal.segments() == []


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    steps=st.lists(
        st.tuples(st.integers(0, 120), st.sampled_from([None, 0, 5, 17, 30, 200])),
        min_size=1,
        max_size=25,
    )
)
def test_whatever_the_disk_does_replay_yields_exactly_the_acknowledged_records(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[int, int | None]]
) -> None:
    directory = tmp_path_factory.mktemp("wal")
    disk = Disk()
    wal = WriteAheadLog(directory, write=disk.write, segment_bytes=200)
    acked: list[tuple[int, bytes]] = []
    for n, (size, free) in enumerate(steps):
        disk.free = free
        body = bytes([n % 256]) * size
        try:
            position, durable = wal.append("otlp-proto", body)
        except WalFullError:
            continue
        acked.append((durable.result(timeout=10), body))
    wal.close()
    reopened = WriteAheadLog(directory)
    assert [(r.position, r.payload) for r in reopened.records()] == acked
    assert reopened.bad_records == 0
    reopened.close()


def _record(position: int, payload: bytes, fmt_code: int = 0) -> bytes:
    """A record as the module docstring lays it out, built by hand."""
    crc = zlib.crc32(payload, zlib.crc32(struct.pack("<Q", position) + bytes([fmt_code])))
    return struct.pack("<IIQB", len(payload), crc, position, fmt_code) + payload


def test_a_log_torn_by_an_older_version_gives_back_the_records_behind_the_tear(
    tmp_path: Path,
) -> None:
    # Before writes were checked, a short write took a position, was acknowledged, and
    # later records were appended behind it; reading stopped there and lost them.
    torn = _record(2, b"torn" * 30)[:25]
    after = [_record(p, f"acked {p}".encode()) for p in (3, 4, 5)]
    (tmp_path / f"{1:020d}.wal").write_bytes(_record(1, b"acked 1") + torn + b"".join(after))
    wal = WriteAheadLog(tmp_path)
    assert [r.position for r in wal.records()] == [1, 3, 4, 5]
    assert (wal.bad_records, wal.skipped_bytes) == (1, 25)
    position, durable = wal.append("otlp-proto", b"next")
    assert durable.result(timeout=10) == position == 6
    wal.close()


def test_the_pipeline_never_stalls_or_drops_the_log_over_refused_records(
    tmp_path: Path,
) -> None:
    from spanscope.config import Settings
    from spanscope.ingest.limits import Limits
    from spanscope.ingest.pipeline import IngestPipeline
    from tests.support.pipeline import DECODERS, ArrowStore

    disk, fsync = Disk(), FlakyFsync()
    store = ArrowStore()
    wal = WriteAheadLog(tmp_path / "wal", write=disk.write, fsync=fsync)
    pipeline = IngestPipeline(
        store, wal, Settings(data_dir=tmp_path, flush_interval_s=0.01), decoders=DECODERS
    )
    pipeline.start()

    def send(ids: bytes) -> bool:
        spans = DECODERS["otlp-json"](ids, Limits()).spans
        try:
            pipeline.accept_blocking("otlp-json", ids, spans)
        except WalWriteError:
            return False
        return True

    assert send(b"[1]")  # position 1
    disk.free = 0
    assert not send(b"[2]")  # refused before it took a position
    disk.free = None
    fsync.failing = True
    assert not send(b"[3]")  # took position 2, then its fsync failed: abandoned
    fsync.failing = False
    assert send(b"[4]")  # position 3
    pipeline.stop()
    # The checkpoint passed the abandoned position instead of freezing below it.
    assert store.position == 3
    assert store.stored() == [1, 4]
    assert pipeline.pending_spans == 0
    assert (pipeline.refusals.requests, pipeline.refusals.spans) == (2, 2)
    wal.close()
    # The writer already released the segment of 1 and 2. A clean stop deletes the rest
    # only once the store holds every record written to it.
    assert wal.release(upto=2) == 0
    reopened = WriteAheadLog(wal.directory)
    assert [r.position for r in reopened.records()] == [3]
    reopened.close()
    assert reopened.release(upto=store.position) >= 1
    assert wal.segments() == []


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    sizes=st.lists(st.integers(0, 300), min_size=1, max_size=30),
    where=st.floats(0, 1),
    length=st.integers(1, 400),
    kind=st.sampled_from(["zeros", "random", "ones", "flip"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_one_damaged_region_costs_only_the_records_it_touches(
    tmp_path_factory: pytest.TempPathFactory,
    sizes: list[int],
    where: float,
    length: int,
    kind: str,
    seed: int,
) -> None:
    rng = random.Random(seed)
    records = [(p, rng.randbytes(size)) for p, size in enumerate(sizes, start=1)]
    spans, data = [], b""
    for position, payload in records:
        spans.append((len(data), len(data) + HEADER + len(payload)))
        data += _record(position, payload)
    start = int(where * (len(data) - 1))
    end = min(len(data), start + length)
    original = data[start:end]
    damage = {
        "zeros": bytes(len(original)),
        "random": rng.randbytes(len(original)),
        "ones": b"\xff" * len(original),
        "flip": bytes(b ^ 0x5A for b in original),
    }[kind]
    directory = tmp_path_factory.mktemp("wal")
    (directory / f"{1:020d}.wal").write_bytes(data[:start] + damage + data[end:])
    # A later segment, so damage at the end of the first is not the log's torn tail.
    after = (len(records) + 1, b"in the next segment")
    (directory / f"{after[0]:020d}.wal").write_bytes(_record(*after))

    wal = WriteAheadLog(directory)
    read = [(r.position, r.payload) for r in wal.records()]
    wal.close()
    untouched = [
        record for record, (lo, hi) in zip(records, spans, strict=True) if hi <= start or lo >= end
    ]
    assert set(untouched) | {after} <= set(read)  # nothing outside the damage is lost
    assert set(read) <= set(records) | {after}  # nothing made up
    assert [p for p, _ in read] == sorted(p for p, _ in read)
    if damage != original:
        assert wal.bad_records >= 1 and wal.skipped_bytes >= 1
    assert wal.torn_tail_bytes == 0

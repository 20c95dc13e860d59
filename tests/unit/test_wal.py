"""The write-ahead log keeps what it acknowledged, detects torn tails, and group-commits."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from spanscope.ingest.wal import WalClosedError, WriteAheadLog


def test_records_come_back_in_order_after_reopen(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path)
    for i in range(5):
        position, durable = wal.append("otlp-proto", f"body {i}".encode())
        assert durable.result(timeout=10) == position
    wal.close()

    reopened = WriteAheadLog(tmp_path)
    records = list(reopened.records())
    assert [r.payload for r in records] == [f"body {i}".encode() for i in range(5)]
    assert [r.position for r in records] == [1, 2, 3, 4, 5]
    assert {r.format for r in records} == {"otlp-proto"}
    assert [r.position for r in reopened.records(after=3)] == [4, 5]
    # Positions keep rising across restarts.
    position, durable = reopened.append("zipkin-json", b"[]")
    durable.result(timeout=10)
    assert position == 6
    reopened.close()


def test_torn_tail_is_ignored_and_the_log_continues(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path)
    for body in (b"first", b"second"):
        wal.append("otlp-json", body)[1].result(timeout=10)
    wal.close()
    segment = wal.segments()[-1]
    data = segment.read_bytes()
    segment.write_bytes(data[:-3])  # a crash in the middle of the last write

    reopened = WriteAheadLog(tmp_path)
    assert [r.payload for r in reopened.records()] == [b"first"]
    position, durable = reopened.append("otlp-json", b"third")
    durable.result(timeout=10)
    reopened.close()
    assert [r.payload for r in WriteAheadLog(tmp_path).records()] == [b"first", b"third"]


def test_a_corrupted_record_is_skipped_and_the_records_after_it_are_read(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path)
    for body in (b"aaaa", b"bbbb", b"cccc"):
        wal.append("otlp-proto", body)[1].result(timeout=10)
    wal.close()
    segment = wal.segments()[-1]
    data = bytearray(segment.read_bytes())
    data[data.index(b"bbbb")] ^= 0xFF
    segment.write_bytes(bytes(data))
    # Reading used to stop here, losing every acknowledged record after the damage.
    assert [r.payload for r in WriteAheadLog(tmp_path).records()] == [b"aaaa", b"cccc"]


def test_release_deletes_only_segments_wholly_below_the_checkpoint(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path, segment_bytes=50)
    for i in range(6):
        wal.append("otlp-proto", bytes(80) + bytes([i]))[1].result(timeout=10)
    assert len(wal.segments()) == 6
    wal.release(upto=3)
    assert [r.position for r in wal.records()] == [4, 5, 6]
    wal.release(upto=6)  # the segment being written stays
    assert len(wal.segments()) == 1
    wal.close()


def test_unknown_format_is_refused_with_the_choices(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path)
    with pytest.raises(ValueError, match="'thrift'.*otlp-proto"):
        wal.append("thrift", b"x")
    wal.close()
    with pytest.raises(WalClosedError):
        wal.append("otlp-proto", b"x")


def test_concurrent_appends_share_fsyncs(tmp_path: Path) -> None:
    def slow_fsync(fd: int) -> None:  # a disk that takes a while, like a real one
        time.sleep(0.005)

    wal = WriteAheadLog(tmp_path, fsync=slow_fsync)
    per_thread = 40

    def client() -> None:
        for _ in range(per_thread):
            wal.append("otlp-proto", b"x" * 100)[1].result(timeout=10)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wal.close()
    assert wal.appends == 8 * per_thread
    # Each request waiting for its own fsync would mean fsyncs == appends.
    assert wal.fsyncs <= wal.appends / 3
    assert len(list(WriteAheadLog(tmp_path).records())) == 8 * per_thread

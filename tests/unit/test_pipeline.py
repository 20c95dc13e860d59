"""The ingest pipeline: acknowledged spans reach the store once, replay is exact,
overload is refused instead of queued."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from spanscope.config import Settings
from spanscope.ingest.limits import Limits
from spanscope.ingest.pipeline import IngestPipeline, OverloadedError
from spanscope.ingest.results import DecodeResult
from spanscope.ingest.wal import WriteAheadLog
from spanscope.model.spans import Span
from spanscope.store.memory import MemoryStore


class FakeStore(MemoryStore):
    """The reference store with its writes, WAL checkpoint and checkpoints counted."""

    def __init__(self, position: int | None = None) -> None:
        super().__init__()
        self.spans: dict[tuple[bytes, bytes], Span] = {}
        self.position = position
        self.writes: list[int | None] = []
        self.checkpoints = 0

    def write(self, spans: Sequence[Span], wal_position: int | None = None) -> int:
        new = 0
        for s in spans:
            if (s.trace_id, s.span_id) not in self.spans:
                self.spans[(s.trace_id, s.span_id)] = s
                new += 1
        if wal_position is not None:
            self.position = wal_position
        self.writes.append(wal_position)
        return new

    def wal_position(self) -> int | None:
        return self.position

    def checkpoint(self) -> None:
        self.checkpoints += 1


def _span(n: int) -> Span:
    return Span(
        trace_id=n.to_bytes(16, "big"),
        span_id=n.to_bytes(8, "big"),
        name=f"op{n}",
        start_ns=1_700_000_000_000_000_000,
        end_ns=1_700_000_000_100_000_000,
    )


def decode_ids(body: bytes, limits: Limits) -> DecodeResult:
    """Test format: a JSON list of integers, one span each."""
    return DecodeResult(spans=[_span(n) for n in json.loads(body)])


DECODERS = {"otlp-json": decode_ids}


def _pipeline(tmp_path: Path, store: FakeStore, **settings: object) -> IngestPipeline:
    wal = WriteAheadLog(tmp_path / "wal", start_after=store.wal_position() or 0)
    s = Settings(data_dir=tmp_path, flush_interval_s=0.01, **settings)  # type: ignore[arg-type]
    return IngestPipeline(store, wal, s, decoders=DECODERS)


def _send(pipeline: IngestPipeline, ids: list[int]) -> None:
    body = json.dumps(ids).encode()
    pipeline.accept_blocking("otlp-json", body, decode_ids(body, Limits()).spans)


def test_acknowledged_spans_are_stored_with_the_checkpoint(tmp_path: Path) -> None:
    store = FakeStore()
    pipeline = _pipeline(tmp_path, store)
    pipeline.start()
    _send(pipeline, [1, 2, 3])
    asyncio.run(pipeline.accept("otlp-json", b"[4]", [_span(4)]))
    pipeline.stop()
    pipeline.wal.close()
    assert sorted(int.from_bytes(k[1], "big") for k in store.spans) == [1, 2, 3, 4]
    assert store.position == 2  # both WAL records are covered by the checkpoint
    assert store.checkpoints >= 1
    assert pipeline.pending_spans == 0


def test_replay_writes_what_the_store_missed_exactly_once(tmp_path: Path) -> None:
    first = FakeStore()
    pipeline = _pipeline(tmp_path, first)
    # Acknowledged (durable in the WAL) but the writer never ran: a crash.
    for ids in ([1, 2], [3], [2, 4]):
        _send(pipeline, ids)
    pipeline.wal.close()

    store = FakeStore()
    restarted = _pipeline(tmp_path, store)
    assert restarted.replay() == 4
    assert sorted(int.from_bytes(k[1], "big") for k in store.spans) == [1, 2, 3, 4]
    assert store.position == 3
    # A second replay finds nothing after the checkpoint.
    assert restarted.replay() == 0
    restarted.wal.close()


def test_replay_starts_after_the_store_checkpoint(tmp_path: Path) -> None:
    pipeline = _pipeline(tmp_path, FakeStore())
    for ids in ([1], [2], [3]):
        _send(pipeline, ids)
    pipeline.wal.close()
    store = FakeStore(position=2)
    restarted = _pipeline(tmp_path, store)
    restarted.replay()
    assert [int.from_bytes(k[1], "big") for k in store.spans] == [3]
    restarted.wal.close()


def test_overload_is_refused_with_a_retry_hint(tmp_path: Path) -> None:
    store = FakeStore()
    pipeline = _pipeline(tmp_path, store, max_pending_spans=3)
    # Writer not started: acknowledged spans stay pending.
    _send(pipeline, [1, 2])
    with pytest.raises(OverloadedError, match="limit 3") as info:
        _send(pipeline, [3, 4])
    assert info.value.retry_after_s >= 1
    _send(pipeline, [5])  # still fits
    pipeline.start()
    deadline = time.monotonic() + 10
    while pipeline.pending_spans and time.monotonic() < deadline:
        time.sleep(0.01)
    _send(pipeline, [3, 4])  # room again once the writer stored the backlog
    pipeline.stop()
    pipeline.wal.close()
    assert len(store.spans) == 5


def test_one_request_larger_than_the_limit_still_gets_in(tmp_path: Path) -> None:
    store = FakeStore()
    pipeline = _pipeline(tmp_path, store, max_pending_spans=2)
    pipeline.start()
    _send(pipeline, [1, 2, 3, 4])
    pipeline.stop()
    pipeline.wal.close()
    assert len(store.spans) == 4


def test_wal_segments_below_the_checkpoint_are_deleted(tmp_path: Path) -> None:
    store = FakeStore()
    wal = WriteAheadLog(tmp_path / "wal", segment_bytes=10)
    pipeline = IngestPipeline(store, wal, Settings(flush_interval_s=0.01), decoders=DECODERS)
    pipeline.start()
    for i in range(5):
        _send(pipeline, [i + 1])
    pipeline.stop()
    assert store.position == 5
    assert len(wal.segments()) == 1
    wal.close()

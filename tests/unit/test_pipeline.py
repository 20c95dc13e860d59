"""The ingest pipeline: acknowledged spans reach the store once, replay is exact,
overload is refused instead of queued."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from spanscope.config import Settings
from spanscope.ingest.pipeline import IngestPipeline, OverloadedError
from spanscope.ingest.wal import WriteAheadLog
from spanscope.sampling.config import parse_tail_sampling
from spanscope.sampling.tail import TailSampler
from tests.support.pipeline import DECODERS, ArrowStore, numbered_span, send
from tests.support.waiting import wait_until


def _pipeline(tmp_path: Path, store: ArrowStore, **settings: object) -> IngestPipeline:
    wal = WriteAheadLog(tmp_path / "wal", start_after=store.wal_position() or 0)
    s = Settings(data_dir=tmp_path, flush_interval_s=0.01, **settings)  # type: ignore[arg-type]
    return IngestPipeline(store, wal, s, decoders=DECODERS)


def test_acknowledged_spans_are_stored_with_the_checkpoint(tmp_path: Path) -> None:
    store = ArrowStore()
    pipeline = _pipeline(tmp_path, store)
    pipeline.start()
    send(pipeline, [1, 2, 3])
    # Span objects, as the Zipkin receiver hands them over: written as Arrow all the same.
    asyncio.run(pipeline.accept("otlp-json", b"[4]", [numbered_span(4)]))
    pipeline.stop()
    pipeline.wal.close()
    assert store.stored() == [1, 2, 3, 4]
    assert store.position == 2  # both WAL records are covered by the checkpoint
    assert store.checkpoints >= 1
    assert pipeline.pending_spans == 0


def test_replay_writes_what_the_store_missed_exactly_once(tmp_path: Path) -> None:
    first = ArrowStore()
    pipeline = _pipeline(tmp_path, first)
    # Acknowledged (durable in the WAL) but the writer never ran: a crash.
    for ids in ([1, 2], [3], [2, 4]):
        send(pipeline, ids)
    pipeline.wal.close()

    store = ArrowStore()
    restarted = _pipeline(tmp_path, store)
    assert restarted.replay() == 4
    assert store.stored() == [1, 2, 3, 4]
    assert store.position == 3
    # A second replay finds nothing after the checkpoint.
    assert restarted.replay() == 0
    restarted.wal.close()


def test_replay_starts_after_the_store_checkpoint(tmp_path: Path) -> None:
    pipeline = _pipeline(tmp_path, ArrowStore())
    for ids in ([1], [2], [3]):
        send(pipeline, ids)
    pipeline.wal.close()
    store = ArrowStore(position=2)
    restarted = _pipeline(tmp_path, store)
    restarted.replay()
    assert store.stored() == [3]
    restarted.wal.close()


def test_overload_is_refused_with_a_retry_hint(tmp_path: Path) -> None:
    store = ArrowStore()
    pipeline = _pipeline(tmp_path, store, max_pending_spans=3)
    # Writer not started: acknowledged spans stay pending.
    send(pipeline, [1, 2])
    with pytest.raises(OverloadedError, match="limit 3") as info:
        send(pipeline, [3, 4])
    assert info.value.retry_after_s >= 1
    send(pipeline, [5])  # still fits
    pipeline.start()
    wait_until(lambda: pipeline.pending_spans == 0, "the writer stores the backlog")
    send(pipeline, [3, 4])  # room again once the writer stored the backlog
    pipeline.stop()
    pipeline.wal.close()
    assert len(store.stored()) == 5


def test_one_request_larger_than_the_limit_still_gets_in(tmp_path: Path) -> None:
    store = ArrowStore()
    pipeline = _pipeline(tmp_path, store, max_pending_spans=2)
    pipeline.start()
    send(pipeline, [1, 2, 3, 4])
    pipeline.stop()
    pipeline.wal.close()
    assert len(store.stored()) == 4


def test_wal_segments_below_the_checkpoint_are_deleted(tmp_path: Path) -> None:
    store = ArrowStore()
    wal = WriteAheadLog(tmp_path / "wal", segment_bytes=10)
    pipeline = IngestPipeline(store, wal, Settings(flush_interval_s=0.01), decoders=DECODERS)
    pipeline.start()
    for i in range(5):
        send(pipeline, [i + 1])
    pipeline.stop()
    assert store.position == 5
    assert len(wal.segments()) == 1
    wal.close()


def test_spans_the_tail_sampler_holds_leave_the_pending_count(tmp_path: Path) -> None:
    # The sampler bounds what it buffers, so pending_spans (what admission limits) counts
    # only spans not yet handed to it or the store; a write that only buffered undecided
    # traces must release them too, or the server refuses ingest for good at the limit.
    config = parse_tail_sampling(
        {
            "decision_wait": "100ms",
            "policies": [{"name": "all", "type": "probabilistic", "rate": 1.0}],
        }
    )
    store = ArrowStore()
    wal = WriteAheadLog(tmp_path / "wal")
    settings = Settings(data_dir=tmp_path, flush_interval_s=0.01, max_pending_spans=3)
    pipeline = IngestPipeline(
        store, wal, settings, decoders=DECODERS, tail_sampler=TailSampler(config)
    )
    pipeline.start()
    # An idle writer wakes to decide traces whose wait ran out: let it write once first.
    wait_until(lambda: pipeline.stored_batches > 0, "the writer's first idle tick")
    send(pipeline, [1, 2, 3])
    wait_until(lambda: store.stored() == [1, 2, 3], "the sampler kept the trace and it is stored")
    wait_until(lambda: pipeline.pending_spans == 0, "the pending count drops to 0", timeout_s=10)
    send(pipeline, [4, 5])  # admitted: nothing is pending any more
    wait_until(lambda: store.stored() == [1, 2, 3, 4, 5], "the next request is stored too")
    wait_until(lambda: pipeline.pending_spans == 0, "the pending count drops to 0", timeout_s=10)
    send(pipeline, [6, 7, 8])
    wait_until(lambda: store.stored() == [1, 2, 3, 4, 5, 6, 7, 8], "a third request is stored")
    wait_until(lambda: pipeline.pending_spans == 0, "the pending count drops to 0", timeout_s=10)
    pipeline.stop()
    wal.close()

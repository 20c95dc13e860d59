"""The store writer never wedges: a span the store refuses is quarantined and the rest is
stored, a store that refuses everything is an outage (nothing quarantined, all kept in the
WAL), an invalidated store is reopened, replay quarantines instead of failing the start,
and ``stop`` returns within its bound whatever the store does."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from spanscope.batch import columns_table
from spanscope.config import Settings
from spanscope.ingest.pipeline import IngestPipeline
from spanscope.ingest.wal import WriteAheadLog
from spanscope.sampling.metrics import render
from spanscope.store.base import StoreUnavailableError
from tests.support.pipeline import DECODERS, ArrowStore, decode_ids, refuse_span, send
from tests.support.waiting import wait_until

POISON = 13
"""The span id the refusing stores will not take."""

BOUND_S = 60.0
"""Generous upper bound for anything that must finish (never a timing assertion)."""


def refuse_everything(span_ids: list[int]) -> None:
    raise RuntimeError("disk I/O error: the store cannot write")


def _pipeline(tmp_path: Path, store: ArrowStore) -> IngestPipeline:
    wal = WriteAheadLog(tmp_path / "wal", start_after=store.wal_position() or 0)
    settings = Settings(data_dir=tmp_path, flush_interval_s=0.01)
    pipeline = IngestPipeline(store, wal, settings, decoders=DECODERS)
    pipeline.retry_delay_s = 0.01  # keep the tests short; the policy is the same
    return pipeline


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    wait_until(condition, what, timeout_s=BOUND_S, interval_s=0.01)


def _stop(pipeline: IngestPipeline, timeout_s: float = BOUND_S) -> bool:
    """``pipeline.stop`` on a thread, so a stop that hangs fails the test instead of it."""
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(pipeline.stop(timeout_s)), daemon=True)
    thread.start()
    thread.join(timeout_s + BOUND_S)
    assert not thread.is_alive(), "IngestPipeline.stop did not return"
    return result[0]


def _quarantined(data_dir: Path) -> list[dict[str, object]]:
    lines = []
    for path in sorted((data_dir / "quarantine").glob("*.jsonl")):
        lines += [json.loads(line) for line in path.read_text().splitlines()]
    return lines


def _quarantined_span_ids(entry: dict[str, object]) -> list[int]:
    otlp = entry["otlp"]
    assert isinstance(otlp, dict)
    return [
        int(span["spanId"], 16)
        for rs in otlp["resourceSpans"]
        for ss in rs["scopeSpans"]
        for span in ss["spans"]
    ]


def test_a_span_the_store_refuses_is_quarantined_and_the_rest_is_stored(tmp_path: Path) -> None:
    store = ArrowStore(refuse=refuse_span(POISON))
    pipeline = _pipeline(tmp_path, store)
    send(pipeline, [1, 2])
    send(pipeline, [3, POISON, 4])  # WAL position 2
    send(pipeline, [5])
    pipeline.start()
    _wait_for(lambda: store.position == 3, "the checkpoint passes the refused span")
    send(pipeline, [6])  # the writer goes on
    assert _stop(pipeline)
    pipeline.wal.close()

    assert store.stored() == [1, 2, 3, 4, 5, 6]
    (entry,) = _quarantined(tmp_path)
    assert _quarantined_span_ids(entry) == [POISON]
    assert entry["wal_position"] == 2
    assert "Overflow in addition" in str(entry["error"])
    assert str(entry["quarantined_at"]).endswith("Z")
    assert pipeline.stats.quarantined_spans == 1
    assert "spanscope_quarantined_spans_total 1" in render(pipeline, None)
    assert pipeline.pending_spans == 0


def test_a_refused_span_in_a_decode_workers_arrow_batch_is_quarantined_alone(
    tmp_path: Path,
) -> None:
    # The decode pool hands the writer SpanTables built in the worker: bisection slices the
    # Arrow table, and the quarantine turns the refused slice back into OTLP JSON.
    store = ArrowStore(refuse=refuse_span(POISON))
    pipeline = _pipeline(tmp_path, store)
    body = json.dumps([7, POISON, 8, 9]).encode()
    pipeline.accept_blocking("otlp-json", body, columns_table(decode_ids(body, None).spans))
    pipeline.start()
    _wait_for(lambda: store.position == 1, "the checkpoint passes the refused span")
    assert _stop(pipeline)
    pipeline.wal.close()
    assert store.stored() == [7, 8, 9]
    (entry,) = _quarantined(tmp_path)
    assert _quarantined_span_ids(entry) == [POISON]
    assert entry["wal_position"] == 1
    assert pipeline.stats.quarantined_spans == 1


def test_a_store_that_refuses_everything_is_an_outage_and_nothing_is_quarantined(
    tmp_path: Path,
) -> None:
    store = ArrowStore(refuse=refuse_everything)
    pipeline = _pipeline(tmp_path, store)
    pipeline.start()
    send(pipeline, [1, 2])
    send(pipeline, [3])
    _wait_for(lambda: store.attempts > 10, "the writer keeps trying")
    ready = pipeline.health().ready
    assert any("store" in reason for reason in ready), ready
    assert pipeline.pending_spans == 3  # receivers still see the backlog (429 at the bound)

    assert not _stop(pipeline, timeout_s=5.0)  # returned, saying not everything is stored
    pipeline.wal.close()
    assert _quarantined(tmp_path) == []
    assert store.stored() == []
    # The WAL kept both records: a restart on a working store stores them.
    again = ArrowStore()
    restarted = _pipeline(tmp_path, again)
    assert restarted.replay() == 3
    assert again.stored() == [1, 2, 3]
    restarted.wal.close()


class InvalidatedOnceStore(ArrowStore):
    """Raises like DuckDBStore after a fatal error (every write, until reopened)."""

    def __init__(self) -> None:
        super().__init__(refuse=self._refuse_while_invalidated)
        self.invalidated = True

    def _refuse_while_invalidated(self, span_ids: list[int]) -> None:
        if self.invalidated:
            raise StoreUnavailableError(
                "FATAL Error: database has been invalidated because of a previous fatal error",
                reopen=True,
            )

    def reopen(self) -> None:
        self.reopens += 1
        self.invalidated = False


def test_an_invalidated_store_is_reopened_and_everything_is_stored(tmp_path: Path) -> None:
    store = InvalidatedOnceStore()
    pipeline = _pipeline(tmp_path, store)
    send(pipeline, [1, 2])
    send(pipeline, [3])
    pipeline.start()
    _wait_for(lambda: store.position == 2, "stored after the reopen")
    assert _stop(pipeline)
    pipeline.wal.close()
    assert store.reopens == 1
    assert store.stored() == [1, 2, 3]
    assert _quarantined(tmp_path) == []
    assert pipeline.stats.store_write_failures >= 1
    assert pipeline.health().ready == []


def test_stop_returns_within_its_bound_when_the_store_is_stuck(tmp_path: Path) -> None:
    release = threading.Event()

    def stuck(span_ids: list[int]) -> None:
        release.wait(BOUND_S)

    store = ArrowStore(refuse=stuck)
    pipeline = _pipeline(tmp_path, store)
    pipeline.start()
    send(pipeline, [1])
    send(pipeline, [2])
    _wait_for(lambda: store.attempts >= 1, "the writer is inside the store")
    try:
        assert not _stop(pipeline, timeout_s=2.0)
        pipeline.wal.close()
        assert [r.position for r in pipeline.wal.records(after=0)] == [1, 2]
        assert store.position is None
    finally:
        release.set()


def test_replay_quarantines_a_record_the_store_refuses_and_goes_on(tmp_path: Path) -> None:
    first = _pipeline(tmp_path, ArrowStore())
    for ids in ([1], [POISON], [2]):
        send(first, ids)  # acknowledged; the writer never ran (a crash)
    first.wal.close()

    store = ArrowStore(refuse=refuse_span(POISON))
    restarted = _pipeline(tmp_path, store)
    assert restarted.replay() == 2
    restarted.wal.close()
    assert store.stored() == [1, 2]
    assert store.position == 3
    (entry,) = _quarantined(tmp_path)
    assert entry["wal_position"] == 2
    assert _quarantined_span_ids(entry) == [POISON]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_liveness_fails_when_the_writer_thread_died(tmp_path: Path) -> None:
    store = ArrowStore()
    pipeline = _pipeline(tmp_path, store)
    assert pipeline.health().live == []

    def boom(items: object, flush: bool = False) -> None:
        raise SystemExit("writer bug")

    pipeline._write = boom  # type: ignore[method-assign]
    pipeline.start()
    send(pipeline, [1])
    _wait_for(lambda: bool(pipeline.health().live), "liveness reports the dead writer")
    assert "writer" in pipeline.health().live[0]
    _stop(pipeline, timeout_s=2.0)
    pipeline.wal.close()


def test_replay_with_the_store_out_starts_anyway_and_the_writer_stores_it_later(
    tmp_path: Path,
) -> None:
    first = _pipeline(tmp_path, ArrowStore())
    for ids in ([1], [2, 3]):
        send(first, ids)
    first.wal.close()

    out = threading.Event()
    out.set()

    def unavailable_while_out(span_ids: list[int]) -> None:
        if out.is_set():
            raise StoreUnavailableError("No space left on device")

    store = ArrowStore(refuse=unavailable_while_out)
    restarted = _pipeline(tmp_path, store)
    assert restarted.replay() == 0  # returned: the server can start
    assert restarted.pending_spans == 3
    restarted.start()
    send(restarted, [4])
    _wait_for(lambda: bool(restarted.health().ready), "readiness says the store is out")
    out.clear()  # the store is back
    _wait_for(lambda: store.position == 3, "the writer stored the replayed records")
    assert _stop(restarted)
    restarted.wal.close()
    assert store.stored() == [1, 2, 3, 4]
    assert restarted.pending_spans == 0


def test_metrics_export_the_writer_and_wal_numbers_without_tail_sampling(tmp_path: Path) -> None:
    from spanscope.ingest.stats import TimedFsync

    store = ArrowStore()
    fsync = TimedFsync()
    wal = WriteAheadLog(tmp_path / "wal", fsync=fsync)
    pipeline = IngestPipeline(
        store, wal, Settings(data_dir=tmp_path, flush_interval_s=0.01),
        decoders=DECODERS,
    )  # fmt: skip
    pipeline.stats.wal_fsync_seconds = fsync.seconds
    pipeline.start()
    send(pipeline, [1, 2, 3])
    _wait_for(lambda: store.position == 1, "stored")
    text = render(pipeline, None)
    assert _stop(pipeline)
    wal.close()
    values = {
        name: float(value)  # the text format's numbers: "3" and "3.0" are the same
        for name, value in (
            line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#")
        )
    }
    assert values["spanscope_stored_spans_total"] == 3
    assert values["spanscope_wal_appends_total"] == 1
    assert values["spanscope_wal_fsyncs_total"] >= 1
    assert values["spanscope_store_write_seconds_count"] == 1
    assert values['spanscope_store_write_seconds_bucket{le="+Inf"}'] == 1
    assert values["spanscope_wal_fsync_seconds_count"] >= 1
    assert values["spanscope_quarantined_spans_total"] == 0
    assert values["spanscope_rejected_spans_total"] == 0
    assert values["spanscope_store_write_failures_total"] == 0
    assert values["spanscope_store_available"] == 1
    assert "# TYPE spanscope_store_write_seconds histogram" in text


def test_a_long_store_outage_is_not_reported_as_a_wedged_writer(tmp_path: Path) -> None:
    store = ArrowStore(refuse=refuse_everything)
    pipeline = _pipeline(tmp_path, store)
    pipeline.wedged_after_s = 0.5  # far shorter than the outage below
    pipeline.max_retry_delay_s = 0.05
    pipeline.start()
    send(pipeline, [1])
    tries = store.attempts
    _wait_for(lambda: store.attempts > tries + 40, "the writer keeps trying")
    assert pipeline.health().live == []  # alive and retrying: restarting would not help
    assert pipeline.health().ready  # but not ready
    assert not _stop(pipeline, timeout_s=5.0)
    pipeline.wal.close()


def test_a_store_call_that_never_returns_fails_liveness(tmp_path: Path) -> None:
    release = threading.Event()
    store = ArrowStore(refuse=lambda span_ids: release.wait(BOUND_S))
    pipeline = _pipeline(tmp_path, store)
    pipeline.wedged_after_s = 0.5
    pipeline.start()
    send(pipeline, [1])
    try:
        _wait_for(lambda: bool(pipeline.health().live), "liveness reports the wedged writer")
        assert "no progress" in pipeline.health().live[0]
    finally:
        release.set()
    assert _stop(pipeline)
    pipeline.wal.close()

"""Conformance: writes are atomic with their WAL position, tail-sampling decisions ride
with their spans, and a durable store killed without checkpoint reopens with every write
it acknowledged."""

from __future__ import annotations

import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from spanscope.batch import spans_table
from spanscope.model.signals import LogRecord, MetricPoint, SignalBatch
from spanscope.query.model import LogQuery
from spanscope.store.base import Store, StoreRefusedError

from .conftest import MS, T0, Backend, make_span, sid, tid

LOGS = LogQuery(start_ns=T0 - 3600 * 1000 * MS, end_ns=T0 + 3600 * 1000 * MS)
INT64_MAX = 2**63 - 1


def _log(n: int) -> LogRecord:
    return LogRecord(time_ns=T0 + n * MS, service="frontend", body=f"line {n}", trace_id=tid(n))


def _point(n: int) -> MetricPoint:
    return MetricPoint(name="requests", kind="sum", time_ns=T0 + n * MS, value=float(n))


def test_capabilities_are_declared(store: Store) -> None:
    caps = store.capabilities
    assert caps.backend
    assert isinstance(caps.durable, bool) and isinstance(caps.engine_memory, bool)
    if not caps.engine_memory:
        assert store.memory_bytes() == 0


def test_a_refused_write_stores_nothing_of_it_nor_its_wal_position(store: Store) -> None:
    first = spans_table([make_span(1, 1)])
    assert store.write_tables([first], wal_position=1, signals=[SignalBatch([_log(1)])]) == 1
    overflowing = make_span(2, 2)
    overflowing.end_ns = INT64_MAX + 1  # start + duration beyond int64 nanoseconds
    bad = spans_table([make_span(2, 1), overflowing])
    with pytest.raises(StoreRefusedError, match="(?i)overflow"):
        store.write_tables([bad], wal_position=2, signals=[SignalBatch([_log(2)], [_point(2)])])
    assert store.span_count() == 1
    assert store.trace(tid(2)) is None  # not even the span that alone would fit
    assert [r.body for r in store.logs(LOGS)] == ["line 1"]
    assert store.metric_names() == []
    assert store.wal_position() == 1
    # the same write without the offending span goes through whole
    good = spans_table([make_span(2, 1)])
    assert store.write_tables([good], wal_position=2, signals=[SignalBatch([_log(2)])]) == 1
    assert store.wal_position() == 2
    assert sorted(r.body for r in store.logs(LOGS)) == ["line 1", "line 2"]


def test_the_wal_position_is_the_last_one_written_and_kept_without_one(store: Store) -> None:
    assert store.wal_position() is None
    store.write_tables([spans_table([make_span(1, 1)])], wal_position=3)
    store.write_signals([SignalBatch([_log(1)])], wal_position=4)
    assert store.wal_position() == 4
    store.write([make_span(1, 2, 1)])  # no position: the checkpoint stays
    store.write_signals([SignalBatch(points=[_point(1)])])
    assert store.wal_position() == 4
    store.write_tables([], wal_position=5)  # nothing to store but the position
    assert store.wal_position() == 5
    assert store.span_count() == 2


def test_a_duplicate_in_one_arrow_batch_is_stored_once(store: Store) -> None:
    batch = spans_table([make_span(1, 1), make_span(1, 1, duration_ms=99), make_span(1, 2, 1)])
    assert store.write_tables([batch, spans_table([make_span(1, 2, 1)])]) == 2
    trace = store.trace(tid(1))
    assert trace is not None
    assert [s.duration_ns for s in trace.spans] == [10 * MS, 10 * MS]  # the first copy


def test_sampling_decisions_commit_with_their_spans(store: Store) -> None:
    from spanscope.batch import sampling_table

    kept = spans_table([make_span(1, 1)])
    kept.sampling = sampling_table([(tid(1), "errors", 1.0, T0), (tid(2), "slow", 4.0, T0)])
    store.write_tables([kept], wal_position=1)
    assert store.sampling([tid(1), tid(2), tid(3)]) == {
        tid(1): ("errors", 1.0),
        tid(2): ("slow", 4.0),
    }
    # a replay records a decision again; the latest one is the answer
    again = spans_table([make_span(1, 1)])
    again.sampling = sampling_table([(tid(1), "probabilistic", 10.0, T0 + 1)])
    store.write_tables([again], wal_position=2)
    assert store.sampling([tid(1)]) == {tid(1): ("probabilistic", 10.0)}
    # a refused write's decisions are not kept either
    overflowing = make_span(3, 1)
    overflowing.end_ns = INT64_MAX + 1
    refused = spans_table([overflowing])
    refused.sampling = sampling_table([(tid(3), "errors", 1.0, T0)])
    with pytest.raises(StoreRefusedError):
        store.write_tables([refused], wal_position=3)
    assert store.sampling([tid(3)]) == {}


def test_trace_stamp_changes_when_the_trace_does(store: Store) -> None:
    assert store.trace_stamp(tid(1)) is None
    store.write([make_span(1, 1, start_ms=0, duration_ms=10)])
    first = store.trace_stamp(tid(1))
    assert first is not None and first[1:] == (T0, T0 + 10 * MS)
    trace = store.trace_read(tid(1), first)
    assert trace is not None and [s.span_id for s in trace.spans] == [sid(1)]
    store.write([make_span(1, 1)])  # a duplicate changes nothing
    assert store.trace_stamp(tid(1)) == first
    store.write([make_span(1, 2, 1, start_ms=5, duration_ms=20)])
    second = store.trace_stamp(tid(1))
    assert second is not None and second != first and second[1:] == (T0, T0 + 25 * MS)
    trace = store.trace_read(tid(1), second)
    assert trace is not None and [s.span_id for s in trace.spans] == [sid(1), sid(2)]


def test_many_traces_read_at_once_are_the_traces_read_one_by_one(store: Store) -> None:
    # far apart in time (an hour: separate scans), written in several batches, with ids
    # above and below 2**127, with resources, and one id never stored
    low_id = (7).to_bytes(16, "big")
    spans = [
        make_span(1, 1, start_ms=0, duration_ms=30, resource={"host.name": "a"}),
        make_span(2, 1, start_ms=3_600_000, duration_ms=10, service="checkout"),
        make_span(2, 2, 1, start_ms=3_600_002, duration_ms=5, attributes={"n": 3}),
        make_span(3, 1, start_ms=20, duration_ms=1, resource={"host.name": "b"}),
    ]
    store.write(spans[:2])
    store.write(spans[2:])
    store.write([replace(make_span(9, 1, start_ms=40), trace_id=low_id)])
    wanted = [tid(1), tid(2), tid(3), low_id, tid(404)]
    stamps = store.trace_stamps(wanted)
    assert set(stamps) == {tid(1), tid(2), tid(3), low_id}
    assert all(stamps[t] == store.trace_stamp(t) for t in stamps)
    read = store.traces_read(stamps)
    assert set(read) == set(stamps)
    for trace_id, trace in read.items():
        assert trace == store.trace(trace_id), trace_id
    assert [s.span_id for s in read[tid(2)].spans] == [sid(1), sid(2)]
    assert read[tid(3)].spans[0].resource == {"host.name": "b"}
    assert store.trace_stamps([]) == {} and store.traces_read({}) == {}


_CRASHING_WRITER = """
import importlib.util, os, signal, sys
from pathlib import Path

spec = importlib.util.spec_from_file_location("store_backends", sys.argv[1])
backends = sys.modules["store_backends"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(backends)
backend = next(b for b in backends.BACKENDS if b.name == sys.argv[2])
store = backend.open(Path(sys.argv[3]))

from spanscope.batch import spans_table
from spanscope.model.signals import LogRecord, SignalBatch

store.write([backends.make_span(1, 1), backends.make_span(1, 2, 1)], wal_position=1)
log = LogRecord(time_ns=backends.T0, service="frontend", body="before the crash")
store.write_tables(
    [spans_table([backends.make_span(2, 1, service="db")])], wal_position=2,
    signals=[SignalBatch([log])],
)
print("acknowledged", flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # no close, no checkpoint: a crash
"""


def test_each_backend_declares_the_durability_the_suite_expects(
    backend: Backend, tmp_path: Path
) -> None:
    store = backend.open(tmp_path)
    try:
        assert store.capabilities.durable is backend.durable
    finally:
        store.close()


def test_a_store_killed_without_checkpoint_reopens_with_what_it_acknowledged(
    durable_backend: Backend, tmp_path: Path
) -> None:
    backend = durable_backend
    data = tmp_path / "data"
    conftest = Path(__file__).with_name("conftest.py")
    done = subprocess.run(
        [sys.executable, "-c", _CRASHING_WRITER, str(conftest), backend.name, str(data)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert done.stdout.strip() == "acknowledged"
    store = backend.open(data)
    try:
        assert store.wal_position() == 2
        assert store.span_count() == 3
        trace = store.trace(tid(1))
        assert trace is not None and [s.span_id for s in trace.spans] == [sid(1), sid(2)]
        assert store.services() == ["db", "frontend"]
        assert [r.body for r in store.logs(LOGS)] == ["before the crash"]
        # what it knew is known again: re-sending stores nothing twice
        assert store.write([make_span(1, 1), make_span(2, 1, service="db")]) == 0
    finally:
        store.close()


def test_a_durable_store_closed_and_opened_again_keeps_everything(
    durable_backend: Backend, tmp_path: Path
) -> None:
    backend = durable_backend
    store = backend.open(tmp_path)
    store.write([make_span(1, 1)], wal_position=7)
    store.write_signals([SignalBatch([_log(1)], [_point(1)])])
    store.close()
    store = backend.open(tmp_path)
    try:
        assert store.wal_position() == 7
        assert store.span_count() == 1
        assert store.metric_names() == ["requests"]
        assert [r.body for r in store.logs(LOGS)] == ["line 1"]
    finally:
        store.close()

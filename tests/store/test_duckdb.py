"""DuckDB-specific behaviour: the file survives a reopen, checkpoints, concurrent use."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest

from spanscope.query.model import SearchQuery
from spanscope.store.duckdb import DuckDBStore

from .conftest import MS, T0, make_span, tid


def test_reopen_keeps_spans_index_and_wal_position(tmp_path: Path) -> None:
    path = tmp_path / "data" / "spans.duckdb"  # parent directory is created
    store = DuckDBStore(path)
    store.write([make_span(1, 1), make_span(1, 2, 1, service="db")], wal_position=7)
    store.close()

    store = DuckDBStore(path)
    try:
        assert store.span_count() == 2
        assert store.wal_position() == 7
        assert store.services() == ["db", "frontend"]
        # the in-memory "already stored" sets were rebuilt: re-sending changes nothing
        assert store.write([make_span(1, 1), make_span(1, 2, 1, service="db")]) == 0
        trace = store.trace(tid(1))
        assert trace is not None and len(trace.spans) == 2
        assert trace.spans[0].resource == {"service.name": "frontend"}
    finally:
        store.close()


def test_checkpoint_then_reopen(tmp_path: Path) -> None:
    path = tmp_path / "spans.duckdb"
    store = DuckDBStore(path)
    store.write([make_span(n, 1) for n in range(1, 50)], wal_position=1)
    store.checkpoint()
    store.close()
    assert not Path(str(path) + ".wal").exists() or Path(str(path) + ".wal").stat().st_size == 0
    store = DuckDBStore(path)
    assert store.span_count() == 49
    store.close()


def test_second_process_is_refused_while_the_file_is_open(tmp_path: Path) -> None:
    path = tmp_path / "spans.duckdb"
    store = DuckDBStore(path)
    code = "import sys; from spanscope.store.duckdb import DuckDBStore; DuckDBStore(sys.argv[1])"
    other = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60
    )
    assert other.returncode != 0
    assert "lock" in other.stderr.lower()
    store.close()
    again = subprocess.run([sys.executable, "-c", code, str(path)], timeout=60)
    assert again.returncode == 0  # closing released the file


def test_failed_write_leaves_nothing_half_written(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "spans.duckdb")
    store.write([make_span(1, 1)], wal_position=1)
    bad = make_span(2, 1, attributes={"x": object()})
    with pytest.raises(TypeError, match="attribute value"):
        store.write([make_span(3, 1), bad], wal_position=2)
    assert store.span_count() == 1
    assert store.wal_position() == 1
    store.close()


def test_rolled_back_write_does_not_mark_resources_as_stored(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "spans.duckdb")
    res = {"service.name": "new", "host.name": "h9"}
    original = store._insert

    def fail_after_insert(*args, **kwargs):  # the transaction fails after the inserts ran
        original(*args, **kwargs)
        raise duckdb.Error("simulated failure before COMMIT")

    store._insert = fail_after_insert  # type: ignore[method-assign]
    with pytest.raises(duckdb.Error):
        store.write([make_span(1, 1, service="new", resource=res)])
    store._insert = original  # type: ignore[method-assign]
    assert store.span_count() == 0
    assert store.services() == []
    store.write([make_span(1, 1, service="new", resource=res)])
    trace = store.trace(tid(1))
    assert trace is not None and trace.spans[0].resource == res
    assert store.services() == ["new"]
    store.close()


def test_reads_while_a_writer_thread_writes(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "spans.duckdb")
    errors: list[BaseException] = []
    done = threading.Event()

    def writer() -> None:
        try:
            for b in range(40):
                spans = [make_span(1000 + b, n, start_ms=b) for n in range(1, 51)]
                store.write(spans, wal_position=b)
        except BaseException as e:  # surfaced by the assertion below
            errors.append(e)
        finally:
            done.set()

    def reader() -> None:
        window = SearchQuery(T0 - 10**12, T0 + 10**12, limit=5)
        try:
            while not done.is_set():
                counts = store.span_count()
                assert counts % 50 == 0  # a write is seen whole or not at all
                for summary in store.search(window):
                    assert summary.span_count == 50
                store.trace(tid(1000))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=writer)] + [
        threading.Thread(target=reader) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert store.span_count() == 40 * 50
    assert store.wal_position() == 39
    trace = store.trace(tid(1039), T0, T0 + 100 * MS)
    assert trace is not None and len(trace.spans) == 50
    store.close()


def test_closed_store_says_so(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "spans.duckdb")
    store.close()
    store.close()  # idempotent

    raised: list[BaseException] = []

    def read_in_new_thread() -> None:
        try:
            store.span_count()
        except RuntimeError as e:
            raised.append(e)

    t = threading.Thread(target=read_in_new_thread)
    t.start()
    t.join()
    assert len(raised) == 1 and "closed" in str(raised[0])

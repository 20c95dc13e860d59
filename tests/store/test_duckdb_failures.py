"""DuckDBStore says what kind of failure a write is, and recovers from an invalidated
database by reopening it: a span whose end overflows BIGINT is refused (naming DuckDB's
overflow, not the ROLLBACK that followed), a full disk makes the store unavailable, and
after space returns ``reopen()`` brings back every committed span — by itself, when the
ingest pipeline's writer meets the invalidated database."""

from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from spanscope.config import Settings
from spanscope.ingest.limits import Limits
from spanscope.ingest.pipeline import IngestPipeline
from spanscope.ingest.results import DecodeResult
from spanscope.ingest.wal import WriteAheadLog
from spanscope.model.spans import Span
from spanscope.store.base import Recoverable, StoreRefusedError, StoreUnavailableError
from spanscope.store.duckdb import DuckDBStore

T0 = 1_700_000_000_000_000_000


def _span(n: int, end_ns: int | None = None, service: str = "svc") -> Span:
    return Span(
        trace_id=n.to_bytes(16, "big"),
        span_id=n.to_bytes(8, "big"),
        name=f"op{n % 7}",
        start_ns=T0 + n,
        end_ns=T0 + n + 1_000 if end_ns is None else end_ns,
        service=service,
    )


def test_an_end_time_beyond_int64_is_refused_naming_the_overflow(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "spans.duckdb")
    with pytest.raises(StoreRefusedError, match="Overflow"):
        store.write([_span(1), _span(2, end_ns=2**63)], wal_position=1)
    assert store.span_count() == 0  # the whole write rolled back
    assert store.write([_span(1)], wal_position=1) == 1
    assert store.wal_position() == 1
    store.close()


def test_reopen_keeps_what_was_committed_and_its_caches(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "spans.duckdb")
    assert isinstance(store, Recoverable)
    store.write([_span(1, service="a"), _span(2, service="b")], wal_position=5)
    assert store.services() == ["a", "b"]
    store.reopen()
    assert store.wal_position() == 5
    assert store.span_count() == 2
    assert store.services() == ["a", "b"]
    assert store.write([_span(2, service="b"), _span(3, service="c")], wal_position=6) == 1
    assert store.services() == ["a", "b", "c"]
    trace = store.trace((3).to_bytes(16, "big"))
    assert trace is not None and trace.spans[0].service == "c"
    store.close()


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB tmpfs (root only); unmounted afterwards."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _batch(rng: random.Random, first: int, n: int) -> list[Span]:
    return [
        Span(
            trace_id=rng.randbytes(16),
            span_id=(first + i).to_bytes(8, "big"),
            name=f"op{rng.randrange(10**6)}",  # incompressible enough to fill the disk
            start_ns=T0 + first + i,
            end_ns=T0 + first + i + 1_000,
            attributes={"k": rng.randbytes(24).hex()},
        )
        for i in range(n)
    ]


def test_a_full_disk_makes_the_store_unavailable_and_reopen_recovers(tiny_fs: Path) -> None:
    store = DuckDBStore(tiny_fs / "spans.duckdb")
    filler = tiny_fs / "filler"
    with open(filler, "wb") as f:
        f.write(b"x" * (12 * 1024 * 1024))
    rng = random.Random(7)
    committed = 0
    failure: StoreUnavailableError | None = None
    for i in range(400):  # bounded: the disk is full long before
        try:
            store.write(_batch(rng, committed, 2_000), wal_position=i + 1)
            committed += 2_000
            if i % 3 == 2:
                store.checkpoint()
        except StoreUnavailableError as exc:
            failure = exc
            if exc.reopen:
                break
    assert failure is not None, "the disk never filled up"
    assert failure.reopen, f"the database was never invalidated: {failure}"
    assert "invalidated" in str(failure)
    # Still full: whatever comes is an outage, never a refusal of the data.
    with pytest.raises(StoreUnavailableError):
        store.write(_batch(rng, 10**9, 10), wal_position=10**6)
        store.checkpoint()

    filler.unlink()  # space returns
    store.reopen()
    assert store.span_count() == committed
    assert store.write(_batch(rng, 10**9, 10), wal_position=10**6) == 10
    store.checkpoint()
    assert store.wal_position() == 10**6
    store.close()


def _decode(body: bytes, limits: Limits) -> DecodeResult:
    """Test WAL format: {"first": n, "count": k} regenerates the same spans."""
    spec = json.loads(body)
    return DecodeResult(spans=_batch(random.Random(spec["first"]), spec["first"], spec["count"]))


def _send(pipeline: IngestPipeline, first: int) -> int:
    body = json.dumps({"first": first, "count": 2_000}).encode()
    pipeline.accept_blocking("otlp-json", body, _decode(body, Limits()).spans)
    return 2_000


def _wait(condition: Callable[[], bool], what: Callable[[], object]) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        assert time.monotonic() < deadline, what()
        time.sleep(0.02)


def test_the_pipeline_reopens_an_invalidated_store_and_stores_every_span_once(
    tiny_fs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = DuckDBStore(tiny_fs / "spans.duckdb")
    wal = WriteAheadLog(tmp_path / "wal")  # on the ordinary disk: only the store is full
    settings = Settings(data_dir=tmp_path, flush_interval_s=0.01)
    pipeline = IngestPipeline(
        store, wal, settings, decoders={"otlp-json": _decode}, checkpoint_interval_s=0.05
    )
    pipeline.retry_delay_s = 0.05
    pipeline.max_retry_delay_s = 0.2
    pipeline.start()
    try:
        # Committed to DuckDB's own WAL, not yet checkpointed into the file ...
        sent = sum(_send(pipeline, n * 2_000) for n in range(5))
        _wait(lambda: not pipeline.pending_spans, pipeline.health)
        # ... then the disk fills, and the checkpoint thread's next checkpoint (forced
        # now rather than in a minute) cannot write the file: DuckDB invalidates it.
        free = os.statvfs(tiny_fs).f_bavail * os.statvfs(tiny_fs).f_frsize
        filler = tiny_fs / "filler"
        with open(filler, "wb") as f, contextlib.suppress(OSError):
            f.write(b"x" * free)
        monkeypatch.setattr("spanscope.ingest.pipeline.CHECKPOINT_MAX_S", 0.0)
        _wait(lambda: any("invalidated" in r for r in pipeline.health().ready), pipeline.health)
        sent += _send(pipeline, sent)  # acknowledged while the store is out
        assert pipeline.health().live == []  # alive: restarting would not help
        assert pipeline.pending_spans == 2_000

        filler.unlink()  # space returns: the writer reopens the store and goes on
        _wait(lambda: not pipeline.pending_spans and not pipeline.health().ready, pipeline.health)
    finally:
        stored_all = pipeline.stop(timeout_s=60)
        wal.close()
    assert stored_all
    assert pipeline.stats.quarantined_spans == 0
    assert store.span_count() == sent
    assert store.wal_position() == wal.last_position
    store.close()

"""Retention by trace class on the DuckDB store, with the clock moved instead of waited."""

from __future__ import annotations

from pathlib import Path

from spanscope.model.spans import Span, StatusCode
from spanscope.sampling.config import RetentionConfig, parse_retention
from spanscope.sampling.retention import RetentionJob, run_retention
from spanscope.store.duckdb import DuckDBStore

DAY = 86_400_000_000_000
T0 = 1_700_000_000_000_000_000


def _trace(n: int, duration_ns: int, error: bool = False) -> list[Span]:
    tid = (n + 1).to_bytes(16, "big")
    root = Span(trace_id=tid, span_id=b"\0" * 7 + b"\1", name="GET /", start_ns=T0,
                end_ns=T0 + duration_ns, service="web")  # fmt: skip
    child = Span(trace_id=tid, span_id=b"\0" * 7 + b"\2", parent_span_id=root.span_id,
                 name="db", start_ns=T0 + 1, end_ns=T0 + 2, service="db",
                 status_code=StatusCode.ERROR if error else StatusCode.UNSET)  # fmt: skip
    return [root, child]


def test_each_class_expires_after_its_own_retention(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "s.duckdb")
    store.write(_trace(0, 10_000_000, error=True) + _trace(1, 2_000_000_000) + _trace(2, 5_000))
    config = RetentionConfig()  # error 30 d, slow 14 d, normal 7 d, slow from 1 s
    clock = [T0 + 8 * DAY]
    job = RetentionJob(store, config, clock_ns=lambda: clock[0])

    dry = run_retention(store, config, T0 + 8 * DAY, dry_run=True)
    assert [(c["class"], c["traces"], c["spans"]) for c in dry["classes"]] == [
        ("error", 0, 0),
        ("slow", 0, 0),
        ("normal", 1, 2),
    ]
    assert store.trace((3).to_bytes(16, "big")) is not None  # dry run deleted nothing

    job.run_once()
    assert store.trace((3).to_bytes(16, "big")) is None
    assert store.trace((2).to_bytes(16, "big")) is not None
    clock[0] = T0 + 15 * DAY
    job.run_once()
    assert store.trace((2).to_bytes(16, "big")) is None
    assert store.trace((1).to_bytes(16, "big")) is not None
    clock[0] = T0 + 31 * DAY
    report = job.run_once()
    assert store.trace((1).to_bytes(16, "big")) is None
    assert report["classes"][0]["traces"] == 1
    assert store.span_count() == 0
    store.close()


def test_retention_is_configurable() -> None:
    config = parse_retention({"normal": "1d", "slow_threshold": "250ms"})
    assert config.normal_ns == DAY and config.slow_threshold_ns == 250_000_000
    assert config.error_ns == 30 * DAY

"""Tail sampling on populations of known composition, through the real DuckDB store."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from spanscope.sampling.config import parse_tail_sampling
from spanscope.sampling.tail import TailSampler
from spanscope.store.duckdb import DuckDBStore
from tests.sampling.population import make_population

SEED_TABLE = """
decision_wait = "5s"
[[policies]]
name = "errors"
type = "status_code"
status_codes = ["ERROR"]
[[policies]]
name = "slow"
type = "latency"
threshold = "1s"
[[policies]]
name = "health"
type = "string_attribute"
key = "http.route"
values = ["/health*"]
rate = 0.001
[[policies]]
name = "checkout"
type = "string_attribute"
key = "http.route"
values = ["/api/checkout"]
rate = 0.5
[[policies]]
name = "normal"
type = "probabilistic"
rate = {normal}
"""


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _config(normal: float = 0.05, **extra: object):  # type: ignore[no-untyped-def]
    import tomllib

    raw = tomllib.loads(SEED_TABLE.format(normal=normal))
    raw.update(extra)
    return parse_tail_sampling(raw)


def _run(population, sampler: TailSampler, clock: Clock, store: DuckDBStore) -> None:  # type: ignore[no-untyped-def]
    for position, table in enumerate(population.tables, start=1):
        sampler.add(position, table)
        clock.now += 0.01
        out = sampler.collect()
        store.write_tables(out.tables, wal_position=sampler.safe_position(position))
    clock.now += 60
    out = sampler.collect()
    store.write_tables(out.tables, wal_position=sampler.safe_position(len(population.tables)))


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = DuckDBStore(tmp_path / "s.duckdb")
    yield s
    s.close()


def _stored_traces(store: DuckDBStore) -> dict[bytes, int]:
    rows = store._reader().execute("SELECT trace_id, count(*) FROM spans GROUP BY 1").fetchall()
    return {int(t).to_bytes(16, "big"): n for t, n in rows}


def _within(kept: int, n: int, rate: float, sigmas: float = 4.0) -> bool:
    expected = n * rate
    return abs(kept - expected) <= sigmas * math.sqrt(n * rate * (1 - rate)) + 1


def test_seed_priority_table_keeps_errors_and_slow_and_samples_each_class(store):  # type: ignore[no-untyped-def]
    population = make_population(
        10_000, {"error": 0.01, "slow": 0.03, "checkout": 0.2, "health": 0.1}
    )
    clock = Clock()
    sampler = TailSampler(_config(), clock=clock)
    _run(population, sampler, clock, store)

    stored = _stored_traces(store)
    by_class: dict[str, int] = {}
    for trace_id, label in population.classes.items():
        if trace_id in stored:
            by_class[label] = by_class.get(label, 0) + 1
            # no trace kept partially
            assert stored[trace_id] == population.spans[trace_id]
    labels = list(population.classes.values())
    truth = {c: labels.count(c) for c in set(labels)}
    assert by_class["error"] == truth["error"] == 100
    assert by_class["slow"] == truth["slow"] == 300
    assert _within(by_class["checkout"], truth["checkout"], 0.5)
    assert _within(by_class.get("normal", 0), truth["normal"], 0.05)
    assert _within(by_class.get("health", 0), truth["health"], 0.001)

    policies = store.sampling(list(stored))
    assert {policies[t][0] for t in stored} <= {"errors", "slow", "health", "checkout", "normal"}
    assert all(policies[t][1] == pytest.approx(2.0) for t in stored
               if population.classes[t] == "checkout")  # fmt: skip
    assert sampler.buffered_traces == 0


def test_extrapolated_request_counts_match_truth_within_5_percent(store):  # type: ignore[no-untyped-def]
    population = make_population(10_000, {"error": 0.01, "slow": 0.03, "checkout": 0.3})
    clock = Clock()
    sampler = TailSampler(_config(normal=0.2), clock=clock)
    _run(population, sampler, clock, store)
    stored = _stored_traces(store)
    weights = store.sampling(list(stored))
    estimate = sum(weights[t][1] for t in stored)
    assert abs(estimate - 10_000) / 10_000 < 0.05
    checkout_truth = sum(1 for c in population.classes.values() if c == "checkout")
    checkout = sum(weights[t][1] for t in stored if population.classes[t] == "checkout")
    assert abs(checkout - checkout_truth) / checkout_truth < 0.05


def test_memory_bound_decides_oldest_early_and_counts_them(store):  # type: ignore[no-untyped-def]
    population = make_population(2_000, {"error": 0.5, "slow": 0.0, "checkout": 0.0})
    clock = Clock()
    sampler = TailSampler(_config(max_traces=100, max_spans=10_000), clock=clock)
    peak = 0
    for position, table in enumerate(population.tables, start=1):
        sampler.add(position, table)
        peak = max(peak, sampler.buffered_traces)
        out = sampler.collect()
        store.write_tables(out.tables, wal_position=sampler.safe_position(position))
    assert peak <= 100
    assert sampler.metrics.decided_early_traces >= 1_900
    store.write_tables(sampler.collect(flush=True).tables, wal_position=len(population.tables))
    # decided early is still decided by the policies: every error trace is stored
    stored = _stored_traces(store)
    errors = [t for t, c in population.classes.items() if c == "error"]
    assert all(t in stored for t in errors)


def test_late_spans_follow_the_cached_decision(store):  # type: ignore[no-untyped-def]
    population = make_population(200, {"error": 0.5, "slow": 0.0, "checkout": 0.0},
                                 batch_traces=200)  # fmt: skip
    clock = Clock()
    sampler = TailSampler(_config(normal=0.0), clock=clock)
    sampler.add(1, population.tables[0])
    clock.now += 10
    store.write_tables(sampler.collect().tables, wal_position=sampler.safe_position(1))
    before = _stored_traces(store)
    # the same spans arrive again, late: kept traces' copies are stored (idempotently),
    # dropped traces' copies are dropped
    sampler.add(2, population.tables[0])
    assert sampler.buffered_traces == 0
    assert sampler.metrics.late_spans_kept == 100 * 5
    assert sampler.metrics.late_spans_dropped == 100 * 5
    store.write_tables(sampler.collect().tables, wal_position=sampler.safe_position(2))
    assert _stored_traces(store) == before


def test_checkpoint_never_passes_an_undecided_trace() -> None:
    population = make_population(300, {"error": 0.0, "slow": 0.0, "checkout": 0.0},
                                 batch_traces=100)  # fmt: skip
    clock = Clock()
    sampler = TailSampler(_config(), clock=clock)
    sampler.add(1, population.tables[0])
    clock.now += 3
    sampler.add(2, population.tables[1])
    clock.now += 2.5  # position 1's traces are due, position 2's are not
    sampler.collect()
    assert sampler.safe_position(2) == 1
    clock.now += 5
    sampler.collect()
    assert sampler.safe_position(2) == 2


def test_red_counts_are_weighted_by_the_tail_weight(store):  # type: ignore[no-untyped-def]
    population = make_population(4_000, {"error": 0.0, "slow": 0.0, "checkout": 1.0})
    clock = Clock()
    sampler = TailSampler(_config(), clock=clock)  # checkout kept at 50 %, weight 2
    _run(population, sampler, clock, store)
    points = store.red(0, 2**62, 2**62, ["frontend"])
    total = next(p for p in points if p.bucket_start_ns is None)
    assert total.span_count < 2_400  # about half the requests are stored ...
    assert abs(total.request_count - 4_000) / 4_000 < 0.05  # ... and count as all of them

"""Conformance: two stores opened under two tenants' directories share nothing — not spans,
listings, searches, signals, sampling records, WAL positions nor retention — even when
one directory is inside the other (the default tenant's is the data directory itself,
``<data-dir>/tenants/<id>/`` the others')."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from spanscope.batch import sampling_table, spans_table
from spanscope.model.signals import LogRecord, MetricPoint, SignalBatch
from spanscope.query.model import LogQuery, SearchQuery
from spanscope.store.base import Store
from spanscope.tenancy import DEFAULT_TENANT, tenant_dir

from .conftest import MS, T0, Backend, make_span, tid

HOUR = 3600 * 1000 * MS
WINDOW = SearchQuery(start_ns=T0 - HOUR, end_ns=T0 + HOUR)
LOGS = LogQuery(start_ns=T0 - HOUR, end_ns=T0 + HOUR)


@pytest.fixture
def tenants(backend: Backend, tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    default = backend.open(tenant_dir(tmp_path, DEFAULT_TENANT))
    team = backend.open(tenant_dir(tmp_path, "team-a"))
    yield default, team
    default.close()
    team.close()


def _fill(store: Store, n: int, service: str, position: int) -> None:
    batch = spans_table([make_span(n, 1, service=service), make_span(n, 2, 1, service=service)])
    batch.sampling = sampling_table([(tid(n), f"policy-{service}", float(n), T0)])
    log = LogRecord(T0 + n * MS, service, 9, "INFO", f"log of {service}", trace_id=tid(n))
    point = MetricPoint(f"{service}.requests", "sum", T0 + n * MS, service, value=1.0)
    store.write_tables([batch], wal_position=position, signals=[SignalBatch([log], [point])])


def test_two_tenants_stores_do_not_see_each_other(tenants: tuple[Store, Store]) -> None:
    default, team = tenants
    _fill(default, 1, "shop", 5)
    _fill(team, 2, "bank", 9)
    for store, own, other, service in ((default, 1, 2, "shop"), (team, 2, 1, "bank")):
        assert store.trace(tid(other)) is None
        assert store.trace_stamp(tid(other)) is None
        found = store.trace(tid(own))
        assert found is not None and {s.service for s in found.spans} == {service}
        assert [t.trace_id for t in store.search(WINDOW)] == [tid(own)]
        assert store.services() == [service]
        assert store.span_count() == 2
        assert [r.body for r in store.logs(LOGS)] == [f"log of {service}"]
        assert store.metric_names() == [f"{service}.requests"]
        assert store.sampling([tid(1), tid(2)]) == {tid(own): (f"policy-{service}", float(own))}
    assert default.wal_position() == 5
    assert team.wal_position() == 9


def test_one_tenants_retention_leaves_the_other_alone(tenants: tuple[Store, Store]) -> None:
    default, team = tenants
    _fill(default, 1, "shop", 1)
    _fill(team, 2, "bank", 1)
    keep_nothing = {"error": 0, "slow": 0, "normal": 0}
    reports = default.expire(T0 + HOUR, keep_nothing, slow_threshold_ns=HOUR)
    assert sum(r.traces for r in reports) == 1
    assert default.span_count() == 0
    assert team.span_count() == 2
    assert team.trace(tid(2)) is not None

"""Conformance: log records and metric points round-trip exactly and are found by every
filter of LogQuery / metric_points, the same on every backend."""

from __future__ import annotations

import pytest

from spanscope.model.signals import Exemplar, LogRecord, MetricPoint, SignalBatch
from spanscope.query.model import LogQuery
from spanscope.store.base import Store

from .conftest import MS, T0, sid, tid

HOUR = 3600 * 1000 * MS


def logs(store: Store, **kw) -> list[str]:
    q = LogQuery(start_ns=kw.pop("start_ns", T0 - HOUR), end_ns=kw.pop("end_ns", T0 + HOUR), **kw)
    return [str(r.body) for r in store.logs(q)]


def full_log() -> LogRecord:
    return LogRecord(
        time_ns=T0 + 5,
        service="café-service",
        severity_number=17,
        severity_text="ERROR",
        body={"msg": "payment declined ☃", "codes": [402, 1.5, True, b"\x00"]},
        attributes={"http.status_code": 402, "retry": False, "ratio": 0.25, "blob": b"\xff"},
        resource={"service.name": "café-service", "host.name": "h1"},
        trace_id=tid(1),
        span_id=sid(2),
        observed_time_ns=T0 + 9,
        scope_name="app.logger",
        flags=1,
    )


def full_point() -> MetricPoint:
    return MetricPoint(
        name="http.server.duration",
        kind="histogram",
        time_ns=T0 + 60 * 1000 * MS,
        service="frontend",
        start_ns=T0,
        unit="ms",
        attributes={"http.route": "/orders", "http.status_code": 200},
        resource={"service.name": "frontend"},
        temporality=2,
        count=3,
        sum=12.5,
        min=1.0,
        max=9.0,
        bounds=[5.0, 10.0],
        bucket_counts=[2, 1, 0],
        exemplars=[Exemplar(T0 + 1, 9.0, tid(1), sid(2), {"user": "u1"})],
    )


def test_a_log_record_and_a_point_round_trip_exactly(store: Store) -> None:
    assert store.write_signals([SignalBatch([full_log()], [full_point()])]) == 2
    assert store.logs(LogQuery(start_ns=T0, end_ns=T0 + HOUR)) == [full_log()]
    found = store.metric_points("http.server.duration", T0, T0 + HOUR)
    assert found == [full_point()]


@pytest.fixture
def journal(store: Store) -> Store:
    records = [
        LogRecord(T0 + 1 * MS, "frontend", 9, "INFO", "GET /checkout started", trace_id=tid(1)),
        LogRecord(T0 + 2 * MS, "orders", 13, "WARN", "Slow Query on orders",
                  attributes={"db.system": "postgresql"}, trace_id=tid(1), span_id=sid(2)),
        LogRecord(T0 + 3 * MS, "orders", 17, "ERROR", "payment declined",
                  attributes={"http.status_code": 402}, resource={"host.name": "api-7"},
                  trace_id=tid(1), span_id=sid(3)),
        LogRecord(T0 + 4 * MS, "frontend", 21, "FATAL", "out of memory",
                  attributes={"oom": True}),
    ]  # fmt: skip
    store.write_signals([SignalBatch(records[:2]), SignalBatch(records[2:])])
    return store


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (
            {},
            ["out of memory", "payment declined", "Slow Query on orders", "GET /checkout started"],
        ),
        ({"order": "oldest", "limit": 2}, ["GET /checkout started", "Slow Query on orders"]),
        ({"service": "orders"}, ["payment declined", "Slow Query on orders"]),
        ({"min_severity": 17}, ["out of memory", "payment declined"]),
        ({"text": "QUERY"}, ["Slow Query on orders"]),  # case-insensitive substring
        ({"trace_id": tid(1), "span_id": sid(3)}, ["payment declined"]),
        (
            {"trace_id": tid(1)},
            ["payment declined", "Slow Query on orders", "GET /checkout started"],
        ),
        ({"attributes": [("http.status_code", "402")]}, ["payment declined"]),  # ints as text
        ({"attributes": [("oom", "true")]}, ["out of memory"]),  # bools as text
        ({"attributes": [("host.name", "api-7")]}, ["payment declined"]),  # resource too
        ({"attributes": [("db.system", "postgresql"), ("host.name", "api-7")]}, []),  # all
        (
            {"start_ns": T0 + 2 * MS, "end_ns": T0 + 3 * MS},
            ["payment declined", "Slow Query on orders"],
        ),  # window bounds included
    ],
)
def test_log_filters(journal: Store, filters: dict, expected: list[str]) -> None:
    assert logs(journal, **filters) == expected


def _point(name: str, ms: int, service: str = "frontend", **attributes) -> MetricPoint:
    return MetricPoint(name=name, kind="gauge", time_ns=T0 + ms * MS, service=service,
                       attributes=attributes, value=float(ms))  # fmt: skip


def test_metric_points_by_name_window_service_and_labels(store: Store) -> None:
    store.write_signals(
        [
            SignalBatch(
                points=[
                    _point("queue.depth", 30, route="/orders"),
                    _point("queue.depth", 10, route="/orders", code=200),
                    _point("queue.depth", 20, route="/cart"),
                    _point("queue.depth", 40, "orders", route="/orders"),
                    _point("cpu", 10, "orders"),
                ]
            )
        ]
    )

    def values(name: str, start: int = 0, end: int = 100, **kw) -> list[float | None]:
        found = store.metric_points(name, T0 + start * MS, T0 + end * MS, **kw)
        return [p.value for p in found]

    assert values("queue.depth") == [10.0, 20.0, 30.0, 40.0]  # oldest first
    assert values("queue.depth", 20, 30) == [20.0, 30.0]
    assert values("queue.depth", service="frontend") == [10.0, 20.0, 30.0]
    assert values("queue.depth", labels=[("route", "/orders")]) == [10.0, 30.0, 40.0]
    assert values("queue.depth", labels=[("route", "/orders"), ("code", "200")]) == [10.0]
    assert values("nothing") == []
    assert store.metric_names() == ["cpu", "queue.depth"]
    assert store.metric_names("orders") == ["cpu", "queue.depth"]
    assert store.metric_names("frontend") == ["queue.depth"]
    assert store.metric_names("nobody") == []


def test_signals_are_not_deduplicated(store: Store) -> None:
    record = LogRecord(T0, "frontend", 9, "INFO", "same line")
    store.write_signals([SignalBatch([record])])
    store.write_signals([SignalBatch([record])])
    assert logs(store) == ["same line", "same line"]

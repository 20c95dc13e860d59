"""The ClickHouse backend's tables on the real ClickHouse engine, in-process (chDB): the
migrations are idempotent and survive a reopen, and a span inserted exactly as the
OpenTelemetry Collector's ClickHouse exporter inserts it is found through the
trace-id/time lookup table, the bounded way trace by id will read it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

# chDB is a test dependency (pyproject's [test] extra): CI runs this on the real engine.
from spanscope.store.clickhouse.driver import ChdbDriver
from spanscope.store.clickhouse.schema import MIGRATIONS, applied, database_name, migrate

# The exporter's own INSERT column list (exporter/clickhouseexporter traces_insert.sql).
EXPORTER_INSERT = """
INSERT INTO {db}.otel_traces (
    Timestamp, TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, ServiceName,
    ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode,
    StatusMessage, `Events.Timestamp`, `Events.Name`, `Events.Attributes`, `Links.TraceId`,
    `Links.SpanId`, `Links.TraceState`, `Links.Attributes`
) VALUES (
    {start:DateTime64(9)}, {trace:String}, {span:String}, {parent:String}, '', {name:String},
    'Server', {service:String}, map('service.name', {service:String}), 'otelcol', '1.0',
    map('http.status_code', '500'), {duration:UInt64}, 'Error', 'boom',
    [{start:DateTime64(9)}], ['exception'], [map('exception.type', 'E')], [], [], [], []
)
"""

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[ChdbDriver]:
    d = ChdbDriver(tmp_path / "clickhouse")
    yield d
    d.close()


def test_migrations_apply_once_and_again_change_nothing(driver: ChdbDriver) -> None:
    assert migrate(driver) == [m.version for m in MIGRATIONS]
    assert migrate(driver) == []
    assert applied(driver, "spanscope") == [m.version for m in MIGRATIONS]
    tables = driver.arrow("SELECT name FROM system.tables WHERE database = 'spanscope'")
    assert set(tables.column(0).to_pylist()) >= {
        "otel_traces",
        "otel_traces_trace_id_ts",
        "otel_traces_trace_id_ts_mv",
        "spanscope_wal_checkpoint",
        "spanscope_trace_sampling",
        "spanscope_migrations",
    }


def test_the_schema_survives_a_reopen(tmp_path: Path) -> None:
    first = ChdbDriver(tmp_path / "clickhouse")
    migrate(first, "tenant_a")
    first.close()
    again = ChdbDriver(tmp_path / "clickhouse")
    try:
        assert migrate(again, "tenant_a") == []
        assert applied(again, "tenant_a") == [m.version for m in MIGRATIONS]
    finally:
        again.close()


def test_a_span_written_by_the_otel_exporter_is_found_by_trace_id_within_its_time(
    driver: ChdbDriver,
) -> None:
    migrate(driver)
    for span, parent, start in (("00f067aa0ba902b7", "", "2026-12-03 10:00:00.000000001"),
                                ("00f067aa0ba902b8", "00f067aa0ba902b7",
                                 "2026-12-03 10:00:02.5")):  # fmt: skip
        driver.execute(
            EXPORTER_INSERT.replace("{db}", "spanscope"),
            {"start": start, "trace": TRACE, "span": span, "parent": parent,
             "name": "GET /checkout", "service": "frontend", "duration": 1_250_000_000},
        )  # fmt: skip
    bounds = driver.arrow(
        "SELECT toUnixTimestamp(min(Start)), toUnixTimestamp(max(End)) "
        "FROM spanscope.otel_traces_trace_id_ts WHERE TraceId = {t:String}",
        {"t": TRACE},
    )
    start, end = (bounds.column(i)[0].as_py() for i in (0, 1))
    assert end - start == 2  # whole seconds (DateTime): the lookup bounds, it is coarse
    spans = driver.arrow(
        "SELECT SpanId, ParentSpanId, Duration, SpanAttributes['http.status_code'] AS code, "
        "`Events.Name` AS events FROM spanscope.otel_traces "
        "WHERE TraceId = {t:String} "
        "AND Timestamp BETWEEN toDateTime({lo:UInt32}) AND toDateTime({hi:UInt32}) + 1 "
        "ORDER BY Timestamp",
        {"t": TRACE, "lo": start, "hi": end},
    )
    assert spans.column("SpanId").to_pylist() == ["00f067aa0ba902b7", "00f067aa0ba902b8"]
    assert spans.column("ParentSpanId").to_pylist() == ["", "00f067aa0ba902b7"]
    assert spans.column("Duration").to_pylist() == [1_250_000_000] * 2
    assert spans.column("code").to_pylist() == ["500", "500"]
    assert spans.column("events").to_pylist() == [["exception"], ["exception"]]


@pytest.mark.parametrize("name", ["", "1db", "spans; DROP TABLE x", "a" * 65, "db-name"])
def test_a_database_name_that_is_not_an_identifier_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="expected letters, digits and '_'"):
        database_name(name)

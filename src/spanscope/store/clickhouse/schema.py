"""The ClickHouse backend's tables, created by versioned, idempotent migrations.

Spans live in ``otel_traces`` with the column names and types of the OpenTelemetry
Collector's ClickHouse exporter, so a ClickHouse that a Collector already exports into is
readable as it is: ``Timestamp`` (the span's start, DateTime64(9)), ``TraceId`` /
``SpanId`` / ``ParentSpanId`` as lowercase hex (empty for a root), ``SpanKind`` and
``StatusCode`` as the exporter's words (``Server``, ``Error``, ...), ``Duration`` in ns,
attributes as ``Map(LowCardinality(String), String)``, events and links as ``Nested``.
Beside it, as the exporter makes them, ``otel_traces_trace_id_ts`` (each trace's first
and last start, filled by a materialized view on every insert): trace by id reads it
first so the span scan is bounded by time — a bare ``WHERE TraceId = ...`` reads every
part of every day.

Spanscope's own tables carry what the exporter's layout has no room for:
``spanscope_wal_checkpoint`` (the WAL position of the last acknowledged write) and
``spanscope_trace_sampling`` (which tail-sampling policy kept a trace, with its weight).
Still to come with the store: typed attribute columns (``http.status_code >= 500``
compares numbers), the per-trace summary, and retention by class as TTL.

>>> [m.version for m in MIGRATIONS]
[1, 2]

:func:`migrate` applies the migrations a database has not recorded yet, in order, and
records each after its statements succeed; every statement is ``IF NOT EXISTS``, so a
crash between the two only repeats harmless work. Running it again changes nothing.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from spanscope.store.clickhouse.driver import Driver

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]
    """DDL with ``{db}`` for the database name."""


_OTEL_TRACES = """
CREATE TABLE IF NOT EXISTS {db}.otel_traces (
    Timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    Duration UInt64 CODEC(ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    Events Nested (
        Timestamp DateTime64(9),
        Name LowCardinality(String),
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    Links Nested (
        TraceId String,
        SpanId String,
        TraceState String,
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, SpanName, toDateTime(Timestamp))
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1
"""

_TRACE_ID_TS = """
CREATE TABLE IF NOT EXISTS {db}.otel_traces_trace_id_ts (
    TraceId String CODEC(ZSTD(1)),
    Start DateTime CODEC(Delta, ZSTD(1)),
    End DateTime CODEC(Delta, ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.01) GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY toDate(Start)
ORDER BY (TraceId, Start)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1
"""

_TRACE_ID_TS_MV = """
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.otel_traces_trace_id_ts_mv
TO {db}.otel_traces_trace_id_ts
AS SELECT TraceId, min(Timestamp) AS Start, max(Timestamp) AS End
FROM {db}.otel_traces
WHERE TraceId != ''
GROUP BY TraceId
"""

# One row per write that carried a position; the latest (by Seq) is the checkpoint.
_WAL_CHECKPOINT = """
CREATE TABLE IF NOT EXISTS {db}.spanscope_wal_checkpoint (
    Seq UInt64,
    Position Int64
) ENGINE = ReplacingMergeTree(Seq)
ORDER BY tuple()
"""

# A replay may record a decision again: read the latest by DecidedNs.
_TRACE_SAMPLING = """
CREATE TABLE IF NOT EXISTS {db}.spanscope_trace_sampling (
    TraceId String CODEC(ZSTD(1)),
    Policy LowCardinality(String),
    Weight Float64,
    DecidedNs Int64
) ENGINE = ReplacingMergeTree(DecidedNs)
ORDER BY TraceId
"""

MIGRATIONS = (
    Migration(
        1,
        "otel_traces and its trace-id/time lookup (the OTel Collector exporter's layout)",
        (_OTEL_TRACES, _TRACE_ID_TS, _TRACE_ID_TS_MV),
    ),
    Migration(
        2,
        "Spanscope's WAL checkpoint and tail-sampling records",
        (_WAL_CHECKPOINT, _TRACE_SAMPLING),
    ),  # fmt: skip
)

_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS {db}.spanscope_migrations (
    Version UInt32,
    Name String,
    AppliedNs Int64
) ENGINE = ReplacingMergeTree(AppliedNs)
ORDER BY Version
"""


def database_name(name: str) -> str:
    """``name`` if it is a plain ClickHouse identifier (it is spliced into DDL, which takes
    no parameters); otherwise a ValueError saying what is allowed."""
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(
            f"ClickHouse database {name!r}: expected letters, digits and '_', not starting "
            "with a digit, at most 64 characters (e.g. 'spanscope')"
        )
    return name


def applied(driver: Driver, database: str) -> list[int]:
    """The migration versions the database has recorded, ascending."""
    db = database_name(database)
    table = driver.arrow(f"SELECT DISTINCT Version FROM {db}.spanscope_migrations ORDER BY 1")
    return [int(v) for v in table.column(0).to_pylist()]


def migrate(driver: Driver, database: str = "spanscope") -> list[int]:
    """Create the database and apply every migration it has not recorded; returns the
    versions applied now (none when it is up to date)."""
    db = database_name(database)
    driver.execute(f"CREATE DATABASE IF NOT EXISTS {db}")
    driver.execute(_MIGRATIONS_TABLE.format(db=db))
    done = set(applied(driver, db))
    now: list[int] = []
    for migration in MIGRATIONS:
        if migration.version in done:
            continue
        for statement in migration.statements:
            driver.execute(statement.format(db=db))
        driver.execute(
            f"INSERT INTO {db}.spanscope_migrations VALUES "
            "({version:UInt32}, {name:String}, {at:Int64})",
            {"version": migration.version, "name": migration.name, "at": time.time_ns()},
        )
        now.append(migration.version)
    return now

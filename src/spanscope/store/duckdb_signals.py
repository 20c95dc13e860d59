"""Logs and metric points in the DuckDB store: their tables, how they are written (inside
the span write's transaction, so one WAL checkpoint covers all three signals) and read.

``logs`` has one row per log record; ``metric_points`` one row per OTLP data point::

    logs           time_ns, observed_ns, service, severity_number, severity_text, body,
                   body_text, attributes, resource, trace_id, span_id, scope_name, flags
    metric_points  name, service, kind, unit, temporality, monotonic, start_ns, time_ns,
                   attributes, resource, value, count, sum, min, max, bounds,
                   bucket_counts, scale, zero_count, positive_offset, positive_counts,
                   negative_offset, negative_counts, exemplars

Attributes, resources and bodies are tagged JSON (:func:`~spanscope.store.duckdb_schema.tag_value`)
so they read back with their OTLP types; a point's ``attributes`` text is canonical (sorted
keys), so equal label sets are equal strings and serve as the series key. Trace and span
ids are BLOBs (NULL outside a span): "the logs of this trace" is an equality filter.
Exemplars are a JSON list on their point — they are few per point, read with it, and
never searched on their own.

Writes are not de-duplicated (logs and points have no identity of their own, and a
client retrying a log export duplicates it in any log store); a WAL replay never
duplicates them because they are stored in the same transaction as the checkpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from spanscope.model.signals import Exemplar, LogRecord, MetricPoint, SignalBatch
from spanscope.model.spans import Attributes
from spanscope.query.model import LogQuery
from spanscope.store.duckdb_schema import tag_attrs, tag_value, untag_attrs, untag_value

DDL = """
CREATE TABLE IF NOT EXISTS logs (
    time_ns BIGINT NOT NULL,
    observed_ns BIGINT NOT NULL,
    service VARCHAR NOT NULL,
    severity_number UTINYINT NOT NULL,
    severity_text VARCHAR NOT NULL,
    body VARCHAR NOT NULL,
    body_text VARCHAR NOT NULL,
    attributes VARCHAR NOT NULL,
    resource VARCHAR NOT NULL,
    trace_id BLOB,
    span_id BLOB,
    scope_name VARCHAR NOT NULL,
    flags UINTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS metric_points (
    name VARCHAR NOT NULL,
    service VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    unit VARCHAR NOT NULL,
    temporality UTINYINT NOT NULL,
    monotonic BOOLEAN NOT NULL,
    start_ns BIGINT NOT NULL,
    time_ns BIGINT NOT NULL,
    attributes VARCHAR NOT NULL,
    resource VARCHAR NOT NULL,
    value DOUBLE,
    count UBIGINT NOT NULL,
    sum DOUBLE,
    min DOUBLE,
    max DOUBLE,
    bounds DOUBLE[],
    bucket_counts UBIGINT[],
    scale INTEGER NOT NULL,
    zero_count UBIGINT NOT NULL,
    positive_offset INTEGER NOT NULL,
    positive_counts UBIGINT[],
    negative_offset INTEGER NOT NULL,
    negative_counts UBIGINT[],
    exemplars VARCHAR
);
"""

_LOG_SCHEMA = pa.schema(
    [
        ("time_ns", pa.int64()),
        ("observed_ns", pa.int64()),
        ("service", pa.string()),
        ("severity_number", pa.uint8()),
        ("severity_text", pa.string()),
        ("body", pa.string()),
        ("body_text", pa.string()),
        ("attributes", pa.string()),
        ("resource", pa.string()),
        ("trace_id", pa.binary()),
        ("span_id", pa.binary()),
        ("scope_name", pa.string()),
        ("flags", pa.uint32()),
    ]
)

_POINT_SCHEMA = pa.schema(
    [
        ("name", pa.string()),
        ("service", pa.string()),
        ("kind", pa.string()),
        ("unit", pa.string()),
        ("temporality", pa.uint8()),
        ("monotonic", pa.bool_()),
        ("start_ns", pa.int64()),
        ("time_ns", pa.int64()),
        ("attributes", pa.string()),
        ("resource", pa.string()),
        ("value", pa.float64()),
        ("count", pa.uint64()),
        ("sum", pa.float64()),
        ("min", pa.float64()),
        ("max", pa.float64()),
        ("bounds", pa.list_(pa.float64())),
        ("bucket_counts", pa.list_(pa.uint64())),
        ("scale", pa.int32()),
        ("zero_count", pa.uint64()),
        ("positive_offset", pa.int32()),
        ("positive_counts", pa.list_(pa.uint64())),
        ("negative_offset", pa.int32()),
        ("negative_counts", pa.list_(pa.uint64())),
        ("exemplars", pa.string()),
    ]
)
_POINT_COLUMNS = ", ".join(_POINT_SCHEMA.names)
_LOG_COLUMNS = ", ".join(n for n in _LOG_SCHEMA.names if n != "body_text")


def canonical(attrs: Attributes) -> str:
    """Tagged JSON with sorted keys: equal attribute sets give equal text."""
    return orjson.dumps(tag_attrs(attrs), option=orjson.OPT_SORT_KEYS).decode()


def body_text(body: Any) -> str:
    """A log body as the text search sees it (structured bodies as JSON)."""
    if isinstance(body, str):
        return body
    return orjson.dumps(body, default=_plain).decode()


def _plain(value: Any) -> str:
    return value.hex() if isinstance(value, bytes) else str(value)


def insert(cur: duckdb.DuckDBPyConnection, batches: Sequence[SignalBatch]) -> int:
    """Insert the batches' logs and points on ``cur`` (the caller holds the transaction);
    returns how many records were stored."""
    logs = [log for b in batches for log in b.logs]
    points = [p for b in batches for p in b.points]
    if logs:
        cur.register("log_batch", _logs_table(logs))
        try:
            cur.execute("INSERT INTO logs SELECT * FROM log_batch")
        finally:
            cur.unregister("log_batch")
    if points:
        cur.register("point_batch", _points_table(points))
        try:
            cur.execute(f"INSERT INTO metric_points SELECT {_POINT_COLUMNS} FROM point_batch")
        finally:
            cur.unregister("point_batch")
    return len(logs) + len(points)


def _logs_table(logs: list[LogRecord]) -> pa.Table:
    rows: dict[str, list[Any]] = {n: [] for n in _LOG_SCHEMA.names}
    for r in logs:
        rows["time_ns"].append(r.time_ns)
        rows["observed_ns"].append(r.observed_time_ns)
        rows["service"].append(r.service)
        rows["severity_number"].append(r.severity_number)
        rows["severity_text"].append(r.severity_text)
        rows["body"].append(orjson.dumps(tag_value(r.body)).decode())
        rows["body_text"].append(body_text(r.body))
        rows["attributes"].append(orjson.dumps(tag_attrs(r.attributes)).decode())
        rows["resource"].append(canonical(r.resource))
        rows["trace_id"].append(r.trace_id)
        rows["span_id"].append(r.span_id)
        rows["scope_name"].append(r.scope_name)
        rows["flags"].append(r.flags)
    return pa.table(rows, schema=_LOG_SCHEMA)


def _points_table(points: list[MetricPoint]) -> pa.Table:
    rows: dict[str, list[Any]] = {n: [] for n in _POINT_SCHEMA.names}
    for p in points:
        for name in ("name", "service", "kind", "unit", "temporality", "monotonic"):
            rows[name].append(getattr(p, name))
        for name in ("start_ns", "time_ns", "value", "count", "sum", "min", "max"):
            rows[name].append(getattr(p, name))
        rows["attributes"].append(canonical(p.attributes))
        rows["resource"].append(canonical(p.resource))
        rows["bounds"].append(p.bounds or None)
        rows["bucket_counts"].append(p.bucket_counts or None)
        for name in ("scale", "zero_count", "positive_offset", "negative_offset"):
            rows[name].append(getattr(p, name))
        rows["positive_counts"].append(p.positive_counts or None)
        rows["negative_counts"].append(p.negative_counts or None)
        rows["exemplars"].append(_exemplars_json(p.exemplars))
    return pa.table(rows, schema=_POINT_SCHEMA)


def _exemplars_json(exemplars: list[Exemplar]) -> str | None:
    if not exemplars:
        return None
    return orjson.dumps(
        [
            [
                e.time_ns,
                e.value,
                e.trace_id.hex() if e.trace_id else None,
                e.span_id.hex() if e.span_id else None,
                tag_attrs(e.attributes),
            ]
            for e in exemplars
        ]
    ).decode()


# --- reading ----------------------------------------------------------------------------


def logs(cur: duckdb.DuckDBPyConnection, q: LogQuery) -> list[LogRecord]:
    """Log records matching ``q`` (every filter is a SQL parameter, never spliced)."""
    where = ["time_ns BETWEEN ? AND ?"]
    params: list[Any] = [q.start_ns, q.end_ns]
    if q.trace_id is not None:
        where.append("trace_id = ?")
        params.append(q.trace_id)
    if q.span_id is not None:
        where.append("span_id = ?")
        params.append(q.span_id)
    if q.service is not None:
        where.append("service = ?")
        params.append(q.service)
    if q.min_severity is not None:
        where.append("severity_number >= ?")
        params.append(q.min_severity)
    if q.text:
        where.append("contains(lower(body_text), lower(?))")
        params.append(q.text)
    for key, value in q.attributes:
        path = "$." + orjson.dumps(key).decode() + "[1]"
        where.append(
            "(json_extract_string(attributes, ?) = ? OR json_extract_string(resource, ?) = ?)"
        )
        params += [path, value, path, value]
    order = "DESC" if q.order == "newest" else "ASC"
    rows = cur.execute(
        f"SELECT {_LOG_COLUMNS} FROM logs WHERE {' AND '.join(where)} "
        f"ORDER BY time_ns {order} LIMIT ?",
        [*params, q.limit],
    ).fetchall()
    return [_row_to_log(r) for r in rows]


def _row_to_log(r: tuple[Any, ...]) -> LogRecord:
    return LogRecord(
        time_ns=r[0],
        observed_time_ns=r[1],
        service=r[2],
        severity_number=r[3],
        severity_text=r[4],
        body=untag_value(orjson.loads(r[5])),
        attributes=untag_attrs(orjson.loads(r[6])),
        resource=untag_attrs(orjson.loads(r[7])),
        trace_id=bytes(r[8]) if r[8] is not None else None,
        span_id=bytes(r[9]) if r[9] is not None else None,
        scope_name=r[10],
        flags=r[11],
    )


def metric_points(
    cur: duckdb.DuckDBPyConnection,
    name: str,
    start_ns: int,
    end_ns: int,
    service: str | None = None,
    labels: Sequence[tuple[str, str]] = (),
    limit: int = 100_000,
) -> list[MetricPoint]:
    """Points of metric ``name`` with a time in the window, oldest first; ``labels`` are
    point attributes compared as text."""
    where = ["name = ?", "time_ns BETWEEN ? AND ?"]
    params: list[Any] = [name, start_ns, end_ns]
    if service is not None:
        where.append("service = ?")
        params.append(service)
    for key, value in labels:
        where.append("json_extract_string(attributes, ?) = ?")
        params += ["$." + orjson.dumps(key).decode() + "[1]", value]
    rows = cur.execute(
        f"SELECT {_POINT_COLUMNS} FROM metric_points WHERE {' AND '.join(where)} "
        "ORDER BY time_ns LIMIT ?",
        [*params, limit],
    ).fetchall()
    return [_row_to_point(r) for r in rows]


def _row_to_point(r: tuple[Any, ...]) -> MetricPoint:
    d = dict(zip(_POINT_SCHEMA.names, r, strict=True))
    exemplars = [
        Exemplar(
            t,
            v,
            bytes.fromhex(tid) if tid else None,
            bytes.fromhex(sid) if sid else None,
            untag_attrs(a),
        )
        for t, v, tid, sid, a in orjson.loads(d["exemplars"] or "[]")
    ]
    return MetricPoint(
        name=d["name"],
        kind=d["kind"],
        time_ns=d["time_ns"],
        service=d["service"],
        start_ns=d["start_ns"],
        unit=d["unit"],
        attributes=untag_attrs(orjson.loads(d["attributes"])),
        resource=untag_attrs(orjson.loads(d["resource"])),
        temporality=d["temporality"],
        monotonic=d["monotonic"],
        value=d["value"],
        count=d["count"],
        sum=d["sum"],
        min=d["min"],
        max=d["max"],
        bounds=list(d["bounds"] or []),
        bucket_counts=list(d["bucket_counts"] or []),
        scale=d["scale"],
        zero_count=d["zero_count"],
        positive_offset=d["positive_offset"],
        positive_counts=list(d["positive_counts"] or []),
        negative_offset=d["negative_offset"],
        negative_counts=list(d["negative_counts"] or []),
        exemplars=exemplars,
    )


def metric_names(cur: duckdb.DuckDBPyConnection, service: str | None = None) -> list[str]:
    """Every metric name stored (of ``service``), sorted."""
    if service is None:
        rows = cur.execute("SELECT DISTINCT name FROM metric_points ORDER BY name").fetchall()
    else:
        rows = cur.execute(
            "SELECT DISTINCT name FROM metric_points WHERE service = ? ORDER BY name", [service]
        ).fetchall()
    return [r[0] for r in rows]

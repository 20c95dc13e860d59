"""The DuckDB store's cross-trace aggregates for :mod:`spanscope.analysis`, as SQL.

Each function takes a reader cursor and answers one ``Store`` method (store/base.py) with
one or two queries, so slow-vs-normal comparisons, the service map and RED metrics run
over millions of spans without loading them into Python:

- ``request_durations``: a plain filter + GROUP BY trace;
- ``operation_stats``: self time in SQL — per parent, children ordered by (clipped) start,
  a running max of their ends gives each child's newly covered time (an interval sweep);
- ``attribute_counts``: typed attribute maps unnested into (key, value-as-text) pairs and
  counted per distinct trace;
- ``red``: GROUPING SETS give per-step points and whole-window totals in one scan, with
  each span weighted by its OTEP 235 adjusted count from the tracestate;
- ``latency_histogram``: bucket by a CASE over the bounds, exemplars by ``max_by(…, 3)``;
- ``dependency_stats``: the parent/child self-join of ``dependencies`` plus CONSUMER spans
  linked to PRODUCER spans, with the callee's duration quantiles.

Scans that follow a set of traces bound ``start_ns`` by those traces' extent from the
small ``trace_fragments`` index, so DuckDB's zone maps skip every other row group.
Values from users are bound as parameters; only numbers this module computes are spliced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import duckdb

from spanscope.analysis.red import TH_PATTERN
from spanscope.model.aggregates import (
    AttributeCount,
    DependencyStats,
    LatencyBucket,
    OperationStat,
    RedPoint,
)
from spanscope.model.spans import SpanKind

Cursor = duckdb.DuckDBPyConnection
_TWO_56 = float(1 << 56)
_WEIGHT = f"""CASE WHEN s.trace_state LIKE '%th:%'
     AND regexp_matches(s.trace_state, '{TH_PATTERN}')
    THEN {_TWO_56} / ({_TWO_56} - ('0x' || rpad(regexp_extract(s.trace_state,
         '{TH_PATTERN}', 1), 14, '0'))::UBIGINT::DOUBLE)
    ELSE 1.0 END"""
# The tail sampler's weight of each trace it kept (store/duckdb_sampling.py); it multiplies
# the head weight above because the two samplers draw independent randomness.
_TAIL_WEIGHT = (
    "SELECT trace_id, arg_max(weight, decided_ns) AS weight FROM trace_sampling GROUP BY trace_id"
)
# Trace ids travel as decimal text: a Python list of 128-bit ints makes DuckDB infer a
# list type that cannot hold ids >= 2**127 exactly (ids went missing at scale).
_GROUPS = "SELECT unnest(?::VARCHAR[])::UHUGEINT AS trace_id, unnest(?::VARCHAR[]) AS grp"


def _tid(trace_id: bytes) -> int:
    return int.from_bytes(trace_id, "big")


def _group_params(groups: Mapping[str, Sequence[bytes]]) -> tuple[list[str], list[str]]:
    ids: list[str] = []
    names: list[str] = []
    for name, trace_ids in groups.items():
        for t in dict.fromkeys(trace_ids):
            ids.append(str(_tid(t)))
            names.append(name)
    return ids, names


def _extent(cur: Cursor, ids: list[str]) -> tuple[int, int] | None:
    row = cur.execute(
        "SELECT min(min_start_ns), max(max_end_ns) FROM trace_fragments "
        "WHERE trace_id IN (SELECT unnest(?::VARCHAR[])::UHUGEINT)",
        [ids],
    ).fetchone()
    if row is None or row[0] is None:
        return None
    return int(row[0]), int(row[1])


def request_durations(
    cur: Cursor, start_ns: int, end_ns: int, service: str | None, operation: str | None
) -> list[tuple[bytes, int]]:
    sql = "SELECT trace_id, max(duration_ns) FROM spans WHERE start_ns BETWEEN ? AND ?"
    params: list[Any] = [start_ns, end_ns]
    if service is None and operation is None:
        sql += " AND parent_span_id IS NULL"
    if service is not None:
        sql += " AND service = ?"
        params.append(service)
    if operation is not None:
        sql += " AND name = ?"
        params.append(operation)
    rows = cur.execute(sql + " GROUP BY trace_id", params).fetchall()
    return [(t.to_bytes(16, "big"), int(d)) for t, d in rows]


_OPERATION_STATS_SQL = f"""
WITH g AS ({_GROUPS}),
s AS (
    SELECT s.trace_id, s.span_id, s.parent_span_id, s.start_ns, s.duration_ns,
           s.service, s.name, g.grp
    FROM spans s JOIN g ON g.trace_id = s.trace_id
    WHERE s.start_ns BETWEEN ? AND ?
),
c AS (
    SELECT c.trace_id, c.parent_span_id AS pid,
           greatest(c.start_ns, p.start_ns) AS cs,
           least(c.start_ns + c.duration_ns, p.start_ns + greatest(p.duration_ns, 0)) AS ce
    FROM s c JOIN s p ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id
),
swept AS (
    SELECT trace_id, pid, cs, ce,
           max(ce) OVER (PARTITION BY trace_id, pid ORDER BY cs, ce
                         ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
    FROM c
),
covered AS (
    SELECT trace_id, pid, sum(greatest(0, ce - greatest(cs, coalesce(reach, cs)))) AS ns
    FROM swept GROUP BY trace_id, pid
)
SELECT s.grp, s.service, s.name, count(DISTINCT s.trace_id), count(*),
       sum(s.duration_ns), sum(greatest(s.duration_ns, 0) - coalesce(covered.ns, 0))
FROM s LEFT JOIN covered ON covered.trace_id = s.trace_id AND covered.pid = s.span_id
GROUP BY s.grp, s.service, s.name
"""


def operation_stats(cur: Cursor, groups: Mapping[str, Sequence[bytes]]) -> list[OperationStat]:
    ids, names = _group_params(groups)
    extent = _extent(cur, ids) if ids else None
    if extent is None:
        return []
    rows = cur.execute(_OPERATION_STATS_SQL, [ids, names, *extent]).fetchall()
    return [
        OperationStat(g, svc, name, int(t), int(n), int(total), int(own))
        for g, svc, name, t, n, total, own in rows
    ]


_ATTRIBUTE_COUNTS_SQL = f"""
WITH g AS ({_GROUPS}),
s AS (
    SELECT s.trace_id, g.grp, s.attr_str, s.attr_int, s.attr_bool, s.resource_id
    FROM spans s JOIN g ON g.trace_id = s.trace_id
    WHERE s.start_ns BETWEEN ? AND ?
),
r AS (
    SELECT DISTINCT s.trace_id, s.grp, res.attr_str, res.attr_int, res.attr_bool
    FROM (SELECT DISTINCT trace_id, grp, resource_id FROM s) s
    JOIN resources res ON res.id = s.resource_id
),
kv AS (
    SELECT trace_id, grp, unnest(map_keys(attr_str)) AS k, unnest(map_values(attr_str)) AS v
    FROM s
    UNION ALL
    SELECT trace_id, grp, unnest(map_keys(attr_int)), unnest(map_values(attr_int))::VARCHAR
    FROM s
    UNION ALL
    SELECT trace_id, grp, unnest(map_keys(attr_bool)), unnest(map_values(attr_bool))::VARCHAR
    FROM s
    UNION ALL
    SELECT trace_id, grp, unnest(map_keys(attr_str)), unnest(map_values(attr_str)) FROM r
    UNION ALL
    SELECT trace_id, grp, unnest(map_keys(attr_int)), unnest(map_values(attr_int))::VARCHAR
    FROM r
    UNION ALL
    SELECT trace_id, grp, unnest(map_keys(attr_bool)), unnest(map_values(attr_bool))::VARCHAR
    FROM r
),
counted AS (
    SELECT grp, k, v, count(DISTINCT trace_id) AS n FROM kv GROUP BY grp, k, v
)
SELECT grp, k, v, n FROM counted
WHERE (k, v) IN (SELECT k, v FROM counted WHERE grp = ? AND n >= ?)
"""


def attribute_counts(
    cur: Cursor, groups: Mapping[str, Sequence[bytes]], focus: str, min_traces: int
) -> list[AttributeCount]:
    ids, names = _group_params(groups)
    extent = _extent(cur, ids) if ids else None
    if extent is None:
        return []
    rows = cur.execute(_ATTRIBUTE_COUNTS_SQL, [ids, names, *extent, focus, min_traces]).fetchall()
    return [AttributeCount(g, k, v, int(n)) for g, k, v, n in rows]


def _span_filter(
    start_ns: int,
    end_ns: int,
    services: Sequence[str],
    operation: str | None,
    kinds: Sequence[SpanKind] | None,
) -> tuple[str, list[Any]]:
    sql = "s.start_ns BETWEEN ? AND ? AND s.service IN (SELECT unnest(?::VARCHAR[]))"
    params: list[Any] = [start_ns, end_ns, list(services)]
    if operation is not None:
        sql += " AND s.name = ?"
        params.append(operation)
    if kinds is not None:
        sql += " AND s.kind IN (SELECT unnest(?::UTINYINT[]))"
        params.append([int(k) for k in kinds])
    return sql, params


def red(
    cur: Cursor,
    start_ns: int,
    end_ns: int,
    step_ns: int,
    services: Sequence[str],
    operation: str | None,
    kinds: Sequence[SpanKind] | None,
    group_by_operation: bool,
    quantiles: Sequence[float],
) -> list[RedPoint]:
    if not services:
        return []
    where, params = _span_filter(start_ns, end_ns, services, operation, kinds)
    op = "name" if group_by_operation else "NULL::VARCHAR"
    keys = "service, name" if group_by_operation else "service"
    qs = ", ".join(repr(float(q)) for q in quantiles)
    sql = f"""
        SELECT service, {op}, bucket, count(*), sum(w), coalesce(sum(w) FILTER (WHERE err), 0),
               list_transform(quantile_cont(duration_ns, [{qs}]), lambda x: floor(x + 0.5)::BIGINT)
        FROM (
            SELECT s.service, s.name, s.duration_ns, s.status_code = 2 AS err,
                   {int(start_ns)} + (s.start_ns - {int(start_ns)}) // {int(step_ns)}
                       * {int(step_ns)} AS bucket,
                   {_WEIGHT} * coalesce(ts.weight, 1.0) AS w
            FROM spans s LEFT JOIN ({_TAIL_WEIGHT}) ts ON ts.trace_id = s.trace_id
            WHERE {where}
        )
        GROUP BY GROUPING SETS (({keys}, bucket), ({keys}))
    """
    rows = cur.execute(sql, params).fetchall()
    return [
        RedPoint(svc, o, None if b is None else int(b), int(n), float(w), float(e),
                 tuple(int(x) for x in q))
        for svc, o, b, n, w, e, q in rows
    ]  # fmt: skip


def latency_histogram(
    cur: Cursor,
    start_ns: int,
    end_ns: int,
    bounds_ns: Sequence[int],
    services: Sequence[str],
    operation: str | None,
    kinds: Sequence[SpanKind] | None,
    group_by_operation: bool,
) -> list[LatencyBucket]:
    if not services:
        return []
    where, params = _span_filter(start_ns, end_ns, services, operation, kinds)
    cases = " ".join(f"WHEN s.duration_ns <= {int(b)} THEN {i}" for i, b in enumerate(bounds_ns))
    index = f"CASE {cases} ELSE {len(bounds_ns)} END" if cases else "0"
    op = "s.name" if group_by_operation else "NULL::VARCHAR"
    sql = f"""
        SELECT s.service, {op} AS op, {index} AS idx, count(*),
               max_by(s.trace_id, s.duration_ns, 3)
        FROM spans s WHERE {where}
        GROUP BY ALL
    """
    rows = cur.execute(sql, params).fetchall()
    return [
        LatencyBucket(svc, o, int(i), int(n), tuple(t.to_bytes(16, "big") for t in ex))
        for svc, o, i, n, ex in rows
    ]


def dependency_stats(
    cur: Cursor, start_ns: int, end_ns: int, service: str | None
) -> list[DependencyStats]:
    # Parents may start before the window: bound their scan by the extent of every trace
    # with a fragment overlapping the window, all read from the small fragments table (a
    # tenth of the spans' rows). Finding those traces from the spans themselves cost a
    # full extra scan: 400 of 1,600 ms at 10M spans (docs/analysis.md). A fragment holding
    # a span that starts in the window overlaps it, unless that span's duration is negative
    # and the whole fragment ends before the window: such skewed spans may miss a parent.
    lo, hi = cur.execute(
        """
        SELECT min(min_start_ns), max(max_end_ns) FROM trace_fragments
        WHERE trace_id IN (SELECT trace_id FROM trace_fragments
                           WHERE min_start_ns <= ? AND max_end_ns >= ?)
        """,
        [end_ns, start_ns],
    ).fetchone() or (None, None)
    if lo is None:
        return []
    # Linked producers may be in other traces, outside that extent: joined by id alone.
    sql = """
        WITH calls AS (
            SELECT p.service AS parent, c.service AS child, c.duration_ns, c.status_code
            FROM spans c JOIN spans p
              ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id
            WHERE c.start_ns BETWEEN ? AND ? AND c.parent_span_id IS NOT NULL
              AND p.start_ns BETWEEN ? AND ? AND p.service <> c.service
            UNION ALL
            SELECT p.service, l.service, l.duration_ns, l.status_code
            FROM (
                SELECT c.trace_id, c.parent_span_id, c.service, c.duration_ns, c.status_code,
                       ('0x' || (lk->>'$[0]'))::UHUGEINT AS ptrace,
                       ('0x' || (lk->>'$[1]'))::UBIGINT AS pspan
                FROM (SELECT *, unnest(json_extract(links, '$[*]')) AS lk FROM spans
                      WHERE start_ns BETWEEN ? AND ? AND kind = 5 AND links IS NOT NULL) c
            ) l
            JOIN spans p ON p.trace_id = l.ptrace AND p.span_id = l.pspan
            WHERE p.kind = 4 AND p.service <> l.service
              -- a consumer both parented by and linked to its producer is one call
              AND NOT (l.trace_id = l.ptrace AND l.parent_span_id IS NOT DISTINCT FROM l.pspan)
        )
        SELECT parent, child, count(*), count(*) FILTER (WHERE status_code = 2),
               list_transform(quantile_cont(duration_ns, [0.5, 0.95, 0.99]),
                              lambda x: floor(x + 0.5)::BIGINT)
        FROM calls
    """
    params: list[Any] = [start_ns, end_ns, lo, hi, start_ns, end_ns]
    if service is not None:
        sql += " WHERE parent = ? OR child = ?"
        params += [service, service]
    rows = cur.execute(sql + " GROUP BY 1, 2 ORDER BY 1, 2", params).fetchall()
    return [
        DependencyStats(p, c, int(n), int(e), tuple(int(x) for x in q)) for p, c, n, e, q in rows
    ]

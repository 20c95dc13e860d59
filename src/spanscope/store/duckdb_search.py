"""A :class:`~spanscope.query.model.SearchQuery` compiled to DuckDB SQL over the ``spans`` table.

The span filter is one WHERE clause: a trace matches when ONE span satisfies every part of
it (Jaeger's semantics). Every user value — attribute keys included — is a SQL parameter;
the SQL text only ever contains our own column names and operators::

    >>> from spanscope.query.model import parse_condition
    >>> sql, params = span_filter(SearchQuery(0, 10, service="api",
    ...     conditions=[parse_condition("http.status_code>=500")]))
    >>> params[:5]   # window, service, then (key, value) per typed map, span then resource
    [0, 10, 'api', 'http.status_code', 500]

Typed conditions: a number compares against ``attr_int`` and ``attr_dbl``; ``=``/``!=``
with a number also match ``attr_str`` holding the number's text; a string compares
against ``attr_str``; a bool against ``attr_bool``. ``!=`` means the attribute exists with
another value (as Tempo does): a missing key yields NULL, which never matches. The key may
name a resource attribute too (``host.name``): resources are a small table, so that side
is a ``resource_id IN (...)`` semi-join.

Newest-first searches over long windows look at the newest part of the window first
(:func:`ranked_traces`): a 24 h attribute search usually fills its page from the last
half hour, and scanning that is ~50× cheaper than scanning the day.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import duckdb

from spanscope.model.spans import StatusCode
from spanscope.query.model import Condition, SearchQuery

_STATUS = {"error": StatusCode.ERROR, "ok": StatusCode.OK, "unset": StatusCode.UNSET}
_SQL_OP = {"=": "=", "!=": "<>", ">": ">", ">=": ">=", "<": "<", "<=": "<="}


def _number_text(v: int | float) -> str:
    return str(v)


def attr_predicate(cond: Condition) -> tuple[str, list[Any]]:
    """SQL over attr_* columns (of spans or resources) for one condition, with params."""
    op = _SQL_OP[cond.op]
    v = cond.value
    key = cond.key
    parts: list[str] = []
    params: list[Any] = []

    def on(column: str, value: Any) -> None:
        parts.append(f"map_extract_value({column}, ?) {op} ?")
        params.extend([key, value])

    if isinstance(v, bool):
        on("attr_bool", v)
    elif isinstance(v, int | float):
        on("attr_int", v)
        on("attr_dbl", v)
        if cond.op in ("=", "!="):
            on("attr_str", _number_text(v))
    else:
        on("attr_str", v)
    return "(" + " OR ".join(parts) + ")", params


def condition_sql(cond: Condition) -> tuple[str, list[Any]]:
    """A span matches when its own attributes or its resource's attributes satisfy cond."""
    pred, params = attr_predicate(cond)
    sql = f"({pred} OR resource_id IN (SELECT id FROM resources WHERE {pred}))"
    return sql, params + params


def span_filter(q: SearchQuery) -> tuple[str, list[Any]]:
    """The WHERE clause (without ``WHERE``) one span must satisfy, and its parameters."""
    clauses = ["start_ns BETWEEN ? AND ?"]
    params: list[Any] = [q.start_ns, q.end_ns]
    if q.service is not None:
        clauses.append("service = ?")
        params.append(q.service)
    if q.operation is not None:
        clauses.append("name = ?")
        params.append(q.operation)
    if q.min_duration_ns is not None:
        clauses.append("duration_ns >= ?")
        params.append(q.min_duration_ns)
    if q.max_duration_ns is not None:
        clauses.append("duration_ns <= ?")
        params.append(q.max_duration_ns)
    if q.status is not None:
        clauses.append("status_code = ?")
        params.append(int(_STATUS[q.status]))
    for cond in q.conditions:
        sql, p = condition_sql(cond)
        clauses.append(sql)
        params.extend(p)
    return " AND ".join(clauses), params


def ranked_traces_sql(q: SearchQuery) -> tuple[str, list[Any]]:
    """Top ``q.limit`` matching traces as (trace_id, start_ns, duration_ns), in q's order.

    Trace start/duration come from ``trace_fragments`` (whole trace, not only the matching
    span); ties break on trace id so the same query always gives the same page.
    """
    where, params = span_filter(q)
    order = "t_start DESC" if q.order == "newest" else "t_duration DESC"
    sql = f"""
        WITH candidates AS (SELECT DISTINCT trace_id FROM spans WHERE {where})
        SELECT f.trace_id, min(f.min_start_ns) AS t_start,
               max(f.max_end_ns) - min(f.min_start_ns) AS t_duration
        FROM trace_fragments f SEMI JOIN candidates c ON f.trace_id = c.trace_id
        GROUP BY f.trace_id
        ORDER BY {order}, f.trace_id
        LIMIT ?
    """
    return sql, [*params, q.limit]


NARROWING = (64, 8)
"""Newest-first searches try the last 1/64, then 1/8 of the window before all of it."""
MIN_NARROWED_NS = 5 * 60 * 1_000_000_000
"""Windows narrower than this (5 min) are searched whole: nothing to gain."""


def ranked_traces(cur: duckdb.DuckDBPyConnection, q: SearchQuery) -> list[tuple[int, int, int]]:
    """:func:`ranked_traces_sql` run, newest-first searches tail-first and still exact.

    Let S be the traces with a matching span in the window's tail ``[t, end]``. Any other
    matching trace has all its matching spans before ``t``, so it started before ``t``. If
    S's top ``limit`` (by trace start) all started at or after ``t``, nothing outside S can
    outrank them: that page is the answer. Otherwise widen the tail and ask again.
    """
    if q.order == "newest":
        width = q.end_ns - q.start_ns
        for part in NARROWING:
            tail = width // part
            if tail < MIN_NARROWED_NS:
                continue
            t = q.end_ns - tail
            rows = _ranked(cur, replace(q, start_ns=t))
            if len(rows) == q.limit and rows[-1][1] >= t:
                return rows
    return _ranked(cur, q)


def _ranked(cur: duckdb.DuckDBPyConnection, q: SearchQuery) -> list[tuple[int, int, int]]:
    sql, params = ranked_traces_sql(q)
    return cur.execute(sql, params).fetchall()

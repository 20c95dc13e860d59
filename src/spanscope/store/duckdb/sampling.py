"""The DuckDB store's sampling records and retention by trace class.

``trace_sampling`` has one row per tail-sampling decision that kept a trace (policy name,
weight = adjusted count, decision time); it commits in the same transaction as the
trace's spans (``DuckDBStore.write_tables`` with ``SpanTable.sampling``). A trace
without a row was stored without tail sampling: weight 1.

Retention classes come from the per-trace index, so they apply to every stored trace,
sampled or not: **error** (any span with status ERROR), **slow** (first start to last end
at least ``slow_threshold_ns``), else **normal**. A trace expires when its last span ended
longer ago than its class's retention; :func:`expire` deletes its spans, index rows and
sampling rows, or with ``dry_run`` only counts them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import pyarrow as pa

from spanscope.store.base import TRACE_CLASSES as CLASSES
from spanscope.store.base import ClassReport

Cursor = duckdb.DuckDBPyConnection


def record_sampling(cur: Cursor, tables: Sequence[pa.Table]) -> None:
    """Insert decision rows (trace_hi, trace_lo, policy, weight, decided_ns)."""
    rows = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    cur.register("sampling_rows", rows)
    try:
        cur.execute(
            "INSERT INTO trace_sampling SELECT (trace_hi::UHUGEINT << 64) | trace_lo::UHUGEINT,"
            " policy, weight, decided_ns FROM sampling_rows"
        )
    finally:
        cur.unregister("sampling_rows")


def sampling_of(cur: Cursor, trace_ids: Sequence[bytes]) -> dict[bytes, tuple[str, float]]:
    """(policy, weight) of each trace that tail sampling kept (the latest decision)."""
    if not trace_ids:
        return {}
    rows = cur.execute(
        "SELECT trace_id, arg_max(policy, decided_ns), arg_max(weight, decided_ns) "
        "FROM trace_sampling WHERE trace_id IN (SELECT unnest(?::VARCHAR[])::UHUGEINT) "
        "GROUP BY trace_id",
        # As text: DuckDB infers a list mixing ids above and below 2**127 as DOUBLE[].
        [[str(int.from_bytes(t, "big")) for t in trace_ids]],
    ).fetchall()
    return {int(r[0]).to_bytes(16, "big"): (r[1], float(r[2])) for r in rows}


_EXPIRED = """
    CREATE OR REPLACE TEMP TABLE expired AS
    WITH t AS (
        SELECT trace_id, min(min_start_ns) AS s, max(max_end_ns) AS e,
               sum(list_sum([x.error_count FOR x IN services])) AS errors,
               sum(list_sum([x.span_count FOR x IN services])) AS spans
        FROM trace_fragments GROUP BY trace_id
    ), c AS (
        SELECT *, CASE WHEN errors > 0 THEN 'error' WHEN e - s >= $slow THEN 'slow'
                  ELSE 'normal' END AS class
        FROM t
    )
    SELECT trace_id, class, s, e, spans FROM c
    WHERE e < $now - CASE class WHEN 'error' THEN $error WHEN 'slow' THEN $slow_keep
                                ELSE $normal END
"""


def expire(
    cur: Cursor,
    now_ns: int,
    retention_ns: dict[str, int],
    slow_threshold_ns: int,
    dry_run: bool,
) -> list[ClassReport]:
    """Delete (or with ``dry_run`` only count) traces past their class's retention.
    ``retention_ns`` maps each of :data:`CLASSES` to how long it is kept."""
    params: dict[str, Any] = {
        "now": now_ns,
        "slow": slow_threshold_ns,
        "error": retention_ns["error"],
        "slow_keep": retention_ns["slow"],
        "normal": retention_ns["normal"],
    }
    cur.execute("BEGIN TRANSACTION")
    try:
        cur.execute(_EXPIRED, params)
        rows = cur.execute(
            "SELECT class, count(*), coalesce(sum(spans), 0), min(e) FROM expired GROUP BY class"
        ).fetchall()
        bounds = cur.execute("SELECT min(s), max(e) FROM expired").fetchone() or (None, None)
        if not dry_run and bounds[0] is not None:
            cur.execute(
                "DELETE FROM spans WHERE start_ns BETWEEN ? AND ? "
                "AND trace_id IN (SELECT trace_id FROM expired)",
                [bounds[0], bounds[1]],
            )
            for table in ("trace_fragments", "trace_sampling"):
                cur.execute(f"DELETE FROM {table} WHERE trace_id IN (SELECT trace_id FROM expired)")
        cur.execute("DROP TABLE expired")
        cur.execute("COMMIT")
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    found = {r[0]: r for r in rows}
    return [
        ClassReport(
            c,
            retention_ns[c],
            int(found[c][1]) if c in found else 0,
            int(found[c][2]) if c in found else 0,
            int(found[c][3]) if c in found else None,
        )
        for c in CLASSES
    ]

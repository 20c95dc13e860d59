"""DuckDBStore answers services and operations from memory: the same lists as the stored
rows, new ones at once after a write, and the same after the file is reopened; and it
finds tail-sampling records whether they were written now or before a reopen."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from spanscope.batch import spans_table
from spanscope.model.spans import Span, SpanKind
from spanscope.model.summaries import Operation
from spanscope.query.model import now_ns
from spanscope.store.duckdb import DuckDBStore

T0 = now_ns() - 60 * 1_000_000_000


def span(i: int, service: str, name: str, kind: SpanKind) -> Span:
    return Span(
        trace_id=i.to_bytes(16, "big"),
        span_id=i.to_bytes(8, "big"),
        parent_span_id=None,
        name=name,
        start_ns=T0 + i,
        end_ns=T0 + i + 1000,
        service=service,
        kind=kind,
        resource={"service.name": service},
    )


def test_services_and_operations_follow_writes_and_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    store = DuckDBStore(path)
    assert store.services() == [] and store.operations("orders") == []
    store.write([span(1, "orders", "GET /b", SpanKind.SERVER)])
    assert store.services() == ["orders"]
    store.write(
        [
            span(2, "orders", "GET /a", SpanKind.SERVER),
            span(3, "orders", "GET /a", SpanKind.CLIENT),
            span(4, "Ärger", "x", SpanKind.INTERNAL),
            span(5, "billing", "charge", SpanKind.CONSUMER),
        ]
    )
    expected_ops = [
        Operation("GET /a", SpanKind.SERVER),
        Operation("GET /a", SpanKind.CLIENT),
        Operation("GET /b", SpanKind.SERVER),
    ]
    # Sorted as SQL's ORDER BY sorts them (by code point), with every (name, kind) once.
    assert store.services() == ["billing", "orders", "Ärger"]
    assert store.operations("orders") == expected_ops
    assert store.operations("orders", SpanKind.CLIENT) == [Operation("GET /a", SpanKind.CLIENT)]
    assert store.operations("nobody") == []
    sql = store._reader().execute("SELECT DISTINCT service FROM operations ORDER BY 1").fetchall()
    assert [r[0] for r in sql] == store.services()
    store.close()
    reopened = DuckDBStore(path)
    assert reopened.services() == ["billing", "orders", "Ärger"]
    assert reopened.operations("orders") == expected_ops
    reopened.close()


def test_sampling_records_are_found_fresh_and_after_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    store = DuckDBStore(path)
    plain, sampled = (
        span(1, "orders", "a", SpanKind.SERVER),
        span(2, "orders", "b", SpanKind.SERVER),
    )
    store.write([plain])
    assert store.sampling([plain.trace_id]) == {}  # nothing recorded yet: answered without SQL
    batch = spans_table([sampled])
    tid = int.from_bytes(sampled.trace_id, "big")
    batch.sampling = pa.table(
        {
            "trace_hi": pa.array([tid >> 64], pa.uint64()),
            "trace_lo": pa.array([tid & (2**64 - 1)], pa.uint64()),
            "policy": ["errors"],
            "weight": [2.0],
            "decided_ns": [T0],
        }
    )
    store.write_tables([batch])
    assert store.sampling([sampled.trace_id, plain.trace_id]) == {sampled.trace_id: ("errors", 2.0)}
    store.close()
    reopened = DuckDBStore(path)
    assert reopened.sampling([sampled.trace_id]) == {sampled.trace_id: ("errors", 2.0)}
    reopened.close()

"""DuckDBStore checkpoints at row-group boundaries, splitting a write that crosses one:
every span is stored exactly once with the write's WAL position, and the file holds no
free blocks left by checkpoints of partly filled row groups."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from spanscope.batch import SpanTable, columns_table
from spanscope.ingest.otlp_columns import decode_otlp_columns
from spanscope.store.duckdb import DuckDBStore
from spanscope.store.duckdb import store as duckdb_store
from tests.support.workload import make_request

NOW = 1_800_000_000_000_000_000


def _batches(count: int, seed: int = 0) -> list[SpanTable]:
    """``count`` 512-span tables, each with its own trace ids (the low halves moved)."""
    body = make_request(n_spans=512, seed=seed, now_ns=NOW).SerializeToString()
    base = columns_table(decode_otlp_columns(body, now_ns=NOW).spans)
    lo = base.table["trace_lo"].to_pylist()
    at = base.table.schema.get_field_index("trace_lo")
    out = []
    for k in range(count):
        moved = pa.array([(x + 7919 * (k + 1)) % 2**64 for x in lo], pa.uint64())
        table = base.table.set_column(at, "trace_lo", moved)
        out.append(SpanTable(table, base.resources, base.operations))
    return out


def test_a_write_crossing_a_row_group_is_stored_once_with_its_position(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(duckdb_store, "ROW_GROUP_ROWS", 1000)
    store = DuckDBStore(tmp_path / "s.duckdb")
    batches = _batches(6)
    before = store.last_checkpoint
    assert store.write_tables(batches[:3], wal_position=1) == 1536  # crosses 1000
    assert store.last_checkpoint > before
    assert store.write_tables(batches[2:6], wal_position=2) == 1536  # batch 2 is a repeat
    assert store.span_count() == 3072
    assert store.wal_position() == 2
    store.close()


def test_sustained_writes_leave_no_free_blocks_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    store = DuckDBStore(path)
    batches = _batches(600)  # 307,200 spans: two full row groups and a part
    checkpoints = 0
    for i in range(0, 600, 30):
        before = store.last_checkpoint
        store.write_tables(batches[i : i + 30], wal_position=i + 1)
        checkpoints += store.last_checkpoint != before
    assert checkpoints == 2  # one per filled row group, while writing
    store.checkpoint()
    store.close()
    store = DuckDBStore(path)
    row = store._reader().execute("PRAGMA database_size").fetchone()
    store.close()
    assert row is not None
    total_blocks, used_blocks, free_blocks = row[3], row[4], row[5]
    assert free_blocks <= 2, (total_blocks, used_blocks, free_blocks)

"""A store and a wire format for the ingest pipeline's unit tests (tests/unit/test_pipeline*.py).

:class:`ArrowStore` takes what the pipeline hands DuckDBStore in production: Arrow span
batches through ``write_tables`` (``SpanTable``: the ``spans`` columns, ``resource_ix``
into the batch's resources, its operations), idempotent by (trace id, span id), with the
WAL checkpoint in the same "transaction". It has no row ``write``: a pipeline that fell
back to the Span-object path fails the test instead of passing it unseen.

The test format ``otlp-json`` is a JSON list of integers, one span each (trace id = span
id = the integer), decoded to columns as the OTLP receivers do:

    store = ArrowStore(refuse=refuse_span(13))
    pipeline = IngestPipeline(store, wal, settings, decoders=DECODERS)
    send(pipeline, [1, 2, 13])
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from spanscope.batch import SpanTable
from spanscope.columnar import SpanColumns
from spanscope.ingest.otlp_columns import ColumnarResult
from spanscope.ingest.pipeline import IngestPipeline
from spanscope.model.signals import SignalBatch
from spanscope.model.spans import Span
from spanscope.store.base import StoreRefusedError
from spanscope.store.memory import MemoryStore

Refusal = Callable[[list[int]], object]
"""Called with a write's span ids before anything of it is stored; raises to refuse it."""


def numbered_span(n: int) -> Span:
    return Span(
        trace_id=n.to_bytes(16, "big"),
        span_id=n.to_bytes(8, "big"),
        name=f"op{n}",
        start_ns=1_700_000_000_000_000_000,
        end_ns=1_700_000_000_100_000_000,
    )


def decode_ids(body: bytes, limits: object) -> ColumnarResult:
    """Test format: a JSON list of integers, one span each, as columns."""
    return ColumnarResult(
        spans=SpanColumns.from_spans([numbered_span(n) for n in json.loads(body)])
    )


DECODERS: dict[str, Any] = {"otlp-json": decode_ids}


def send(pipeline: IngestPipeline, ids: list[int]) -> None:
    """Acknowledge a request of spans ``ids`` (WAL append, then queued for the writer)."""
    body = json.dumps(ids).encode()
    pipeline.accept_blocking("otlp-json", body, decode_ids(body, None).spans)


def refuse_span(poison: int) -> Refusal:
    """A store that refuses any write holding span ``poison`` for its values (as DuckDB
    refuses an INT64 overflow), so the pipeline must quarantine just that span."""

    def refuse(span_ids: list[int]) -> None:
        if poison in span_ids:
            raise StoreRefusedError(
                f"Out of Range Error: Overflow in addition of INT64 (span {poison})"
            )

    return refuse


class ArrowStore(MemoryStore):
    """The reference store's every other role, with the writer's replaced: Arrow batches
    kept as rows (as DuckDBStore takes them), a refusal hook, and counted checkpoints. A
    write through the row path (``write``) fails the test: production writes Arrow."""

    def __init__(self, position: int | None = None, refuse: Refusal | None = None) -> None:
        super().__init__()
        self.rows: dict[tuple[int, int, int], dict[str, Any]] = {}
        self.position = position
        self.refuse = refuse
        self.attempts = 0
        self.reopens = 0
        self.checkpoints = 0
        self.operations: set[tuple[str, str, int]] = set()
        self.signals: list[SignalBatch] = []

    def write_tables(
        self,
        tables: Sequence[SpanTable],
        wal_position: int | None = None,
        *,
        signals: Sequence[SignalBatch] = (),
    ) -> int:
        self.attempts += 1
        span_ids = [i for t in tables for i in t.table.column("span_id").to_pylist()]
        if self.refuse is not None:
            self.refuse(span_ids)
        new = 0
        for t in tables:
            for row in t.table.to_pylist():
                key = (row["trace_hi"], row["trace_lo"], row["span_id"])
                if key in self.rows:
                    continue
                # DuckDBStore maps resource_ix to a resource id: an index out of range fails.
                row["resource"] = t.resources[row.pop("resource_ix")]
                self.rows[key] = row
                new += 1
            self.operations |= t.operations
        self.signals += signals
        if wal_position is not None:
            self.position = wal_position
        return new

    def write(self, spans: Sequence[Span], wal_position: int | None = None) -> int:
        raise AssertionError("the pipeline wrote Span rows; production writes Arrow batches")

    def wal_position(self) -> int | None:
        return self.position

    def checkpoint(self) -> None:
        self.checkpoints += 1

    def stored(self) -> list[int]:
        """The span ids stored, in order."""
        return sorted(span_id for _, _, span_id in self.rows)

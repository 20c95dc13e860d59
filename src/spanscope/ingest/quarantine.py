"""Spans the store refuses, set aside so the writer goes on with everything else.

When a store write fails with data the store cannot take (say a span whose start +
duration overflows the store's 64-bit nanosecond column), the store writer bisects the
write down to the spans it refuses (:func:`split`), stores the rest, and appends the
refused ones here before the WAL checkpoint passes their position. Nothing acknowledged
is dropped silently: it is in a file a person can read and send again.

Layout: ``<data-dir>/quarantine/<UTC time>-<WAL position>.jsonl``, one JSON object per
line — the spans of one WAL record (one request) the store refused, and, when their
log records or metric points were refused, a second line for those::

    {"quarantined_at": "2026-12-03T10:15:02.123456Z", "wal_position": 17,
     "error": "Out of Range Error: Overflow in addition of INT64 (...)", "spans": 1,
     "otlp": {"resourceSpans": [...]}}

``otlp`` is an OTLP/JSON ``ExportTraceServiceRequest`` (the same shape ``/api/v3`` answers),
``error`` is the store's first error; ``other_errors`` lists any different ones. After
fixing what the error names, a line re-imports with::

    jq -c .otlp <data-dir>/quarantine/*.jsonl | while read -r body; do
      curl -sS -H 'Content-Type: application/json' --data-binary "$body" \\
           http://127.0.0.1:4318/v1/traces; done

Logs and metric points the store refuses are kept as ``"logs"`` / ``"points"`` lists of
their fields instead of ``otlp`` (there is no OTLP/JSON encoder for them here).
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from spanscope.api.serialize import spans_to_otlp
from spanscope.columnar import SpanColumns
from spanscope.model.signals import SignalBatch
from spanscope.model.spans import Span
from spanscope.store.duckdb_schema import SpanTable, table_to_spans

QUARANTINE_DIR = "quarantine"

Batch = list[Span] | SpanColumns | SpanTable | SignalBatch


def split(batch: Batch) -> tuple[Batch, Batch]:
    """The first and second half of a batch with at least two entries, same kind."""
    n = len(batch)
    half = n // 2
    if isinstance(batch, SpanTable):
        # Resources and operations stay whole: both halves index into the same list, and an
        # operation row for a span that turns out refused only names an (op, kind) pair.
        return (
            SpanTable(batch.table.slice(0, half), batch.resources, batch.operations,
                      batch.sampling),
            SpanTable(batch.table.slice(half), batch.resources, batch.operations,
                      batch.sampling),
        )  # fmt: skip
    if isinstance(batch, SignalBatch):
        records: list[Any] = [*batch.logs, *batch.points]
        halves = records[:half], records[half:]
        return tuple(  # type: ignore[return-value]
            SignalBatch(
                logs=[r for r in h if not hasattr(r, "kind")],
                points=[r for r in h if hasattr(r, "kind")],
            )
            for h in halves
        )
    spans = batch.to_spans() if isinstance(batch, SpanColumns) else batch
    return spans[:half], spans[half:]


def to_spans(batch: list[Span] | SpanColumns | SpanTable) -> list[Span]:
    """The batch as Span objects (an Arrow table row by row: slow, but only for the few
    spans being quarantined)."""
    if isinstance(batch, SpanColumns):
        return batch.to_spans()
    if not isinstance(batch, SpanTable):
        return list(batch)
    table = batch.table.rename_columns(
        ["resource_id" if n == "resource_ix" else n for n in batch.table.column_names]
    )
    resources = dict(enumerate(batch.resources))
    hi, lo = table.column("trace_hi").to_pylist(), table.column("trace_lo").to_pylist()
    read = table.drop_columns(["i", "trace_hi", "trace_lo"])
    out: list[Span] = []
    for row in range(table.num_rows):
        trace_id = ((hi[row] << 64) | lo[row]).to_bytes(16, "big")
        out += table_to_spans(read.slice(row, 1), trace_id, resources)
    return out


def _entries(refused: list[tuple[Batch, str]]) -> list[tuple[int, list[str], dict[str, Any]]]:
    """(count, distinct errors, content) of the spans, then of the signals, if any."""
    out: list[tuple[int, list[str], dict[str, Any]]] = []
    spans = [(b, e) for b, e in refused if not isinstance(b, SignalBatch)]
    if spans:
        rows = [s for b, _ in spans for s in to_spans(b)]  # type: ignore[arg-type]
        errors = list(dict.fromkeys(e for _, e in spans))
        out.append((len(rows), errors, {"otlp": spans_to_otlp(rows)}))
    signals = [(b, e) for b, e in refused if isinstance(b, SignalBatch)]
    if signals:
        logs = [_fields(r) for b, _ in signals for r in b.logs]  # type: ignore[union-attr]
        points = [_fields(p) for b, _ in signals for p in b.points]  # type: ignore[union-attr]
        errors = list(dict.fromkeys(e for _, e in signals))
        out.append((len(logs) + len(points), errors, {"logs": logs, "points": points}))
    return out


def _fields(record: Any) -> dict[str, Any]:
    return {
        k: v.hex() if isinstance(v, bytes) else v for k, v in dataclasses.asdict(record).items()
    }


class Quarantine:
    """Appends refused batches to ``<data-dir>/quarantine/`` durably (fsync before the
    WAL checkpoint may pass them)."""

    def __init__(self, data_dir: Path) -> None:
        self.directory = Path(data_dir) / QUARANTINE_DIR
        self._lock = threading.Lock()

    def add(self, wal_position: int, refused: list[tuple[Batch, str]]) -> Path:
        """Write ``refused`` ((batch, error text) pairs) to a new file; return its path.
        Raises OSError when the file cannot be written (then nothing passes the WAL)."""
        now = datetime.now(UTC)
        stamp = now.strftime("%Y%m%dT%H%M%S.%fZ")
        lines = []
        for count, errors, content in _entries(refused):
            entry = {
                "quarantined_at": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "wal_position": wal_position,
                "error": errors[0],
                **({"other_errors": errors[1:]} if len(errors) > 1 else {}),
                "spans": count,
                **content,
            }
            try:
                lines.append(orjson.dumps(entry, default=str))
            except TypeError:  # orjson refuses integers beyond 64 bits; json does not
                lines.append(json.dumps(entry, default=str).encode())
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"{stamp}-{wal_position}.jsonl"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                data = b"\n".join(lines) + b"\n"
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        return path

"""The DuckDB store's tables, and how an Arrow span batch (:mod:`spanscope.batch`) becomes rows.

One row per span in ``spans``, with the hot fields as flat columns so DuckDB compresses
them column by column, and attributes split by OTLP type into four typed maps so that
``http.status_code >= 500`` compares numbers::

    attr_str  MAP(VARCHAR, VARCHAR)    attr_int  MAP(VARCHAR, BIGINT)
    attr_dbl  MAP(VARCHAR, DOUBLE)     attr_bool MAP(VARCHAR, BOOLEAN)
    attr_other VARCHAR                 -- JSON for bytes / arrays / kvlists (rare)

The ``spans`` columns are the batch's (:class:`~spanscope.batch.SpanTable`), with the two
trace id halves joined into one UHUGEINT and ``resource_ix`` replaced by a ``resource_id``:
a write inserts the Arrow table as it is. Values that are not plain scalars are kept as the
batch's *tagged* JSON (:func:`~spanscope.batch.tag_value`), so they round-trip exactly.

A resource (the process's attributes) repeats on every span it sent; it is stored once in
``resources`` (found by a 64-bit hash of its canonical encoding) and referenced by a small
sequential ``spans.resource_id``, so it costs a few bits per span after compression (a random
64-bit hash as the id did not compress at all: 8 bytes/span; measured).

``trace_fragments`` is the per-trace index: one row per (trace, write batch) with per-service
span and error counts in a list, made from the rows a write actually inserted, so duplicates
never count twice. One row per trace rather than per (trace, service) matters: its 16-byte
trace id does not compress, and ten services per trace made the index 14 bytes/span. See
docs/storage.md for the measurements behind these choices.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pyarrow as pa

from spanscope.batch import MAP_TYPES, VALUE_TYPES, tag_attrs, tag_value, untag_attrs
from spanscope.model.spans import Attributes

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

DDL = """
CREATE TABLE IF NOT EXISTS spans (
    trace_id UHUGEINT NOT NULL,
    span_id UBIGINT NOT NULL,
    parent_span_id UBIGINT,
    start_ns BIGINT NOT NULL,
    duration_ns BIGINT NOT NULL,
    service VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    kind UTINYINT NOT NULL,
    status_code UTINYINT NOT NULL,
    status_message VARCHAR NOT NULL,
    resource_id UINTEGER NOT NULL,
    scope_name VARCHAR NOT NULL,
    scope_version VARCHAR NOT NULL,
    trace_state VARCHAR NOT NULL,
    flags UINTEGER NOT NULL,
    dropped_attributes_count UINTEGER NOT NULL,
    dropped_events_count UINTEGER NOT NULL,
    dropped_links_count UINTEGER NOT NULL,
    attr_str MAP(VARCHAR, VARCHAR),
    attr_int MAP(VARCHAR, BIGINT),
    attr_dbl MAP(VARCHAR, DOUBLE),
    attr_bool MAP(VARCHAR, BOOLEAN),
    attr_other VARCHAR,
    events VARCHAR,
    links VARCHAR,
    warnings VARCHAR
);
CREATE TABLE IF NOT EXISTS resources (
    id UINTEGER NOT NULL,
    hash UBIGINT NOT NULL,
    attr_str MAP(VARCHAR, VARCHAR),
    attr_int MAP(VARCHAR, BIGINT),
    attr_dbl MAP(VARCHAR, DOUBLE),
    attr_bool MAP(VARCHAR, BOOLEAN),
    attr_other VARCHAR
);
CREATE TABLE IF NOT EXISTS trace_fragments (
    trace_id UHUGEINT NOT NULL,
    min_start_ns BIGINT NOT NULL,
    max_end_ns BIGINT NOT NULL,
    services STRUCT(name VARCHAR, span_count UINTEGER, error_count UINTEGER)[] NOT NULL,
    root_service VARCHAR,
    root_name VARCHAR,
    root_start_ns BIGINT,
    -- parents referenced from this fragment but not inside it: resolved at read time to
    -- count orphans (spans whose parent is not stored)
    ext_parents UBIGINT[]
);
CREATE TABLE IF NOT EXISTS operations (
    service VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    kind UTINYINT NOT NULL
);
CREATE TABLE IF NOT EXISTS wal_checkpoint (id INTEGER NOT NULL, position BIGINT);
-- which tail-sampling policy kept a trace and its weight (adjusted count); absent = kept
-- whole without tail sampling, weight 1. A replay may add a row again: read the latest.
CREATE TABLE IF NOT EXISTS trace_sampling (
    trace_id UHUGEINT NOT NULL,
    policy VARCHAR NOT NULL,
    weight DOUBLE NOT NULL,
    decided_ns BIGINT NOT NULL
);
"""

SPAN_COLUMNS = (
    "trace_id, span_id, parent_span_id, start_ns, duration_ns, service, name, kind, "
    "status_code, status_message, resource_id, scope_name, scope_version, trace_state, flags, "
    "dropped_attributes_count, dropped_events_count, dropped_links_count, attr_str, attr_int, "
    "attr_dbl, attr_bool, attr_other, events, links, warnings"
)

# The batch arrives as two uint64 halves (Arrow has no 128-bit integer); this joins them.
BATCH_TRACE_ID = "((b.trace_hi::UHUGEINT << 64) | b.trace_lo::UHUGEINT)"


# --- attributes split by type into the four maps (+ JSON for the rest) ---------------------


class _AttrColumns:
    """Accumulates typed map columns for many attribute dicts, one flat list per map."""

    def __init__(self) -> None:
        self.keys: dict[str, list[str]] = {t: [] for t in MAP_TYPES}
        self.values: dict[str, list[Any]] = {t: [] for t in MAP_TYPES}
        self.offsets: dict[str, list[int]] = {t: [0] for t in MAP_TYPES}
        self.other: list[str | None] = []

    def add(self, attrs: Attributes) -> None:
        keys, values = self.keys, self.values
        other: dict[str, list[Any]] | None = None
        for k, v in attrs.items():
            t = type(v)
            if t is str:
                keys["str"].append(k)
                values["str"].append(v)
            elif t is bool:
                keys["bool"].append(k)
                values["bool"].append(v)
            elif t is int and _INT64_MIN <= v <= _INT64_MAX:
                keys["int"].append(k)
                values["int"].append(v)
            elif t is float:
                keys["dbl"].append(k)
                values["dbl"].append(v)
            else:  # bytes, arrays, kvlists, huge ints, subclasses: exact JSON
                if other is None:
                    other = {}
                other[k] = tag_value(v)
        for name, offs in self.offsets.items():
            offs.append(len(keys[name]))
        self.other.append(orjson.dumps(other).decode() if other else None)

    def arrays(self) -> dict[str, pa.Array]:
        out: dict[str, pa.Array] = {}
        for t, map_type in MAP_TYPES.items():
            out[f"attr_{t}"] = pa.MapArray.from_arrays(
                pa.array(self.offsets[t], pa.int32()),
                pa.array(self.keys[t], pa.string()),
                pa.array(self.values[t], VALUE_TYPES[t]),
                type=map_type,
            )
        out["attr_other"] = pa.array(self.other, pa.string())
        return out


def decode_attrs(
    s: dict[str, str] | None,
    i: dict[str, int] | None,
    d: dict[str, float] | None,
    b: dict[str, bool] | None,
    other: str | None,
) -> Attributes:
    attrs: Attributes = {}
    for m in (s, i, d, b):
        if m:
            attrs.update(m)
    if other:
        attrs.update(untag_attrs(orjson.loads(other)))
    return attrs


def resource_key(attrs: Attributes) -> tuple[int, bytes]:
    """(id, canonical encoding) of a resource: the same attributes always give the same id."""
    canonical = orjson.dumps(tag_attrs(attrs), option=orjson.OPT_SORT_KEYS)
    digest = hashlib.blake2b(canonical, digest_size=8).digest()
    return int.from_bytes(digest, "big"), canonical


def resources_table(resources: dict[int, tuple[int, Attributes]]) -> pa.Table:
    """Rows for ``resources`` from {hash: (id, attributes)}."""
    cols = _AttrColumns()
    for _, attrs in resources.values():
        cols.add(attrs)
    arrays = {
        "id": pa.array([v[0] for v in resources.values()], pa.uint32()),
        "hash": pa.array(list(resources), pa.uint64()),
        **cols.arrays(),
    }
    return pa.table(arrays)


# The columns trace-by-id reads (the batch's, after the trace id: see
# spanscope.batch.table_to_spans): the trace id is known, and DuckDB turns a UHUGEINT into a
# Python int slowly (450 ms of a 530 ms fetchall for a 10,000-span trace; measured).
TRACE_READ_COLUMNS = SPAN_COLUMNS.replace("trace_id, ", "", 1)

"""The DuckDB store's tables, and how a :class:`~spanscope.model.spans.Span` becomes a row and back.

One row per span in ``spans``, with the hot fields as flat columns so DuckDB compresses
them column by column, and attributes split by OTLP type into four typed maps so that
``http.status_code >= 500`` compares numbers::

    attr_str  MAP(VARCHAR, VARCHAR)    attr_int  MAP(VARCHAR, BIGINT)
    attr_dbl  MAP(VARCHAR, DOUBLE)     attr_bool MAP(VARCHAR, BOOLEAN)
    attr_other VARCHAR                 -- JSON for bytes / arrays / kvlists (rare)

Values that are not plain scalars are kept as *tagged* JSON (``["x", "00ff"]`` for bytes,
``["a", [...]]`` for arrays, ``["m", {...}]`` for kvlists, ``["i", 1]`` vs ``["d", 1.0]``)
so they round-trip exactly: a span read back compares equal to the span written.

A resource (the process's attributes) repeats on every span it sent; it is stored once in
``resources`` (found by a 64-bit hash of its canonical encoding) and referenced by a small
sequential ``spans.resource_id``, so it costs a few bits per span after compression (a random
64-bit hash as the id did not compress at all: 8 bytes/span; measured). the
same few ids repeat).

``trace_fragments`` is the per-trace index: one row per (trace, write batch) with per-service
span and error counts in a list, made from the rows a write actually inserted, so duplicates
never count twice. One row per trace rather than per (trace, service) matters: its 16-byte
trace id does not compress, and ten services per trace made the index 14 bytes/span. See
docs/storage.md for the measurements behind these choices.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa

from spanscope.columnar import SpanColumns
from spanscope.model.spans import Attributes, AttrValue, Event, Link, Span, SpanKind, StatusCode

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

_MAP_TYPES = {
    "str": pa.map_(pa.string(), pa.string()),
    "int": pa.map_(pa.string(), pa.int64()),
    "dbl": pa.map_(pa.string(), pa.float64()),
    "bool": pa.map_(pa.string(), pa.bool_()),
}
_VALUE_TYPES = {"str": pa.string(), "int": pa.int64(), "dbl": pa.float64(), "bool": pa.bool_()}


# --- tagged JSON for values that have no typed column -------------------------------------


def tag_value(v: AttrValue) -> list[Any]:
    """An attribute value as ``[type tag, json value]`` that decodes to an equal value."""
    if isinstance(v, bool):
        return ["b", v]
    if isinstance(v, int):
        return ["i", v if _INT64_MIN <= v <= _INT64_MAX else str(v)]
    if isinstance(v, float):
        return ["d", v if math.isfinite(v) else repr(v)]
    if isinstance(v, str):
        return ["s", v]
    if isinstance(v, bytes | bytearray):
        return ["x", bytes(v).hex()]
    if isinstance(v, list | tuple):
        return ["a", [tag_value(x) for x in v]]
    if isinstance(v, dict):
        return ["m", {str(k): tag_value(x) for k, x in v.items()}]
    raise TypeError(f"attribute value {v!r} of type {type(v).__name__}: expected an OTLP type")


def untag_value(t: list[Any]) -> AttrValue:
    tag, v = t
    if tag == "s" or tag == "b":
        return v
    if tag == "i":
        return int(v)
    if tag == "d":
        return float(v)
    if tag == "x":
        return bytes.fromhex(v)
    if tag == "a":
        return [untag_value(x) for x in v]
    if tag == "m":
        return {k: untag_value(x) for k, x in v.items()}
    raise ValueError(f"stored attribute tag {tag!r}: unknown (store written by a newer version?)")


def tag_attrs(attrs: Attributes) -> dict[str, list[Any]]:
    return {k: tag_value(v) for k, v in attrs.items()}


def untag_attrs(tagged: dict[str, list[Any]]) -> Attributes:
    return {k: untag_value(v) for k, v in tagged.items()}


# --- attributes split by type into the four maps (+ JSON for the rest) ---------------------


class _AttrColumns:
    """Accumulates typed map columns for many attribute dicts, one flat list per map."""

    def __init__(self) -> None:
        self.keys: dict[str, list[str]] = {t: [] for t in _MAP_TYPES}
        self.values: dict[str, list[Any]] = {t: [] for t in _MAP_TYPES}
        self.offsets: dict[str, list[int]] = {t: [0] for t in _MAP_TYPES}
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
        for t, map_type in _MAP_TYPES.items():
            out[f"attr_{t}"] = pa.MapArray.from_arrays(
                pa.array(self.offsets[t], pa.int32()),
                pa.array(self.keys[t], pa.string()),
                pa.array(self.values[t], _VALUE_TYPES[t]),
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


# --- spans <-> rows -------------------------------------------------------------------------


def _events_json(events: list[Event]) -> str | None:
    if not events:
        return None
    return orjson.dumps(
        [[e.time_ns, e.name, tag_attrs(e.attributes), e.dropped_attributes_count] for e in events]
    ).decode()


def _links_json(links: list[Link]) -> str | None:
    if not links:
        return None
    return orjson.dumps(
        [
            [
                lk.trace_id.hex(),
                lk.span_id.hex(),
                lk.trace_state,
                tag_attrs(lk.attributes),
                lk.dropped_attributes_count,
            ]
            for lk in links
        ]
    ).decode()


@dataclass(slots=True)
class SpanTable:
    """A batch ready for ``spans``: the Arrow table (with ``resource_ix``, an index into
    ``resources``, where the store wants a ``resource_id``), the distinct resources, and
    the (service, name, kind) operations. Built wherever decoding ran — in a decode
    worker process it crosses to the server as Arrow buffers, not Python objects."""

    table: pa.Table
    resources: list[Attributes]
    operations: set[tuple[str, str, int]]
    sampling: pa.Table | None = None
    """Tail-sampling decisions to record with this batch (``trace_sampling`` rows as
    trace_hi, trace_lo, policy, weight, decided_ns), or None."""

    def __len__(self) -> int:
        return int(self.table.num_rows)


def spans_table(spans: Sequence[Span]) -> SpanTable:
    """The batch as a :class:`SpanTable` (see columns_table)."""
    return columns_table(SpanColumns.from_spans(spans))


def _typed_maps(cols: SpanColumns) -> dict[str, pa.Array]:
    out: dict[str, pa.Array] = {}
    for t, map_type in _MAP_TYPES.items():
        out[f"attr_{t}"] = pa.MapArray.from_arrays(
            pa.array(getattr(cols, f"{t}_offsets"), pa.int32()),
            pa.array(getattr(cols, f"{t}_keys"), pa.string()),
            pa.array(getattr(cols, f"{t}_values"), _VALUE_TYPES[t]),
            type=map_type,
        )
    out["attr_other"] = pa.array(
        [orjson.dumps(tag_attrs(o)).decode() if o else None for o in cols.other], pa.string()
    )
    return out


def _halves(ids: list[bytes]) -> tuple[list[int], list[int]]:
    """16-byte ids as (high, low) uint64 halves: Arrow has no 128-bit integer."""
    frombytes = int.from_bytes
    hi: list[int] = []
    lo: list[int] = []
    add_hi, add_lo = hi.append, lo.append
    for tid in ids:
        v = frombytes(tid, "big")
        add_hi(v >> 64)
        add_lo(v & 0xFFFF_FFFF_FFFF_FFFF)
    return hi, lo


def columns_table(cols: SpanColumns) -> SpanTable:
    """An Arrow table of the batch, in the ``spans`` column order (trace id in two halves,
    plus a row number ``i`` used to drop duplicates). Every column is built by one
    ``pa.array`` call over a list: no per-span Python work beyond the ids and the JSON of
    the rare events, links and exotic attributes."""
    frombytes = int.from_bytes
    trace_hi, trace_lo = _halves(cols.trace_id)
    u32 = pa.uint32()
    n = len(cols)
    resources: list[Attributes] = []
    slots: dict[int, int] = {}  # id(resource dict) -> index: receivers share one per process
    resource_ix: list[int] = []
    for resource in cols.resource:
        ix = slots.get(id(resource))
        if ix is None:
            ix = slots[id(resource)] = len(resources)
            resources.append(resource)
        resource_ix.append(ix)
    table = pa.table(
        {
            "i": pa.array(range(n), pa.int64()),
            "trace_hi": pa.array(trace_hi, pa.uint64()),
            "trace_lo": pa.array(trace_lo, pa.uint64()),
            "span_id": pa.array([frombytes(s, "big") for s in cols.span_id], pa.uint64()),
            "parent_span_id": pa.array(
                [frombytes(p, "big") if p else None for p in cols.parent_span_id], pa.uint64()
            ),
            "start_ns": pa.array(cols.start_ns, pa.int64()),
            "duration_ns": pa.array(list(map(int.__sub__, cols.end_ns, cols.start_ns)), pa.int64()),
            "service": pa.array(cols.service, pa.string()),
            "name": pa.array(cols.name, pa.string()),
            "kind": pa.array(cols.kind, pa.uint8()),
            "status_code": pa.array(cols.status_code, pa.uint8()),
            "status_message": pa.array(cols.status_message, pa.string()),
            "resource_ix": pa.array(resource_ix, u32),
            "scope_name": pa.array(cols.scope_name, pa.string()),
            "scope_version": pa.array(cols.scope_version, pa.string()),
            "trace_state": pa.array(cols.trace_state, pa.string()),
            "flags": pa.array(cols.flags, u32),
            "dropped_attributes_count": pa.array(cols.dropped_attributes_count, u32),
            "dropped_events_count": pa.array(cols.dropped_events_count, u32),
            "dropped_links_count": pa.array(cols.dropped_links_count, u32),
            **_typed_maps(cols),
            "events": pa.array([_events_json(e) if e else None for e in cols.events], pa.string()),
            "links": pa.array([_links_json(lk) if lk else None for lk in cols.links], pa.string()),
            "warnings": pa.array(
                [orjson.dumps(w).decode() if w else None for w in cols.warnings], pa.string()
            ),
        }
    )
    operations = set(zip(cols.service, cols.name, cols.kind, strict=True))
    return SpanTable(table, resources, operations)


# --- reading a whole trace back in bulk ----------------------------------------------------

# The columns trace-by-id reads: the trace id is known, and DuckDB turns a UHUGEINT into a
# Python int slowly (450 ms of a 530 ms fetchall for a 10,000-span trace; measured).
TRACE_READ_COLUMNS = SPAN_COLUMNS.replace("trace_id, ", "", 1)

_KINDS = {k.value: k for k in SpanKind}
_STATUSES = {c.value: c for c in StatusCode}


def _events(text: str | None) -> list[Event]:
    if not text:
        return []
    return [
        Event(time_ns=t, name=n, attributes=untag_attrs(a), dropped_attributes_count=d)
        for t, n, a, d in orjson.loads(text)
    ]


def _links(text: str | None) -> list[Link]:
    if not text:
        return []
    return [
        Link(
            trace_id=bytes.fromhex(t),
            span_id=bytes.fromhex(sp),
            trace_state=ts,
            attributes=untag_attrs(a),
            dropped_attributes_count=d,
        )
        for t, sp, ts, a, d in orjson.loads(text)
    ]


def table_to_spans(
    table: pa.Table, trace_id: bytes, resources: dict[int, Attributes]
) -> list[Span]:
    """Spans of one trace from an Arrow table of ``TRACE_READ_COLUMNS``, in table order.

    Column by column (one ``to_pylist`` each, typed maps arriving as (key, value) pairs)
    rather than row tuples: 10,000 spans take ~40 ms instead of ~600 ms. Spans that share a
    resource share one dict, copied from ``resources`` (the store's cache stays private).
    """
    c = {name: table.column(name).to_pylist() for name in table.column_names}
    own: dict[int, Attributes] = {rid: dict(r) for rid, r in resources.items()}
    kinds, statuses = _KINDS, _STATUSES
    spans: list[Span] = []
    add = spans.append
    for (
        span_id, parent, start_ns, duration_ns, service, name, kind, status_code,
        status_message, resource_id, scope_name, scope_version, trace_state, flags,
        dropped_attrs, dropped_events, dropped_links, a_str, a_int, a_dbl, a_bool, a_other,
        events, links, warnings,
    ) in zip(*(c[n] for n in table.column_names), strict=True):  # fmt: skip
        attrs: Attributes = dict(a_str) if a_str else {}
        if a_int:
            attrs.update(a_int)
        if a_dbl:
            attrs.update(a_dbl)
        if a_bool:
            attrs.update(a_bool)
        if a_other:
            attrs.update(untag_attrs(orjson.loads(a_other)))
        add(
            Span(
                trace_id=trace_id,
                span_id=span_id.to_bytes(8, "big"),
                name=name,
                start_ns=start_ns,
                end_ns=start_ns + duration_ns,
                service=service,
                parent_span_id=None if parent is None else parent.to_bytes(8, "big"),
                kind=kinds[kind],
                status_code=statuses[status_code],
                status_message=status_message,
                attributes=attrs,
                resource=own.get(resource_id) or {},
                scope_name=scope_name,
                scope_version=scope_version,
                trace_state=trace_state,
                flags=flags,
                events=_events(events),
                links=_links(links),
                dropped_attributes_count=dropped_attrs,
                dropped_events_count=dropped_events,
                dropped_links_count=dropped_links,
                warnings=orjson.loads(warnings) if warnings else [],
            )
        )
    return spans

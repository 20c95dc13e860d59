"""Spans as columns: the fast path from a decoded OTLP request to the store.

A :class:`~spanscope.model.spans.Span` per span is the right shape for reading, rendering and
testing, but on the ingest path it is pure overhead: the receiver would build one object
per span only for the store to take each apart again into columns. Under one GIL those two
passes were ~7 µs of the ~20 µs of Python each span cost (docs/performance.md), so the
OTLP protobuf receiver fills a :class:`SpanColumns` directly and the DuckDB store turns it
into an Arrow table without touching a Span.

>>> from spanscope.model.spans import Span
>>> span = Span(trace_id=bytes(15) + b"\\x01", span_id=bytes(7) + b"\\x02", name="GET /",
...             start_ns=10, end_ns=25, attributes={"http.status_code": 200, "ok": True})
>>> cols = SpanColumns.from_spans([span])
>>> len(cols), cols.int_keys, cols.bool_values
(1, ['http.status_code'], [True])
>>> cols.to_spans() == [span]
True

Attributes are split by OTLP type, one flat key list and value list per type plus offsets
(row ``i``'s string attributes are ``str_keys[str_offsets[i]:str_offsets[i + 1]]``), which
is Arrow's MAP layout, so the store builds a typed map column with one call. Values of
other types (bytes, arrays, kvlists, ints beyond int64) go to ``other`` as a plain dict.
Keys are unique per span: decoders build each span's attributes as a dict first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from spanscope.model.spans import Attributes, Event, Link, Span, SpanKind, StatusCode

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_KINDS = tuple(SpanKind)
_CODES = tuple(StatusCode)

_PER_SPAN = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "start_ns",
    "end_ns",
    "service",
    "name",
    "kind",
    "status_code",
    "status_message",
    "resource",
    "scope_name",
    "scope_version",
    "trace_state",
    "flags",
    "dropped_attributes_count",
    "dropped_events_count",
    "dropped_links_count",
    "other",
    "events",
    "links",
    "warnings",
)
_TYPED = ("str", "int", "dbl", "bool")


class SpanColumns:
    """A batch of spans, one Python list per field (see the module docstring)."""

    __slots__ = (
        *_PER_SPAN,
        *(f"{t}_{part}" for t in _TYPED for part in ("keys", "values", "offsets")),
    )

    def __init__(self) -> None:
        self.trace_id: list[bytes] = []
        self.span_id: list[bytes] = []
        self.parent_span_id: list[bytes | None] = []
        self.start_ns: list[int] = []
        self.end_ns: list[int] = []
        self.service: list[str] = []
        self.name: list[str] = []
        self.kind: list[int] = []
        self.status_code: list[int] = []
        self.status_message: list[str] = []
        self.resource: list[Attributes] = []
        """The resource of each span; spans of one process share one dict object."""
        self.scope_name: list[str] = []
        self.scope_version: list[str] = []
        self.trace_state: list[str] = []
        self.flags: list[int] = []
        self.dropped_attributes_count: list[int] = []
        self.dropped_events_count: list[int] = []
        self.dropped_links_count: list[int] = []
        self.other: list[Attributes | None] = []
        self.events: list[list[Event] | None] = []
        self.links: list[list[Link] | None] = []
        self.warnings: list[list[str] | None] = []
        self.str_keys: list[str] = []
        self.str_values: list[str] = []
        self.str_offsets: list[int] = [0]
        self.int_keys: list[str] = []
        self.int_values: list[int] = []
        self.int_offsets: list[int] = [0]
        self.dbl_keys: list[str] = []
        self.dbl_values: list[float] = []
        self.dbl_offsets: list[int] = [0]
        self.bool_keys: list[str] = []
        self.bool_values: list[bool] = []
        self.bool_offsets: list[int] = [0]

    def __len__(self) -> int:
        return len(self.span_id)

    def add_attributes(self, attrs: Attributes) -> None:
        """Append one span's attributes to the typed lists (and ``other``)."""
        other: Attributes | None = None
        for k, v in attrs.items():
            t = type(v)
            if t is str:
                self.str_keys.append(k)
                self.str_values.append(v)
            elif t is int and _INT64_MIN <= v <= _INT64_MAX:
                self.int_keys.append(k)
                self.int_values.append(v)
            elif t is bool:
                self.bool_keys.append(k)
                self.bool_values.append(v)
            elif t is float:
                self.dbl_keys.append(k)
                self.dbl_values.append(v)
            else:  # bytes, arrays, kvlists, huge ints, subclasses
                if other is None:
                    other = {}
                other[k] = v
        self.str_offsets.append(len(self.str_keys))
        self.int_offsets.append(len(self.int_keys))
        self.dbl_offsets.append(len(self.dbl_keys))
        self.bool_offsets.append(len(self.bool_keys))
        self.other.append(other)

    def add_span(self, s: Span) -> None:
        self.trace_id.append(s.trace_id)
        self.span_id.append(s.span_id)
        self.parent_span_id.append(s.parent_span_id)
        self.start_ns.append(s.start_ns)
        self.end_ns.append(s.end_ns)
        self.service.append(s.service)
        self.name.append(s.name)
        self.kind.append(int(s.kind))
        self.status_code.append(int(s.status_code))
        self.status_message.append(s.status_message)
        self.resource.append(s.resource)
        self.scope_name.append(s.scope_name)
        self.scope_version.append(s.scope_version)
        self.trace_state.append(s.trace_state)
        self.flags.append(s.flags)
        self.dropped_attributes_count.append(s.dropped_attributes_count)
        self.dropped_events_count.append(s.dropped_events_count)
        self.dropped_links_count.append(s.dropped_links_count)
        self.events.append(s.events or None)
        self.links.append(s.links or None)
        self.warnings.append(s.warnings or None)
        self.add_attributes(s.attributes)

    @classmethod
    def from_spans(cls, spans: Iterable[Span]) -> SpanColumns:
        cols = cls()
        for s in spans:
            cols.add_span(s)
        return cols

    @classmethod
    def concat(cls, parts: Sequence[SpanColumns]) -> SpanColumns:
        """One batch holding every part's spans, in order."""
        if len(parts) == 1:
            return parts[0]
        out = cls()
        for part in parts:
            for name in _PER_SPAN:
                getattr(out, name).extend(getattr(part, name))
            for t in _TYPED:
                keys: list[object] = getattr(out, f"{t}_keys")
                base = len(keys)
                keys.extend(getattr(part, f"{t}_keys"))
                getattr(out, f"{t}_values").extend(getattr(part, f"{t}_values"))
                offsets: list[int] = getattr(out, f"{t}_offsets")
                offsets.extend(o + base for o in getattr(part, f"{t}_offsets")[1:])
        return out

    def take(self, rows: Sequence[int]) -> SpanColumns:
        """A batch of the given rows only (e.g. without duplicates), in that order."""
        out = SpanColumns()
        for name in _PER_SPAN:
            src = getattr(self, name)
            getattr(out, name).extend([src[i] for i in rows])
        for t in _TYPED:
            keys, values = getattr(self, f"{t}_keys"), getattr(self, f"{t}_values")
            offsets = getattr(self, f"{t}_offsets")
            out_keys, out_values = getattr(out, f"{t}_keys"), getattr(out, f"{t}_values")
            out_offsets = getattr(out, f"{t}_offsets")
            for i in rows:
                a, b = offsets[i], offsets[i + 1]
                out_keys.extend(keys[a:b])
                out_values.extend(values[a:b])
                out_offsets.append(len(out_keys))
        return out

    def attributes(self, i: int) -> Attributes:
        """Row ``i``'s attributes as one dict."""
        attrs: Attributes = {}
        for t in _TYPED:
            offsets = getattr(self, f"{t}_offsets")
            a, b = offsets[i], offsets[i + 1]
            if a != b:
                attrs.update(
                    zip(
                        getattr(self, f"{t}_keys")[a:b],
                        getattr(self, f"{t}_values")[a:b],
                        strict=True,
                    )
                )
        other = self.other[i]
        if other:
            attrs.update(other)
        return attrs

    def to_spans(self) -> list[Span]:
        """The batch as Span objects (for stores without a columnar write)."""
        return [
            Span(
                trace_id=self.trace_id[i],
                span_id=self.span_id[i],
                name=self.name[i],
                start_ns=self.start_ns[i],
                end_ns=self.end_ns[i],
                service=self.service[i],
                parent_span_id=self.parent_span_id[i],
                kind=_KINDS[self.kind[i]],
                status_code=_CODES[self.status_code[i]],
                status_message=self.status_message[i],
                attributes=self.attributes(i),
                resource=self.resource[i],
                scope_name=self.scope_name[i],
                scope_version=self.scope_version[i],
                trace_state=self.trace_state[i],
                flags=self.flags[i],
                events=list(self.events[i] or []),
                links=list(self.links[i] or []),
                dropped_attributes_count=self.dropped_attributes_count[i],
                dropped_events_count=self.dropped_events_count[i],
                dropped_links_count=self.dropped_links_count[i],
                warnings=list(self.warnings[i] or []),
            )
            for i in range(len(self))
        ]

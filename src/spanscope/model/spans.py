"""The span vocabulary every layer speaks: spans, traces, ids, kinds and status.

A :class:`Span` is what a receiver decodes (OTLP protobuf, OTLP JSON, Zipkin v2 JSON),
what the store writes and reads back, and what the API and CLI render. Ids are raw bytes
inside (16 bytes for a trace id, 8 for a span id) and lowercase hex at the edges; times
are int64 nanoseconds since the Unix epoch, as in OTLP.

Attribute values keep their OTLP type in plain Python values::

    str -> string     bool -> bool      int -> int64     float -> double
    bytes -> bytes    list -> array     dict -> kvlist

so ``http.status_code >= 500`` compares numbers, not text.

>>> span = Span(trace_id=bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736"),
...             span_id=bytes.fromhex("00f067aa0ba902b7"), name="GET /orders",
...             start_ns=1_700_000_000_000_000_000, end_ns=1_700_000_000_250_000_000,
...             service="orders")
>>> span.duration_ns
250000000
>>> span.trace_id_hex
'4bf92f3577b34da6a3ce929d0e0e4736'

What the store answers about many traces at once (summaries, operations, edges) is in
:mod:`spanscope.model.summaries`; the aggregates behind the analyses in
:mod:`spanscope.model.aggregates`; logs and metric points in :mod:`spanscope.model.signals`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, TypeAlias

AttrValue: TypeAlias = Any
"""str | bool | int | float | bytes | list[AttrValue] | dict[str, AttrValue]"""

Attributes: TypeAlias = dict[str, AttrValue]

TRACE_ID_LEN = 16
SPAN_ID_LEN = 8
UNKNOWN_SERVICE = "unknown_service"


class SpanKind(IntEnum):
    """OTLP's span kinds, with OTLP's numbers."""

    UNSPECIFIED = 0
    INTERNAL = 1
    SERVER = 2
    CLIENT = 3
    PRODUCER = 4
    CONSUMER = 5

    @property
    def label(self) -> str:
        """Lowercase name as Jaeger and the native API show it ("server")."""
        return self.name.lower()

    @classmethod
    def from_label(cls, text: str) -> SpanKind:
        """Parse "server", "SPAN_KIND_SERVER" or "SERVER"; raise ValueError otherwise."""
        name = text.strip().upper().removeprefix("SPAN_KIND_")
        try:
            return cls[name]
        except KeyError:
            choices = ", ".join(k.label for k in cls)
            raise ValueError(f"unknown span kind {text!r}: expected one of {choices}") from None


class StatusCode(IntEnum):
    """OTLP's status codes, with OTLP's numbers."""

    UNSET = 0
    OK = 1
    ERROR = 2

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(slots=True)
class Event:
    time_ns: int
    name: str
    attributes: Attributes = field(default_factory=dict)
    dropped_attributes_count: int = 0


@dataclass(slots=True)
class Link:
    trace_id: bytes
    span_id: bytes
    trace_state: str = ""
    attributes: Attributes = field(default_factory=dict)
    dropped_attributes_count: int = 0


@dataclass(slots=True)
class Span:
    trace_id: bytes
    span_id: bytes
    name: str
    start_ns: int
    end_ns: int
    service: str = UNKNOWN_SERVICE
    parent_span_id: bytes | None = None
    kind: SpanKind = SpanKind.UNSPECIFIED
    status_code: StatusCode = StatusCode.UNSET
    status_message: str = ""
    attributes: Attributes = field(default_factory=dict)
    resource: Attributes = field(default_factory=dict)
    scope_name: str = ""
    scope_version: str = ""
    trace_state: str = ""
    flags: int = 0
    events: list[Event] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    dropped_attributes_count: int = 0
    dropped_events_count: int = 0
    dropped_links_count: int = 0
    warnings: list[str] = field(default_factory=list)
    """Why this span was changed on the way in (e.g. attributes truncated)."""

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns

    @property
    def trace_id_hex(self) -> str:
        return self.trace_id.hex()

    @property
    def span_id_hex(self) -> str:
        return self.span_id.hex()

    @property
    def is_error(self) -> bool:
        return self.status_code == StatusCode.ERROR

    @property
    def is_root(self) -> bool:
        return self.parent_span_id is None


@dataclass(slots=True)
class Trace:
    """All stored spans of one trace, ordered by start time."""

    trace_id: bytes
    spans: list[Span]
    warnings: list[str] = field(default_factory=list)

    @property
    def start_ns(self) -> int:
        return min(s.start_ns for s in self.spans)

    @property
    def end_ns(self) -> int:
        return max(s.end_ns for s in self.spans)

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns

    def root(self) -> Span | None:
        """The earliest span without a parent, if the trace has one."""
        roots = [s for s in self.spans if s.parent_span_id is None]
        return min(roots, key=lambda s: s.start_ns) if roots else None


def parse_trace_id(text: str) -> bytes:
    """Hex trace id -> 16 bytes. Accepts 32 hex digits, or fewer (left-padded, as Jaeger
    and Zipkin's 64-bit ids); raises ValueError with the reason otherwise."""
    return _parse_id(text, TRACE_ID_LEN, "trace id")


def parse_span_id(text: str) -> bytes:
    """Hex span id -> 8 bytes; raises ValueError with the reason otherwise."""
    return _parse_id(text, SPAN_ID_LEN, "span id")


def _parse_id(text: str, size: int, what: str) -> bytes:
    t = text.strip().lower()
    shown = repr(text) if len(text) <= 40 else f"{text[:40]!r}... ({len(text)} characters)"
    if not t or len(t) > size * 2:
        raise ValueError(f"{what} {shown}: expected 1 to {size * 2} hex digits")
    try:
        raw = bytes.fromhex(t.rjust(size * 2, "0"))
    except ValueError:
        raise ValueError(f"{what} {shown}: not hexadecimal") from None
    if not any(raw):
        raise ValueError(f"{what} {shown}: all zeros is not a valid id")
    return raw

"""The one vocabulary every layer speaks: spans, traces, ids, kinds and status.

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


@dataclass(slots=True, frozen=True)
class ServiceCount:
    name: str
    span_count: int
    error_count: int


@dataclass(slots=True)
class TraceSummary:
    """What a search returns per trace: never the whole trace."""

    trace_id: bytes
    root_service: str
    root_operation: str
    start_ns: int
    duration_ns: int
    span_count: int
    error_count: int
    services: list[ServiceCount]
    """Per-service span and error counts, sorted by name."""
    orphan_count: int = 0
    """Spans whose parent is not stored (Jaeger v3's orphanSpanCount)."""


@dataclass(slots=True, frozen=True)
class Operation:
    name: str
    kind: SpanKind


@dataclass(slots=True, frozen=True)
class DependencyEdge:
    """Caller -> callee, found from parent/child spans in different services."""

    parent: str
    child: str
    call_count: int
    error_count: int = 0


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


# --- cross-trace aggregates the store computes for analysis (spanscope.analysis) ----------


@dataclass(slots=True, frozen=True)
class DependencyStats:
    """A service-map edge with the callee's latency percentiles (ns, p50/p95/p99)."""

    parent: str
    child: str
    call_count: int
    error_count: int
    quantiles_ns: tuple[int, ...]


@dataclass(slots=True, frozen=True)
class OperationStat:
    """Per (group of traces, service, span name): how many of the group's traces have the
    operation, how many spans, their summed duration and summed self time (duration not
    covered by the span's children)."""

    group: str
    service: str
    name: str
    trace_count: int
    span_count: int
    total_ns: int
    self_ns: int


@dataclass(slots=True, frozen=True)
class AttributeCount:
    """How many traces of a group have a span (or span resource) with ``key = value``;
    ``value`` is the attribute's text (true/false for bools)."""

    group: str
    key: str
    value: str
    trace_count: int


@dataclass(slots=True, frozen=True)
class RedPoint:
    """RED figures of one series (service, operation or None) in one step
    (``bucket_start_ns``; None for the whole window). Counts are weighted by the
    spans' adjusted counts; quantiles are over the stored spans."""

    service: str
    operation: str | None
    bucket_start_ns: int | None
    span_count: int
    request_count: float
    error_count: float
    quantiles_ns: tuple[int, ...]


@dataclass(slots=True, frozen=True)
class LatencyBucket:
    """One latency-histogram bucket of a series: index into the bounds (len(bounds) is
    +Inf), span count, and up to three exemplar trace ids (the slowest in the bucket)."""

    service: str
    operation: str | None
    bucket_index: int
    count: int
    exemplar_trace_ids: tuple[bytes, ...]


# --- logs and metrics, linked to traces (issue #7; decoders in ingest/otlp_logs.py and
# ingest/otlp_metrics.py, storage in store/duckdb_signals.py) ------------------------------


@dataclass(slots=True)
class LogRecord:
    """One OTLP log record (or a line of a JSON log file). ``severity_number`` is OTLP's
    1-24 scale (9 INFO, 13 WARN, 17 ERROR, 21 FATAL; 0 unspecified); ``trace_id`` and
    ``span_id`` are None when the line was written outside a span."""

    time_ns: int
    service: str = UNKNOWN_SERVICE
    severity_number: int = 0
    severity_text: str = ""
    body: AttrValue = ""
    attributes: Attributes = field(default_factory=dict)
    resource: Attributes = field(default_factory=dict)
    trace_id: bytes | None = None
    span_id: bytes | None = None
    observed_time_ns: int = 0
    scope_name: str = ""
    flags: int = 0


@dataclass(slots=True)
class Exemplar:
    """A measurement kept with the span it was recorded in: the link from a metric to a
    trace. ``attributes`` are the measurement's filtered attributes (OTLP's)."""

    time_ns: int
    value: float
    trace_id: bytes | None = None
    span_id: bytes | None = None
    attributes: Attributes = field(default_factory=dict)


@dataclass(slots=True)
class MetricPoint:
    """One OTLP data point of a gauge, sum, histogram or exponential histogram.

    ``kind`` is "gauge", "sum", "histogram" or "exponential_histogram"; ``temporality``
    OTLP's (1 delta, 2 cumulative, 0 for gauges). Sums and gauges set ``value``;
    histograms set ``count``/``sum``/``min``/``max`` and either ``bounds`` +
    ``bucket_counts`` (explicit) or ``scale``, ``zero_count`` and the positive/negative
    ``offset`` + ``counts`` (exponential: bucket i covers (base**i, base**(i+1)] with
    base = 2**(2**-scale)).
    """

    name: str
    kind: str
    time_ns: int
    service: str = UNKNOWN_SERVICE
    start_ns: int = 0
    unit: str = ""
    attributes: Attributes = field(default_factory=dict)
    resource: Attributes = field(default_factory=dict)
    temporality: int = 0
    monotonic: bool = False
    value: float | None = None
    count: int = 0
    sum: float | None = None
    min: float | None = None
    max: float | None = None
    bounds: list[float] = field(default_factory=list)
    bucket_counts: list[int] = field(default_factory=list)
    scale: int = 0
    zero_count: int = 0
    positive_offset: int = 0
    positive_counts: list[int] = field(default_factory=list)
    negative_offset: int = 0
    negative_counts: list[int] = field(default_factory=list)
    exemplars: list[Exemplar] = field(default_factory=list)


@dataclass(slots=True)
class SignalBatch:
    """Logs and metric points of one accepted request: what the ingest pipeline queues
    beside span batches. ``len()`` counts both, for the pending limit."""

    logs: list[LogRecord] = field(default_factory=list)
    points: list[MetricPoint] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.logs) + len(self.points)

"""Logs and metric points, linked to traces: the vocabulary of the other two OTLP signals.

A :class:`LogRecord` written inside a span carries that span's trace and span ids; a
:class:`MetricPoint` carries :class:`Exemplar` measurements that name the span they were
recorded in. That is how the UI goes from a latency spike on a chart to the slow trace and
from a span to its log lines. The receivers (``POST /v1/logs``, ``/v1/metrics`` and their
gRPC twins) decode into these; a :class:`SignalBatch` is one accepted request's worth.

>>> batch = SignalBatch(logs=[LogRecord(time_ns=1, body="payment declined", severity_number=17)])
>>> len(batch)
1
"""

from __future__ import annotations

from dataclasses import dataclass, field

from spanscope.model.spans import UNKNOWN_SERVICE, Attributes, AttrValue


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

"""The vocabulary every layer speaks, one module per kind of thing:

- :mod:`spanscope.model.spans`: :class:`Span`, :class:`Trace`, ids, kinds and status — what
  receivers decode, stores write and read back, and the API and CLI render;
- :mod:`spanscope.model.summaries`: what a store answers about many traces at once (trace
  summaries, operations, dependency edges);
- :mod:`spanscope.model.aggregates`: the cross-trace aggregates a store computes for
  :mod:`spanscope.analysis` (operation stats, RED points, latency buckets);
- :mod:`spanscope.model.signals`: logs and metric points, linked to traces.

Import each name from its module. The span vocabulary is also importable from here (the
names below) because it is what nearly every module and every user script needs.
"""

from spanscope.model.spans import (
    SPAN_ID_LEN,
    TRACE_ID_LEN,
    UNKNOWN_SERVICE,
    Attributes,
    AttrValue,
    Event,
    Link,
    Span,
    SpanKind,
    StatusCode,
    Trace,
    parse_span_id,
    parse_trace_id,
)

__all__ = [
    "SPAN_ID_LEN",
    "TRACE_ID_LEN",
    "UNKNOWN_SERVICE",
    "AttrValue",
    "Attributes",
    "Event",
    "Link",
    "Span",
    "SpanKind",
    "StatusCode",
    "Trace",
    "parse_span_id",
    "parse_trace_id",
]

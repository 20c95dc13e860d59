"""OTLP protobuf -> spans: how an ``ExportTraceServiceRequest`` becomes ``list[Span]``.

This is the decoder behind OTLP/gRPC (port 4317) and OTLP/HTTP with
``Content-Type: application/x-protobuf`` (port 4318, ``POST /v1/traces``). OTLP/JSON has
its own decoder in :mod:`spanscope.ingest.otlp_json` that maps fields the same way.

>>> from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
...     ExportTraceServiceRequest)
>>> request = ExportTraceServiceRequest()
>>> rs = request.resource_spans.add()
>>> kv = rs.resource.attributes.add(key="service.name")
>>> kv.value.string_value = "checkout"
>>> pb = rs.scope_spans.add().spans.add(
...     trace_id=bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736"),
...     span_id=bytes.fromhex("00f067aa0ba902b7"), name="GET /cart", kind=2,
...     start_time_unix_nano=1_700_000_000_000_000_000,
...     end_time_unix_nano=1_700_000_000_004_000_000)
>>> result = decode_otlp_protobuf(request.SerializeToString())
>>> span = result.spans[0]
>>> (span.service, span.name, span.kind.label, span.duration_ns, result.rejected)
('checkout', 'GET /cart', 'server', 4000000, 0)

Mapping:

* ``service`` is the resource attribute ``service.name`` (a string), else
  ``"unknown_service"``; all resource attributes stay in ``Span.resource``. Spans of one
  ``ResourceSpans`` share one resource dict: treat it as read-only.
* Scope name/version, trace state, flags, kind, status, events, links and the
  ``dropped_*_count`` fields are kept. Scope attributes and ``schema_url`` are not.
* ``AnyValue`` becomes a plain Python value (str, bool, int, float, bytes, list, dict);
  an empty ``AnyValue`` drops its attribute.

What is refused, and how (see :mod:`spanscope.ingest.limits` and :mod:`spanscope.ingest.results`):

* The whole body (:class:`DecodeError`, HTTP 400): empty, truncated or not protobuf,
  or invalid UTF-8 in any string field (the protobuf parser refuses the message).
* One span (``DecodeResult.reject``, OTLP ``partial_success``): trace/span id of the
  wrong length or all zeros, a parent id of the wrong length, end before start, a start
  before ``limits.min_time_ns`` or more than ``limits.max_future_ns`` after now, an end
  beyond int64 nanoseconds (the store's BIGINT).
* Nothing, but capped with a warning on the span: attribute, event and link counts,
  long string/bytes values, long names, a ``dropped_*_count`` that the excess would push
  past uint32 (saturated), an event time beyond int64 (set to the span's end). A link
  with invalid ids is dropped and counted.

Where the work is: the span walk itself lives in :mod:`spanscope.ingest.otlp_columns`
(the receivers decode straight into columns, with a cache for repeated attributes), what
every OTLP decoder shares — ``AnyValue`` mapping, events, links, the parse-error
explanation — in :mod:`spanscope.ingest.otlp_values`; this module presents the columnar
result as ``Span`` objects, so OTLP protobuf has exactly one decode path.
``benchmarks/decode.py`` measures both.
"""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from spanscope.ingest.limits import DEFAULT_LIMITS, Limits
from spanscope.ingest.otlp_columns import decode_otlp_columns, decode_otlp_request_columns
from spanscope.ingest.results import DecodeResult

__all__ = ["decode_otlp_protobuf", "decode_otlp_request"]


def decode_otlp_protobuf(
    body: bytes, limits: Limits = DEFAULT_LIMITS, now_ns: int | None = None
) -> DecodeResult:
    """Decode the bytes of an OTLP ``ExportTraceServiceRequest`` (already un-gzipped).

    Raises :class:`DecodeError` when the body as a whole is not such a message; spans
    refused one by one are counted in the result instead.

    There is ONE decode path for OTLP protobuf: the receivers' columnar decoder
    (``ingest/otlp_columns.py``); this returns its result as :class:`Span` objects.
    """
    columns = decode_otlp_columns(body, limits, now_ns)
    return DecodeResult(
        columns.spans.to_spans(), columns.rejected, columns.first_error, columns.payload
    )


def decode_otlp_request(
    request: ExportTraceServiceRequest,
    limits: Limits = DEFAULT_LIMITS,
    now_ns: int | None = None,
) -> DecodeResult:
    """Map an already parsed request to spans, for a caller that holds one."""
    columns = decode_otlp_request_columns(request, limits, now_ns)
    return DecodeResult(
        columns.spans.to_spans(), columns.rejected, columns.first_error, columns.payload
    )

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

What is refused, and how (see :mod:`spanscope.ingest.limits`):

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
(the receivers decode straight into columns, with a cache for repeated attributes); this
module holds what every OTLP decoder shares — ``AnyValue`` mapping, events, links, the
parse-error explanation — and presents the columnar result as ``Span`` objects, so OTLP
protobuf has exactly one decode path. ``benchmarks/decode.py`` measures both.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from spanscope.ingest.attributes import (
    INT64_MAX,
    MAX_VALUE_DEPTH,
    UINT32_MAX,
    ZERO_SPAN_ID,
    ZERO_TRACE_ID,
    cap_bytes,
    cap_count,
    cap_text,
    clamp_event_time,
    saturate_count,
)
from spanscope.ingest.limits import DEFAULT_LIMITS, DecodeResult, Limits
from spanscope.ingest.redact_requests import check_pb_attributes
from spanscope.model.spans import Attributes, Event, Link, SpanKind, StatusCode

__all__ = ["decode_otlp_protobuf", "decode_otlp_request", "attributes_from_pb"]

_KINDS = tuple(SpanKind)
_STATUS_CODES = tuple(StatusCode)
_SKIP = object()
"""Returned for an empty AnyValue: the attribute is left out."""


def decode_otlp_protobuf(
    body: bytes, limits: Limits = DEFAULT_LIMITS, now_ns: int | None = None
) -> DecodeResult:
    """Decode the bytes of an OTLP ``ExportTraceServiceRequest`` (already un-gzipped).

    Raises :class:`DecodeError` when the body as a whole is not such a message; spans
    refused one by one are counted in the result instead.

    There is ONE decode path for OTLP protobuf: the receivers' columnar decoder
    (``ingest/otlp_columns.py``); this returns its result as :class:`Span` objects.
    """
    from spanscope.ingest.otlp_columns import decode_otlp_columns

    columns = decode_otlp_columns(body, limits, now_ns)
    return DecodeResult(
        columns.spans.to_spans(), columns.rejected, columns.first_error, columns.payload
    )


def _explain_parse_error(body: bytes, exc: Exception) -> str:
    head = bytes(body[:1])
    if bytes(body[:2]) == b"\x1f\x8b":
        hint = "it is gzip-compressed: send it with 'Content-Encoding: gzip'"
    elif head in (b"{", b"["):
        hint = "it looks like JSON: send OTLP/JSON with 'Content-Type: application/json'"
    else:
        hint = "it may be truncated, not OTLP, or hold a string field that is not valid UTF-8"
    return (
        f"body ({len(body)} bytes) is not a valid OTLP ExportTraceServiceRequest "
        f"protobuf ({exc}); {hint}"
    )


def decode_otlp_request(
    request: ExportTraceServiceRequest,
    limits: Limits = DEFAULT_LIMITS,
    now_ns: int | None = None,
) -> DecodeResult:
    """Map an already parsed request (the gRPC server has one) to spans."""
    from spanscope.ingest.otlp_columns import decode_otlp_request_columns

    columns = decode_otlp_request_columns(request, limits, now_ns)
    return DecodeResult(
        columns.spans.to_spans(), columns.rejected, columns.first_error, columns.payload
    )


def _label(span_id: bytes, index: int) -> str:
    """A rejected span's name in messages: its hex id if it has a usable one."""
    if len(span_id) == 8 and span_id != ZERO_SPAN_ID:
        return span_id.hex()
    return f"#{index}"


def attributes_from_pb(
    key_values: Any, limits: Limits, warnings: list[str], where: str
) -> tuple[Attributes, int]:
    """Repeated ``KeyValue`` -> (attributes dict, number dropped by the count limit).

    ``where`` names the owner in warnings ("span", "resource", "event 'exception'").
    """
    if limits.redaction is not None:
        check_pb_attributes(key_values, limits.redaction)  # all of them: all go to the WAL
    total = len(key_values)
    dropped = 0
    if total > limits.max_attributes:
        kept = cap_count(total, limits.max_attributes, warnings, f"{where} attributes")
        dropped = total - kept
        key_values = key_values[:kept]
    max_value = limits.max_attribute_value_bytes
    quick = max_value // 4  # shorter strings cannot exceed the byte limit
    out: Attributes = {}
    for kv in key_values:
        value = kv.value
        # Most values are non-empty strings; a non-empty string_value settles the oneof
        # without the WhichOneof call.
        text = value.string_value
        if text:
            if len(text) > quick:
                text = cap_text(text, max_value, warnings, f"attribute {kv.key!r} value")
            out[kv.key] = text
            continue
        which = value.WhichOneof("value")
        if which == "int_value":
            out[kv.key] = value.int_value
        elif which == "bool_value":
            out[kv.key] = value.bool_value
        elif which == "double_value":
            out[kv.key] = value.double_value
        elif which == "string_value":
            out[kv.key] = ""
        elif which is not None:
            converted = _complex_value(value, which, limits, warnings, kv.key, 0)
            if converted is not _SKIP:
                out[kv.key] = converted
    return out, dropped


def _any_value(value: Any, limits: Limits, warnings: list[str], key: str, depth: int) -> Any:
    """One AnyValue inside an array or kvlist -> Python value, or _SKIP when empty."""
    which = value.WhichOneof("value")
    if which is None:
        return _SKIP
    if which == "string_value":
        return cap_text(
            value.string_value, limits.max_attribute_value_bytes, warnings, f"attribute {key!r}"
        )
    if which in ("int_value", "bool_value", "double_value"):
        return getattr(value, which)
    return _complex_value(value, which, limits, warnings, key, depth)


def _complex_value(
    value: Any, which: str, limits: Limits, warnings: list[str], key: str, depth: int
) -> Any:
    if which == "bytes_value":
        return cap_bytes(
            value.bytes_value,
            limits.max_attribute_value_bytes,
            warnings,
            f"attribute {key!r} value",
        )
    if depth >= MAX_VALUE_DEPTH:
        warnings.append(f"attribute {key!r} dropped: nested deeper than {MAX_VALUE_DEPTH}")
        return _SKIP
    if which == "array_value":
        items = (_any_value(v, limits, warnings, key, depth + 1) for v in value.array_value.values)
        return [item for item in items if item is not _SKIP]
    if which == "kvlist_value":
        out: dict[str, Any] = {}
        for kv in value.kvlist_value.values:
            item = _any_value(kv.value, limits, warnings, key, depth + 1)
            if item is not _SKIP:
                out[kv.key] = item
        return out
    # string_value_strindex points into an OTLP profiles dictionary; traces have none.
    warnings.append(f"attribute {key!r} dropped: {which} is not meaningful in traces")
    return _SKIP


def _events_from_pb(
    events_pb: Any, limits: Limits, warnings: list[str], end_ns: int
) -> tuple[list[Event], int]:
    total = len(events_pb)
    kept = cap_count(total, limits.max_events, warnings, "events")
    if kept < total:
        events_pb = events_pb[:kept]
    max_name = limits.max_name_bytes
    events = []
    for ev in events_pb:
        name = ev.name
        if len(name) * 4 > max_name:
            name = cap_text(name, max_name, warnings, "event name")
        if ev.attributes:
            attributes, dropped = attributes_from_pb(
                ev.attributes, limits, warnings, f"event {name!r}"
            )
        else:
            attributes, dropped = {}, 0
        time_ns = ev.time_unix_nano
        if time_ns > INT64_MAX:
            time_ns = clamp_event_time(time_ns, end_ns, warnings, f"event {name!r} time")
        dropped += ev.dropped_attributes_count
        if dropped > UINT32_MAX:
            dropped = saturate_count(dropped, warnings, f"event {name!r} dropped_attributes_count")
        events.append(Event(time_ns, name, attributes, dropped))
    return events, total - kept


def _links_from_pb(links_pb: Any, limits: Limits, warnings: list[str]) -> tuple[list[Link], int]:
    total = len(links_pb)
    kept = cap_count(total, limits.max_links, warnings, "links")
    if kept < total:
        links_pb = links_pb[:kept]
    dropped = total - kept
    links = []
    for i, pb in enumerate(links_pb):
        trace_id = pb.trace_id
        span_id = pb.span_id
        if (
            len(trace_id) != 16
            or trace_id == ZERO_TRACE_ID
            or len(span_id) != 8
            or (span_id == ZERO_SPAN_ID)
        ):
            warnings.append(
                f"link #{i} dropped: invalid ids (trace id {trace_id.hex()!r}, "
                f"span id {span_id.hex()!r})"
            )
            dropped += 1
            continue
        if pb.attributes:
            attributes, more = attributes_from_pb(pb.attributes, limits, warnings, f"link #{i}")
        else:
            attributes, more = {}, 0
        trace_state = cap_text(
            pb.trace_state, limits.max_attribute_value_bytes, warnings, "link trace state"
        )
        more += pb.dropped_attributes_count
        if more > UINT32_MAX:
            more = saturate_count(more, warnings, f"link #{i} dropped_attributes_count")
        links.append(Link(trace_id, span_id, trace_state, attributes, more))
    return links, dropped

"""OTLP protobuf values every OTLP decoder maps the same way: ``AnyValue``, events, links.

The span walk lives in :mod:`spanscope.ingest.otlp_columns` and the logs and metrics
walks in :mod:`spanscope.ingest.otlp_logs` / :mod:`spanscope.ingest.otlp_metrics`; each
calls these for what OTLP shares between signals, so a ``KeyValue`` means the same thing
in a span, a log record and a metric point:

>>> from opentelemetry.proto.common.v1.common_pb2 import KeyValue
>>> from spanscope.ingest.limits import DEFAULT_LIMITS
>>> kv = KeyValue(key="http.status_code")
>>> kv.value.int_value = 503
>>> warnings: list[str] = []
>>> attributes_from_pb([kv], DEFAULT_LIMITS, warnings, "span")
({'http.status_code': 503}, 0)

* ``AnyValue`` becomes a plain Python value (str, bool, int, float, bytes, list, dict);
  an empty ``AnyValue`` is :data:`SKIP` (its attribute is left out); arrays and kvlists
  nested deeper than ``MAX_VALUE_DEPTH`` are dropped with a warning.
* Counts and lengths are capped as :mod:`spanscope.ingest.span_checks` says, with a
  warning on the owner; a link with invalid ids is dropped and counted.
* :func:`explain_parse_error` is the one sentence for a body that is not a request.
"""

from __future__ import annotations

from typing import Any

from spanscope.ingest.limits import Limits
from spanscope.ingest.redact_requests import check_pb_attributes
from spanscope.ingest.span_checks import (
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
from spanscope.model.spans import Attributes, Event, Link

__all__ = [
    "SKIP",
    "any_value",
    "attributes_from_pb",
    "complex_value",
    "events_from_pb",
    "explain_parse_error",
    "links_from_pb",
    "span_label",
]

SKIP = object()
"""Returned for an empty AnyValue: the attribute is left out."""


def explain_parse_error(body: bytes, exc: Exception) -> str:
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


def span_label(span_id: bytes, index: int) -> str:
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
            converted = complex_value(value, which, limits, warnings, kv.key, 0)
            if converted is not SKIP:
                out[kv.key] = converted
    return out, dropped


def any_value(value: Any, limits: Limits, warnings: list[str], key: str, depth: int) -> Any:
    """One AnyValue inside an array or kvlist -> Python value, or SKIP when empty."""
    which = value.WhichOneof("value")
    if which is None:
        return SKIP
    if which == "string_value":
        return cap_text(
            value.string_value, limits.max_attribute_value_bytes, warnings, f"attribute {key!r}"
        )
    if which in ("int_value", "bool_value", "double_value"):
        return getattr(value, which)
    return complex_value(value, which, limits, warnings, key, depth)


def complex_value(
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
        return SKIP
    if which == "array_value":
        items = (any_value(v, limits, warnings, key, depth + 1) for v in value.array_value.values)
        return [item for item in items if item is not SKIP]
    if which == "kvlist_value":
        out: dict[str, Any] = {}
        for kv in value.kvlist_value.values:
            item = any_value(kv.value, limits, warnings, key, depth + 1)
            if item is not SKIP:
                out[kv.key] = item
        return out
    # string_value_strindex points into an OTLP profiles dictionary; traces have none.
    warnings.append(f"attribute {key!r} dropped: {which} is not meaningful in traces")
    return SKIP


def events_from_pb(
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


def links_from_pb(links_pb: Any, limits: Limits, warnings: list[str]) -> tuple[list[Link], int]:
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

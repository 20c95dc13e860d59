"""OTLP protobuf -> :class:`~spanscope.columnar.SpanColumns`: the receivers' fast decoder.

It maps and checks exactly as :func:`spanscope.ingest.otlp.decode_otlp_protobuf` does (the
same helpers for attributes, events, links, caps and span checks; ``tests/unit/
test_ingest_otlp_columns.py`` asserts both give equal spans for good and bad input), but
appends each field to a column list instead of building a ``Span``, so the store can build
its Arrow table without a second pass over Python objects. That second pass, plus the
``Span`` objects, was a third of the Python time per span on the served path
(docs/performance.md).

>>> from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
...     ExportTraceServiceRequest)
>>> request = ExportTraceServiceRequest()
>>> pb = request.resource_spans.add().scope_spans.add().spans.add(
...     trace_id=bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736"),
...     span_id=bytes.fromhex("00f067aa0ba902b7"), name="GET /cart", kind=2,
...     start_time_unix_nano=1_700_000_000_000_000_000,
...     end_time_unix_nano=1_700_000_000_004_000_000)
>>> result = decode_otlp_columns(request.SerializeToString())
>>> len(result.spans), result.spans.name, result.rejected
(1, ['GET /cart'], 0)

Speed (docs/performance.md): a span's attributes are most of its decode cost, because each
``KeyValue`` the protobuf runtime hands to Python is two message objects and two strings.
This decoder parses the request with a twin of the OTLP descriptor in which
``Span.attributes`` is ``repeated bytes``: each attribute arrives as its own serialized
``KeyValue``, and the same bytes (``http.method=GET`` on every other span) are looked up in
a bounded per-process cache of already mapped ``(type, key, value)`` entries. Only a bytes
string not seen before is parsed as a real ``KeyValue`` (which also checks its UTF-8, so an
invalid body is still refused whole). Span walk: ~9 -> ~4 µs/span.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError as ProtobufDecodeError
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from spanscope.columnar import SpanColumns
from spanscope.ingest.limits import DEFAULT_LIMITS, Limits, without_redaction
from spanscope.ingest.otlp_values import (
    SKIP,
    attributes_from_pb,
    complex_value,
    events_from_pb,
    explain_parse_error,
    links_from_pb,
    span_label,
)
from spanscope.ingest.redact_requests import check_pb_attributes, redact_trace_request
from spanscope.ingest.redaction import NOCHANGE, RedactionNeeded
from spanscope.ingest.results import DecodeError
from spanscope.ingest.span_checks import (
    UINT32_MAX,
    cap_count,
    cap_text,
    check_span,
    parent_or_none,
    saturate_count,
)
from spanscope.model.spans import UNKNOWN_SERVICE, Attributes, SpanKind, StatusCode

__all__ = ["ColumnarResult", "decode_otlp_columns", "decode_otlp_request_columns"]


def _request_with_raw_span_attributes() -> Any:
    """``ExportTraceServiceRequest`` from the same .proto files, except that
    ``Span.attributes`` is ``repeated bytes`` (wire-compatible: a length-delimited field)."""
    pool = descriptor_pool.DescriptorPool()
    for module in (common_pb2, resource_pb2, trace_pb2, trace_service_pb2):
        proto = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(proto)
        for message in proto.message_type:
            if module is trace_pb2 and message.name == "Span":
                for f in message.field:
                    if f.name == "attributes":
                        f.type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
                        f.ClearField("type_name")
        pool.Add(proto)
    name = ExportTraceServiceRequest.DESCRIPTOR.full_name
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(name))


_RawAttributesRequest = _request_with_raw_span_attributes()

# Entry kinds: where an attribute goes in SpanColumns.
_STR, _INT, _DBL, _BOOL, _OTHER = range(5)
_SPAN_KINDS = frozenset(SpanKind)
_STATUS_CODES = frozenset(StatusCode)
_UNSPECIFIED = int(SpanKind.UNSPECIFIED)
_UNSET = int(StatusCode.UNSET)
_Entry = tuple[int, str, Any]

CACHE_ENTRIES = 1 << 15
"""Serialized KeyValues remembered per process (~5 MB); the cache is emptied when full,
so high-cardinality values (user ids) cannot grow it, and the common ones come back in
the next few hundred spans."""

_caches: dict[tuple[int, str], dict[bytes, _Entry]] = {}
"""One cache per string-value byte limit (whether a string needs capping depends on it)
and redaction rule set (an entry is cached only once no rule changes it)."""


class _BadAttribute(Exception):
    """A span attribute is not a valid KeyValue (e.g. a string that is not UTF-8)."""


@dataclass(slots=True)
class ColumnarResult:
    """:class:`~spanscope.ingest.results.DecodeResult` with the spans as columns."""

    spans: SpanColumns = field(default_factory=SpanColumns)
    rejected: int = 0
    first_error: str | None = None
    payload: bytes | None = None
    """The request re-encoded after redaction: what the WAL logs instead of the body."""

    def reject(self, reason: str) -> None:
        self.rejected += 1
        if self.first_error is None:
            self.first_error = reason


def decode_otlp_columns(
    body: bytes, limits: Limits = DEFAULT_LIMITS, now_ns: int | None = None
) -> ColumnarResult:
    """Decode an OTLP ``ExportTraceServiceRequest`` body; raises DecodeError like
    :func:`~spanscope.ingest.otlp.decode_otlp_protobuf`."""
    if not body:
        raise DecodeError(
            "empty body: expected an OTLP ExportTraceServiceRequest encoded as protobuf"
        )
    request = _RawAttributesRequest()
    try:
        request.ParseFromString(body)
        return _decode_request(request, limits, now_ns)
    except RedactionNeeded:
        return _decode_redacted(body, limits, now_ns)
    except (ProtobufDecodeError, ValueError, TypeError, _BadAttribute) as exc:
        raise DecodeError(explain_parse_error(body, exc)) from None


def _decode_redacted(body: bytes, limits: Limits, now_ns: int | None) -> ColumnarResult:
    """The slow path for a request with something to redact: parse it in full, redact it
    in place, and decode the re-encoded request, which is also what the WAL logs."""
    assert limits.redaction is not None
    try:
        full = ExportTraceServiceRequest.FromString(body)
    except (ProtobufDecodeError, ValueError, TypeError) as exc:  # a later broken KeyValue
        raise DecodeError(explain_parse_error(body, exc)) from None
    redact_trace_request(full, limits.redaction)
    payload = full.SerializeToString()
    result = decode_otlp_columns(payload, without_redaction(limits), now_ns)
    result.payload = payload
    return result


def decode_otlp_request_columns(
    request: ExportTraceServiceRequest,
    limits: Limits = DEFAULT_LIMITS,
    now_ns: int | None = None,
) -> ColumnarResult:
    """Map an already parsed request to columns, for a caller that holds one (the gRPC
    receiver does not: it decodes the bytes it received with :func:`decode_otlp_columns`)."""
    # Re-encoding costs ~0.5 µs/span and buys the cached attribute walk (~4 µs less).
    body = request.SerializeToString()
    raw = _RawAttributesRequest.FromString(body)
    try:
        return _decode_request(raw, limits, now_ns)
    except RedactionNeeded:
        return _decode_redacted(body, limits, now_ns)


def _decode_request(request: Any, limits: Limits, now_ns: int | None) -> ColumnarResult:
    result = ColumnarResult()
    if now_ns is None:
        now_ns = time.time_ns()
    index = 0
    for resource_spans in request.resource_spans:
        resource_warnings: list[str] = []
        resource, _ = attributes_from_pb(
            resource_spans.resource.attributes, limits, resource_warnings, "resource"
        )
        service = resource.get("service.name")
        if type(service) is not str or not service:
            service = UNKNOWN_SERVICE
        else:
            service = cap_text(service, limits.max_name_bytes, resource_warnings, "service name")
        for scope_spans in resource_spans.scope_spans:
            index = _decode_spans(
                scope_spans, service, resource, resource_warnings, limits, now_ns, result, index
            )
    return result


def _parse_kv(raw: bytes) -> Any:
    try:
        return KeyValue.FromString(raw)
    except (ProtobufDecodeError, ValueError, TypeError) as exc:
        raise _BadAttribute(f"span attribute: {exc}") from None


def _entry(
    raw: bytes, limits: Limits, warnings: list[str], cache: dict[bytes, _Entry]
) -> _Entry | None:
    """Map one serialized KeyValue exactly as ``attributes_from_pb`` would; None for an
    empty value (the attribute is left out). Plain values are remembered in ``cache``;
    capped and nested ones are not (their warnings belong to this span)."""
    kv = _parse_kv(raw)
    key = kv.key
    value = kv.value
    which = value.WhichOneof("value")
    redaction = limits.redaction
    if redaction is not None and redaction.rules_for(key) and which is not None:
        converted = complex_value(value, which, limits, [], key, 0) if which in (
            "array_value", "kvlist_value", "bytes_value") else getattr(value, which)  # fmt: skip
        if redaction.redact(key, converted) is not NOCHANGE:
            raise RedactionNeeded(key)
    entry: _Entry
    if which == "string_value":
        text = value.string_value
        if len(text) * 4 > limits.max_attribute_value_bytes:
            capped = cap_text(
                text, limits.max_attribute_value_bytes, warnings, f"attribute {key!r} value"
            )
            if capped is not text:
                return (_STR, key, capped)
        entry = (_STR, key, text)
    elif which == "int_value":
        entry = (_INT, key, value.int_value)
    elif which == "bool_value":
        entry = (_BOOL, key, value.bool_value)
    elif which == "double_value":
        entry = (_DBL, key, value.double_value)
    elif which is None:
        return None
    else:
        converted = complex_value(value, which, limits, warnings, key, 0)
        return None if converted is SKIP else (_OTHER, key, converted)
    if len(cache) >= CACHE_ENTRIES:
        cache.clear()
    cache[raw] = entry
    return entry


def _decode_spans(
    scope_spans: Any,
    service: str,
    resource: Attributes,
    resource_warnings: list[str],
    limits: Limits,
    now_ns: int,
    result: ColumnarResult,
    index: int,
) -> int:
    scope = scope_spans.scope
    scope_warnings = list(resource_warnings)
    max_name = limits.max_name_bytes
    max_value = limits.max_attribute_value_bytes
    scope_name = cap_text(scope.name, max_name, scope_warnings, "scope name")
    scope_version = cap_text(scope.version, max_name, scope_warnings, "scope version")
    min_time = limits.min_time_ns
    max_time = now_ns + limits.max_future_ns
    cols = result.spans
    # Bound methods once per scope: each saves an attribute look-up per span per field.
    add_trace_id = cols.trace_id.append
    add_span_id = cols.span_id.append
    add_parent = cols.parent_span_id.append
    add_start = cols.start_ns.append
    add_end = cols.end_ns.append
    add_service = cols.service.append
    add_name = cols.name.append
    add_kind = cols.kind.append
    add_code = cols.status_code.append
    add_message = cols.status_message.append
    add_resource = cols.resource.append
    add_scope_name = cols.scope_name.append
    add_scope_version = cols.scope_version.append
    add_trace_state = cols.trace_state.append
    add_flags = cols.flags.append
    add_dropped_attrs = cols.dropped_attributes_count.append
    add_dropped_events = cols.dropped_events_count.append
    add_dropped_links = cols.dropped_links_count.append
    add_events = cols.events.append
    add_links = cols.links.append
    add_warnings = cols.warnings.append
    add_other = cols.other.append
    str_keys, int_keys, dbl_keys, bool_keys = (
        cols.str_keys,
        cols.int_keys,
        cols.dbl_keys,
        cols.bool_keys,
    )
    add_str_key, add_str_value = str_keys.append, cols.str_values.append
    add_int_key, add_int_value = int_keys.append, cols.int_values.append
    add_dbl_key, add_dbl_value = dbl_keys.append, cols.dbl_values.append
    add_bool_key, add_bool_value = bool_keys.append, cols.bool_values.append
    add_str_offset, add_int_offset = cols.str_offsets.append, cols.int_offsets.append
    add_dbl_offset, add_bool_offset = cols.dbl_offsets.append, cols.bool_offsets.append
    max_attributes = limits.max_attributes
    redaction = limits.redaction
    cache = _caches.setdefault(
        (max_value, redaction.fingerprint if redaction is not None else ""), {}
    )
    if redaction is not None and scope.attributes:
        check_pb_attributes(scope.attributes, redaction)
    cache_get = cache.get
    for pb in scope_spans.spans:
        index += 1
        trace_id = pb.trace_id
        span_id = pb.span_id
        parent = pb.parent_span_id
        start = pb.start_time_unix_nano
        end = pb.end_time_unix_nano
        problem = check_span(trace_id, span_id, parent, start, end, min_time, max_time)
        if problem is not None:
            if redaction is not None and (pb.events or pb.links):
                raise RedactionNeeded("a rejected span's events or links")
            for raw in pb.attributes:  # the real parser refuses a body with broken UTF-8
                if raw not in cache:
                    _entry(raw, limits, [], cache)  # and a secret here still reaches the WAL
            result.reject(f"span {span_label(span_id, index)} in {service}: {problem}")
            continue
        warnings = list(scope_warnings) if scope_warnings else []
        name = pb.name
        if len(name) * 4 > max_name:
            name = cap_text(name, max_name, warnings, "span name")
        raws = pb.attributes
        dropped = 0
        other: Attributes | None = None
        if raws:
            if len(raws) > max_attributes:
                kept = cap_count(len(raws), max_attributes, warnings, "span attributes")
                dropped = len(raws) - kept
                for raw in raws[kept:]:
                    # dropped, but a body with a broken one is refused whole, and one with
                    # a secret in it is redacted before the WAL
                    if raw not in cache:
                        _entry(raw, limits, [], cache)
                raws = raws[:kept]
            hits = []
            for raw in raws:
                hit = cache_get(raw)
                if hit is None:
                    hit = _entry(raw, limits, warnings, cache)
                    if hit is None:
                        continue
                hits.append(hit)
            if len(hits) > 1 and len({h[1] for h in hits}) != len(hits):
                hits = list({h[1]: h for h in hits}.values())  # a repeated key: the last wins
            for kind_, key, value in hits:
                if kind_ == _STR:
                    add_str_key(key)
                    add_str_value(value)
                elif kind_ == _INT:
                    add_int_key(key)
                    add_int_value(value)
                elif kind_ == _DBL:
                    add_dbl_key(key)
                    add_dbl_value(value)
                elif kind_ == _BOOL:
                    add_bool_key(key)
                    add_bool_value(value)
                else:
                    if other is None:
                        other = {}
                    other[key] = value
        dropped_events = pb.dropped_events_count
        if pb.events:
            if redaction is not None and len(pb.events) > limits.max_events:
                # What the caps leave out still goes to the WAL as sent: redact it all.
                raise RedactionNeeded("events beyond the cap")
            events, more = events_from_pb(pb.events, limits, warnings, end)
            dropped_events += more
            if dropped_events > UINT32_MAX:
                dropped_events = saturate_count(dropped_events, warnings, "dropped_events_count")
            add_events(events or None)
        else:
            add_events(None)
        dropped_links = pb.dropped_links_count
        if pb.links:
            if redaction is not None and len(pb.links) > limits.max_links:
                raise RedactionNeeded("links beyond the cap")
            links, more = links_from_pb(pb.links, limits, warnings)
            dropped_links += more
            if dropped_links > UINT32_MAX:
                dropped_links = saturate_count(dropped_links, warnings, "dropped_links_count")
            add_links(links or None)
        else:
            add_links(None)
        kind = pb.kind
        if kind not in _SPAN_KINDS:
            warnings.append(f"unknown span kind {kind}: stored as unspecified")
            kind = _UNSPECIFIED
        status = pb.status
        code = status.code
        if code not in _STATUS_CODES:
            warnings.append(f"unknown status code {code}: stored as unset")
            code = _UNSET
        message = status.message
        if message and len(message) * 4 > max_value:
            message = cap_text(message, max_value, warnings, "status message")
        trace_state = pb.trace_state
        if trace_state and len(trace_state) * 4 > max_value:
            trace_state = cap_text(trace_state, max_value, warnings, "trace state")
        add_trace_id(trace_id)
        add_span_id(span_id)
        add_parent(parent_or_none(parent))
        add_start(start)
        add_end(end)
        add_service(service)
        add_name(name)
        add_kind(kind)
        add_code(code)
        add_message(message)
        add_resource(resource)
        add_scope_name(scope_name)
        add_scope_version(scope_version)
        add_trace_state(trace_state)
        add_flags(pb.flags)
        if dropped:
            dropped += pb.dropped_attributes_count
            if dropped > UINT32_MAX:
                dropped = saturate_count(dropped, warnings, "dropped_attributes_count")
            add_dropped_attrs(dropped)
        else:
            add_dropped_attrs(pb.dropped_attributes_count)
        add_dropped_events(dropped_events)
        add_dropped_links(dropped_links)
        add_warnings(warnings or None)
        add_str_offset(len(str_keys))
        add_int_offset(len(int_keys))
        add_dbl_offset(len(dbl_keys))
        add_bool_offset(len(bool_keys))
        add_other(other)
    return index

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
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError as ProtobufDecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from spanscope.columnar import SpanColumns
from spanscope.ingest.attributes import cap_text, check_span, parent_or_none
from spanscope.ingest.limits import DEFAULT_LIMITS, DecodeError, Limits
from spanscope.ingest.otlp import (
    _events_from_pb,
    _explain_parse_error,
    _label,
    _links_from_pb,
    attributes_from_pb,
)
from spanscope.model import UNKNOWN_SERVICE, Attributes

__all__ = ["ColumnarResult", "decode_otlp_columns", "decode_otlp_request_columns"]


@dataclass(slots=True)
class ColumnarResult:
    """:class:`~spanscope.ingest.limits.DecodeResult` with the spans as columns."""

    spans: SpanColumns = field(default_factory=SpanColumns)
    rejected: int = 0
    first_error: str | None = None

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
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except (ProtobufDecodeError, ValueError, TypeError) as exc:
        raise DecodeError(_explain_parse_error(body, exc)) from None
    return decode_otlp_request_columns(request, limits, now_ns)


def decode_otlp_request_columns(
    request: ExportTraceServiceRequest,
    limits: Limits = DEFAULT_LIMITS,
    now_ns: int | None = None,
) -> ColumnarResult:
    """Map an already parsed request (the gRPC server has one) to columns."""
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
    add_attributes = cols.add_attributes
    for pb in scope_spans.spans:
        index += 1
        trace_id = pb.trace_id
        span_id = pb.span_id
        parent = pb.parent_span_id
        start = pb.start_time_unix_nano
        end = pb.end_time_unix_nano
        problem = check_span(trace_id, span_id, parent, start, end, min_time, max_time)
        if problem is not None:
            result.reject(f"span {_label(span_id, index)} in {service}: {problem}")
            continue
        warnings = list(scope_warnings) if scope_warnings else []
        name = pb.name
        if len(name) * 4 > max_name:
            name = cap_text(name, max_name, warnings, "span name")
        if pb.attributes:
            attributes, dropped = attributes_from_pb(pb.attributes, limits, warnings, "span")
        else:
            attributes, dropped = {}, 0
        dropped_events = pb.dropped_events_count
        if pb.events:
            events, more = _events_from_pb(pb.events, limits, warnings)
            dropped_events += more
            add_events(events or None)
        else:
            add_events(None)
        dropped_links = pb.dropped_links_count
        if pb.links:
            links, more = _links_from_pb(pb.links, limits, warnings)
            dropped_links += more
            add_links(links or None)
        else:
            add_links(None)
        kind = pb.kind
        if not 0 <= kind < 6:
            warnings.append(f"unknown span kind {kind}: stored as unspecified")
            kind = 0
        status = pb.status
        code = status.code
        if not 0 <= code < 3:
            warnings.append(f"unknown status code {code}: stored as unset")
            code = 0
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
        add_dropped_attrs(pb.dropped_attributes_count + dropped)
        add_dropped_events(dropped_events)
        add_dropped_links(dropped_links)
        add_warnings(warnings or None)
        add_attributes(attributes)
    return index

"""OTLP logs -> :class:`~spanscope.model.signals.LogRecord`: the decoder behind ``POST /v1/logs``
(OTLP/HTTP protobuf and JSON, port 4318) and the gRPC ``LogsService`` (port 4317).

A log record written inside a span carries that span's trace id and span id, which is
what links it to the trace: ``GET /api/v1/traces/{id}/logs`` finds it again.

>>> from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
...     ExportLogsServiceRequest)
>>> request = ExportLogsServiceRequest()
>>> rl = request.resource_logs.add()
>>> rl.resource.attributes.add(key="service.name").value.string_value = "orders"
>>> rec = rl.scope_logs.add().log_records.add(
...     time_unix_nano=1_700_000_000_000_000_000, severity_number=13, severity_text="WARN",
...     trace_id=bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736"),
...     span_id=bytes.fromhex("00f067aa0ba902b7"))
>>> rec.body.string_value = "slow query: 2.1 s"
>>> log = decode_otlp_logs_protobuf(request.SerializeToString()).signals.logs[0]
>>> (log.service, log.severity_text, log.body, log.span_id.hex())
('orders', 'WARN', 'slow query: 2.1 s', '00f067aa0ba902b7')

Mapping: ``service`` is the resource's ``service.name`` (else "unknown_service"); the time
is ``time_unix_nano``, else ``observed_time_unix_nano`` (the OTel data model's rule); the
body keeps its AnyValue type (a string, or a list/map for structured bodies); the newer
``event_name`` field becomes the attribute ``event.name``.

The same rules as spans (:mod:`spanscope.ingest.limits`): the whole body is refused
(:class:`DecodeError`, HTTP 400) when it is not an ``ExportLogsServiceRequest`` or holds
invalid UTF-8; one record is refused (``partial_success.rejected_log_records``) when its
trace id is not 16 bytes or its span id not 8 (empty means "outside a span"; all zeros is
read as empty, as SDKs send for an invalid context), when it has no time at all, or when
its time is before ``limits.min_time_ns`` or too far in the future, or when its
``observed_time_unix_nano`` is beyond int64 nanoseconds (the store's BIGINT). Attribute counts and
long values are capped as for spans.

OTLP/JSON differs from protobuf's canonical JSON only in ids (hex, not base64): the JSON
decoder rewrites them, then lets protobuf parse the document, so both paths share one
mapping. That costs more per record than the span path's hand-written JSON walk; logs
and metrics arrive in far smaller volumes than spans.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from spanscope.ingest.limits import DEFAULT_LIMITS, Limits, without_redaction
from spanscope.ingest.otlp_values import attributes_from_pb
from spanscope.ingest.redact_requests import (
    redact_logs_request,
    redact_otlp_json,
)
from spanscope.ingest.results import DecodeError, SignalResult
from spanscope.ingest.span_checks import (
    INT64_MAX,
    ZERO_SPAN_ID,
    ZERO_TRACE_ID,
    cap_text,
    load_json,
)
from spanscope.model.signals import LogRecord
from spanscope.model.spans import SPAN_ID_LEN, TRACE_ID_LEN, UNKNOWN_SERVICE, Attributes
from spanscope.severity import MAX_SEVERITY, severity_name

__all__ = [
    "decode_otlp_logs_protobuf",
    "decode_otlp_logs_json",
    "decode_logs_request",
    "parse_protobuf",
    "parse_otlp_json",
    "resource_service",
    "check_ids",
    "any_value",
    "beyond_int64",
]


def decode_otlp_logs_protobuf(
    body: bytes, limits: Limits = DEFAULT_LIMITS, now_ns: int | None = None
) -> SignalResult:
    """Decode the bytes of an ``ExportLogsServiceRequest`` (already un-gzipped)."""
    request = parse_protobuf(body, ExportLogsServiceRequest(), "ExportLogsServiceRequest")
    payload = None
    if limits.redaction is not None and redact_logs_request(request, limits.redaction):
        payload = request.SerializeToString()
    result = decode_logs_request(request, without_redaction(limits), now_ns)
    result.payload = payload
    return result


def decode_otlp_logs_json(
    body: bytes, limits: Limits = DEFAULT_LIMITS, now_ns: int | None = None
) -> SignalResult:
    """Decode an OTLP/JSON logs body: ``{"resourceLogs": [...]}``."""
    result = SignalResult()
    if limits.redaction is not None and body:
        result.payload = redact_otlp_json(load_json(body), limits.redaction)
        body = result.payload or body
        limits = without_redaction(limits)
    request = parse_otlp_json(
        body,
        ExportLogsServiceRequest(),
        ("resourceLogs", "scopeLogs", "logRecords"),
        lambda record, where: _json_ids(record, where),
        result,
    )
    return decode_logs_request(request, limits, now_ns, result)


def decode_logs_request(
    request: ExportLogsServiceRequest,
    limits: Limits = DEFAULT_LIMITS,
    now_ns: int | None = None,
    result: SignalResult | None = None,
) -> SignalResult:
    """Map a parsed request (the gRPC server has one) to log records."""
    result = result if result is not None else SignalResult()
    now_ns = time.time_ns() if now_ns is None else now_ns
    max_time = now_ns + limits.max_future_ns
    append = result.signals.logs.append
    for rl in request.resource_logs:
        resource, service = resource_service(rl.resource.attributes, limits)
        for sl in rl.scope_logs:
            scope_name = cap_text(sl.scope.name, limits.max_name_bytes, [], "scope name")
            for i, pb in enumerate(sl.log_records):
                label = f"log record #{i} of {service}"
                t = pb.time_unix_nano or pb.observed_time_unix_nano
                ids = check_ids(pb.trace_id, pb.span_id)
                if isinstance(ids, str):
                    result.reject(f"{label}: {ids}")
                    continue
                problem = _check_time(t, limits.min_time_ns, max_time)
                if problem is None and pb.observed_time_unix_nano > INT64_MAX:
                    problem = beyond_int64("observed_time_unix_nano", pb.observed_time_unix_nano)
                if problem is not None:
                    result.reject(f"{label}: {problem}")
                    continue
                attributes, _ = attributes_from_pb(pb.attributes, limits, [], "log")
                if pb.event_name:
                    attributes["event.name"] = cap_text(
                        pb.event_name, limits.max_name_bytes, [], "event name"
                    )
                number = pb.severity_number if 0 <= pb.severity_number <= MAX_SEVERITY else 0
                append(
                    LogRecord(
                        time_ns=t,
                        service=service,
                        severity_number=number,
                        severity_text=cap_text(pb.severity_text, 64, [], "severity text")
                        or severity_name(number),
                        body=any_value(pb.body, limits) if pb.HasField("body") else "",
                        attributes=attributes,
                        resource=resource,
                        trace_id=ids[0],
                        span_id=ids[1],
                        observed_time_ns=pb.observed_time_unix_nano,
                        scope_name=scope_name,
                        flags=pb.flags,
                    )
                )
    return result


# -- shared with ingest/otlp_metrics.py ----------------------------------------------


def parse_protobuf(body: bytes, message: Message, what: str) -> Any:
    """``message`` parsed from ``body``, or a DecodeError saying why and what to do."""
    if not body:
        raise DecodeError(f"empty body: expected an OTLP {what} encoded as protobuf")
    try:
        message.ParseFromString(body)
    except (ProtobufDecodeError, ValueError, TypeError) as exc:
        if bytes(body[:2]) == b"\x1f\x8b":
            hint = "it is gzip-compressed: send it with 'Content-Encoding: gzip'"
        elif bytes(body[:1]) in (b"{", b"["):
            hint = "it looks like JSON: send OTLP/JSON with 'Content-Type: application/json'"
        else:
            hint = "it may be truncated, not OTLP, or hold a string that is not valid UTF-8"
        raise DecodeError(
            f"body ({len(body)} bytes) is not a valid OTLP {what} protobuf ({exc}); {hint}"
        ) from None
    return message


def parse_otlp_json(
    body: bytes,
    message: Message,
    path: tuple[str, ...],
    fix_ids: Callable[[dict[str, Any], str], str | None],
    result: SignalResult,
) -> Any:
    """Parse an OTLP/JSON document into ``message``. ``path`` names the nesting down to the
    records (e.g. resourceLogs/scopeLogs/logRecords); ``fix_ids`` rewrites one record's hex
    ids to base64 in place, or returns why it cannot (the record is then rejected)."""
    if not body:
        raise DecodeError(f'empty body: expected OTLP/JSON, an object like {{"{path[0]}": [...]}}')
    document = load_json(body)
    if type(document) is not dict:
        raise DecodeError(f'expected a JSON object like {{"{path[0]}": [...]}} at the top level')
    _walk_records(document, path, "", fix_ids, result)
    try:
        json_format.ParseDict(document, message)
    except json_format.ParseError as exc:
        raise DecodeError(f"not a valid OTLP/JSON {path[0]} document: {exc}") from None
    return message


def _walk_records(
    node: Any,
    path: tuple[str, ...],
    where: str,
    fix_ids: Callable[[dict[str, Any], str], str | None],
    result: SignalResult,
) -> None:
    key = path[0]
    snake = "".join("_" + c.lower() if c.isupper() else c for c in key)
    name = key if key in node else snake
    items = node.get(name)
    if items is None:
        return
    if type(items) is not list:
        raise DecodeError(f"{where}{key}: expected a list, got {type(items).__name__}")
    if len(path) > 1:
        for i, item in enumerate(items):
            if type(item) is not dict:
                raise DecodeError(f"{where}{key}[{i}]: expected an object")
            _walk_records(item, path[1:], f"{where}{key}[{i}].", fix_ids, result)
        return
    kept = []
    for i, item in enumerate(items):
        problem = fix_ids(item, f"{where}{key}[{i}]") if type(item) is dict else None
        if problem is None:
            kept.append(item)
        else:
            result.reject(problem)
    node[name] = kept


def json_hex_to_base64(obj: dict[str, Any], camel: str, snake: str, where: str) -> str | None:
    """Rewrite the hex id ``obj[camel]`` (or ``obj[snake]``) as base64 for protobuf's JSON
    parser; the reason when it is not hex."""
    key = camel if camel in obj else snake
    value = obj.get(key)
    if value in (None, ""):
        return None
    if type(value) is not str:
        return f"{where}.{camel}: expected a hex string, got {orjson.dumps(value).decode()[:40]}"
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        return f"{where}.{camel} {value[:40]!r} is not hexadecimal (OTLP/JSON ids are hex)"
    obj[key] = base64.b64encode(raw).decode()
    return None


def _json_ids(record: dict[str, Any], where: str) -> str | None:
    return json_hex_to_base64(record, "traceId", "trace_id", where) or json_hex_to_base64(
        record, "spanId", "span_id", where
    )


def resource_service(key_values: Any, limits: Limits) -> tuple[Attributes, str]:
    """(resource attributes, service name) of one resource."""
    resource, _ = attributes_from_pb(key_values, limits, [], "resource")
    service = resource.get("service.name")
    if type(service) is not str or not service:
        return resource, UNKNOWN_SERVICE
    return resource, cap_text(service, limits.max_name_bytes, [], "service name")


def check_ids(trace_id: bytes, span_id: bytes) -> tuple[bytes | None, bytes | None] | str:
    """(trace id, span id) as the model keeps them (None when absent or all zeros), or
    the reason they are unusable."""
    if trace_id and len(trace_id) != TRACE_ID_LEN:
        return f"trace id {trace_id.hex()!r} has {len(trace_id)} bytes, expected {TRACE_ID_LEN}"
    if span_id and len(span_id) != SPAN_ID_LEN:
        return f"span id {span_id.hex()!r} has {len(span_id)} bytes, expected {SPAN_ID_LEN}"
    tid = trace_id if trace_id and trace_id != ZERO_TRACE_ID else None
    sid = span_id if span_id and span_id != ZERO_SPAN_ID and tid is not None else None
    return tid, sid


def _check_time(t: int, min_time: int, max_time: int) -> str | None:
    if t == 0:
        return "neither time_unix_nano nor observed_time_unix_nano is set"
    if t < min_time:
        return (
            f"time {t} ns is before the earliest accepted time {min_time} "
            "(check the sender's clock, and that times are nanoseconds since the epoch)"
        )
    if t > max_time:
        return f"time {t} ns is more than the allowed skew after the receiver's clock"
    return None


def beyond_int64(field: str, value: int) -> str:
    """The reason a record with a uint64 time beyond the store's int64 is refused."""
    return (
        f"{field} {value} ns is beyond the latest storable time {INT64_MAX} ns (int64, "
        "year 2262); check the sender's clock and that times are nanoseconds"
    )


def any_value(value: Any, limits: Limits) -> Any:
    """One OTLP ``AnyValue`` -> a plain Python value, capped like an attribute value."""
    text = value.string_value
    if text:
        return cap_text(text, limits.max_attribute_value_bytes, [], "body")
    converted, _ = attributes_from_pb([KeyValue(key="v", value=value)], limits, [], "body")
    return converted.get("v", "")

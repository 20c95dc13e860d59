"""Zipkin v2 JSON -> spans: ``POST /api/v2/spans`` on port 9411.

The body is a JSON list of Zipkin v2 spans (https://zipkin.io/zipkin-api/zipkin2-api.yaml).
The mapping is the OpenTelemetry -> Zipkin translation
(https://opentelemetry.io/docs/specs/otel/trace/sdk_exporters/zipkin/) run backwards, so a
span sent by an OTel SDK's Zipkin exporter arrives as it would have over OTLP:

>>> body = b'''[{"traceId": "463ac35c9f6413ad", "id": "72485a3953bb6124",
...   "name": "get /api", "kind": "SERVER", "timestamp": 1700000000000000,
...   "duration": 1500, "localEndpoint": {"serviceName": "frontend"},
...   "tags": {"http.method": "GET", "error": "timeout"}}]'''
>>> span = decode_zipkin_json(body).spans[0]
>>> (span.trace_id_hex, span.service, span.kind.label, span.duration_ns)
('0000000000000000463ac35c9f6413ad', 'frontend', 'server', 1500000)
>>> (span.status_code.label, span.status_message, span.attributes)
('error', 'timeout', {'http.method': 'GET'})

Field by field:

* ``traceId`` (16 or 32 hex; a 64-bit id is left-padded with zeros to 128 bits),
  ``id``, ``parentId``: hex, upper case tolerated, shorter ids left-padded as Zipkin's own
  server does. All zeros or more than 32/16 digits: the span is refused.
* ``timestamp`` and ``duration`` are microseconds -> ``start_ns``/``end_ns``. A span
  without ``timestamp``, or whose start or end in nanoseconds overflows int64, is
  refused; one without ``duration`` is kept with end = start and a warning (Zipkin omits
  it for incomplete spans).
* ``kind``: CLIENT/SERVER/PRODUCER/CONSUMER; absent means INTERNAL, because the OTel
  exporter omits ``kind`` for internal spans.
* ``localEndpoint.serviceName`` -> ``service`` and resource ``service.name``; its
  ``ipv4``/``ipv6``/``port`` -> ``network.local.address``/``network.local.port``.
  ``remoteEndpoint`` -> ``peer.service``, ``network.peer.address``, ``network.peer.port``.
* ``tags`` -> attributes, kept as strings. Tags in namespaces OTel reserves for
  resources (``service.*``, ``host.*``, ``process.*``, ``telemetry.sdk.*``, ``k8s.*``,
  ...) go to ``Span.resource``, where the OTel exporter took them from. The tags that
  exporter writes for OTLP fields go back to those fields: ``otel.status_code`` and
  ``error`` (-> status; ``error``'s value is the status message),
  ``otel.scope.name``/``otel.library.name`` and their ``.version`` (-> scope),
  ``otel.dropped_*_count`` (-> the dropped counts).
* ``annotations`` -> events (``timestamp`` µs, ``value`` -> name; one whose nanoseconds
  overflow int64 is set to the span's end, with a warning). The OTel exporter
  writes an event as ``{"<name>": {<attributes>}}`` in ``value``; that is unpacked.
* ``debug: true`` -> trace flags "sampled" (0x01).

Shared spans. Old Zipkin instrumentation reports the client and the server side of one
RPC under the same span id, the server half marked ``"shared": true``. Spanscope keeps
both and keeps span ids unique, as Jaeger's span-id deduper does: the shared server span
gets a new id, the first 8 bytes of BLAKE2b(trace id + span id + b"server") (so a retry
of the same body gets the same id), and the client span becomes its parent. Spans of the
same service in the same request whose parent was the shared id are re-parented to the
new id; children reported in a different request keep pointing at the client span.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import orjson

from spanscope.ingest.limits import DEFAULT_LIMITS, Limits
from spanscope.ingest.redact_requests import redact_zipkin_json
from spanscope.ingest.results import DecodeError, DecodeResult
from spanscope.ingest.span_checks import (
    INT64_MAX,
    ZERO_SPAN_ID,
    cap_count,
    cap_text,
    check_span,
    clamp_event_time,
    load_json,
    new_span,
    saturate_count,
)
from spanscope.model.spans import UNKNOWN_SERVICE, Attributes, Event, Span, SpanKind, StatusCode

__all__ = ["decode_zipkin_json", "shared_server_span_id"]

_KINDS = {
    "CLIENT": SpanKind.CLIENT,
    "SERVER": SpanKind.SERVER,
    "PRODUCER": SpanKind.PRODUCER,
    "CONSUMER": SpanKind.CONSUMER,
}
_SCOPE_NAME_TAGS = ("otel.scope.name", "otel.library.name")
_SCOPE_VERSION_TAGS = ("otel.scope.version", "otel.library.version")
_DROPPED_TAGS = (
    "otel.dropped_attributes_count",
    "otel.dropped_events_count",
    "otel.dropped_links_count",
)
# Attribute namespaces that OTel semantic conventions define for resources only: the OTel
# exporter flattens resource attributes into tags, and these are put back.
_RESOURCE_PREFIXES = (
    "service.",
    "telemetry.sdk.",
    "telemetry.distro.",
    "host.",
    "os.",
    "process.",
    "container.",
    "k8s.",
    "cloud.",
    "deployment.",
)
_MAX_MICROS = INT64_MAX // 1000
"""The latest Zipkin timestamp (µs) whose nanoseconds fit the store's int64."""
_CONSUMED_TAGS = frozenset(
    ("otel.status_code", "otel.status_description", "error")
    + _SCOPE_NAME_TAGS
    + _SCOPE_VERSION_TAGS
    + _DROPPED_TAGS
)


class _BadSpan(ValueError):
    """One Zipkin span cannot be stored: refuse it, keep the others."""


def shared_server_span_id(trace_id: bytes, span_id: bytes) -> bytes:
    """The id given to the server half of a Zipkin shared span (never all zeros)."""
    digest = hashlib.blake2b(trace_id + span_id + b"server", digest_size=8).digest()
    return digest if digest != ZERO_SPAN_ID else b"\x00" * 7 + b"\x01"


def decode_zipkin_json(
    body: bytes, limits: Limits = DEFAULT_LIMITS, now_ns: int | None = None
) -> DecodeResult:
    """Decode a Zipkin v2 JSON body (a list of spans, already un-gzipped)."""
    if not body:
        raise DecodeError("empty body: expected a Zipkin v2 JSON list of spans, [{...}, ...]")
    document = load_json(body)
    if type(document) is not list:
        hint = ""
        if type(document) is dict and "resourceSpans" in document:
            hint = "; this looks like OTLP/JSON: POST it to port 4318, /v1/traces"
        raise DecodeError(
            f"expected a Zipkin v2 JSON list of spans at the top level, got "
            f"{'an object' if type(document) is dict else type(document).__name__}{hint}"
        )
    result = DecodeResult()
    if limits.redaction is not None:
        result.payload = redact_zipkin_json(document, limits.redaction)
    if now_ns is None:
        now_ns = time.time_ns()
    max_time = now_ns + limits.max_future_ns
    resources: dict[Any, Attributes] = {}
    # (trace id, shared span id, service) -> the server half's new id
    renamed: dict[tuple[bytes, bytes, str], bytes] = {}
    for index, raw in enumerate(document, start=1):
        service = UNKNOWN_SERVICE
        try:
            if type(raw) is not dict:
                raise _BadSpan(f"expected a span object, got {type(raw).__name__}")
            service = _service(raw, limits)
            span, shared_id = _span(raw, service, resources, limits, max_time)
        except _BadSpan as exc:
            result.reject(f"span {_label(raw, index)} in {service}: {exc}")
            continue
        if shared_id is not None:
            renamed[(span.trace_id, shared_id, span.service)] = span.span_id
        result.spans.append(span)
    if renamed:
        for span in result.spans:
            if span.parent_span_id is None:
                continue
            new_parent = renamed.get((span.trace_id, span.parent_span_id, span.service))
            # The shared span itself points at the client half; leave that link alone.
            if new_parent is not None and new_parent != span.span_id:
                span.parent_span_id = new_parent
    return result


def _label(raw: Any, index: int) -> str:
    if type(raw) is dict and type(raw.get("id")) is str and len(raw["id"]) <= 16:
        return raw["id"].lower()
    return f"#{index}"


def _service(raw: dict[str, Any], limits: Limits) -> str:
    local = raw.get("localEndpoint")
    if type(local) is dict:
        name = local.get("serviceName")
        if type(name) is str and name:
            return cap_text(name, limits.max_name_bytes, [], "service name")
    return UNKNOWN_SERVICE


def _id(value: Any, digits: int, what: str) -> bytes:
    if type(value) is not str or not value:
        raise _BadSpan(f"{what}: expected {digits} hex digits, got {_show(value)}")
    if len(value) > digits:
        raise _BadSpan(f"{what} {_show(value)} has {len(value)} hex digits, at most {digits}")
    try:
        raw = bytes.fromhex(value.rjust(digits, "0"))
    except ValueError:
        raise _BadSpan(f"{what} {_show(value)} is not hexadecimal") from None
    if not any(raw):
        raise _BadSpan(f"{what} is all zeros, which is invalid")
    return raw


def _show(value: Any) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= 60 else text[:57] + "..."


def _micros(value: Any, what: str) -> int:
    if type(value) is int and value >= 0:
        return value
    if type(value) is float and value >= 0 and value.is_integer():
        return int(value)
    raise _BadSpan(f"{what}: expected microseconds as a non-negative integer, got {_show(value)}")


def _span(
    raw: dict[str, Any],
    service: str,
    resources: dict[Any, Attributes],
    limits: Limits,
    max_time: int,
) -> tuple[Span, bytes | None]:
    """One Zipkin span -> (Span, the shared id it was renamed from, or None)."""
    trace_id = _id(raw.get("traceId"), 32, "traceId")
    span_id = _id(raw.get("id"), 16, "id")
    parent_raw = raw.get("parentId")
    parent = None if parent_raw in (None, "") else _id(parent_raw, 16, "parentId")
    if "timestamp" not in raw:
        raise _BadSpan("timestamp is missing (microseconds since the epoch)")
    micros = _micros(raw["timestamp"], "timestamp")
    if micros > _MAX_MICROS:
        raise _BadSpan(
            f"timestamp {micros} µs overflows int64 nanoseconds (latest storable: "
            f"{_MAX_MICROS} µs, year 2262); timestamps are microseconds since the epoch"
        )
    start = micros * 1000
    warnings: list[str] = []
    if raw.get("duration") is None:
        warnings.append("duration missing (an incomplete Zipkin span): end time set to start")
        end = start
    else:
        micros = _micros(raw["duration"], "duration")
        end = start + micros * 1000
        if end > INT64_MAX:
            raise _BadSpan(
                f"duration {micros} µs ends the span beyond the latest storable time "
                f"({INT64_MAX} ns, int64); durations are microseconds"
            )
    problem = check_span(trace_id, span_id, b"", start, end, limits.min_time_ns, max_time)
    if problem is not None:
        raise _BadSpan(problem)
    kind_raw = raw.get("kind")
    if kind_raw is None:
        kind = SpanKind.INTERNAL
    elif type(kind_raw) is str and kind_raw.upper() in _KINDS:
        kind = _KINDS[kind_raw.upper()]
    else:
        raise _BadSpan(f"kind {_show(kind_raw)}: expected CLIENT, SERVER, PRODUCER or CONSUMER")
    name = raw.get("name") or ""
    if type(name) is not str:
        raise _BadSpan(f"name: expected a string, got {_show(name)}")
    name = cap_text(name, limits.max_name_bytes, warnings, "span name")

    tags = raw.get("tags") or {}
    if type(tags) is not dict:
        raise _BadSpan(f"tags: expected an object of strings, got {_show(tags)}")
    attributes, dropped = _attributes(raw, tags, limits, warnings)
    status_code, status_message = _status(tags, limits, warnings)
    scope_name = _first_tag(tags, _SCOPE_NAME_TAGS)
    scope_version = _first_tag(tags, _SCOPE_VERSION_TAGS)
    counts = [_count_tag(tags, key) for key in _DROPPED_TAGS]
    events, dropped_events = _events(raw.get("annotations"), limits, warnings, end)

    shared_id = None
    if raw.get("shared") is True and kind != SpanKind.CLIENT:
        # The client half owns the id; see the module docstring.
        shared_id = span_id
        parent = span_id
        span_id = shared_server_span_id(trace_id, span_id)
    resource = _resource(service, tags, resources)
    span = new_span(
        trace_id,
        span_id,
        name,
        start,
        end,
        service,
        parent,
        kind,
        status_code,
        status_message,
        attributes,
        resource,
        scope_name,
        scope_version,
        "",
        0x01 if raw.get("debug") is True else 0,
        events,
        [],
        saturate_count(counts[0] + dropped, warnings, "dropped_attributes_count"),
        saturate_count(counts[1] + dropped_events, warnings, "dropped_events_count"),
        saturate_count(counts[2], warnings, "dropped_links_count"),
        warnings,
    )
    return span, shared_id


def _attributes(
    raw: dict[str, Any], tags: dict[str, Any], limits: Limits, warnings: list[str]
) -> tuple[Attributes, int]:
    """Tags (minus the ones mapped to OTLP fields) and endpoint fields -> attributes."""
    out: Attributes = {}
    for prefix, endpoint in (
        ("local", raw.get("localEndpoint")),
        ("peer", raw.get("remoteEndpoint")),
    ):
        if type(endpoint) is not dict:
            continue
        if prefix == "peer" and type(endpoint.get("serviceName")) is str:
            out["peer.service"] = endpoint["serviceName"]
        address = endpoint.get("ipv4") or endpoint.get("ipv6")
        if type(address) is str:
            out[f"network.{prefix}.address"] = address
        port = endpoint.get("port")
        if type(port) is int:
            if 0 <= port <= 65535:
                out[f"network.{prefix}.port"] = port
            else:
                warnings.append(f"{prefix} endpoint port {port} is not 0-65535: dropped")
    keys = [k for k in tags if k not in _CONSUMED_TAGS and not k.startswith(_RESOURCE_PREFIXES)]
    total = len(keys) + len(out)
    kept = cap_count(total, limits.max_attributes, warnings, "span attributes")
    max_value = limits.max_attribute_value_bytes
    for key in keys[: max(0, kept - len(out))]:
        value = tags[key]
        if type(value) is not str:
            # Zipkin tags are strings; some clients send numbers or booleans anyway.
            value = orjson.dumps(value).decode()
        out[key] = cap_text(value, max_value, warnings, f"attribute {key!r} value")
    return out, total - kept


def _resource(service: str, tags: dict[str, Any], resources: dict[Any, Attributes]) -> Attributes:
    """The span's resource, shared by spans that have the same one (read-only)."""
    found = [(k, v) for k, v in tags.items() if k.startswith(_RESOURCE_PREFIXES)]
    key: Any = (service, tuple(found)) if found else service
    try:
        resource = resources.get(key)
    except TypeError:  # a non-string tag value that cannot be hashed
        resource, key = None, None
    if resource is None:
        resource = {k: v if type(v) is str else orjson.dumps(v).decode() for k, v in found}
        resource["service.name"] = service
        if key is not None:
            resources[key] = resource
    return resource


def _status(tags: dict[str, Any], limits: Limits, warnings: list[str]) -> tuple[StatusCode, str]:
    code_tag = tags.get("otel.status_code")
    error = tags.get("error")
    message = tags.get("otel.status_description") or ""
    if type(code_tag) is str and code_tag.upper() in ("OK", "ERROR", "UNSET"):
        code = StatusCode[code_tag.upper()]
    elif error is not None:
        code = StatusCode.ERROR
    else:
        code = StatusCode.UNSET
    if code == StatusCode.ERROR and type(error) is str and error:
        message = error
    if type(message) is not str:
        message = orjson.dumps(message).decode()
    return code, cap_text(message, limits.max_attribute_value_bytes, warnings, "status message")


def _first_tag(tags: dict[str, Any], keys: tuple[str, ...]) -> str:
    for key in keys:
        value = tags.get(key)
        if type(value) is str:
            return value[:1024]
    return ""


def _count_tag(tags: dict[str, Any], key: str) -> int:
    """A ``otel.dropped_*_count`` tag's number (0 if not a count; saturated by the caller)."""
    value = tags.get(key)
    if type(value) is str and value.isascii() and value.isdigit() and len(value) <= 20:
        return int(value)
    return 0


def _events(raw: Any, limits: Limits, warnings: list[str], end_ns: int) -> tuple[list[Event], int]:
    if not raw:
        return [], 0
    if type(raw) is not list:
        raise _BadSpan(f"annotations: expected a list, got {_show(raw)}")
    total = len(raw)
    kept = cap_count(total, limits.max_events, warnings, "events")
    events = []
    for item in raw[:kept]:
        if type(item) is not dict or type(item.get("value")) is not str:
            raise _BadSpan(
                f'annotation {_show(item)}: expected {{"timestamp": µs, "value": "..."}}'
            )
        micros = _micros(item.get("timestamp"), "annotation timestamp")
        name, attributes = _unpack_annotation(item["value"])
        name = cap_text(name, limits.max_name_bytes, warnings, "event name")
        time_ns = clamp_event_time(
            micros * 1000, end_ns, warnings, f"annotation {name!r} timestamp", f"{micros} µs"
        )
        total_attrs = len(attributes)
        kept_attrs = cap_count(
            total_attrs, limits.max_attributes, warnings, f"event {name!r} attributes"
        )
        if kept_attrs < total_attrs:
            attributes = dict(list(attributes.items())[:kept_attrs])
        for key, text in attributes.items():
            if type(text) is str:
                attributes[key] = cap_text(
                    text, limits.max_attribute_value_bytes, warnings, f"attribute {key!r} value"
                )
        events.append(Event(time_ns, name, attributes, total_attrs - kept_attrs))
    return events, total - kept


def _unpack_annotation(value: str) -> tuple[str, Attributes]:
    """``'{"exception": {"exception.type": "E"}}'`` (the OTel exporter's encoding of an
    event) -> ("exception", {...}); any other annotation is just a name."""
    if value.startswith("{") and value.endswith("}"):
        try:
            decoded = orjson.loads(value)
        except orjson.JSONDecodeError:
            return value, {}
        if type(decoded) is dict and len(decoded) == 1:
            ((name, attributes),) = decoded.items()
            if type(attributes) is dict and all(
                type(v) in (str, int, float, bool) for v in attributes.values()
            ):
                return name, attributes
    return value, {}

"""OTLP/JSON -> spans: ``POST /v1/traces`` with ``Content-Type: application/json``.

OTLP/JSON is the protobuf JSON mapping of ``ExportTraceServiceRequest`` with the OTLP
spec's exceptions: trace and span ids are hex strings (not base64), enums are numbers.
The body is parsed with orjson and the dicts are mapped here, field for field as
:mod:`spanscope.ingest.otlp` maps protobuf (same limits, same warnings, same reasons to
refuse a span); ``google.protobuf.json_format`` would be ~20x slower.

(Past ~400 lines on purpose: JSON needs a type check with a user-readable message for
every field protobuf types for us, and keeping them beside the walk keeps them honest.)

>>> body = b'''{"resourceSpans": [{"resource": {"attributes": [
...   {"key": "service.name", "value": {"stringValue": "checkout"}}]},
...   "scopeSpans": [{"spans": [{"traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
...   "spanId": "00f067aa0ba902b7", "name": "GET /cart", "kind": 2,
...   "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000004000000",
...   "attributes": [{"key": "http.status_code", "value": {"intValue": "200"}}]}]}]}]}'''
>>> span = decode_otlp_json(body).spans[0]
>>> (span.service, span.kind.label, span.duration_ns, span.attributes)
('checkout', 'server', 4000000, {'http.status_code': 200})

Tolerated, as protobuf JSON parsers tolerate them: snake_case keys (``trace_id``),
uppercase hex ids, int64 as numbers or decimal strings, enums by name
(``"SPAN_KIND_SERVER"``, ``"STATUS_CODE_ERROR"``), doubles as ``"NaN"``/``"Infinity"``,
``bytesValue`` in standard or URL-safe base64.

Refused as a whole (:class:`DecodeError`): an empty body, invalid JSON or UTF-8, a top
level that is not an object, or containers (``resourceSpans``, ``scopeSpans``,
``spans``) of the wrong JSON type. Refused one span at a time (``DecodeResult.reject``):
any wrong type inside a span (``"startTimeUnixNano": {}``), plus every reason the
protobuf decoder refuses a span for.
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

import orjson

from spanscope.ingest.limits import DEFAULT_LIMITS, Limits
from spanscope.ingest.redact_requests import redact_otlp_json_traces
from spanscope.ingest.results import DecodeError, DecodeResult
from spanscope.ingest.span_checks import (
    INT64_MAX,
    MAX_VALUE_DEPTH,
    UINT32_MAX,
    ZERO_SPAN_ID,
    ZERO_TRACE_ID,
    cap_bytes,
    cap_count,
    cap_text,
    check_span,
    clamp_event_time,
    load_json,
    new_span,
    parent_or_none,
    saturate_count,
)
from spanscope.model.spans import UNKNOWN_SERVICE, Attributes, Event, Link, SpanKind, StatusCode

__all__ = ["decode_otlp_json"]

_KINDS = tuple(SpanKind)
_STATUS_CODES = tuple(StatusCode)
_SKIP = object()
_INT64 = (-(2**63), 2**63 - 1)
_UINT64 = (0, 2**64 - 1)
_UINT32 = (0, 2**32 - 1)

# AnyValue's oneof, both spellings -> one tag.
_STR, _INT, _BOOL, _DOUBLE, _BYTES, _ARRAY, _KVLIST = range(7)
_VALUE_TAGS = {
    "stringValue": _STR,
    "string_value": _STR,
    "intValue": _INT,
    "int_value": _INT,
    "boolValue": _BOOL,
    "bool_value": _BOOL,
    "doubleValue": _DOUBLE,
    "double_value": _DOUBLE,
    "bytesValue": _BYTES,
    "bytes_value": _BYTES,
    "arrayValue": _ARRAY,
    "array_value": _ARRAY,
    "kvlistValue": _KVLIST,
    "kvlist_value": _KVLIST,
}


class _BadSpan(ValueError):
    """A field inside one span has the wrong JSON type or value: refuse that span."""


def decode_otlp_json(
    body: bytes, limits: Limits = DEFAULT_LIMITS, now_ns: int | None = None
) -> DecodeResult:
    """Decode an OTLP/JSON ``ExportTraceServiceRequest`` body (already un-gzipped)."""
    if not body:
        raise DecodeError('empty body: expected OTLP/JSON, an object like {"resourceSpans": [...]}')
    document = load_json(body)
    if type(document) is not dict:
        raise DecodeError(
            'expected a JSON object like {"resourceSpans": [...]} at the top level, '
            f"got {_json_type(document)}"
        )
    result = DecodeResult()
    if limits.redaction is not None:
        result.payload = redact_otlp_json_traces(document, limits.redaction)
    if now_ns is None:
        now_ns = time.time_ns()
    index = 0
    all_resource_spans = _container(document, "resourceSpans", "resource_spans", list, "")
    for r, resource_spans in enumerate(all_resource_spans):
        where = f"resourceSpans[{r}]"
        _expect(resource_spans, dict, where)
        resource_warnings: list[str] = []
        resource_obj = _container(resource_spans, "resource", "resource", dict, where)
        try:
            resource, _ = _attributes(
                _get(resource_obj, "attributes", "attributes"),
                limits,
                resource_warnings,
                "resource",
            )
        except _BadSpan as exc:
            raise DecodeError(f"{where}.resource: {exc}") from None
        service = resource.get("service.name")
        if type(service) is not str or not service:
            service = UNKNOWN_SERVICE
        else:
            service = cap_text(service, limits.max_name_bytes, resource_warnings, "service name")
        all_scope_spans = _container(resource_spans, "scopeSpans", "scope_spans", list, where)
        for s, scope_spans in enumerate(all_scope_spans):
            scope_where = f"{where}.scopeSpans[{s}]"
            _expect(scope_spans, dict, scope_where)
            scope = _container(scope_spans, "scope", "scope", dict, scope_where)
            scope_warnings = list(resource_warnings)
            scope_name = _scope_text(scope, "name", limits, scope_warnings, scope_where)
            scope_version = _scope_text(scope, "version", limits, scope_warnings, scope_where)
            spans = _container(scope_spans, "spans", "spans", list, scope_where)
            for raw in spans:
                index += 1
                try:
                    span = _span(
                        raw,
                        service,
                        resource,
                        scope_name,
                        scope_version,
                        scope_warnings,
                        limits,
                        now_ns,
                    )
                except _BadSpan as exc:
                    label = _raw_label(raw, index)
                    result.reject(f"span {label} in {service}: {exc}")
                    continue
                except (TypeError, AttributeError, KeyError, ValueError) as exc:
                    label = _raw_label(raw, index)
                    result.reject(f"span {label} in {service}: malformed span ({exc!r})")
                    continue
                result.spans.append(span)
    return result


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")


def _show(value: Any) -> str:
    """A short, safe rendering of an offending JSON value for an error message."""
    text = orjson.dumps(value).decode() if value is not None else "null"
    return text if len(text) <= 60 else text[:57] + "..."


def _expect(value: Any, kind: type, where: str) -> None:
    if type(value) is not kind:
        raise DecodeError(f"{where}: expected {_json_type(kind())}, got {_json_type(value)}")


def _get(obj: dict[str, Any], camel: str, snake: str) -> Any:
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def _container(obj: dict[str, Any], camel: str, snake: str, kind: type, where: str) -> Any:
    """A nested list/object of the request's skeleton; absent or null means empty."""
    value = _get(obj, camel, snake)
    if value is None:
        return kind()
    _expect(value, kind, f"{where}.{camel}" if where else camel)
    return value


def _scope_text(
    scope: dict[str, Any], key: str, limits: Limits, warnings: list[str], where: str
) -> str:
    value = scope.get(key) or ""
    if type(value) is not str:
        raise DecodeError(f"{where}.scope.{key}: expected a string, got {_json_type(value)}")
    return cap_text(value, limits.max_name_bytes, warnings, f"scope {key}")


def _raw_label(raw: Any, index: int) -> str:
    if type(raw) is dict:
        span_id = _get(raw, "spanId", "span_id")
        if type(span_id) is str and len(span_id) == 16:
            return span_id.lower()
    return f"#{index}"


def _camel(obj: dict[str, Any], probe: str) -> dict[str, Any]:
    """Rename snake_case keys ("start_time_unix_nano") to OTLP/JSON's lowerCamelCase when
    the object has the snake_case key ``probe`` (one lookup instead of scanning keys)."""
    if probe in obj:
        return {_to_camel(k): v for k, v in obj.items()}
    return obj


def _to_camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.title() for part in rest)


def _span(
    raw: Any,
    service: str,
    resource: Attributes,
    scope_name: str,
    scope_version: str,
    scope_warnings: list[str],
    limits: Limits,
    now_ns: int,
) -> Any:
    if type(raw) is not dict:
        raise _BadSpan(f"expected a span object, got {_json_type(raw)}")
    sp = _camel(raw, "span_id") if "spanId" not in raw else raw
    trace_id = _hex_id(sp.get("traceId"), "traceId")
    span_id = _hex_id(sp.get("spanId"), "spanId")
    parent = _hex_id(sp.get("parentSpanId"), "parentSpanId")
    start = _int(sp.get("startTimeUnixNano"), "startTimeUnixNano", _UINT64)
    end = _int(sp.get("endTimeUnixNano"), "endTimeUnixNano", _UINT64)
    problem = check_span(
        trace_id, span_id, parent, start, end, limits.min_time_ns, now_ns + limits.max_future_ns
    )
    if problem is not None:
        raise _BadSpan(problem)
    warnings = list(scope_warnings)
    max_name = limits.max_name_bytes
    max_value = limits.max_attribute_value_bytes
    name = sp.get("name")
    if type(name) is not str or len(name) * 4 > max_name:
        name = cap_text(_str(name, "name"), max_name, warnings, "span name")
    attributes, dropped = _attributes(sp.get("attributes"), limits, warnings, "span")
    events, dropped_events = _events(sp.get("events"), limits, warnings, end)
    links, dropped_links = _links(sp.get("links"), limits, warnings)
    kind = _enum(sp.get("kind"), "kind", _KINDS, "SPAN_KIND_")
    status = sp.get("status") or {}
    if type(status) is not dict:
        raise _BadSpan(f"status: expected an object, got {_json_type(status)}")
    code = _enum(status.get("code"), "status.code", _STATUS_CODES, "STATUS_CODE_")
    message = status.get("message") or ""
    if type(message) is not str or len(message) * 4 > max_value:
        message = cap_text(_str(message, "status.message"), max_value, warnings, "status message")
    trace_state = sp.get("traceState") or ""
    if type(trace_state) is not str or len(trace_state) * 4 > max_value:
        trace_state = cap_text(_str(trace_state, "traceState"), max_value, warnings, "trace state")
    flags = sp.get("flags")
    if flags is not None:
        flags = _int(flags, "flags", _UINT32)
    # The dropped_* counts are usually absent: skip the call then.
    if "droppedAttributesCount" in sp:
        dropped += _int(sp["droppedAttributesCount"], "droppedAttributesCount", _UINT32)
    if "droppedEventsCount" in sp:
        dropped_events += _int(sp["droppedEventsCount"], "droppedEventsCount", _UINT32)
    if "droppedLinksCount" in sp:
        dropped_links += _int(sp["droppedLinksCount"], "droppedLinksCount", _UINT32)
    if dropped > UINT32_MAX:
        dropped = saturate_count(dropped, warnings, "dropped_attributes_count")
    if dropped_events > UINT32_MAX:
        dropped_events = saturate_count(dropped_events, warnings, "dropped_events_count")
    if dropped_links > UINT32_MAX:
        dropped_links = saturate_count(dropped_links, warnings, "dropped_links_count")
    return new_span(
        trace_id,
        span_id,
        name,
        start,
        end,
        service,
        parent_or_none(parent),
        kind,
        code,
        message,
        attributes,
        resource,
        scope_name,
        scope_version,
        trace_state,
        flags or 0,
        events,
        links,
        dropped,
        dropped_events,
        dropped_links,
        warnings,
    )


def _hex_id(value: Any, what: str) -> bytes:
    if value is None or value == "":
        return b""
    if type(value) is not str:
        raise _BadSpan(f"{what}: expected a hex string, got {_json_type(value)}")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise _BadSpan(
            f"{what} {_show(value)} is not hexadecimal (OTLP/JSON ids are hex, not base64)"
        ) from None


def _int(value: Any, what: str, bounds: tuple[int, int]) -> int:
    kind = type(value)
    if kind is int:
        number = value
    elif value is None:
        return 0
    elif kind is str:
        try:
            number = int(value)
        except ValueError:
            raise _BadSpan(f"{what}: {_show(value)} is not an integer") from None
    elif kind is float and value.is_integer():
        number = int(value)
    else:
        raise _BadSpan(
            f"{what}: expected an integer (a number or a decimal string), got {_show(value)}"
        )
    if not bounds[0] <= number <= bounds[1]:
        raise _BadSpan(f"{what}: {number} is out of range {bounds[0]}..{bounds[1]}")
    return number


def _str(value: Any, what: str) -> str:
    if type(value) is str:
        return value
    if value is None:
        return ""
    raise _BadSpan(f"{what}: expected a string, got {_json_type(value)}")


def _enum(value: Any, what: str, members: tuple[Any, ...], prefix: str) -> Any:
    if value is None:
        return members[0]
    if type(value) is int and 0 <= value < len(members):
        return members[value]
    if type(value) is str:
        name = value.upper().removeprefix(prefix)
        for member in members:
            if member.name == name:
                return member
    names = ", ".join(f"{i} or {prefix}{m.name}" for i, m in enumerate(members))
    raise _BadSpan(f"{what}: unknown value {_show(value)}; expected {names}")


def _attributes(
    key_values: Any, limits: Limits, warnings: list[str], where: str
) -> tuple[Attributes, int]:
    """A JSON list of KeyValue objects -> (attributes, number dropped by the count limit)."""
    if not key_values:
        return {}, 0
    if type(key_values) is not list:
        raise _BadSpan(f"{where} attributes: expected a list, got {_json_type(key_values)}")
    total = len(key_values)
    kept = cap_count(total, limits.max_attributes, warnings, f"{where} attributes")
    if kept < total:
        key_values = key_values[:kept]
    out: Attributes = {}
    max_value = limits.max_attribute_value_bytes
    quick = max_value // 4
    for kv in key_values:
        if type(kv) is not dict or type(kv.get("key")) is not str:
            raise _BadSpan(
                f'{where} attribute {_show(kv)}: expected {{"key": "...", "value": {{...}}}}'
            )
        key = kv["key"]
        value = kv.get("value")
        # Fast paths for the common cases: a string, an int64 as a decimal string.
        if type(value) is dict and len(value) == 1:
            text = value.get("stringValue")
            if type(text) is str:
                if len(text) > quick:
                    text = cap_text(text, max_value, warnings, f"attribute {key!r} value")
                out[key] = text
                continue
            number = value.get("intValue")
            if (
                type(number) is str
                and 0 < len(number) < 19
                and number.isascii()
                and number.isdigit()
            ):
                out[key] = int(number)
                continue
        converted = _value(value, limits, warnings, key, 0)
        if converted is not _SKIP:
            out[key] = converted
    return out, total - kept


def _value(value: Any, limits: Limits, warnings: list[str], key: str, depth: int) -> Any:
    """One AnyValue object -> Python value, or _SKIP when it is empty."""
    if value is None or value == {}:
        return _SKIP
    if type(value) is not dict or len(value) != 1:
        raise _BadSpan(
            f"attribute {key!r}: value {_show(value)} should be an object with one field "
            'such as {"stringValue": "..."} or {"intValue": "42"}'
        )
    ((field, raw),) = value.items()
    tag = _VALUE_TAGS.get(field)
    if raw is None:
        return _SKIP
    if tag == _STR and type(raw) is str:
        return cap_text(raw, limits.max_attribute_value_bytes, warnings, f"attribute {key!r} value")
    if tag == _INT:
        return _int(raw, f"attribute {key!r}", _INT64)
    if tag == _BOOL and type(raw) is bool:
        return raw
    if tag == _DOUBLE:
        return _double(raw, key)
    if tag == _BYTES and type(raw) is str:
        return cap_bytes(
            _base64(raw, key),
            limits.max_attribute_value_bytes,
            warnings,
            f"attribute {key!r} value",
        )
    if tag in (_ARRAY, _KVLIST) and type(raw) is dict:
        if depth >= MAX_VALUE_DEPTH:
            warnings.append(f"attribute {key!r} dropped: nested deeper than {MAX_VALUE_DEPTH}")
            return _SKIP
        values = raw.get("values") or []
        if type(values) is not list:
            raise _BadSpan(f"attribute {key!r}: {field}.values must be a list")
        if tag == _ARRAY:
            items = (_value(v, limits, warnings, key, depth + 1) for v in values)
            return [item for item in items if item is not _SKIP]
        out: dict[str, Any] = {}
        for kv in values:
            if type(kv) is not dict or type(kv.get("key")) is not str:
                raise _BadSpan(f"attribute {key!r}: kvlist entry {_show(kv)} has no string key")
            item = _value(kv.get("value"), limits, warnings, key, depth + 1)
            if item is not _SKIP:
                out[kv["key"]] = item
        return out
    raise _BadSpan(f"attribute {key!r}: {_show(value)} is not a valid OTLP AnyValue")


def _double(raw: Any, key: str) -> float:
    if type(raw) in (int, float):
        return float(raw)
    if type(raw) is str:
        try:
            return float(raw)  # "NaN", "Infinity", "-Infinity" in protobuf JSON
        except ValueError:
            pass
    raise _BadSpan(f"attribute {key!r}: doubleValue {_show(raw)} is not a number")


def _base64(raw: str, key: str) -> bytes:
    try:
        if "-" in raw or "_" in raw:
            return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        return base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise _BadSpan(f"attribute {key!r}: bytesValue {_show(raw)} is not base64") from None


def _events(raw: Any, limits: Limits, warnings: list[str], end_ns: int) -> tuple[list[Event], int]:
    if not raw:
        return [], 0
    if type(raw) is not list:
        raise _BadSpan(f"events: expected a list, got {_json_type(raw)}")
    total = len(raw)
    kept = cap_count(total, limits.max_events, warnings, "events")
    events = []
    for item in raw[:kept]:
        if type(item) is not dict:
            raise _BadSpan(f"event {_show(item)}: expected an object")
        ev = _camel(item, "time_unix_nano")
        name = cap_text(
            _str(ev.get("name"), "event name"), limits.max_name_bytes, warnings, "event name"
        )
        attributes, dropped = _attributes(ev.get("attributes"), limits, warnings, f"event {name!r}")
        time_ns = _int(ev.get("timeUnixNano"), "event timeUnixNano", _UINT64)
        if time_ns > INT64_MAX:
            time_ns = clamp_event_time(time_ns, end_ns, warnings, f"event {name!r} time")
        if "droppedAttributesCount" in ev:
            dropped += _int(ev["droppedAttributesCount"], "event droppedAttributesCount", _UINT32)
            if dropped > UINT32_MAX:
                what = f"event {name!r} dropped_attributes_count"
                dropped = saturate_count(dropped, warnings, what)
        events.append(Event(time_ns, name, attributes, dropped))
    return events, total - kept


def _links(raw: Any, limits: Limits, warnings: list[str]) -> tuple[list[Link], int]:
    if not raw:
        return [], 0
    if type(raw) is not list:
        raise _BadSpan(f"links: expected a list, got {_json_type(raw)}")
    total = len(raw)
    kept = cap_count(total, limits.max_links, warnings, "links")
    dropped = total - kept
    links = []
    for i, item in enumerate(raw[:kept]):
        if type(item) is not dict:
            raise _BadSpan(f"link {_show(item)}: expected an object")
        ln = _camel(item, "span_id")
        trace_id = _hex_id(ln.get("traceId"), "link traceId")
        span_id = _hex_id(ln.get("spanId"), "link spanId")
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
        attributes, more = _attributes(ln.get("attributes"), limits, warnings, f"link #{i}")
        trace_state = cap_text(
            _str(ln.get("traceState"), "link traceState"),
            limits.max_attribute_value_bytes,
            warnings,
            "link trace state",
        )
        more = saturate_count(
            _int(ln.get("droppedAttributesCount"), "link droppedAttributesCount", _UINT32) + more,
            warnings,
            f"link #{i} dropped_attributes_count",
        )
        links.append(Link(trace_id, span_id, trace_state, attributes, more))
    return links, dropped

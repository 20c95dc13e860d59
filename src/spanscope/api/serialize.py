"""Spans, traces and summaries as the JSON each API speaks.

Three renderings of the same :class:`~spanscope.model.spans.Span`:

- **native** (``/api/v1``, docs/api.md): snake_case, nanosecond integers, typed attributes
  ``{"key", "type", "value"}`` with ``type`` one of ``string int double bool bytes array map``.
- **Jaeger** (``/api``, Jaeger's ``model/json``): ``traceID``/``spanID`` hex, microsecond
  ``startTime``/``duration``, ``tags`` typed ``string|bool|int64|float64|binary``, events as
  ``logs``, links as ``FOLLOWS_FROM`` references, and a ``processes`` map shared by spans.
  OTLP-only facts become tags exactly as Jaeger's own OTLP translator names them
  (``span.kind``, ``otel.status_code``, ``error``, ``otel.scope.name``...).
- **OTLP JSON** (``/api/v3``): ``resourceSpans`` grouped by resource then scope, hex ids,
  int64 values and timestamps as decimal strings, enums as their numbers.

Every function returns plain dicts and lists; the API encodes them with orjson. Integers
beyond JavaScript's safe range (±2^53) become strings wherever a browser would round them.

>>> from spanscope.model.spans import Span
>>> s = Span(trace_id=b"\\x01" * 16, span_id=b"\\x02" * 8, name="GET /", start_ns=1_000,
...          end_ns=3_000, attributes={"http.status_code": 200})
>>> span_to_native(s)["attributes"]
[{'key': 'http.status_code', 'type': 'int', 'value': 200}]
>>> span_to_jaeger(s, "p1")["tags"][0]
{'key': 'http.status_code', 'type': 'int64', 'value': 200}
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from spanscope.model.spans import Attributes, AttrValue, Span, SpanKind, StatusCode, Trace
from spanscope.model.summaries import TraceSummary

JS_SAFE_INT = 2**53
Json = dict[str, Any]


def _safe_int(v: int) -> int | str:
    return v if -JS_SAFE_INT <= v <= JS_SAFE_INT else str(v)


def _b64(v: bytes) -> str:
    return base64.b64encode(v).decode("ascii")


# --- native -------------------------------------------------------------------------


def native_value(v: AttrValue) -> tuple[str, Any]:
    """One attribute value -> (type, JSON value) in the native API's vocabulary."""
    t = type(v)
    if t is str:
        return "string", v
    if t is int:
        return "int", v if -JS_SAFE_INT <= v <= JS_SAFE_INT else str(v)
    if isinstance(v, str):
        return "string", v
    if isinstance(v, bool):
        return "bool", v
    if isinstance(v, int):
        return "int", _safe_int(v)
    if isinstance(v, float):
        return "double", v
    if isinstance(v, bytes | bytearray):
        return "bytes", _b64(bytes(v))
    if isinstance(v, list | tuple):
        return "array", [dict(zip(("type", "value"), native_value(x), strict=True)) for x in v]
    if isinstance(v, dict):
        return "map", native_attributes(v)
    return "string", str(v)


def native_attributes(attrs: Attributes) -> list[Json]:
    out = []
    for k, v in attrs.items():
        if type(v) is str:  # the common case, without a call
            out.append({"key": k, "type": "string", "value": v})
            continue
        t, val = native_value(v)
        out.append({"key": k, "type": t, "value": val})
    return out


_KIND_LABELS = {k: k.label for k in SpanKind}
_STATUS_LABELS = {c: c.label for c in StatusCode}


def span_to_native(s: Span, resource: list[Json] | None = None) -> Json:
    """One span; ``resource``: its resource already rendered (spans of a process share it)."""
    return {
        "trace_id": s.trace_id.hex(),
        "span_id": s.span_id.hex(),
        "parent_span_id": s.parent_span_id.hex() if s.parent_span_id else None,
        "name": s.name,
        "kind": _KIND_LABELS[s.kind],
        "service": s.service,
        "start_time_unix_nano": s.start_ns,
        "end_time_unix_nano": s.end_ns,
        "duration_ns": s.end_ns - s.start_ns,
        "status": {"code": _STATUS_LABELS[s.status_code], "message": s.status_message},
        "attributes": native_attributes(s.attributes),
        "resource": native_attributes(s.resource) if resource is None else resource,
        "scope": {"name": s.scope_name, "version": s.scope_version},
        "trace_state": s.trace_state,
        "flags": s.flags,
        "events": [
            {
                "time_unix_nano": e.time_ns,
                "name": e.name,
                "attributes": native_attributes(e.attributes),
            }
            for e in s.events
        ],
        "links": [
            {
                "trace_id": link.trace_id.hex(),
                "span_id": link.span_id.hex(),
                "trace_state": link.trace_state,
                "attributes": native_attributes(link.attributes),
            }
            for link in s.links
        ],
        "dropped_attributes_count": s.dropped_attributes_count,
        "dropped_events_count": s.dropped_events_count,
        "dropped_links_count": s.dropped_links_count,
        "warnings": list(s.warnings),
    }


def trace_to_native(t: Trace) -> Json:
    # A trace's spans come from a few processes whose spans share one resource dict (as the
    # receivers and the store hand them out): render each resource once, not per span.
    resources: dict[int, tuple[Attributes, list[Json]]] = {}
    spans = []
    for s in t.spans:
        seen = resources.get(id(s.resource))
        if seen is None:
            # The dict is kept beside its rendering so its id cannot be reused meanwhile.
            seen = resources[id(s.resource)] = (s.resource, native_attributes(s.resource))
        spans.append(span_to_native(s, seen[1]))
    return {
        "trace_id": t.trace_id.hex(),
        "start_time_unix_nano": t.start_ns,
        "duration_ns": t.duration_ns,
        "warnings": list(t.warnings),
        "spans": spans,
    }


def sampling_to_native(kept: tuple[str, float]) -> Json:
    """The tail sampler's record of a kept trace: the deciding policy and the trace's
    weight (adjusted count, ``1 / rate``); the API adds it as ``"sampling"``."""
    policy, weight = kept
    return {"policy": policy, "weight": int(weight) if float(weight).is_integer() else weight}


def summary_to_native(t: TraceSummary, sampling: tuple[str, float] | None = None) -> Json:
    out = {
        "trace_id": t.trace_id.hex(),
        "root_service": t.root_service,
        "root_operation": t.root_operation,
        "start_time_unix_nano": t.start_ns,
        "duration_ns": t.duration_ns,
        "span_count": t.span_count,
        "error_count": t.error_count,
        "orphan_count": t.orphan_count,
        "services": [
            {"name": c.name, "span_count": c.span_count, "error_count": c.error_count}
            for c in t.services
        ],
    }
    if sampling is not None:  # only traces the tail sampler kept have a record
        out["sampling"] = sampling_to_native(sampling)
    return out


# --- Jaeger ---------------------------------------------------------------------------


def _plain(v: AttrValue) -> Any:
    """A nested value as plain JSON (bytes as base64), for Jaeger's stringified arrays."""
    if isinstance(v, bytes | bytearray):
        return _b64(bytes(v))
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def jaeger_tag(key: str, v: AttrValue) -> Json:
    """One attribute as a Jaeger KeyValue; arrays and maps become JSON text, as Jaeger's
    OTLP translator renders them."""
    if type(v) is str:
        return {"key": key, "type": "string", "value": v}
    if isinstance(v, str):
        return {"key": key, "type": "string", "value": v}
    if isinstance(v, bool):
        return {"key": key, "type": "bool", "value": v}
    if isinstance(v, int):
        return {"key": key, "type": "int64", "value": _safe_int(v)}
    if isinstance(v, float):
        return {"key": key, "type": "float64", "value": v}
    if isinstance(v, bytes | bytearray):
        return {"key": key, "type": "binary", "value": _b64(bytes(v))}
    text = orjson.dumps(_plain(v)).decode() if isinstance(v, list | tuple | dict) else str(v)
    return {"key": key, "type": "string", "value": text}


def jaeger_tags(attrs: Attributes, skip: str | None = None) -> list[Json]:
    return [jaeger_tag(k, v) for k, v in attrs.items() if k != skip]


_JAEGER_STATUS = {StatusCode.OK: "OK", StatusCode.ERROR: "ERROR"}


def span_to_jaeger(s: Span, process_id: str) -> Json:
    """A span in Jaeger's JSON model; ``process_id`` names its entry in ``processes``."""
    trace_hex = s.trace_id.hex()
    refs = []
    if s.parent_span_id:
        refs.append({"refType": "CHILD_OF", "traceID": trace_hex, "spanID": s.parent_span_id.hex()})
    refs.extend(
        {"refType": "FOLLOWS_FROM", "traceID": link.trace_id.hex(), "spanID": link.span_id.hex()}
        for link in s.links
    )
    tags = jaeger_tags(s.attributes)
    # The names Jaeger's own OTLP translator gives these OTLP-only facts, so dashboards
    # and saved searches written against Jaeger keep working.
    if s.scope_name:
        tags.append({"key": "otel.scope.name", "type": "string", "value": s.scope_name})
    if s.scope_version:
        tags.append({"key": "otel.scope.version", "type": "string", "value": s.scope_version})
    if s.kind != SpanKind.UNSPECIFIED:
        tags.append({"key": "span.kind", "type": "string", "value": s.kind.label})
    if s.status_code in _JAEGER_STATUS:
        tags.append(
            {"key": "otel.status_code", "type": "string", "value": _JAEGER_STATUS[s.status_code]}
        )
    if s.status_code == StatusCode.ERROR:
        tags.append({"key": "error", "type": "bool", "value": True})
    if s.status_message:
        tags.append({"key": "otel.status_description", "type": "string", "value": s.status_message})
    if s.trace_state:
        tags.append({"key": "w3c.tracestate", "type": "string", "value": s.trace_state})
    logs = []
    for e in s.events:
        fields = [{"key": "event", "type": "string", "value": e.name}] if e.name else []
        fields.extend(jaeger_tags(e.attributes))
        logs.append({"timestamp": e.time_ns // 1000, "fields": fields})
    return {
        "traceID": trace_hex,
        "spanID": s.span_id.hex(),
        "flags": s.flags & 0xFF,
        "operationName": s.name,
        "references": refs,
        "startTime": s.start_ns // 1000,
        "duration": (s.end_ns - s.start_ns) // 1000,
        "tags": tags,
        "logs": logs,
        "processID": process_id,
        "warnings": list(s.warnings) or None,
    }


def _process_key(s: Span) -> bytes:
    try:
        resource = orjson.dumps(s.resource, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # bytes somewhere inside: rare, so only then walk the value
        resource = orjson.dumps(_plain(s.resource), option=orjson.OPT_SORT_KEYS)
    return s.service.encode() + b"\0" + resource


def trace_to_jaeger(t: Trace) -> Json:
    """A whole trace in Jaeger's JSON model: spans plus one process per distinct
    service + resource, named p1, p2... in order of first appearance."""
    processes: dict[str, Json] = {}
    ids: dict[bytes, str] = {}
    spans = []
    for s in t.spans:
        key = _process_key(s)
        pid = ids.get(key)
        if pid is None:
            pid = ids[key] = f"p{len(ids) + 1}"
            processes[pid] = {
                "serviceName": s.service,
                "tags": jaeger_tags(s.resource, skip="service.name"),
            }
        spans.append(span_to_jaeger(s, pid))
    return {
        "traceID": t.trace_id.hex(),
        "spans": spans,
        "processes": processes,
        "warnings": list(t.warnings) or None,
    }


# --- OTLP JSON --------------------------------------------------------------------------


def otlp_value(v: AttrValue) -> Json:
    """One attribute value as an OTLP JSON AnyValue."""
    t = type(v)
    if t is str:
        return {"stringValue": v}
    if t is int:
        return {"intValue": str(v)}
    if isinstance(v, str):
        return {"stringValue": v}
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, bytes | bytearray):
        return {"bytesValue": _b64(bytes(v))}
    if isinstance(v, list | tuple):
        return {"arrayValue": {"values": [otlp_value(x) for x in v]}}
    if isinstance(v, dict):
        return {"kvlistValue": {"values": otlp_attributes(v)}}
    return {"stringValue": str(v)}


def otlp_attributes(attrs: Attributes) -> list[Json]:
    return [{"key": k, "value": otlp_value(v)} for k, v in attrs.items()]


def span_to_otlp(s: Span) -> Json:
    out: Json = {
        "traceId": s.trace_id.hex(),
        "spanId": s.span_id.hex(),
        "name": s.name,
        "kind": int(s.kind),
        "startTimeUnixNano": str(s.start_ns),
        "endTimeUnixNano": str(s.end_ns),
        "attributes": otlp_attributes(s.attributes),
        "status": {"code": int(s.status_code)},
    }
    if s.parent_span_id:
        out["parentSpanId"] = s.parent_span_id.hex()
    if s.trace_state:
        out["traceState"] = s.trace_state
    if s.flags:
        out["flags"] = s.flags
    if s.status_message:
        out["status"]["message"] = s.status_message
    if s.events:
        out["events"] = [
            {
                "timeUnixNano": str(e.time_ns),
                "name": e.name,
                "attributes": otlp_attributes(e.attributes),
                **(
                    {"droppedAttributesCount": e.dropped_attributes_count}
                    if e.dropped_attributes_count
                    else {}
                ),
            }
            for e in s.events
        ]
    if s.links:
        out["links"] = [
            {
                "traceId": link.trace_id.hex(),
                "spanId": link.span_id.hex(),
                "traceState": link.trace_state,
                "attributes": otlp_attributes(link.attributes),
            }
            for link in s.links
        ]
    for field, value in (
        ("droppedAttributesCount", s.dropped_attributes_count),
        ("droppedEventsCount", s.dropped_events_count),
        ("droppedLinksCount", s.dropped_links_count),
    ):
        if value:
            out[field] = value
    return out


def spans_to_otlp(spans: Iterable[Span]) -> Json:
    """Spans (of one or many traces) as OTLP JSON ``{"resourceSpans": [...]}``, grouped by
    service + resource, then by instrumentation scope, keeping first-seen order."""
    resources: dict[bytes, tuple[Span, dict[tuple[str, str], list[Json]]]] = {}
    for s in spans:
        key = _process_key(s)
        entry = resources.get(key)
        if entry is None:
            entry = resources[key] = (s, {})
        entry[1].setdefault((s.scope_name, s.scope_version), []).append(span_to_otlp(s))
    resource_spans = []
    for first, scopes in resources.values():
        attrs = dict(first.resource)
        attrs.setdefault("service.name", first.service)
        resource_spans.append(
            {
                "resource": {"attributes": otlp_attributes(attrs)},
                "scopeSpans": [
                    {"scope": {"name": name, "version": version}, "spans": otlp_spans}
                    for (name, version), otlp_spans in scopes.items()
                ],
            }
        )
    return {"resourceSpans": resource_spans}


def traces_to_otlp(traces: Sequence[Trace]) -> Json:
    return spans_to_otlp(s for t in traces for s in t.spans)

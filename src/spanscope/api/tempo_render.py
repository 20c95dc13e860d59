"""Spanscope's traces, search results and tags in the JSON (and protobuf) Tempo answers.

Shapes follow ``pkg/tempopb/tempo.proto`` as Tempo's HTTP API marshals it (gogo
``jsonpb``: camelCase names, 64-bit integers as strings, zero values left out):

- a trace (``/api/traces/{id}``): ``{"resourceSpans": [...]}`` — OTLP JSON as Tempo writes
  it, ids in base64 and enums by name (``"kind": "SPAN_KIND_SERVER"``); ``/api/v2/traces``
  wraps it as ``{"trace": {...}}``. With ``Accept: application/protobuf`` the same message
  in protobuf (``tempopb.Trace`` has the wire layout of OTLP's ``TracesData``);
- a search result: ``traceID rootServiceName rootTraceName startTimeUnixNano durationMs
  spanSet spanSets serviceStats``; each span ``spanID name startTimeUnixNano durationNanos
  attributes``, each spanset ``spans matched attributes``.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from spanscope.api.serialize import otlp_value, spans_to_otlp
from spanscope.model.spans import Span, SpanKind, StatusCode, Trace
from spanscope.query.traceql.ast import Attribute, Intrinsic
from spanscope.query.traceql.engine import Spanset, TraceView, spans_value
from spanscope.query.traceql.planner import Match

ROOT_NOT_YET_RECEIVED = "<root span not yet received>"
"""What Tempo names a trace whose root span is not stored
(``search.RootSpanNotYetReceivedText``)."""
Json = dict[str, Any]


def _b64(hex_id: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_id)).decode("ascii")


def trace_json(trace: Trace) -> Json:
    """``tempopb.Trace`` as Tempo's JSON: OTLP with base64 ids and named enums."""
    doc = spans_to_otlp(trace.spans)
    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for s in ss["spans"]:
                s["traceId"] = _b64(s["traceId"])
                s["spanId"] = _b64(s["spanId"])
                if "parentSpanId" in s:
                    s["parentSpanId"] = _b64(s["parentSpanId"])
                s["kind"] = "SPAN_KIND_" + SpanKind(s["kind"]).name
                code = s["status"].pop("code")
                if code:
                    s["status"]["code"] = "STATUS_CODE_" + StatusCode(code).name
                for link in s.get("links", ()):
                    link["traceId"] = _b64(link["traceId"])
                    link["spanId"] = _b64(link["spanId"])
    return doc


def trace_protobuf(trace: Trace) -> bytes:
    """``tempopb.Trace`` (field 1: repeated ResourceSpans) — OTLP ``TracesData``'s bytes."""
    return json_format.ParseDict(trace_json(trace), TracesData()).SerializeToString()


def wrap_v2_protobuf(trace_bytes: bytes) -> bytes:
    """``tempopb.TraceByIDResponse{trace: <trace_bytes>}``: field 1, length-delimited."""
    return b"\x0a" + _varint(len(trace_bytes)) + trace_bytes


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _omit_zero(d: Json) -> Json:
    return {k: v for k, v in d.items() if v not in (0, "0", None, [], {}, "")}


def search_trace(match: Match, spss: int, shown: Sequence[Attribute | Intrinsic]) -> Json:
    """One ``TraceSearchMetadata``: the trace with up to ``spss`` spans per spanset."""
    t = match.summary
    view = TraceView(match.trace)
    root = view.root
    sets = [spanset_json(s, view, spss, shown) for s in match.spansets]
    stats: dict[str, Json] = {}
    for svc in t.services:
        stats[svc.name] = _omit_zero({"spanCount": svc.span_count, "errorCount": svc.error_count})
    out: Json = {
        "traceID": t.trace_id.hex(),
        "rootServiceName": root.service if root is not None else ROOT_NOT_YET_RECEIVED,
        "rootTraceName": root.name if root is not None else "",
        "startTimeUnixNano": str(t.start_ns),
        "durationMs": t.duration_ns // 1_000_000,
        "spanSet": sets[0] if sets else None,
        "spanSets": sets,
        "serviceStats": stats,
    }
    return _omit_zero(out)


def summary_json(t: Any) -> Json:
    """A tag search's ``TraceSearchMetadata``: no spansets."""
    return _omit_zero(
        {
            "traceID": t.trace_id.hex(),
            "rootServiceName": t.root_service or ROOT_NOT_YET_RECEIVED,
            "rootTraceName": t.root_operation,
            "startTimeUnixNano": str(t.start_ns),
            "durationMs": t.duration_ns // 1_000_000,
            "serviceStats": {
                s.name: _omit_zero({"spanCount": s.span_count, "errorCount": s.error_count})
                for s in t.services
            },
        }
    )


def spanset_json(
    s: Spanset, view: TraceView, spss: int, shown: Sequence[Attribute | Intrinsic]
) -> Json:
    fields = list(shown) + [f for f in s.selected if f not in shown]
    spans = [span_json(span, view, fields) for span in s.spans[: max(0, spss)]]
    attrs = [{"key": k, "value": _tempo_value(v)} for k, v in s.attributes.items()]
    return _omit_zero({"spans": spans, "matched": len(s.spans), "attributes": attrs})


def span_json(span: Span, view: TraceView, fields: Sequence[Attribute | Intrinsic]) -> Json:
    attrs = []
    seen = set()
    for f in fields:
        key = _field_key(f)
        if key is None or key in seen:
            continue
        value = spans_value(f, span, view)
        if value is None:
            continue
        seen.add(key)
        attrs.append({"key": key, "value": _tempo_value(value)})
    return _omit_zero(
        {
            "spanID": span.span_id.hex(),
            "name": span.name,
            "startTimeUnixNano": str(span.start_ns),
            "durationNanos": str(span.duration_ns),
            "attributes": attrs,
        }
    )


_SHOWN_ELSEWHERE = {"span:name", "span:duration", "span:id", "trace:id", "trace:duration"}


def _field_key(f: Attribute | Intrinsic) -> str | None:
    """The attribute key Tempo shows a field under (``status``, ``http.method``)."""
    if isinstance(f, Attribute):
        return f.name
    if f.name in _SHOWN_ELSEWHERE or f.name.startswith("trace:"):
        return None
    scope, name = f.name.split(":")
    return name if scope == "span" else f.name


def _tempo_value(v: Any) -> Json:
    if isinstance(v, tuple) and len(v) == 2:  # a status or a kind
        return {"stringValue": str(v[1])}
    return otlp_value(v)

"""Traces from a file, without a server: what ``spanscope trace --file PATH`` reads.

::

    traces, problems = read_trace_file(Path("checkout.json"))
    traces[0].trace_id.hex()        # "4bf92f3577b34da6a3ce929d0e0e4736"

The file may hold:

- OTLP JSON, an ``ExportTraceServiceRequest`` (``{"resourceSpans": [...]}``), one per file
  or one per line (the OpenTelemetry Collector's file exporter writes JSON lines), or the
  Jaeger v3 API's answer around one (``{"result": {"resourceSpans": [...]}}``): decoded by
  the receivers' own decoder (:func:`spanscope.ingest.otlp_json.decode_otlp_json`), so a
  file shows what the server would have stored;
- Jaeger JSON, as the Jaeger UI downloads and the Jaeger API answers
  (``{"data": [{"traceID", "spans", "processes"}]}``) or a single such trace: the inverse of
  :func:`spanscope.api.serialize.trace_to_jaeger`. Tags that stand for OTLP fields
  (``span.kind``, ``otel.status_code``, ``error``, ``otel.status_description``,
  ``otel.scope.name``) become those fields again; ``CHILD_OF`` names the parent and
  ``FOLLOWS_FROM`` references become links; ids shorter than their width (Jaeger drops
  leading zeros) are padded.

Spans are grouped into traces in the order their trace first appears; a span that cannot
be read is left out and named in ``problems``. A file that is neither format is a
``ValueError`` saying what was found and what is expected.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson

from spanscope.ingest.otlp_json import decode_otlp_json
from spanscope.model.spans import Event, Link, Span, SpanKind, StatusCode, Trace

EXPECTED = (
    'expected OTLP JSON ({"resourceSpans": [...]}, one per file or per line) or Jaeger JSON '
    '({"data": [{"traceID": ..., "spans": [...], "processes": {...}}]})'
)
_STATUS = {"OK": StatusCode.OK, "ERROR": StatusCode.ERROR, "UNSET": StatusCode.UNSET}


def read_trace_file(path: Path) -> tuple[list[Trace], list[str]]:
    """The traces in ``path`` and the problems met reading it (spans left out)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {str(path)!r}: {exc.strerror}") from None
    problems: list[str] = []
    spans: list[Span] = []
    for where, raw, document in _documents(data, path):
        spans += _spans(document, raw, where, problems)
    by_trace: dict[bytes, list[Span]] = {}
    for span in spans:
        by_trace.setdefault(span.trace_id, []).append(span)
    traces = [
        Trace(tid, sorted(group, key=lambda s: s.start_ns)) for tid, group in by_trace.items()
    ]
    return traces, problems


def _documents(data: bytes, path: Path) -> list[tuple[str, bytes, Any]]:
    """(where, bytes, parsed JSON) per document: the whole file, else each line."""
    name = str(path)
    if not data.strip():
        raise ValueError(f"{name!r} is empty: {EXPECTED}")
    try:
        return [(name, data, orjson.loads(data))]
    except orjson.JSONDecodeError as whole:
        lines = [line for line in data.splitlines() if line.strip()]
        if len(lines) < 2:
            raise ValueError(f"{name!r} is not JSON ({whole}): {EXPECTED}") from None
    documents = []
    for n, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            documents.append((f"{name} line {n}", line, orjson.loads(line)))
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"{name!r} line {n} is not JSON ({exc}): {EXPECTED}") from None
    return documents


def _spans(document: Any, raw: bytes, where: str, problems: list[str]) -> list[Span]:
    if isinstance(document, dict) and isinstance(document.get("result"), dict):
        document, raw = document["result"], b""  # the Jaeger v3 API's answer
    if isinstance(document, dict) and ("resourceSpans" in document or "resource_spans" in document):
        try:
            result = decode_otlp_json(raw or orjson.dumps(document))
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        if result.rejected:
            problems.append(f"{where}: {result.rejected} span(s) left out: {result.first_error}")
        return result.spans
    if isinstance(document, dict) and isinstance(document.get("data"), list):
        return [s for i, t in enumerate(document["data"])
                for s in _jaeger_trace(t, f"{where} data[{i}]", problems)]  # fmt: skip
    if isinstance(document, dict) and "spans" in document:
        return _jaeger_trace(document, where, problems)
    found = f"an object with keys {sorted(document)[:6]}" if isinstance(document, dict) else (
        f"a JSON {type(document).__name__}")  # fmt: skip
    raise ValueError(f"{where}: found {found}: {EXPECTED}")


def _jaeger_trace(trace: Any, where: str, problems: list[str]) -> list[Span]:
    if not isinstance(trace, dict) or not isinstance(trace.get("spans"), list):
        raise ValueError(f'{where}: expected a Jaeger trace, an object with a "spans" list')
    processes = trace.get("processes") or {}
    spans = []
    for i, raw in enumerate(trace["spans"]):
        try:
            spans.append(jaeger_span(raw, processes))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            problems.append(f"{where} spans[{i}] left out: {_reason(exc)}")
    return spans


def _reason(exc: Exception) -> str:
    return f"no {exc} field" if isinstance(exc, KeyError) else str(exc)


def jaeger_span(raw: dict[str, Any], processes: dict[str, Any]) -> Span:
    """One span of Jaeger's JSON model (``processes``: the trace's, by ``processID``)."""
    trace_id = _jaeger_id(raw["traceID"], 16, "traceID")
    parent: bytes | None = None
    links = []
    for ref in raw.get("references") or ():
        ref_trace, ref_span = _jaeger_id(ref["traceID"], 16, "traceID"), ref["spanID"]
        if ref.get("refType", "CHILD_OF") == "CHILD_OF" and parent is None:
            parent = _jaeger_id(ref_span, 8, "references.spanID")
        else:
            links.append(Link(ref_trace, _jaeger_id(ref_span, 8, "references.spanID")))
    if parent is None and raw.get("parentSpanID") not in (None, "", "0"):
        parent = _jaeger_id(raw["parentSpanID"], 8, "parentSpanID")
    process = processes.get(str(raw.get("processID"))) or raw.get("process") or {}
    resource = _tags(process.get("tags"))
    service = str(process.get("serviceName") or resource.get("service.name") or "unknown_service")
    resource.setdefault("service.name", service)
    start_ns = int(raw["startTime"]) * 1000
    span = Span(
        trace_id=trace_id,
        span_id=_jaeger_id(raw["spanID"], 8, "spanID"),
        name=str(raw.get("operationName", "")),
        start_ns=start_ns,
        end_ns=start_ns + int(raw.get("duration") or 0) * 1000,
        service=service,
        parent_span_id=parent,
        resource=resource,
        flags=int(raw.get("flags") or 0),
        links=links,
        warnings=[str(w) for w in raw.get("warnings") or ()],
    )
    _apply_tags(span, _tags(raw.get("tags")))
    for log in raw.get("logs") or ():
        fields = _tags(log.get("fields"))
        name = str(fields.pop("event", ""))
        span.events.append(Event(int(log["timestamp"]) * 1000, name, fields))
    return span


def _apply_tags(span: Span, tags: dict[str, Any]) -> None:
    """Tags that stand for OTLP fields (as Jaeger's OTLP translator writes them) become
    those fields; the rest are the span's attributes."""
    kind = tags.pop("span.kind", None)
    if kind is not None:
        span.kind = SpanKind.from_label(str(kind))
    status = tags.pop("otel.status_code", None)
    if status is not None:
        span.status_code = _STATUS.get(str(status).upper(), StatusCode.UNSET)
    if tags.pop("error", None) in (True, "true"):
        span.status_code = StatusCode.ERROR
    span.status_message = str(tags.pop("otel.status_description", ""))
    span.scope_name = str(tags.pop("otel.scope.name", ""))
    span.scope_version = str(tags.pop("otel.scope.version", ""))
    span.trace_state = str(tags.pop("w3c.tracestate", ""))
    span.attributes = tags


def _tags(raw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tag in raw or ():
        kind, value = str(tag.get("type", "string")).lower(), tag.get("value")
        if kind in ("int64", "int") and not isinstance(value, bool):
            value = int(value)
        elif kind in ("float64", "float"):
            value = float(value)
        elif kind == "bool":
            value = value if isinstance(value, bool) else str(value).lower() == "true"
        elif kind == "binary":
            value = base64.b64decode(str(value))
        out[str(tag["key"])] = value
    return out


def _jaeger_id(value: Any, size: int, what: str) -> bytes:
    text = str(value).strip().lower()
    if not text or len(text) > 2 * size:
        raise ValueError(f"{what} {text[:40]!r}: expected up to {2 * size} hex digits")
    try:
        return bytes.fromhex(text.rjust(2 * size, "0"))
    except ValueError:
        raise ValueError(f"{what} {text[:40]!r}: expected hex digits") from None

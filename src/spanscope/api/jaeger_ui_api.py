"""The Jaeger endpoints only the Jaeger UI calls: OTLP upload, deep dependencies, trace quality.

Routes and shapes are Jaeger's (jaegertracing/jaeger
``cmd/jaeger/internal/extension/jaegerquery/internal/http_handler.go`` registers them;
jaeger-ui ``packages/jaeger-ui/src/api/jaeger.ts`` calls them)::

    # the UI's "upload a trace file" for OTLP JSON: converted, never stored
    curl -s -X POST localhost:16686/api/transform --data-binary @trace.otlp.json
    # {"data": [{"traceID": ..., "spans": [...], "processes": {...}}], ..., "errors": null}

    # Deep Dependency Graph: every path of (service, operation) through a focal service
    curl -s 'localhost:16686/analytics/v1/dependencies?service=inventory&start=0&end=0'
    # {"dependencies": [{"path": [{"service": "orders", "operation": "POST /orders"},
    #    {"service": "inventory", "operation": "GET /stock"}],
    #   "attributes": [{"key": "exemplar_trace_id", "value": "0af7..."}]}]}

    # Trace Quality: per check, how many of the service's spans pass, fail or are exempt
    curl -s 'localhost:16686/api/quality-metrics?service=orders&hours=48'

``/api/transform``: Jaeger's ``transformOTLP`` decodes the body with the collector's OTLP
JSON unmarshaler and answers ``structuredResponse{data: [ui.Trace]}`` (its
``tracesToResponse``); here :func:`spanscope.ingest.otlp_json.decode_otlp_json` decodes and
:func:`spanscope.api.serialize.trace_to_jaeger` renders, as ``/api/traces/{id}?raw=true``
would. A body that is not OTLP JSON is a 400, one over 16 MiB a 413; single spans refused
by the decoder are named in ``errors`` beside the spans that were kept. Like any
state-changing method, a POST from another origin's page is refused (docs/security.md).

``/analytics/v1/dependencies``: jaeger-ui's ``TDdgPayload`` (``model/ddg/types.ts``; the
Go twin is jaegertracing/jaeger's ``internal/ddg/deep_dependencies.go``), computed from the
newest WINDOW_TRACES traces of the window by :func:`spanscope.analysis.paths.dependency_paths`.
``start`` and ``end`` are unix milliseconds; the UI sends ``0`` for both, meaning the last
24 hours.

``/api/quality-metrics``: ``TQualityMetrics`` (jaeger-ui ``components/QualityMetrics/
types.ts``; Go: jaegertracing/jaeger's ``internal/qualitymetrics/data_types.go``, where
Jaeger serves sample data) from :func:`spanscope.analysis.quality.assess` over the newest
WINDOW_TRACES traces of the last ``hours`` hours that have spans of ``service`` (every
service when it is empty).

Why WINDOW_TRACES = 200: both answers read whole traces, one store read each (~5 ms on
DuckDB, measured with 10-span traces: 1000 traces took ~5 s, 200 take ~1 s); 200 recent
traces show a service's paths and its instrumentation's faults well enough for a page
that is refreshed by hand.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from spanscope.analysis.paths import dependency_paths
from spanscope.analysis.quality import QualityReport, assess
from spanscope.api.deps import StoreDep, param
from spanscope.api.errors import ApiError, OrjsonResponse, bad_request
from spanscope.api.jaeger import wrap
from spanscope.api.serialize import trace_to_jaeger
from spanscope.ingest.limits import DEFAULT_LIMITS
from spanscope.ingest.otlp_json import decode_otlp_json
from spanscope.ingest.results import DecodeError
from spanscope.model.spans import Span, Trace
from spanscope.query.durations import MS, parse_integer, shown
from spanscope.query.model import SearchQuery, now_ns
from spanscope.store.base import Store

router = APIRouter(tags=["jaeger"], default_response_class=OrjsonResponse)

HOUR_NS = 3600 * 1_000_000_000
DEFAULT_DDG_LOOKBACK_NS = 24 * HOUR_NS
MAX_QUALITY_HOURS = 24 * 366
WINDOW_TRACES = 200
QUALITY_DOCS = "https://github.com/jaegertracing/jaeger-analytics-java#trace-quality-metrics"


# --- POST /api/transform ------------------------------------------------------------


async def _read_capped(request: Request, max_bytes: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise ApiError(413, f"body over {max_bytes} bytes: upload a smaller trace file")
        chunks.append(chunk)
    return b"".join(chunks)


def group_traces(spans: list[Span]) -> list[Trace]:
    """Spans into traces, in order of each trace's first span; spans ordered by start."""
    by_trace: dict[bytes, list[Span]] = {}
    for s in spans:
        by_trace.setdefault(s.trace_id, []).append(s)
    return [
        Trace(tid, sorted(group, key=lambda s: (s.start_ns, s.span_id)))
        for tid, group in by_trace.items()
    ]


def _transform(body: bytes) -> Any:
    try:
        result = decode_otlp_json(body, DEFAULT_LIMITS)
    except DecodeError as e:
        raise bad_request(f"request body: {e}") from None
    errors = None
    if result.rejected:
        errors = [{"code": 400, "msg": f"{result.rejected} span(s) refused; first: "
                   f"{result.first_error}"}]  # fmt: skip
    return wrap([trace_to_jaeger(t) for t in group_traces(result.spans)], errors=errors)


@router.post("/api/transform", summary="Jaeger: OTLP JSON to Jaeger's model (nothing stored)")
async def transform(request: Request) -> Any:
    body = await _read_capped(request, DEFAULT_LIMITS.max_body_bytes)
    return await run_in_threadpool(_transform, body)


# --- shared: the traces of a window ---------------------------------------------------


def window_traces(
    store: Store, start_ns: int, end_ns: int, service: str | None, operation: str | None = None
) -> list[Trace]:
    """The newest WINDOW_TRACES traces with a span of ``service`` (``operation``) in the
    window."""
    try:
        query = SearchQuery(
            start_ns, end_ns, service=service, operation=operation, limit=WINDOW_TRACES
        )
    except ValueError as e:
        raise bad_request(str(e)) from None
    return [t for s in store.search(query) if (t := store.trace(s.trace_id)) is not None]


def _ms(name: str, value: str | None) -> int | None:
    """Unix milliseconds as ns; None when absent or 0 (jaeger-ui's "not set")."""
    if value is None or value == "":
        return None
    ns = param(name, value, lambda t: parse_integer(t, MS, "milliseconds since the epoch"))
    return ns or None


# --- GET /analytics/v1/dependencies -------------------------------------------------


@router.get(
    "/analytics/v1/dependencies",
    summary="Jaeger UI: deep dependency graph, the paths through a service",
)
def deep_dependencies(
    store: StoreDep,
    service: str = "",
    operation: str | None = None,
    start: str | None = None,
    end: str | None = None,
) -> Any:
    if not service:
        raise bad_request(
            "parameter service is required (e.g. /analytics/v1/dependencies?service=orders)"
        )
    end_ns = _ms("end", end) or now_ns()
    start_ns = _ms("start", start) or max(0, end_ns - DEFAULT_DDG_LOOKBACK_NS)
    if end_ns < start_ns:
        raise bad_request(f"parameters start={shown(start or '')}, end={shown(end or '')}: "
                          "end is before start")  # fmt: skip
    traces = window_traces(store, start_ns, end_ns, service, operation or None)
    paths = dependency_paths(traces, service, operation or None)
    return {
        "dependencies": [
            {
                "path": [{"service": s, "operation": op} for s, op in p.entries],
                "attributes": [
                    {"key": "exemplar_trace_id", "value": tid.hex()} for tid in p.trace_ids
                ],
            }
            for p in paths
        ]
    }


# --- GET /api/quality-metrics -------------------------------------------------------


def _hours(value: str | None) -> int:
    if value is None or value == "":
        return 48  # jaeger-ui's default lookback (components/QualityMetrics/url.ts)
    text = value.strip()
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_QUALITY_HOURS:
        raise bad_request(
            f"parameter hours={shown(value)}: expected a whole number of hours, "
            f"1 to {MAX_QUALITY_HOURS}"
        )
    return int(text)


def _example(ids: tuple[bytes, bytes]) -> dict[str, Any]:
    return {"traceID": ids[0].hex(), "spanIDs": [ids[1].hex()]}


def quality_to_jaeger(report: QualityReport, service: str | None, hours: int) -> Any:
    """``TQualityMetrics`` (jaeger-ui components/QualityMetrics/types.ts)."""
    metrics = []
    for c in report.checks:
        columns = [
            {"key": "service", "label": "Service"},
            {"key": "passCount", "label": "Passing"},
            {"key": "failureCount", "label": "Failing"},
            {"key": "exemptionCount", "label": "Exempt"},
        ]
        rows = [
            {"service": name, "passCount": t.passed, "failureCount": t.failed,
             "exemptionCount": t.exempt}
            for name, t in sorted(c.by_service.items())
        ]  # fmt: skip
        metrics.append(
            {
                "name": c.check.name,
                "category": c.check.category,
                "description": c.check.description,
                "metricDocumentationLink": QUALITY_DOCS,
                "metricWeight": c.check.weight,
                "passCount": c.passed,
                "passExamples": [_example(e) for e in c.examples["pass"]],
                "failureCount": c.failed,
                "failureExamples": [_example(e) for e in c.examples["fail"]],
                "exemptionCount": c.exempt,
                "exemptionExamples": [_example(e) for e in c.examples["exempt"]],
                "details": [
                    {
                        "description": f"{c.check.name}, span by span, per service",
                        "header": "Per service",
                        "columns": columns,
                        "rows": rows,
                    }
                ],
            }
        )
    who = f"spans of {service}" if service else "spans of every service"
    return {
        "traceQualityDocumentationLink": QUALITY_DOCS,
        "bannerText": f"Spanscope: {who} in the {report.trace_count} newest traces of the "
        f"last {hours} h (at most {WINDOW_TRACES} traces are read), {report.span_count} spans.",
        "scores": [
            {
                "key": "coverage",
                "label": "Instrumentation Coverage",
                "max": 100,
                "value": report.score("coverage"),
            },
            {
                "key": "quality",
                "label": "Trace Quality",
                "max": 100,
                "value": report.score("quality"),
            },
        ],  # fmt: skip
        "metrics": metrics,
    }


@router.get("/api/quality-metrics", summary="Jaeger UI: trace quality checks per service")
def quality_metrics(store: StoreDep, service: str = "", hours: str | None = None) -> Any:
    n = _hours(hours)
    end_ns = now_ns()
    traces = window_traces(store, max(0, end_ns - n * HOUR_NS), end_ns, service or None)
    return quality_to_jaeger(assess(traces, service or None), service or None, n)

"""Logs and metrics, linked to traces: the ``/api/v1`` endpoints of issue #7.

"Metrics tell you something changed, traces show where, logs explain why." Each answer
carries the ids that lead to the next one::

    # the logs a request wrote (all of them, or one span's)
    curl -s 'localhost:16686/api/v1/traces/4bf92f35...4736/logs?span_id=00f067aa0ba902b7'
    # log search: time, service, severity, text, attribute, trace id
    curl -s 'localhost:16686/api/v1/logs?service=orders&severity=warn&q=slow&attr=db.system=sqlite'
    # metric names, then a series over a range with a step (histograms: quantiles)
    curl -s 'localhost:16686/api/v1/metrics?service=orders'
    curl -s 'localhost:16686/api/v1/metrics/http.server.duration/series?service=orders&step=1m'
    # exemplars in range, each with the link to its trace
    curl -s 'localhost:16686/api/v1/exemplars?metric=http.server.duration&service=orders'
    # the incident flow: latency series + exemplars, then one exemplar's trace + its logs
    curl -s 'localhost:16686/api/v1/incident?service=orders&operation=/orders&lookback=1h'
    curl -s 'localhost:16686/api/v1/incident/exemplar?trace_id=4bf9...&span_id=00f0...'

Times are unix nanoseconds, ids lowercase hex, values in the metric's own unit (``unit``).
A bad parameter answers 400 naming it; an unknown trace's logs are an empty list (logs
may arrive before their spans), an unknown metric 404. docs/logs-and-metrics.md has the
shapes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from spanscope.analysis.metric_series import Series, label_matches, series
from spanscope.api.deps import StoreDep, param, window
from spanscope.api.errors import ApiError, OrjsonResponse, bad_request
from spanscope.api.serialize import native_attributes
from spanscope.model.signals import Exemplar, LogRecord, MetricPoint
from spanscope.model.spans import Trace, parse_span_id, parse_trace_id
from spanscope.query.model import LogOrder, LogQuery, parse_duration
from spanscope.severity import parse_severity

router = APIRouter(
    prefix="/api/v1", tags=["logs and metrics"], default_response_class=OrjsonResponse
)

HOUR_NS = 3600 * 1_000_000_000
LATENCY_METRICS = ("http.server.request.duration", "http.server.duration", "rpc.server.duration")
"""The histograms the incident flow looks for, newest semantic convention first."""
MAX_EXEMPLARS = 1000


def parse_label(text: str) -> tuple[str, str]:
    """ "http.route=/orders" -> ("http.route", "/orders")."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ValueError("expected key=value")
    return key.strip(), value


def log_to_native(r: LogRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "time_unix_nano": r.time_ns,
        "observed_time_unix_nano": r.observed_time_ns,
        "service": r.service,
        "severity_number": r.severity_number,
        "severity_text": r.severity_text,
        "body": r.body if isinstance(r.body, str) else native_attributes({"body": r.body})[0],
        "attributes": native_attributes(r.attributes),
        "resource": native_attributes(r.resource),
        "trace_id": r.trace_id.hex() if r.trace_id else None,
        "span_id": r.span_id.hex() if r.span_id else None,
        "scope_name": r.scope_name,
    }
    if r.trace_id:
        out["links"] = _trace_links(r.trace_id, r.span_id)
    return out


def _trace_links(trace_id: bytes, span_id: bytes | None) -> dict[str, str]:
    tid = trace_id.hex()
    ui = f"/trace/{tid}" + (f"?span={span_id.hex()}" if span_id else "")
    return {"trace": ui, "api": f"/api/v1/traces/{tid}"}


def exemplar_to_native(p: MetricPoint, e: Exemplar) -> dict[str, Any]:
    out: dict[str, Any] = {
        "time_unix_nano": e.time_ns,
        "value": e.value,
        "metric": p.name,
        "unit": p.unit,
        "service": p.service,
        "labels": {k: str(v) for k, v in p.attributes.items()},
        "trace_id": e.trace_id.hex() if e.trace_id else None,
        "span_id": e.span_id.hex() if e.span_id else None,
    }
    if e.trace_id:
        out["links"] = _trace_links(e.trace_id, e.span_id)
    return out


def series_to_native(s: Series, quantiles: list[float]) -> dict[str, Any]:
    points = []
    for v in s.points:
        point: dict[str, Any] = {"time_unix_nano": v.time_ns, "count": v.count}
        if v.value is not None:
            point["value"] = v.value
        if v.rate is not None:
            point["rate"] = v.rate
        if v.mean is not None:
            point["mean"] = v.mean
        if v.quantiles:
            point["quantiles"] = {_qname(q): x for q, x in zip(quantiles, v.quantiles, strict=True)}
        points.append(point)
    return {"labels": s.labels, "points": points}


def _qname(q: float) -> str:
    return "p" + f"{q * 100:g}".replace(".", "_")


# --- logs -------------------------------------------------------------------------------


@router.get("/traces/{trace_id}/logs", summary="Log records written inside a trace (or span)")
def trace_logs(
    store: StoreDep,
    trace_id: str,
    span_id: str | None = None,
    severity: str | None = None,
    limit: int = 1000,
) -> dict[str, Any]:
    tid = param("trace_id", trace_id, parse_trace_id)
    sid = param("span_id", span_id, parse_span_id) if span_id else None
    query = _log_query(
        0, 2**62, trace_id=tid, span_id=sid, limit=limit, order="oldest", severity=severity
    )
    logs = store.logs(query)
    return {"trace_id": tid.hex(), "span_id": span_id, "logs": [log_to_native(r) for r in logs]}


@router.get("/logs", summary="Search log records")
def search_logs(
    store: StoreDep,
    service: str | None = None,
    severity: str | None = Query(None, description="minimum: trace debug info warn error fatal"),
    q: str | None = Query(None, description="text the body contains (case-insensitive)"),
    attr: list[str] = Query([], description="key=value, log or resource attribute"),
    trace_id: str | None = None,
    span_id: str | None = None,
    start: str | None = None,
    end: str | None = None,
    lookback: str | None = None,
    limit: int = 100,
    order: LogOrder = "newest",
) -> dict[str, Any]:
    start_ns, end_ns = window(start, end, lookback, HOUR_NS)
    query = _log_query(
        start_ns,
        end_ns,
        service=service,
        severity=severity,
        text=q,
        attributes=[param("attr", a, parse_label) for a in attr],
        trace_id=param("trace_id", trace_id, parse_trace_id) if trace_id else None,
        span_id=param("span_id", span_id, parse_span_id) if span_id else None,
        limit=limit,
        order=order,
    )
    return {"logs": [log_to_native(r) for r in store.logs(query)]}


def _log_query(start_ns: int, end_ns: int, severity: str | None = None, **kw: Any) -> LogQuery:
    min_severity = param("severity", severity, parse_severity) if severity else None
    try:
        return LogQuery(start_ns, end_ns, min_severity=min_severity, **kw)
    except ValueError as e:
        raise bad_request(str(e)) from None


# --- metrics ----------------------------------------------------------------------------


@router.get("/metrics", summary="Metric names")
def metric_names(store: StoreDep, service: str | None = None) -> dict[str, Any]:
    return {"metrics": store.metric_names(service)}


@router.get("/metrics/{name}/series", summary="A metric as series over a range with a step")
def metric_series(
    store: StoreDep,
    name: str,
    service: str | None = None,
    label: list[str] = Query([], description="key=value point attribute filter"),
    group_by: list[str] = Query([], description="labels to split series by"),
    quantile: list[float] = Query([0.5, 0.95, 0.99]),
    start: str | None = None,
    end: str | None = None,
    lookback: str | None = None,
    step: str | None = None,
) -> dict[str, Any]:
    start_ns, end_ns = window(start, end, lookback, HOUR_NS)
    step_ns = _step(step, start_ns, end_ns)
    labels = [param("label", x, parse_label) for x in label]
    points = store.metric_points(name, start_ns, end_ns, service, labels)
    if not points and name not in store.metric_names(service):
        raise ApiError(
            404, f"no metric {name!r}" + (f" for service {service!r}" if service else "")
        )
    return _series_answer(name, points, start_ns, end_ns, step_ns, quantile, group_by)


def _series_answer(
    name: str,
    points: list[MetricPoint],
    start_ns: int,
    end_ns: int,
    step_ns: int,
    quantiles: list[float],
    group_by: list[str],
) -> dict[str, Any]:
    for q in quantiles:
        if not 0 <= q <= 1:
            raise bad_request(f"parameter quantile={q}: expected a number from 0 to 1")
    found = series(points, start_ns, end_ns, step_ns, quantiles, group_by)
    return {
        "metric": name,
        "kind": points[0].kind if points else None,
        "unit": points[0].unit if points else "",
        "start_unix_nano": start_ns,
        "end_unix_nano": end_ns,
        "step_ns": step_ns,
        "series": [series_to_native(s, quantiles) for s in found],
        "exemplars": _exemplars(points, start_ns, end_ns),
    }


def _step(step: str | None, start_ns: int, end_ns: int) -> int:
    if step:
        step_ns = param("step", step, parse_duration)
        if step_ns <= 0:
            raise bad_request(f"parameter step={step!r}: expected a positive duration")
    else:
        step_ns = max(1_000_000_000, (end_ns - start_ns) // 60)  # ~60 points
    if (end_ns - start_ns) // step_ns > 11_000:
        raise bad_request(f"parameter step={step!r}: more than 11000 steps; use a larger step")
    return step_ns


def _exemplars(points: list[MetricPoint], start_ns: int, end_ns: int) -> list[dict[str, Any]]:
    out = [
        exemplar_to_native(p, e)
        for p in points
        for e in p.exemplars
        if start_ns <= e.time_ns <= end_ns and e.trace_id
    ]
    out.sort(key=lambda e: e["time_unix_nano"])
    return out[-MAX_EXEMPLARS:]


@router.get("/exemplars", summary="Exemplars in range, each linked to its trace")
def exemplars(
    store: StoreDep,
    metric: str,
    service: str | None = None,
    label: list[str] = Query([]),
    start: str | None = None,
    end: str | None = None,
    lookback: str | None = None,
    min_value: float | None = None,
) -> dict[str, Any]:
    start_ns, end_ns = window(start, end, lookback, HOUR_NS)
    labels = [param("label", x, parse_label) for x in label]
    points = store.metric_points(metric, start_ns, end_ns, service, labels)
    found = _exemplars(points, start_ns, end_ns)
    if min_value is not None:
        found = [e for e in found if e["value"] >= min_value]
    return {"metric": metric, "exemplars": found}


# --- the incident flow ------------------------------------------------------------------


@router.get("/incident", summary="Latency series with exemplars for a service/operation")
def incident(
    store: StoreDep,
    service: str,
    operation: str | None = None,
    metric: str | None = None,
    start: str | None = None,
    end: str | None = None,
    lookback: str | None = None,
    step: str | None = None,
) -> dict[str, Any]:
    start_ns, end_ns = window(start, end, lookback, HOUR_NS)
    step_ns = _step(step, start_ns, end_ns)
    names = [metric] if metric else list(LATENCY_METRICS)
    for name in names:
        points = store.metric_points(name, start_ns, end_ns, service)
        if operation:
            points = [p for p in points if _is_operation(p, operation)]
        if points:
            break
    else:
        raise ApiError(
            404,
            f"no latency histogram ({', '.join(names)}) for service {service!r}"
            + (f" and operation {operation!r}" if operation else "")
            + " in the range: does the service export metrics (spanscope.sdk configure())?",
        )
    answer = _series_answer(name, points, start_ns, end_ns, step_ns, [0.5, 0.95, 0.99], [])
    answer["service"], answer["operation"] = service, operation
    slowest = sorted(answer["exemplars"], key=lambda e: -e["value"])
    answer["slowest_exemplars"] = slowest[:10]
    return answer


def _is_operation(p: MetricPoint, operation: str) -> bool:
    """Does a point belong to ``operation``: its route, or "METHOD route" as span names."""
    a = p.attributes
    route = str(a.get("http.route", a.get("rpc.method", "")))
    method = str(a.get("http.request.method", a.get("http.method", "")))
    return operation in (route, f"{method} {route}") or label_matches(a, "operation", operation)


@router.get("/incident/exemplar", summary="An exemplar's trace summary and its warn/error logs")
def incident_exemplar(
    store: StoreDep,
    trace_id: str,
    span_id: str | None = None,
    severity: str = "warn",
) -> dict[str, Any]:
    tid = param("trace_id", trace_id, parse_trace_id)
    sid = param("span_id", span_id, parse_span_id) if span_id else None
    trace = store.trace(tid)
    if trace is None:
        raise ApiError(
            404,
            f"trace {tid.hex()} is not stored (sampled out, not yet flushed, or expired)",
            tid.hex(),
        )
    query = _log_query(0, 2**62, trace_id=tid, limit=1000, order="oldest", severity=severity)
    return {
        "trace": _trace_summary(trace, sid),
        "logs": [log_to_native(r) for r in store.logs(query)],
        "links": _trace_links(tid, sid),
    }


def _trace_summary(trace: Trace, span_id: bytes | None) -> dict[str, Any]:
    root = trace.root()
    services = sorted({s.service for s in trace.spans})
    out: dict[str, Any] = {
        "trace_id": trace.trace_id.hex(),
        "root_service": root.service if root else "",
        "root_operation": root.name if root else "",
        "start_time_unix_nano": trace.start_ns,
        "duration_ns": trace.duration_ns,
        "span_count": len(trace.spans),
        "error_count": sum(s.is_error for s in trace.spans),
        "services": services,
    }
    slowest = sorted(
        (s for s in trace.spans if s.parent_span_id is not None),
        key=lambda s: -s.duration_ns,
    )[:5]
    out["slowest_spans"] = [
        {
            "span_id": s.span_id_hex,
            "service": s.service,
            "name": s.name,
            "duration_ns": s.duration_ns,
        }
        for s in slowest
    ]
    if span_id is not None:
        span = next((s for s in trace.spans if s.span_id == span_id), None)
        if span is not None:
            out["exemplar_span"] = {
                "span_id": span.span_id_hex,
                "service": span.service,
                "name": span.name,
                "duration_ns": span.duration_ns,
            }
    return out

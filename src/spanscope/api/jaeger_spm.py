"""Jaeger's Service Performance Monitoring API: RED metrics for the Jaeger UI's Monitor tab.

``GET /api/metrics/{latencies,calls,errors}`` answer a MetricFamily, as Jaeger's query
service does (its docs: docker-compose/monitor/README.md)::

    curl -s 'localhost:16686/api/metrics/latencies?service=orders&quantile=0.95&step=60000'
    # {"name": "service_latencies", "type": "GAUGE", "help": "0.95th quantile latency, ...",
    #  "metrics": [{"labels": [{"name": "service_name", "value": "orders"}],
    #               "metricPoints": [{"gaugeValue": {"doubleValue": 12.5},
    #                                 "timestamp": "2026-11-25T09:00:00Z"}]}]}

Jaeger reads these from Prometheus (span metrics made by a collector); here they are
computed from the stored spans (``Store.red``), so there is nothing else to run.
Latencies are milliseconds, calls per second over each step, errors the error ratio.
With ``groupByOperation=true`` the family is ``service_operation_latencies`` (``_call_rate``,
``_error_rate``), one series per operation labelled ``operation``, as Jaeger names it.
``/api/metrics/minstep`` answers ``{"minStep": 1000}`` (ms).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from spanscope.analysis.red import MIN_STEP_NS, error_ratio
from spanscope.api.analysis import kinds_param
from spanscope.api.deps import StoreDep, param
from spanscope.api.errors import ApiError, OrjsonResponse, bad_request
from spanscope.query.durations import parse_integer
from spanscope.query.model import now_ns

router = APIRouter(tags=["jaeger"], default_response_class=OrjsonResponse)
MS = 1_000_000


_SPM_HELP = {
    "latencies": ("service_latencies", "{q}th quantile latency, grouped by service"),
    "calls": ("service_call_rate", "calls/sec, grouped by service"),
    "errors": ("service_error_rate", "error rate, computed as a fraction of errors/sec over "
               "calls/sec, grouped by service"),
}  # fmt: skip


def _ms_param(name: str, value: str | None, default_ms: int) -> int:
    """A whole number of milliseconds, as ns (a 400 naming ``name`` when it is not one)."""
    if value is None or value == "":
        return default_ms * MS
    return param(name, value, lambda text: parse_integer(text, MS, "milliseconds"))


@router.get("/api/metrics/minstep", summary="Jaeger SPM: the smallest step, in ms")
def spm_minstep() -> Any:
    return {"minStep": MIN_STEP_NS // MS}


@router.get("/api/metrics/{metric}", summary="Jaeger SPM: latencies, calls or errors")
def spm_metrics(
    store: StoreDep,
    metric: str,
    service: list[str] = Query([]),  # noqa: B008
    quantile: float | None = None,
    group_by_operation: Annotated[bool, Query(alias="groupByOperation")] = False,
    end_ts: Annotated[str | None, Query(alias="endTs")] = None,
    lookback: str | None = None,
    step: str | None = None,
    rate_per: Annotated[str | None, Query(alias="ratePer")] = None,
    span_kind: Annotated[list[str], Query(alias="spanKind")] = [],  # noqa: B006
) -> Any:
    # Rates here are per second over each step, from the spans themselves; ratePer is
    # still checked, so a bad one is a 400 as in Jaeger.
    _ms_param("ratePer", rate_per, 600_000)
    if metric not in _SPM_HELP:
        raise ApiError(404, f"no such metric {metric!r}: expected latencies, calls or errors")
    if not service:
        raise bad_request("please provide at least one service name (service=...)")
    if metric == "latencies" and (quantile is None or not 0 < quantile <= 1):
        shown_q = quantile if quantile is None else f"{quantile:.6g}"
        raise bad_request(f"parameter quantile={shown_q}: required, in (0, 1], e.g. 0.95")
    end_ns = _ms_param("endTs", end_ts, now_ns() // MS)
    start_ns = max(0, end_ns - _ms_param("lookback", lookback, 3_600_000))
    step_ms = max(_ms_param("step", step, 5000), MIN_STEP_NS) // MS
    kinds = kinds_param([k.removeprefix("SPAN_KIND_") for k in span_kind])
    points = store.red(
        start_ns, end_ns, step_ms * MS, service, None, kinds, group_by_operation,
        (quantile or 0.5,),
    )  # fmt: skip
    name, help_text = _SPM_HELP[metric]
    if group_by_operation:
        # As Jaeger's metric readers rename the family (jaegertracing/jaeger
        # internal/storage/metricstore/prometheus/metricstore/reader.go, executeQuery):
        # jaeger-ui's per-operation table reads service_operation_latencies / _call_rate /
        # _error_rate.
        name = name.replace("service", "service_operation", 1)
        help_text += " & operation"
    series: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
    for p in sorted(points, key=lambda p: p.bucket_start_ns or 0):
        if p.bucket_start_ns is None:
            continue
        if metric == "latencies":
            value = p.quantiles_ns[0] / MS
        elif metric == "calls":
            value = p.request_count / step_ms * 1000
        else:
            value = error_ratio(p)
        ts = datetime.fromtimestamp(p.bucket_start_ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        series.setdefault((p.service, p.operation), []).append(
            {"gaugeValue": {"doubleValue": value}, "timestamp": ts}
        )
    metrics = []
    for (svc, op), pts in sorted(series.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        labels = [{"name": "service_name", "value": svc}]
        if op is not None:
            labels.insert(0, {"name": "operation", "value": op})
        metrics.append({"labels": labels, "metricPoints": pts})
    return {
        "name": name,
        "type": "GAUGE",
        "help": help_text.format(q=quantile),
        "metrics": metrics,
    }

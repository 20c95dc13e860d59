"""The tour's second half: the same incident told by the services' metrics and logs.

The lab's services export ``http.server.duration`` histograms (with exemplars) and their log
records through ``spanscope.sdk``; this part of the tour walks the seed's story with them,
through Spanscope's API only::

      from the services' metrics and logs:
        orders http.server.duration p99 48 ms -> 112 ms   mean 31 ms -> 52 ms
        slowest exemplar: 131 ms in orders · POST /orders — trace 4bf9...
          spanscope explain 4bf9...
        its warnings: orders WARN slow query: 24.3 ms (threshold 10 ms): SELECT ...
          spanscope logs --trace 4bf9... --severity warn

- p99 and mean: ``GET /api/v1/metrics/http.server.duration/series?service=S&start&end&step``
  with one step per window (before and after the switch), so each is over every request in
  the window: the p99 from the summed buckets (coarse: 25, 50, 75, 100 ms …, so a small
  rise can stay inside one bucket), the mean exact (sum / count);
- the exemplar: ``GET /api/v1/incident?service=S&start=<switch>`` → ``slowest_exemplars``;
- its warnings: ``GET /api/v1/incident/exemplar?trace_id&span_id`` → the trace's summary and
  its warn-and-above log records.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

METRIC = "http.server.duration"


def print_signals(
    api: str, service: str, before_start: int, on_ns: int, now: int, say: Callable[[str], None]
) -> None:
    """Print the metric → exemplar → logs lines for ``service``; quiet if there is no data
    yet (metrics arrive every few seconds) or Spanscope does not answer."""
    try:
        before = _p99(api, service, before_start, on_ns)
        after = _p99(api, service, on_ns, now)
        incident = _get(api, "/api/v1/incident", service=service, start=on_ns, end=now)
    except (httpx.HTTPError, ValueError, KeyError):
        return
    if incident is None or not incident.get("slowest_exemplars"):
        return
    say("  from the services' metrics and logs (OTLP, through spanscope.sdk):")
    if before is not None and after is not None:
        say(
            f"    {service} {METRIC} p99 {before[0]:.0f} ms -> {after[0]:.0f} ms"
            f"   mean {before[1]:.0f} ms -> {after[1]:.0f} ms"
        )
    exemplar = incident["slowest_exemplars"][0]
    trace_id = exemplar["trace_id"]
    try:
        found = _get(
            api, "/api/v1/incident/exemplar", trace_id=trace_id, span_id=exemplar["span_id"]
        )
    except (httpx.HTTPError, ValueError):
        found = None
    where = ""
    if found is not None:
        span = found["trace"].get("exemplar_span")
        if span:
            where = f" in {span['service']} · {span['name']}"
    say(f"    slowest exemplar: {exemplar['value']:.0f} ms{where} — trace {trace_id}")
    say(f"      spanscope explain {trace_id}")
    warnings = [] if found is None else found["logs"]
    for record in warnings[:3]:
        say(f"    its warnings: {record['service']} {record['severity_text']} {record['body']}")
    say(f"      spanscope logs --trace {trace_id} --severity warn")


def _p99(api: str, service: str, start: int, end: int) -> tuple[float, float] | None:
    """(p99, mean) of the service's requests in [start, end], or None without data."""
    if end <= start:
        return None
    answer = _get(
        api, f"/api/v1/metrics/{METRIC}/series", service=service, start=start, end=end,
        step=f"{end - start}ns",
    )  # fmt: skip
    if answer is None or not answer["series"]:
        return None
    points = answer["series"][0]["points"]
    if not points:
        return None
    return float(points[0]["quantiles"]["p99"]), float(points[0].get("mean", 0.0))


def _get(api: str, path: str, **params: Any) -> dict[str, Any] | None:
    """The JSON answer, or None for a 404 (nothing in range yet)."""
    response = httpx.get(api + path, params=params, timeout=30.0)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer

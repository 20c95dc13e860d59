"""End to end: the lab runs with ``missing-index``, then Spanscope's API must tell the story.

One run of ``spanscope demo --incident missing-index`` (~40 s of traffic, free ports) against
a real ``spanscope serve``; then, asking only the query API:

- every request the traffic made is exactly ONE trace, rooted at the gateway's server span,
  with no orphan spans and every service the request touched (propagation never broke);
- no trace exists that a request did not start;
- in the slowest checkouts after the switch, the longest leaf span under orders is its
  SELECT on ``order_ref`` — the query that lost its index — and over all checkouts since the
  switch that SELECT holds the most self time;
- the services' JSON log lines of a slow trace carry its trace id (and span ids of it);
- the guided tour printed the same finding;
- the seed's walk-through, from the signals the services exported through spanscope.sdk
  (OTLP metrics and logs): the p99 of orders' ``http.server.duration`` rises after the
  switch → the slowest exemplar since then resolves to a stored trace → that trace's
  critical path includes the SELECT that lost its index → its logs (from the API, not the
  files) include orders' slow-query warning, written in that trace.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from lab_helpers import demo_command, demo_output, wait_for

from spanscope.demo import data
from spanscope.demo.tour import log_lines, self_times

ALL = {
    "gateway", "users", "orders", "inventory", "shipping", "payments", "payment-provider",
    "notifications",
}  # fmt: skip
TOUCHED = {  # route -> the services a successful request of it goes through
    "GET /healthz": {"gateway"},
    "GET /products": {"gateway", "inventory"},
    "GET /products/{product_id}": {"gateway", "inventory"},
    "POST /login": {"gateway", "users"},
    "POST /orders": ALL,
    "GET /orders/{order_ref}": {"gateway", "users", "orders", "inventory"},
}
LAB_SECONDS = 40


def statement_of(span: dict[str, Any]) -> str:
    return str({a["key"]: a["value"] for a in span["attributes"]}.get("db.statement", ""))


def search(api: str, **params: Any) -> list[dict[str, Any]]:
    response = httpx.get(api + "/api/v1/traces", params={"limit": 1000, **params}, timeout=30)
    response.raise_for_status()
    traces: list[dict[str, Any]] = response.json()["traces"]
    return traces


def test_missing_index_lab_tells_the_story(
    tmp_path: Path,
    lab_dir: Path,
    start_server: Callable[..., Any],
    run_demo: Callable[..., subprocess.Popen[bytes]],
) -> None:
    server = start_server()
    command = demo_command(
        lab_dir, server.api_url, server.otlp_url,
        "--incident", "missing-index", "--duration", str(LAB_SECONDS),
        "--baseline", "12", "--tour-after", "15", "--rate", "6",
    )  # fmt: skip
    # metrics every 2 s (the lab's default is 5 s) so the 12 s baseline has several points
    demo = run_demo(command, env={"OTEL_METRIC_EXPORT_INTERVAL": "2000"})
    assert demo.wait(LAB_SECONDS + 120) == 0, demo_output(tmp_path)
    output = demo_output(tmp_path)

    requests = [json.loads(line) for line in (lab_dir / "traffic.jsonl").read_text().splitlines()]
    answered = [r for r in requests if r["status"] > 0]
    assert len(answered) >= 100, f"the traffic made only {len(answered)} requests:\n{output}"
    assert all(r["trace_id"] for r in answered), "a gateway answer without a traceresponse"
    by_trace = {r["trace_id"]: r for r in answered}
    assert len(by_trace) == len(answered), "two requests shared a trace id"

    # the services flushed their spans on SIGTERM; the server stores them within a second
    start = min(r["time_unix_nano"] for r in requests) - 1_000_000_000

    def fetch(trace_id: str) -> dict[str, Any] | None:
        response = httpx.get(f"{server.api_url}/api/v1/traces/{trace_id}", timeout=30)
        return response.json() if response.status_code == 200 else None

    def complete(trace_id: str) -> dict[str, Any] | None:
        """The trace once its root span is stored (the gateway's batch may come last)."""
        trace = fetch(trace_id)
        if trace and any(s["parent_span_id"] is None for s in trace["spans"]):
            return trace
        return None

    traces = {}
    for trace_id in by_trace:
        found = wait_for(lambda t=trace_id: complete(t), 30, f"trace {trace_id} with its root")
        assert isinstance(found, dict)
        traces[trace_id] = found

    # ONE trace per request: one root (the gateway's server span for that route), every
    # parent stored (0 orphans), every service the request touched
    for trace_id, request in by_trace.items():
        spans = traces[trace_id]["spans"]
        ids = {s["span_id"] for s in spans}
        roots = [s for s in spans if s["parent_span_id"] is None]
        orphans = [s for s in spans if s["parent_span_id"] and s["parent_span_id"] not in ids]
        assert [(r["service"], r["name"], r["kind"]) for r in roots] == [
            ("gateway", request["route"], "server")
        ], request
        assert orphans == [], (request, orphans)
        if request["status"] < 400:
            assert {s["service"] for s in spans} == TOUCHED[request["route"]], request

    # ... and only those: no trace was started halfway down a call chain
    listed = {t["trace_id"] for t in search(server.api_url, start=start)}
    assert listed == set(by_trace), "traces no request started (broken propagation?)"
    routes = Counter(r["route"] for r in answered if r["status"] < 400)
    assert routes["POST /orders"] >= 10 and routes["GET /orders/{order_ref}"] >= 3, routes

    # the slowest checkouts after the switch: the SELECT that lost its index dominates —
    # the longest leaf span under orders in each, and the most self time summed over all
    # checkouts since the switch (one trace alone can be dominated by a scheduling stall
    # on a busy machine; the sum cannot)
    switched = [json.loads(line) for line in (lab_dir / "incidents.log").read_text().splitlines()]
    assert [(e["incident"], e["active"]) for e in switched] == [("missing-index", True)]
    after = [
        r["trace_id"] for r in answered
        if r["route"] == "POST /orders" and r["time_unix_nano"] > switched[0]["time_unix_nano"]
    ]  # fmt: skip
    assert len(after) >= 5, after
    slowest = search(
        server.api_url, service="gateway", operation="POST /orders",
        start=switched[0]["time_unix_nano"], order="slowest", limit=3,
    )  # fmt: skip
    assert len(slowest) == 3
    longest_leaves = []
    for summary in slowest:
        spans = traces[summary["trace_id"]]["spans"]
        parents = {s["parent_span_id"] for s in spans}
        leaves = [s for s in spans if s["service"] == "orders" and s["span_id"] not in parents]
        longest_leaves.append(max(leaves, key=lambda s: s["duration_ns"]))
    # at least two of the three: on a loaded CI machine one request can lose its time to a
    # scheduling stall in another span instead
    lookups = [s for s in longest_leaves if "WHERE order_ref = ?" in statement_of(s)]
    assert len(lookups) >= 2, [(statement_of(s) or s["name"]) for s in longest_leaves]
    at_real_size(server.api_url, answered, switched[0]["time_unix_nano"], slowest[0], traces)
    self_by_operation: Counter[tuple[str, str]] = Counter()
    for trace_id in after:
        spans = traces[trace_id]["spans"]
        for span_id, self_ns in self_times(spans).items():
            span = next(s for s in spans if s["span_id"] == span_id)
            self_by_operation[(span["service"], statement_of(span) or span["name"])] += self_ns
    top = self_by_operation.most_common(1)[0][0]
    assert top[0] == "orders" and "WHERE order_ref = ?" in top[1], self_by_operation.most_common(5)

    # the services' log lines of that trace carry its id, from the spans of that trace
    placed = [t for t in after if by_trace[t]["status"] == 201]
    trace_id = max(placed, key=lambda t: by_trace[t]["duration_ms"])  # slowest order placed
    lines = log_lines(lab_dir / "logs", trace_id)
    span_ids = {s["span_id"] for s in traces[trace_id]["spans"]}
    messages = {(line["service.name"], line["message"]) for line in lines}
    assert {("gateway", "checkout done"), ("orders", "order placed")} <= messages, messages
    assert all(line["span_id"] in span_ids for line in lines)

    # and the guided tour said so too
    assert "incident missing-index" in output
    assert (
        "what changed most: orders · SELECT id, status, total_cents FROM orders WHERE order_ref = ?"
        in output
    ), output
    assert "where its time went: orders · SELECT — " in output, output
    assert f"{server.api_url}/trace/" in output
    # ... and walked on from the services' own metrics and logs
    assert "orders http.server.duration p99" in output, output
    assert "slowest exemplar:" in output and "spanscope explain " in output, output

    walk_through(server.api_url, start, switched[0]["time_unix_nano"], traces)


def at_real_size(
    api: str,
    answered: list[dict[str, Any]],
    switch_ns: int,
    slowest: dict[str, Any],
    traces: dict[str, Any],
) -> None:
    """The incident at its real size (issue #14): every checkout loads the customer's last
    orders by reference, so the dropped index turns each of those lookups into a scan — and
    checkout takes many times what it took before. A ratio of medians of the client's own
    timings, never a wall-clock bound (the machine is shared); the first seconds are warm-up,
    the first two after the switch the index drop itself."""
    first = min(r["time_unix_nano"] for r in answered) + 4_000_000_000

    def checkout_ms(lo: int, hi: float) -> list[float]:
        return [
            r["duration_ms"] for r in answered
            if r["route"] == "POST /orders" and r["status"] < 400 and lo < r["time_unix_nano"] < hi
        ]  # fmt: skip

    before = checkout_ms(first, switch_ns)
    after = checkout_ms(switch_ns + 2_000_000_000, float("inf"))
    assert len(before) >= 3 and len(after) >= 5, (before, after)
    assert statistics.median(after) > 5 * statistics.median(before), (before, after)
    typical = sorted(
        (r for r in answered if r["route"] == "POST /orders" and r["status"] < 400
         and first < r["time_unix_nano"] < switch_ns),
        key=lambda r: r["duration_ms"],
    )[len(before) // 2]  # fmt: skip
    # ... and each lookup is its own SQL span: the slowest checkout shows them all
    spans = traces[slowest["trace_id"]]["spans"]
    lookups = [s for s in spans if "WHERE order_ref = ?" in statement_of(s)]
    assert len(lookups) > data.ORDER_HISTORY // 2, len(lookups)

    # spanscope explain on that trace names the SELECT first
    explained = subprocess.run(
        [sys.executable, "-m", "spanscope", "explain", slowest["trace_id"], "--url", api],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert explained.returncode == 0, explained.stderr
    headline = explained.stdout.splitlines()[0]
    assert "orders · SELECT" in headline, explained.stdout
    # ... and so does the A/B compare page (the tour links it: a typical checkout from
    # before against the slowest since), from /api/v1/diff
    diff = httpx.get(
        api + "/api/v1/diff", params={"a": typical["trace_id"], "b": slowest["trace_id"]},
        timeout=30,
    )  # fmt: skip
    assert diff.status_code == 200, diff.text
    assert "; orders · SELECT " in diff.json()["headline"], diff.json()["headline"]


def walk_through(api: str, start_ns: int, switch_ns: int, traces: dict[str, Any]) -> None:
    """p99 up → slowest exemplar → its trace → critical path has the SELECT → slow-query log."""

    def get(path: str, **params: Any) -> Any:
        response = httpx.get(api + path, params=params, timeout=30)
        assert response.status_code == 200, (path, params, response.text)
        return response.json()

    # the latency series, one point per 2 s step (the export interval): its typical level
    # after the switch is above its typical level before. Each step's mean (exact: the
    # histogram's sum / count), not its p99: the lab's buckets are 25 ms wide around the
    # baseline, so a step's p99 is interpolated inside one bucket and often ties; medians
    # over the steps, because one request can stall on a busy 2-core machine (a 230 ms
    # stall was seen in a baseline); the first seconds are warm-up
    series = get(
        "/api/v1/incident", service="orders", start=start_ns + 4_000_000_000,
        end=time.time_ns(), step="2s",
    )["series"]  # fmt: skip
    assert len(series) == 1 and series[0]["labels"]["service"] == "orders", series
    # a step in which orders answered nothing has no mean or p99 (null)
    points = [(p["time_unix_nano"], p) for p in series[0]["points"] if p["count"]]
    assert all(p["quantiles"]["p99"] is not None for _, p in points), points
    before = [p["mean"] for t, p in points if t + 2_000_000_000 <= switch_ns]
    after = [p["mean"] for t, p in points if t >= switch_ns]
    assert len(before) >= 2 and len(after) >= 5, points
    assert statistics.median(after) > statistics.median(before), (before, after)

    incident = get("/api/v1/incident", service="orders", start=switch_ns, end=time.time_ns())
    assert incident["metric"] == "http.server.duration" and incident["unit"] == "ms"
    exemplar = incident["slowest_exemplars"][0]
    assert exemplar["trace_id"] in traces, "the slowest exemplar's trace is not a lab request"
    summary = get("/api/v1/incident/exemplar", trace_id=exemplar["trace_id"],
                  span_id=exemplar["span_id"])  # fmt: skip
    assert summary["trace"]["exemplar_span"]["service"] == "orders"
    assert summary["trace"]["root_service"] == "gateway"

    spans = traces[exemplar["trace_id"]]["spans"]
    lookups = {s["span_id"] for s in spans if "WHERE order_ref = ?" in statement_of(s)}
    path = get(f"/api/v1/traces/{exemplar['trace_id']}/critical-path")
    assert lookups & {s["span_id"] for s in path["spans"]}, (lookups, path["spans"])

    logs = get(f"/api/v1/traces/{exemplar['trace_id']}/logs", severity="warn")["logs"]
    slow = [r for r in logs if r["body"].startswith("slow query")]
    assert slow, [(r["service"], r["body"]) for r in logs]
    assert slow[0]["service"] == "orders" and slow[0]["severity_text"] == "WARN"
    assert "WHERE order_ref = ?" in slow[0]["body"]
    assert slow[0]["span_id"] in {s["span_id"] for s in spans}
    # ... and the exemplar view shows the same warning beside the trace summary
    assert any(r["body"].startswith("slow query") for r in summary["logs"])

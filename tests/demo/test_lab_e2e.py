"""End to end: the lab runs with ``missing-index``, then Spanscope's API must tell the story.

One run of ``spanscope demo --incident missing-index`` (~40 s of traffic, free ports) against
a real ``spanscope serve``; then, asking only the query API:

- every request the traffic made is exactly ONE trace, rooted at the gateway's server span,
  with no orphan spans and every service the request touched (propagation never broke);
- no trace exists that a request did not start;
- in the slowest checkouts after the switch, the span that dominates (largest self time)
  is orders' SELECT on ``order_ref`` — the query that lost its index;
- the services' JSON log lines of a slow trace carry its trace id (and span ids of it);
- the guided tour printed the same finding.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from lab_helpers import demo_command, demo_output, wait_for

from spanscope.demo.tour import dominant_span, log_lines

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
    demo = run_demo(command)
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

    # the slowest checkouts after the switch: the SELECT that lost its index dominates
    switched = [json.loads(line) for line in (lab_dir / "incidents.log").read_text().splitlines()]
    assert [(e["incident"], e["active"]) for e in switched] == [("missing-index", True)]
    slowest = search(
        server.api_url, service="gateway", operation="POST /orders",
        start=switched[0]["time_unix_nano"], order="slowest", limit=3,
    )  # fmt: skip
    assert len(slowest) == 3
    for summary in slowest:
        found = dominant_span(traces[summary["trace_id"]])
        assert found is not None
        span, _ = found
        statement = {a["key"]: a["value"] for a in span["attributes"]}.get("db.statement", "")
        assert (span["service"], span["name"]) == ("orders", "SELECT"), span
        assert "WHERE order_ref = ?" in statement, statement

    # the services' log lines of that trace carry its id, from the spans of that trace
    trace_id = slowest[0]["trace_id"]
    lines = log_lines(lab_dir / "logs", trace_id)
    span_ids = {s["span_id"] for s in traces[trace_id]["spans"]}
    messages = {(line["service.name"], line["message"]) for line in lines}
    assert {("gateway", "checkout done"), ("orders", "order placed")} <= messages, messages
    assert all(line["span_id"] in span_ids for line in lines)

    # and the guided tour said so too
    assert "incident missing-index" in output
    assert "where its time went: orders · SELECT" in output, output
    assert f"{server.api_url}/trace/" in output

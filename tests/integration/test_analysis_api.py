"""Analysis against the real ``spanscope serve``, fed over OTLP/HTTP (JSON).

A population of checkouts is sent: one in ten is slow because its database query looks a
user up by email. The server must then name that query on the slow trace's critical path,
rank ``db.statement = … email …`` first when comparing slow with normal requests, draw the
orders -> inventory edge, and serve RED metrics — through the API and the CLI.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson
from typer.testing import CliRunner

from spanscope.api.serialize import traces_to_otlp  # noqa: E402
from spanscope.cli import app  # noqa: E402
from spanscope.model.spans import SpanKind, Trace  # noqa: E402
from spanscope.query.model import now_ns  # noqa: E402
from tests.support.server import RunningServer
from tests.support.traces import MS, build

BASE = (now_ns() - 20 * 60 * 1_000_000_000) // MS * MS  # twenty minutes ago
TIMEOUT_S = 30.0


def checkout(n: int) -> Trace:
    slow = n % 10 == 3
    db_ms = 900 if slow else 20
    statement = f"SELECT * FROM users WHERE {'email' if slow else 'id'} = ?"
    return build(
        ("root", None, 0, 50 + db_ms, {"service": "orders", "op": "POST /orders",
                                       "kind": SpanKind.SERVER, "host": "api-1"}),
        ("db", "root", 20, 20 + db_ms, {"service": "inventory", "op": "SELECT users",
                                        "kind": SpanKind.CLIENT, "host": "db-1",
                                        "attributes": {"db.statement": statement}}),
        trace_id=(0xABC0000 + n).to_bytes(16, "big"),
        base=BASE + n * 1000 * MS,
    )  # fmt: skip


POPULATION = [checkout(n) for n in range(60)]


def feed(server: RunningServer) -> None:
    body = orjson.dumps(traces_to_otlp(POPULATION))
    r = httpx.post(
        server.otlp_http_url + "/v1/traces",
        content=body,
        headers={"Content-Type": "application/json"},
        timeout=TIMEOUT_S,
    )
    assert r.status_code == 200, r.text
    deadline = time.monotonic() + TIMEOUT_S
    last = POPULATION[-1].trace_id.hex()
    while time.monotonic() < deadline:
        if httpx.get(f"{server.api_url}/api/v1/traces/{last}", timeout=5).status_code == 200:
            return
        time.sleep(0.1)
    raise AssertionError("the population was not stored in time")


def get(server: RunningServer, path: str, **params: Any) -> Any:
    r = httpx.get(server.api_url + path, params=params, timeout=TIMEOUT_S)
    assert r.status_code == 200, r.text
    return r.json()


def test_analysis_end_to_end(spanscope_server: RunningServer) -> None:
    feed(spanscope_server)
    slow = POPULATION[3].trace_id.hex()

    explained = get(spanscope_server, f"/api/v1/traces/{slow}/explain")
    assert explained["critical_path"]["spans"][0]["name"] == "SELECT users"
    assert "inventory · SELECT users, on the critical path" in explained["headline"]

    compared = get(spanscope_server, "/api/v1/compare", service="orders",
                   operation="POST /orders", slower_than="500ms", lookback="1h")  # fmt: skip
    assert compared["split"]["slow_count"] == 6
    top = compared["attributes"][0]
    assert (top["key"], top["value"]) == ("db.statement", "SELECT * FROM users WHERE email = ?")
    assert compared["operations"][0]["name"] == "SELECT users"

    graph = get(spanscope_server, "/api/v1/service-map", lookback="1h")
    assert [(e["parent"], e["child"], e["call_count"]) for e in graph["edges"]] == [
        ("orders", "inventory", 60)
    ]

    red = get(spanscope_server, "/api/v1/red", service="orders", step="5m", lookback="1h")
    assert red["series"][0]["totals"]["request_count"] == 60

    spm = get(spanscope_server, "/api/metrics/calls", service="orders")
    assert spm["metrics"][0]["labels"] == [{"name": "service_name", "value": "orders"}]

    runner = CliRunner()
    result = runner.invoke(app, ["explain", slow, "--url", spanscope_server.api_url])
    assert result.exit_code == 0, result.output
    first_line = result.output.splitlines()[0]
    assert first_line.endswith("is inventory · SELECT users, on the critical path")
    result = runner.invoke(app, ["compare", "--service", "orders", "--operation",
                                 "POST /orders", "--slower-than", "500ms",
                                 "--url", spanscope_server.api_url])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "db.statement = SELECT * FROM users WHERE email = ?" in result.output.splitlines()[0]
    result = runner.invoke(app, ["deps", "--url", spanscope_server.api_url])
    assert result.exit_code == 0 and "orders" in result.output
    result = runner.invoke(app, ["red", "--service", "orders", "--url", spanscope_server.api_url])
    assert result.exit_code == 0 and result.output.startswith("orders:")

"""The Jaeger endpoints the Jaeger UI calls, against the real ``spanscope serve`` (issue 15).

Each request is shaped as jaeger-ui builds it (packages/jaeger-ui/src/api/jaeger.ts and
api/v3/client.ts in jaegertracing/jaeger-ui; ``query-string`` sorts the keys), and each
answer is checked for Jaeger's shape AND for what it must say about crafted traces:

- ``checkout``: orders SERVER -> orders CLIENT -> inventory SERVER, which fails
  ("out of stock");
- ``broken``: orders SERVER with a CLIENT call no server answered, a payments span whose
  parent never arrived (an orphan), and an inventory SERVER that starts before the CLIENT
  span calling it, on another host (clock skew). Only orders has ``service.version``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from spanscope.api.serialize import traces_to_otlp  # noqa: E402
from spanscope.model.spans import SpanKind, StatusCode, Trace  # noqa: E402
from spanscope.query.model import now_ns  # noqa: E402
from tests.support.auth import Token, bearer, write_auth_file
from tests.support.server import RunningServer
from tests.support.traces import MS, build, sid

BASE = (now_ns() - 10 * 60 * 1_000_000_000) // MS * MS  # ten minutes ago
TIMEOUT_S = 30.0
CHECKOUT_ID = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
BROKEN_ID = bytes.fromhex("5b8efff798038103d269b633813fc60c")


def _versioned(trace: Trace, service: str, version: str) -> Trace:
    for s in trace.spans:
        if s.service == service:
            s.resource["service.version"] = version
    return trace


def checkout() -> Trace:
    t = build(
        ("root", None, 0, 100, {"service": "orders", "op": "POST /orders",
                                "kind": SpanKind.SERVER}),
        ("call", "root", 10, 90, {"service": "orders", "op": "GET /stock",
                                  "kind": SpanKind.CLIENT}),
        ("stock", "call", 20, 80, {"service": "inventory", "op": "GET /stock",
                                   "kind": SpanKind.SERVER, "error": True}),
        trace_id=CHECKOUT_ID, base=BASE,
    )  # fmt: skip
    for s in t.spans:
        if s.status_code == StatusCode.ERROR:
            s.status_message = "out of stock"
    return _versioned(t, "orders", "1.4.2")


def broken() -> Trace:
    t = build(
        ("root", None, 0, 200, {"service": "orders", "op": "POST /pay", "kind": SpanKind.SERVER,
                                "host": "api-1"}),
        ("pay", "root", 10, 50, {"service": "orders", "op": "POST /payments",
                                 "kind": SpanKind.CLIENT, "host": "api-1"}),
        ("lost", "never-sent", 20, 40, {"service": "payments", "op": "charge",
                                        "kind": SpanKind.INTERNAL, "host": "pay-1"}),
        ("call", "root", 60, 120, {"service": "orders", "op": "GET /stock",
                                   "kind": SpanKind.CLIENT, "host": "api-1"}),
        ("stock", "call", 40, 90, {"service": "inventory", "op": "GET /stock",
                                   "kind": SpanKind.SERVER, "host": "db-1"}),
        ("query", "root", 130, 150, {"service": "orders", "op": "SELECT orders",
                                     "kind": SpanKind.CLIENT, "host": "api-1",
                                     "attributes": {"db.system": "postgresql"}}),
        trace_id=BROKEN_ID, base=BASE + 5_000 * MS,
    )  # fmt: skip
    return _versioned(t, "orders", "1.4.2")


TRACES = [checkout(), broken()]


@pytest.fixture(scope="module")
def server(spanscope_launcher: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    running = spanscope_launcher(tmp_path_factory.mktemp("jaeger") / "data")
    try:
        body = orjson.dumps(traces_to_otlp(TRACES))
        r = httpx.post(
            running.otlp_http_url + "/v1/traces",
            content=body,
            headers={"Content-Type": "application/json"},
            timeout=TIMEOUT_S,
        )
        assert r.status_code == 200, r.text
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            if all(
                httpx.get(f"{running.api_url}/api/v1/traces/{t.trace_id.hex()}").status_code == 200
                for t in TRACES
            ):
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the crafted traces were not stored in time")
        yield running
    finally:
        code = running.stop()
        assert code == 0, running.log()


def get(server: RunningServer, path_and_query: str, status: int = 200) -> Any:
    r = httpx.get(server.api_url + path_and_query, timeout=TIMEOUT_S)
    assert r.status_code == status, r.text
    return r.json()


def rfc3339(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def v3_query(attributes: dict[str, str], service: str = "orders") -> str:
    # jaeger-ui api/v3/client.ts fetchTraceSummaries: URLSearchParams in this order, times
    # from Date.toISOString() (millisecond precision), the search form's tags as JSON.
    return str(
        httpx.QueryParams(
            {
                "query.serviceName": service,
                "query.startTimeMin": rfc3339(BASE - 60_000 * MS),
                "query.startTimeMax": rfc3339(now_ns() + 60_000 * MS),
                "query.searchDepth": "20",
                "query.attributes": orjson.dumps(attributes).decode(),
            }
        )
    )


# --- v3 search by Jaeger's synthetic attributes -------------------------------------


def trace_ids_of(result: Any) -> set[str]:
    return {
        s["traceId"]
        for rs in result["result"]["resourceSpans"]
        for ss in rs["scopeSpans"]
        for s in ss["spans"]
    }


def test_v3_error_true_finds_the_failing_trace(server: RunningServer) -> None:
    for service in ("inventory", "orders"):  # orders: the error is on another service's span
        query = v3_query({"error": "true"}, service)
        summaries = get(server, f"/api/v3/trace-summaries?{query}")["summaries"]
        if service == "inventory":
            assert [s["traceId"] for s in summaries] == [CHECKOUT_ID.hex()]
            found = get(server, f"/api/v3/traces?{query}")
            assert trace_ids_of(found) == {CHECKOUT_ID.hex()}
        else:  # one span must hold every filter: orders' spans are not errors
            assert summaries == []
            get(server, f"/api/v3/traces?{query}", status=404)


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"otel.status_code": "ERROR"}, {CHECKOUT_ID}),
        ({"span.status": "ERROR"}, {CHECKOUT_ID}),
        ({"otel.status_description": "out of stock"}, {CHECKOUT_ID}),
        ({"error": "false"}, {BROKEN_ID}),  # broken's inventory span is not an error
        ({"span.kind": "server"}, {CHECKOUT_ID, BROKEN_ID}),
        ({"span.kind": "client"}, set()),  # no inventory span is a CLIENT
        ({"error": "true", "span.kind": "server"}, {CHECKOUT_ID}),
    ],
)
def test_v3_synthetic_attributes(
    server: RunningServer, attributes: dict[str, str], expected: set[bytes]
) -> None:
    summaries = get(server, f"/api/v3/trace-summaries?{v3_query(attributes, 'inventory')}")
    assert {s["traceId"] for s in summaries["summaries"]} == {t.hex() for t in expected}


def test_v1_span_kind_tag(server: RunningServer) -> None:
    data = get(server, "/api/traces?service=orders&tags=%7B%22span.kind%22%3A%22client%22%7D")
    assert {t["traceID"] for t in data["data"]} == {CHECKOUT_ID.hex(), BROKEN_ID.hex()}
    none = get(server, "/api/traces?service=payments&tags=%7B%22span.kind%22%3A%22client%22%7D")
    assert none["data"] == []


def test_v3_bad_synthetic_value_is_a_400(server: RunningServer) -> None:
    body = get(server, f"/api/v3/trace-summaries?{v3_query({'span.kind': 'sideways'})}", 400)
    assert "span.kind" in body["error"]["message"] and "sideways" in body["error"]["message"]
    body = get(server, f"/api/v3/trace-summaries?{v3_query({'error': 'maybe'})}", 400)
    assert "error" in body["error"]["message"] and "maybe" in body["error"]["message"]


# --- SPM per operation ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "extra", "name"),
    [
        ("latencies", "&quantile=0.95", "service_operation_latencies"),
        ("calls", "", "service_operation_call_rate"),
        ("errors", "", "service_operation_error_rate"),
    ],
)
def test_spm_group_by_operation_names_the_series(
    server: RunningServer, metric: str, extra: str, name: str
) -> None:
    # jaeger-ui fetchMetrics: `service=a&` + queryString.stringify(query) (sorted keys)
    end_ms = now_ns() // MS + 60_000
    query = (
        f"service=inventory&endTs={end_ms}&groupByOperation=true&lookback=3600000"
        f"{extra}&ratePer=600000&spanKind=server&step=60000"
    )
    family = get(server, f"/api/metrics/{metric}?{query}")
    assert family["name"] == name
    assert family["help"].endswith("& operation")
    labels = [{lab["name"]: lab["value"] for lab in m["labels"]} for m in family["metrics"]]
    assert {"operation": "GET /stock", "service_name": "inventory"} in labels
    per_service = get(server, f"/api/metrics/{metric}?{query.replace('true', 'false')}")
    assert per_service["name"] == name.replace("service_operation_", "service_")


# --- /api/transform ---------------------------------------------------------------------


def test_transform_turns_otlp_json_into_jaeger_traces(server: RunningServer) -> None:
    # jaeger-ui transformOTLP: POST /api/transform with the file's JSON as the body
    body = orjson.dumps(traces_to_otlp([checkout()]))
    r = httpx.post(server.api_url + "/api/transform", content=body, timeout=TIMEOUT_S)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["errors"] is None
    [trace] = answer["data"]
    assert trace["traceID"] == CHECKOUT_ID.hex()
    spans = {s["operationName"]: s for s in trace["spans"]}
    assert set(spans) == {"POST /orders", "GET /stock"} and len(trace["spans"]) == 3
    stock = next(
        s
        for s in trace["spans"]
        if trace["processes"][s["processID"]]["serviceName"] == "inventory"
    )
    tags = {t["key"]: t["value"] for t in stock["tags"]}
    assert tags["error"] is True and tags["otel.status_description"] == "out of stock"
    assert tags["span.kind"] == "server"
    assert stock["references"] == [
        {"refType": "CHILD_OF", "traceID": CHECKOUT_ID.hex(),
         "spanID": sid(checkout(), "call").hex()}
    ]  # fmt: skip
    assert stock["startTime"] == (BASE + 20 * MS) // 1000 and stock["duration"] == 60_000


def test_transform_stores_nothing(server: RunningServer) -> None:
    t = build(("only", None, 0, 5, {"service": "uploaded-only"}), base=BASE)
    r = httpx.post(
        server.api_url + "/api/transform", content=orjson.dumps(traces_to_otlp([t])), timeout=10
    )
    assert r.status_code == 200, r.text
    assert "uploaded-only" not in get(server, "/api/services")["data"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"", "empty body"),
        (b"{not json", "JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"resourceSpans": {}}', "resourceSpans"),
    ],
)
def test_transform_bad_body_is_a_400(server: RunningServer, body: bytes, says: str) -> None:
    r = httpx.post(server.api_url + "/api/transform", content=body, timeout=10)
    assert r.status_code == 400, r.text
    [err] = r.json()["errors"]
    assert err["code"] == 400 and says in err["msg"]


def test_transform_too_big_is_a_413(server: RunningServer) -> None:
    body = b'{"resourceSpans": [' + b" " * (16 * 1024 * 1024) + b"]}"
    r = httpx.post(server.api_url + "/api/transform", content=body, timeout=TIMEOUT_S)
    assert r.status_code == 413 and "smaller" in r.json()["errors"][0]["msg"]


# --- deep dependency graph --------------------------------------------------------------


def test_deep_dependencies_paths_through_the_focal_service(server: RunningServer) -> None:
    # jaeger-ui fetchDeepDependencyGraph({service, operation, start, end}) -> sorted keys;
    # the URL state gives start=0&end=0 unless the page says otherwise.
    answer = get(server, "/analytics/v1/dependencies?end=0&service=inventory&start=0")
    paths = {
        tuple((e["service"], e["operation"]) for e in d["path"]): d["attributes"]
        for d in answer["dependencies"]
    }
    stock_path = (("orders", "POST /orders"), ("inventory", "GET /stock"))
    skewed_path = (("orders", "POST /pay"), ("inventory", "GET /stock"))
    assert set(paths) == {stock_path, skewed_path}
    assert paths[stock_path] == [{"key": "exemplar_trace_id", "value": CHECKOUT_ID.hex()}]
    # every path holds the focal node, or the UI throws "A payload path lacked the focalNode"
    focal = get(server, "/analytics/v1/dependencies?operation=charge&service=payments")
    assert [[e["service"] for e in d["path"]] for d in focal["dependencies"]] == [["payments"]]


def test_deep_dependencies_needs_a_service(server: RunningServer) -> None:
    r = httpx.get(server.api_url + "/analytics/v1/dependencies?end=0&start=0", timeout=10)
    assert r.status_code == 400 and "service" in r.json()["errors"][0]["msg"]
    r = httpx.get(server.api_url + "/analytics/v1/dependencies?service=orders&end=soon")
    assert r.status_code == 400 and "end" in r.json()["errors"][0]["msg"]


# --- trace quality ----------------------------------------------------------------------


def metric(answer: Any, name: str) -> Any:
    return next(m for m in answer["metrics"] if m["name"] == name)


def test_quality_metrics_counts_for_crafted_traces(server: RunningServer) -> None:
    # jaeger-ui fetchQualityMetrics(service, hours): GET /api/quality-metrics?hours=&service=
    everything = get(server, "/api/quality-metrics?hours=48&service=")
    assert {s["key"] for s in everything["scores"]} == {
        m["category"] for m in everything["metrics"]
    }
    for score in everything["scores"]:
        assert 0 <= score["value"] <= score["max"] == 100
    # 9 spans in all; one (payments' "charge") names a parent that never arrived
    orphans = metric(everything, "Orphan spans")
    assert (orphans["passCount"], orphans["failureCount"]) == (8, 1)
    assert orphans["failureExamples"] == [
        {"traceID": BROKEN_ID.hex(), "spanIDs": [sid(broken(), "lost").hex()]}
    ]
    skew = metric(everything, "Clock skew")
    assert skew["failureCount"] == 1
    assert skew["failureExamples"][0]["spanIDs"] == [sid(broken(), "stock").hex()]
    version = metric(everything, "service.version")
    assert (version["passCount"], version["failureCount"]) == (6, 3)  # 2 inventory, 1 payments
    rows = {r["service"]: r for r in version["details"][0]["rows"]}
    assert (rows["inventory"]["failureCount"], rows["orders"]["failureCount"]) == (2, 0)

    # orders alone: 3 CLIENT spans; GET /stock is answered twice, POST /payments never;
    # the database call is exempt (nothing traces inside PostgreSQL)
    orders = get(server, "/api/quality-metrics?hours=48&service=orders")
    propagation = metric(orders, "Context propagation")
    assert (propagation["passCount"], propagation["failureCount"]) == (2, 1)
    assert propagation["exemptionCount"] == 1
    assert propagation["failureExamples"] == [
        {"traceID": BROKEN_ID.hex(), "spanIDs": [sid(broken(), "pay").hex()]}
    ]
    assert metric(orders, "service.version")["failureCount"] == 0


@pytest.mark.parametrize("query", ["hours=0&service=orders", "hours=abc", "hours=1.5"])
def test_quality_metrics_bad_hours_is_a_400(server: RunningServer, query: str) -> None:
    r = httpx.get(server.api_url + f"/api/quality-metrics?{query}", timeout=10)
    assert r.status_code == 400, r.text
    assert "hours" in r.json()["errors"][0]["msg"]


def test_transform_needs_only_a_query_token(start_spanscope: Any, tmp_path: Path) -> None:
    # It changes nothing, so a reader may upload a file; a POST that changes state needs
    # admin (spanscope/auth.py).
    reader, ingest = "reader-7d1c0b9e4f2a6c3e8b5d", "ingest-2c8e4a6f0b1d3e5a7c9f"
    auth = write_auth_file(
        tmp_path, Token("reader", reader, ("query",)), Token("apps", ingest, ("ingest",))
    )
    running = start_spanscope(tmp_path / "data", env={"SPANSCOPE_AUTH_FILE": str(auth)})
    body = orjson.dumps(traces_to_otlp([checkout()]))
    url = running.api_url + "/api/transform"
    assert httpx.post(url, content=body, timeout=10).status_code == 401
    wrong = httpx.post(url, content=body, headers=bearer(ingest))
    assert wrong.status_code == 403 and "query" in wrong.text
    ok = httpx.post(url, content=body, headers=bearer(reader))
    assert ok.status_code == 200 and ok.json()["data"][0]["traceID"] == CHECKOUT_ID.hex()

"""The Jaeger-compatible APIs answer what Grafana's Jaeger data source and the Jaeger UI read:
v1 (/api, Jaeger's JSON model in its wrapper) and v3 (/api/v3, OTLP JSON)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from spanscope.api.app import create_app
from spanscope.query.model import now_ns
from tests.support.memory_store import (
    DB_ID,
    LINKED_TRACE_ID,
    MS,
    ORDERS_ID,
    OTHER_TRACE_ID,
    ROOT_ID,
    TRACE_ID,
    checkout_spans,
    quick_spans,
    store_factories,
)

STORES = store_factories()
BASE = now_ns() - 10 * 60 * 1_000_000_000
EMPTY_WRAPPER = {"total": 0, "limit": 0, "offset": 0, "errors": None}


@pytest.fixture(params=sorted(STORES))
def client(request: pytest.FixtureRequest) -> Iterator[TestClient]:
    store = STORES[request.param]()
    store.write(checkout_spans(BASE) + quick_spans(BASE))
    yield TestClient(create_app(store))
    store.close()


def jaeger_ids(resp) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [t["traceID"] for t in resp.json()["data"]]


def tags(items: list[dict]) -> dict:
    return {t["key"]: (t["type"], t["value"]) for t in items}


# --- v1 -----------------------------------------------------------------------------


def test_services_and_operations_in_the_wrapper(client: TestClient) -> None:
    assert client.get("/api/services").json() == {
        "data": ["frontend", "orders"],
        "total": 2,
        "limit": 0,
        "offset": 0,
        "errors": None,
    }
    ops = client.get("/api/services/orders/operations").json()
    assert ops["data"] == ["INSERT orders", "POST /orders"] and ops["total"] == 2
    kinds = client.get("/api/operations", params={"service": "orders", "spanKind": "client"})
    assert kinds.json()["data"] == [{"name": "INSERT orders", "spanKind": "client"}]


def test_search_returns_whole_jaeger_traces(client: TestClient) -> None:
    resp = client.get(
        "/api/traces",
        params={"service": "orders", "tags": json.dumps({"user.id": "42"}), "limit": "20"},
    )
    body = resp.json()
    assert {k: body[k] for k in EMPTY_WRAPPER} == EMPTY_WRAPPER
    [trace] = body["data"]
    assert trace["traceID"] == TRACE_ID.hex()
    assert trace["processes"] == {
        "p1": {
            "serviceName": "frontend",
            "tags": [{"key": "host.name", "type": "string", "value": "web-1"}],
        },
        "p2": {
            "serviceName": "orders",
            "tags": [
                {"key": "host.name", "type": "string", "value": "api-7"},
                {"key": "process.pid", "type": "int64", "value": 4242},
            ],
        },
    }
    root, orders, db = trace["spans"]
    assert [s["spanID"] for s in (root, orders, db)] == [
        ROOT_ID.hex(),
        ORDERS_ID.hex(),
        DB_ID.hex(),
    ]
    assert [s["processID"] for s in (root, orders, db)] == ["p1", "p2", "p2"]
    assert root["references"] == []
    assert root["startTime"] == BASE // 1000 and root["duration"] == 1_250_000
    assert root["operationName"] == "GET /checkout" and root["flags"] == 1
    root_tags = tags(root["tags"])
    assert root_tags["http.status_code"] == ("int64", 500)
    assert root_tags["big"] == ("int64", str(2**60))
    assert root_tags["ratio"] == ("float64", 0.5)
    assert root_tags["cached"] == ("bool", False)
    assert root_tags["blob"] == ("binary", base64.b64encode(b"\x00\x01").decode())
    assert root_tags["retries"] == ("string", "[1,2]")
    assert json.loads(root_tags["headers"][1]) == {"accept": "json"}
    assert root_tags["span.kind"] == ("string", "server")
    assert root_tags["otel.status_code"] == ("string", "ERROR")
    assert root_tags["error"] == ("bool", True)
    assert root_tags["otel.status_description"] == ("string", "payment declined")
    assert root_tags["otel.scope.name"] == ("string", "opentelemetry.instrumentation.flask")
    assert root_tags["otel.scope.version"] == ("string", "0.48b0")
    assert root_tags["w3c.tracestate"] == ("string", "ot=th:8")
    assert orders["references"] == [
        {"refType": "CHILD_OF", "traceID": TRACE_ID.hex(), "spanID": ROOT_ID.hex()},
        {"refType": "FOLLOWS_FROM", "traceID": LINKED_TRACE_ID.hex(), "spanID": "0000000000000abc"},
    ]
    assert orders["logs"] == [
        {
            "timestamp": (BASE + 150 * MS) // 1000,
            "fields": [
                {"key": "event", "type": "string", "value": "exception"},
                {"key": "exception.message", "type": "string", "value": "boom"},
            ],
        }
    ]
    assert tags(db["tags"])["otel.status_code"] == ("string", "OK")
    assert "error" not in tags(db["tags"])


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"service": "frontend"}, [OTHER_TRACE_ID, TRACE_ID]),
        ({"service": "frontend", "limit": "1"}, [OTHER_TRACE_ID]),
        ({"service": "frontend", "operation": "GET /checkout"}, [TRACE_ID]),
        ({"service": "frontend", "tags": '{"http.status_code":"500"}'}, [TRACE_ID]),
        ({"service": "frontend", "tag": "http.status_code:200"}, [OTHER_TRACE_ID]),
        ({"service": "frontend", "tags": '{"error":"true"}'}, [TRACE_ID]),
        ({"service": "orders", "tags": '{"otel.status_code":"OK"}'}, [TRACE_ID]),
        ({"service": "frontend", "minDuration": "1s"}, [TRACE_ID]),
        ({"service": "frontend", "maxDuration": "5ms"}, [OTHER_TRACE_ID]),
        ({"service": "frontend", "tags": '{"http.method":"POST"}'}, []),
    ],
)
def test_search_filters(client: TestClient, params: dict, expected: list[bytes]) -> None:
    assert jaeger_ids(client.get("/api/traces", params=params)) == [t.hex() for t in expected]


def test_search_window_is_in_microseconds(client: TestClient) -> None:
    start_us = BASE // 1000 - 1
    params = {"service": "frontend", "start": str(start_us), "end": str(start_us + 1_000_000)}
    assert jaeger_ids(client.get("/api/traces", params=params)) == [TRACE_ID.hex()]
    params = {"service": "frontend", "end": str(BASE // 1000 - 1)}
    assert jaeger_ids(client.get("/api/traces", params=params)) == []


def test_search_by_trace_ids_reports_the_missing_one(client: TestClient) -> None:
    missing = "ab" * 16
    resp = client.get(f"/api/traces?traceID={TRACE_ID.hex()}&traceID={missing}")
    body = resp.json()
    assert [t["traceID"] for t in body["data"]] == [TRACE_ID.hex()]
    assert body["errors"] == [{"code": 404, "msg": "trace not found", "traceID": missing}]


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({}, ["service", "required"]),
        ({"service": "frontend", "tags": "not json"}, ["tags", "not json", "JSON object"]),
        ({"service": "frontend", "tag": "nocolon"}, ["tag", "nocolon", "key:value"]),
        ({"service": "frontend", "minDuration": "soon"}, ["minDuration", "soon"]),
        ({"service": "frontend", "start": "yesterday"}, ["start", "yesterday", "microseconds"]),
        ({"service": "frontend", "limit": "many"}, ["limit", "many"]),
    ],
)
def test_bad_parameters_answer_the_errors_wrapper(
    client: TestClient, params: dict, words: list[str]
) -> None:
    resp = client.get("/api/traces", params=params)
    assert resp.status_code == 400
    body = resp.json()
    assert body["data"] is None and body["total"] == 0
    [error] = body["errors"]
    assert error["code"] == 400
    for word in words:
        assert word in error["msg"]


def test_trace_by_id(client: TestClient) -> None:
    body = client.get(f"/api/traces/{TRACE_ID.hex()}?raw=true").json()
    assert body["errors"] is None
    [trace] = body["data"]
    assert len(trace["spans"]) == 3 and set(trace["processes"]) == {"p1", "p2"}
    missing = client.get("/api/traces/" + "cd" * 16)
    assert missing.status_code == 404
    assert missing.json() == {
        "data": None,
        "total": 0,
        "limit": 0,
        "offset": 0,
        "errors": [{"code": 404, "msg": "trace not found", "traceID": "cd" * 16}],
    }
    assert client.get("/api/traces/xyz").json()["errors"][0]["code"] == 400


def test_dependencies_in_milliseconds(client: TestClient) -> None:
    end_ms = now_ns() // 1_000_000
    resp = client.get("/api/dependencies", params={"endTs": str(end_ms), "lookback": "3600000"})
    assert resp.json()["data"] == [{"parent": "frontend", "child": "orders", "callCount": 1}]
    old = client.get("/api/dependencies", params={"endTs": str(end_ms - 86_400_000)})
    assert old.json()["data"] == []


# --- v3 -----------------------------------------------------------------------------


def rfc3339(ns: int) -> str:
    import datetime

    dt = datetime.datetime.fromtimestamp(ns // 1_000_000_000, tz=datetime.UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns % 1_000_000_000:09d}Z"


WINDOW = {
    "query.startTimeMin": rfc3339(BASE - 3600 * 10**9),
    "query.startTimeMax": rfc3339(BASE + 3600 * 10**9),
}


def test_v3_services_and_operations(client: TestClient) -> None:
    assert client.get("/api/v3/services").json() == {"services": ["frontend", "orders"]}
    resp = client.get("/api/v3/operations", params={"service": "orders", "spanKind": "server"})
    assert resp.json() == {"operations": [{"name": "POST /orders", "spanKind": "server"}]}


def test_v3_search_answers_otlp_json(client: TestClient) -> None:
    resp = client.get(
        "/api/v3/traces",
        params={**WINDOW, "query.serviceName": "orders", "query.durationMin": "500ms"},
    )
    assert resp.status_code == 200, resp.text
    resource_spans = resp.json()["result"]["resourceSpans"]
    services = [
        {a["key"]: a["value"] for a in rs["resource"]["attributes"]}["service.name"]
        for rs in resource_spans
    ]
    assert services == [{"stringValue": "frontend"}, {"stringValue": "orders"}]
    frontend, orders = resource_spans
    [scope] = frontend["scopeSpans"]
    assert scope["scope"] == {"name": "opentelemetry.instrumentation.flask", "version": "0.48b0"}
    [root] = scope["spans"]
    assert root["traceId"] == TRACE_ID.hex() and root["spanId"] == ROOT_ID.hex()
    assert "parentSpanId" not in root
    assert root["kind"] == 2 and root["status"] == {"code": 2, "message": "payment declined"}
    assert root["startTimeUnixNano"] == str(BASE)
    attrs = {a["key"]: a["value"] for a in root["attributes"]}
    assert attrs["http.status_code"] == {"intValue": "500"}
    assert attrs["ratio"] == {"doubleValue": 0.5}
    assert attrs["retries"] == {"arrayValue": {"values": [{"intValue": "1"}, {"intValue": "2"}]}}
    assert attrs["headers"] == {
        "kvlistValue": {"values": [{"key": "accept", "value": {"stringValue": "json"}}]}
    }
    orders_spans = [s for ss in orders["scopeSpans"] for s in ss["spans"]]
    assert [s["parentSpanId"] for s in orders_spans] == [ROOT_ID.hex(), ORDERS_ID.hex()]
    assert orders_spans[0]["events"][0]["name"] == "exception"
    assert orders_spans[0]["links"][0]["traceId"] == LINKED_TRACE_ID.hex()


def test_v3_accepts_the_snake_case_parameter_names(client: TestClient) -> None:
    params = {
        "query.start_time_min": WINDOW["query.startTimeMin"],
        "query.start_time_max": WINDOW["query.startTimeMax"],
        "query.service_name": "frontend",
        "query.operation_name": "GET /health",
    }
    resource_spans = client.get("/api/v3/traces", params=params).json()["result"]["resourceSpans"]
    [span] = resource_spans[0]["scopeSpans"][0]["spans"]
    assert span["traceId"] == OTHER_TRACE_ID.hex()


def test_v3_errors(client: TestClient) -> None:
    no_window = client.get("/api/v3/traces", params={"query.serviceName": "orders"})
    assert no_window.status_code == 400
    assert "query.startTimeMin" in no_window.json()["error"]["message"]
    assert no_window.json()["error"]["httpCode"] == 400
    nothing = client.get("/api/v3/traces", params={**WINDOW, "query.serviceName": "nobody"})
    assert nothing.status_code == 404 and nothing.json()["error"]["httpCode"] == 404
    bad_time = client.get("/api/v3/traces", params={**WINDOW, "query.startTimeMin": "noon"})
    assert bad_time.status_code == 400 and "noon" in bad_time.json()["error"]["message"]
    bad_attrs = client.get("/api/v3/traces", params={**WINDOW, "query.attributes": "[1]"})
    assert bad_attrs.status_code == 400 and "query.attributes" in bad_attrs.text


def test_v3_trace_by_id(client: TestClient) -> None:
    resp = client.get(f"/api/v3/traces/{OTHER_TRACE_ID.hex()}")
    [rs] = resp.json()["result"]["resourceSpans"]
    assert rs["scopeSpans"][0]["spans"][0]["name"] == "GET /health"
    missing = client.get("/api/v3/traces/" + "ef" * 16)
    assert missing.status_code == 404 and missing.json()["error"]["httpCode"] == 404


def test_v3_trace_summaries(client: TestClient) -> None:
    params = {**WINDOW, "query.attributes": json.dumps({"user.id": "42"})}
    resp = client.get("/api/v3/trace-summaries", params=params)
    assert resp.json() == {
        "summaries": [
            {
                "traceId": TRACE_ID.hex(),
                "rootServiceName": "frontend",
                "rootOperationName": "GET /checkout",
                "minStartTimeUnixNano": str(BASE),
                "maxEndTimeUnixNano": str(BASE + 1250 * MS),
                "spanCount": 3,
                "errorSpanCount": 2,
                "orphanSpanCount": 0,
                "services": [
                    {"name": "frontend", "spanCount": 1, "errorSpanCount": 1},
                    {"name": "orders", "spanCount": 2, "errorSpanCount": 1},
                ],
            }
        ]
    }
    depth = client.get("/api/v3/trace-summaries", params={**WINDOW, "query.searchDepth": "1"})
    assert [s["traceId"] for s in depth.json()["summaries"]] == [OTHER_TRACE_ID.hex()]

"""The native API (/api/v1) answers what docs/api.md promises, over a Store."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from spanscope.api.app import create_app
from spanscope.model.spans import Span
from spanscope.query.model import now_ns
from tests.support.memory_store import (
    DB_ID,
    MS,
    ORDERS_ID,
    OTHER_TRACE_ID,
    ROOT_ID,
    TRACE_ID,
    MemoryStore,
    checkout_spans,
    quick_spans,
    store_factories,
)

STORES = store_factories()
BASE = now_ns() - 10 * 60 * 1_000_000_000  # ten minutes ago: inside every default window


@pytest.fixture(params=sorted(STORES))
def client(request: pytest.FixtureRequest) -> Iterator[TestClient]:
    store = STORES[request.param]()
    store.write(checkout_spans(BASE) + quick_spans(BASE))
    yield TestClient(create_app(store))
    store.close()


def trace_ids(resp) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [t["trace_id"] for t in resp.json()["traces"]]


def test_healthz_follows_ready() -> None:
    state = {"ready": False}
    c = TestClient(create_app(MemoryStore(), ready=lambda: state["ready"]))
    assert c.get("/healthz").status_code == 503
    state["ready"] = True
    resp = c.get("/healthz")
    assert resp.status_code == 200 and resp.json() == {"status": "ok", "reasons": []}


def test_healthz_and_readyz_say_why_they_fail() -> None:
    from spanscope.ingest.pipeline import Health

    state = Health()
    c = TestClient(create_app(MemoryStore(), ready=lambda: True, health=lambda: state))
    assert c.get("/readyz").json() == {"status": "ok", "reasons": []}
    state = Health(ready=["the store is unavailable for 3 s: disk full"])
    assert c.get("/healthz").status_code == 200  # alive: restarting would not help
    resp = c.get("/readyz")
    assert resp.status_code == 503
    assert resp.json() == {"status": "unavailable", "reasons": [state.ready[0]]}
    state = Health(
        live=["the store writer thread stopped"], ready=["the store writer thread stopped"]
    )
    resp = c.get("/healthz")
    assert resp.status_code == 503 and resp.json()["reasons"] == state.live


def test_services_and_operations(client: TestClient) -> None:
    assert client.get("/api/v1/services").json() == {"services": ["frontend", "orders"]}
    ops = client.get("/api/v1/services/orders/operations").json()["operations"]
    assert ops == [
        {"name": "INSERT orders", "span_kind": "client"},
        {"name": "POST /orders", "span_kind": "server"},
    ]
    server_only = client.get("/api/v1/services/orders/operations?span_kind=server").json()
    assert server_only == {"operations": [{"name": "POST /orders", "span_kind": "server"}]}


def test_search_summary_describes_the_whole_trace(client: TestClient) -> None:
    resp = client.get("/api/v1/traces", params={"service": "orders", "operation": "INSERT orders"})
    [summary] = resp.json()["traces"]
    assert summary == {
        "trace_id": TRACE_ID.hex(),
        "root_service": "frontend",
        "root_operation": "GET /checkout",
        "start_time_unix_nano": BASE,
        "duration_ns": 1250 * MS,
        "span_count": 3,
        "error_count": 2,
        "orphan_count": 0,
        "services": [
            {"name": "frontend", "span_count": 1, "error_count": 1},
            {"name": "orders", "span_count": 2, "error_count": 1},
        ],
    }


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, [OTHER_TRACE_ID, TRACE_ID]),  # newest first
        ({"order": "slowest"}, [TRACE_ID, OTHER_TRACE_ID]),
        ({"limit": "1"}, [OTHER_TRACE_ID]),
        ({"tag": "http.status_code>=500"}, [TRACE_ID]),
        ({"tag": "http.status_code=503"}, [TRACE_ID]),  # a string attribute holding "503"
        ({"tag": ["http.method=GET", "http.status_code<300"]}, [OTHER_TRACE_ID]),
        ({"tag": "host.name=api-7"}, [TRACE_ID]),  # resource attributes match too
        ({"min_duration": "1s"}, [TRACE_ID]),
        ({"max_duration": "10ms"}, [OTHER_TRACE_ID]),
        ({"status": "error", "service": "frontend"}, [TRACE_ID]),
        ({"service": "orders", "tag": "http.method=GET"}, []),  # same span must match all
        ({"service": "nobody"}, []),
    ],
)
def test_search_filters(client: TestClient, params: dict, expected: list[bytes]) -> None:
    assert trace_ids(client.get("/api/v1/traces", params=params)) == [t.hex() for t in expected]


def test_search_time_window(client: TestClient) -> None:
    start = BASE // 1_000_000_000 - 3600  # unix seconds, told by size
    end = BASE // 1_000_000_000 + 1  # the checkout trace only
    resp = client.get("/api/v1/traces", params={"start": str(start), "end": str(end)})
    assert trace_ids(resp) == [TRACE_ID.hex()]
    long_ago = client.get("/api/v1/traces", params={"end": "2020-01-01T00:00:00Z"})
    assert trace_ids(long_ago) == []


def test_trace_by_id_returns_the_tree_with_typed_attributes(client: TestClient) -> None:
    resp = client.get(f"/api/v1/traces/{TRACE_ID.hex()}")
    assert resp.status_code == 200
    body = resp.json()
    assert body["trace_id"] == TRACE_ID.hex()
    assert body["start_time_unix_nano"] == BASE and body["duration_ns"] == 1250 * MS
    spans = body["spans"]
    assert [s["span_id"] for s in spans] == [ROOT_ID.hex(), ORDERS_ID.hex(), DB_ID.hex()]
    assert [s["parent_span_id"] for s in spans] == [None, ROOT_ID.hex(), ORDERS_ID.hex()]
    root = spans[0]
    assert root["kind"] == "server" and root["service"] == "frontend"
    assert root["status"] == {"code": "error", "message": "payment declined"}
    assert root["scope"] == {"name": "opentelemetry.instrumentation.flask", "version": "0.48b0"}
    assert root["end_time_unix_nano"] - root["start_time_unix_nano"] == root["duration_ns"]
    attrs = {a["key"]: (a["type"], a["value"]) for a in root["attributes"]}
    assert attrs == {
        "http.status_code": ("int", 500),
        "http.method": ("string", "GET"),
        "big": ("int", str(2**60)),  # beyond ±2^53: a string, so JavaScript cannot round it
        "ratio": ("double", 0.5),
        "cached": ("bool", False),
        "retries": ("array", [{"type": "int", "value": 1}, {"type": "int", "value": 2}]),
        "blob": ("bytes", base64.b64encode(b"\x00\x01").decode()),
        "headers": ("map", [{"key": "accept", "type": "string", "value": "json"}]),
    }
    assert {"key": "host.name", "type": "string", "value": "web-1"} in root["resource"]
    orders = spans[1]
    assert orders["events"] == [
        {
            "time_unix_nano": BASE + 150 * MS,
            "name": "exception",
            "attributes": [{"key": "exception.message", "type": "string", "value": "boom"}],
        }
    ]
    assert orders["links"][0]["span_id"] == "0000000000000abc"


def test_trace_id_errors(client: TestClient) -> None:
    bad = client.get("/api/v1/traces/not-hex")
    assert bad.status_code == 400
    assert "not-hex" in bad.json()["error"]["message"]
    assert bad.json()["error"]["status"] == 400
    missing = client.get("/api/v1/traces/" + "ab" * 16)
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == f"trace {'ab' * 16} not found"


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"tag": "http.status_code>="}, ["tag", "http.status_code>=", "missing value"]),
        ({"tag": "nokey"}, ["tag", "nokey", "key<op>value"]),
        ({"min_duration": "fast"}, ["min_duration", "fast", "250ms"]),
        ({"limit": "abc"}, ["limit", "abc"]),  # FastAPI's 422 reshaped into our 400
        ({"limit": "0"}, ["limit", "0", "1 to 1000"]),
        ({"order": "random"}, ["order", "random"]),
        ({"status": "bad"}, ["status", "bad"]),
        ({"start": "yesterday"}, ["start", "yesterday"]),
        ({"min_duration": "2s", "max_duration": "1s"}, ["max duration"]),
    ],
)
def test_bad_search_parameters_answer_400_naming_them(
    client: TestClient, params: dict, words: list[str]
) -> None:
    resp = client.get("/api/v1/traces", params=params)
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["status"] == 400
    for word in words:
        assert word in error["message"]


def test_unknown_endpoint_is_a_shaped_404(client: TestClient) -> None:
    resp = client.get("/api/v1/nothing-here")
    assert resp.status_code == 404
    assert "/api/v1/nothing-here" in resp.json()["error"]["message"]


def test_dependencies(client: TestClient) -> None:
    resp = client.get("/api/v1/dependencies", params={"lookback": "1h"})
    assert resp.json() == {
        "dependencies": [
            {"parent": "frontend", "child": "orders", "call_count": 1, "error_count": 1}
        ]
    }
    assert client.get("/api/v1/dependencies?service=nobody").json() == {"dependencies": []}


def test_openapi_lists_the_native_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/v1/services",
        "/api/v1/services/{service}/operations",
        "/api/v1/traces",
        "/api/v1/traces/{trace_id}",
        "/api/v1/dependencies",
    ):
        assert "get" in paths[path], path
    params = {p["name"] for p in paths["/api/v1/traces"]["get"]["parameters"]}
    assert {"service", "operation", "tag", "min_duration", "limit", "order"} <= params
    assert client.get("/docs").status_code == 200


def test_a_large_trace_comes_back_whole() -> None:
    store = MemoryStore()
    spans = [
        Span(
            trace_id=TRACE_ID,
            span_id=(i + 1).to_bytes(8, "big"),
            parent_span_id=None if i == 0 else (1).to_bytes(8, "big"),
            name=f"op-{i % 50}",
            start_ns=BASE + i * 1000,
            end_ns=BASE + i * 1000 + 500,
            service=f"svc-{i % 7}",
            attributes={"i": i, "label": "x" * 20},
        )
        for i in range(10_000)
    ]
    store.write(spans)
    # raw: its 9,999 children of other services end after the 500 ns root, which the
    # clock-skew adjuster would (rightly) move; this test is about size, not skew
    url = f"/api/v1/traces/{TRACE_ID.hex()}?raw=true"
    body = TestClient(create_app(store)).get(url).json()
    assert len(body["spans"]) == 10_000
    assert body["spans"][-1]["attributes"][0] == {"key": "i", "type": "int", "value": 9999}


class BrokenStore(MemoryStore):
    def services(self) -> list[str]:
        raise RuntimeError("database file is locked")


@pytest.mark.parametrize(
    ("path", "message_of"),
    [
        ("/api/v1/services", lambda b: b["error"]["message"]),
        ("/api/services", lambda b: b["errors"][0]["msg"]),
        ("/api/v3/services", lambda b: b["error"]["message"]),
    ],
)
def test_a_store_failure_is_a_shaped_503_with_a_request_id(path: str, message_of) -> None:
    c = TestClient(create_app(BrokenStore()), raise_server_exceptions=False)
    resp = c.get(path)
    assert resp.status_code == 503
    message = message_of(resp.json())
    assert resp.headers["x-request-id"] in message
    assert "database file is locked" not in message  # the engine's text stays in the log

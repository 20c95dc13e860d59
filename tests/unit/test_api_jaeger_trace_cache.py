"""Grafana's and the Jaeger UI's trace endpoints share the native API's trace cache: a trace
viewed through any API is read from the store once, and a late span shows up at once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from test_api_trace_cache import MS, T0, TRACE, CountingStore, span

from spanscope.api.app import create_app


@pytest.fixture
def store() -> Iterator[CountingStore]:
    s = CountingStore()
    s.write([span(1, None, "frontend"), span(2, 1)])
    yield s
    s.close()


def test_jaeger_v1_v3_and_native_read_a_trace_once(store: CountingStore) -> None:
    client = TestClient(create_app(store))
    tid = TRACE.hex()
    v1 = client.get(f"/api/traces/{tid}")
    again = client.get(f"/api/traces/{tid}")
    v3 = client.get(f"/api/v3/traces/{tid}")
    native = client.get(f"/api/v1/traces/{tid}")
    assert [r.status_code for r in (v1, again, v3, native)] == [200] * 4
    assert store.reads == 1
    assert v1.headers["content-type"] == "application/json"
    assert again.json() == v1.json()
    assert len(v1.json()["data"][0]["spans"]) == 2
    v3_spans = [s for r in v3.json()["result"]["resourceSpans"] for ss in r["scopeSpans"]
                for s in ss["spans"]]  # fmt: skip
    assert len(v3_spans) == 2


def test_a_late_span_appears_in_both_jaeger_apis(store: CountingStore) -> None:
    client = TestClient(create_app(store))
    tid = TRACE.hex()
    assert len(client.get(f"/api/traces/{tid}").json()["data"][0]["spans"]) == 2
    store.write([span(3, 2, "payments")])
    v1 = client.get(f"/api/traces/{tid}").json()["data"][0]
    assert sorted(s["operationName"] for s in v1["spans"]) == ["op 1", "op 2", "op 3"]
    assert {p["serviceName"] for p in v1["processes"].values()} == {
        "frontend",
        "orders",
        "payments",
    }
    v3 = client.get(f"/api/v3/traces/{tid}").json()["result"]["resourceSpans"]
    assert sum(len(ss["spans"]) for r in v3 for ss in r["scopeSpans"]) == 3


def test_raw_and_adjusted_jaeger_answers_are_kept_apart(store: CountingStore) -> None:
    # A child on another host that starts before its parent: the adjuster moves it.
    early = span(4, 1, "payments")
    early.start_ns, early.end_ns = T0 - 50 * MS, T0 - 40 * MS
    store.write([early])
    client = TestClient(create_app(store))
    tid = TRACE.hex()
    adjusted = client.get(f"/api/traces/{tid}").json()["data"][0]["spans"]
    raw = client.get(f"/api/traces/{tid}", params={"raw": "true"}).json()["data"][0]["spans"]
    moved = next(s for s in adjusted if s["spanID"].endswith("4"))
    as_stored = next(s for s in raw if s["spanID"].endswith("4"))
    assert as_stored["startTime"] == (T0 - 50 * MS) // 1000  # Jaeger: microseconds
    assert moved["startTime"] >= (T0 + MS) // 1000
    # Jaeger v3 answers as stored, like Jaeger itself, whatever the v1 cache holds.
    v3 = client.get(f"/api/v3/traces/{tid}").json()["result"]["resourceSpans"]
    v3_early = [s for r in v3 for ss in r["scopeSpans"] for s in ss["spans"]
                if s["spanId"].endswith("4")]  # fmt: skip
    assert v3_early[0]["startTimeUnixNano"] == str(T0 - 50 * MS)


def test_unknown_trace_answers_each_apis_own_404(store: CountingStore) -> None:
    client = TestClient(create_app(store))
    missing = "cd" * 16
    v1 = client.get(f"/api/traces/{missing}")
    assert v1.status_code == 404
    assert v1.json()["errors"] == [{"code": 404, "msg": "trace not found", "traceID": missing}]
    v3 = client.get(f"/api/v3/traces/{missing}")
    assert v3.status_code == 404 and v3.json()["error"]["httpCode"] == 404
    bad = client.get("/api/traces/not-hex")
    assert bad.status_code == 400

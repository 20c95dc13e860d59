"""Across traces: slow-vs-normal compare, service map, RED — over the reference in-memory
store and DuckDB, through the API in-process, on populations whose answers are known."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from spanscope.analysis import compare as cmp
from spanscope.api.app import create_app
from spanscope.model.spans import Link, SpanKind, Trace
from spanscope.store.base import Store
from tests.support.memory_store import store_factories
from tests.support.traces import MS, T0, build

S = SpanKind.SERVER
C = SpanKind.CLIENT


def checkout(n: int, slow: bool) -> Trace:
    """orders POST /orders -> inventory SELECT; slow ones query by email and the SELECT
    takes 900 ms instead of 20; every 10th normal one also queries by email (fast)."""
    by_email = slow or n % 10 == 0
    statement = (
        "SELECT * FROM users WHERE email = ?" if by_email else "SELECT * FROM users WHERE id = ?"
    )
    db_ms = 900 if slow else 20
    base = T0 + n * 2000 * MS
    return build(
        ("root", None, 0, 50 + db_ms, {"service": "orders", "op": "POST /orders", "kind": S,
                                       "attributes": {"user.id": str(n)}}),
        ("auth", "root", 2, 10, {"service": "auth", "op": "check", "kind": S}),
        ("db", "root", 20, 20 + db_ms, {"service": "inventory", "op": "SELECT users", "kind": C,
                                        "attributes": {"db.statement": statement},
                                        "error": n % 20 == 3}),
        trace_id=(n + 1).to_bytes(16, "big"),
        base=base,
    )  # fmt: skip


POPULATION = [checkout(n, slow=n % 10 == 3) for n in range(100)]  # 10 slow, 90 normal


@pytest.fixture(params=sorted(store_factories()))
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    s = store_factories()[request.param]()
    s.write([sp for t in POPULATION for sp in t.spans])
    yield s
    s.close()


@pytest.fixture
def client(store: Store) -> TestClient:
    return TestClient(create_app(store))


WINDOW = {"start": str(T0 - MS), "end": str(T0 + 300_000 * MS)}


def test_split_by_threshold_and_percent() -> None:
    reqs = [(bytes([i]) * 16, d) for i, d in enumerate([10, 20, 30, 40, 1000, 2000], 1)]
    assert len(cmp.split_requests(reqs, slower_than_ns=500).slow) == 2
    split = cmp.split_requests(reqs, slowest_percent=34)
    assert [d for _, d in split.slow] == [2000, 1000]
    with pytest.raises(ValueError, match="slowest_percent 150"):
        cmp.split_requests(reqs, slowest_percent=150)


def test_compare_ranks_shared_attribute_and_operation_first(client: TestClient) -> None:
    r = client.get(
        "/api/v1/compare",
        params={"service": "orders", "operation": "POST /orders", "slower_than": "500ms", **WINDOW},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["split"]["slow_count"] == 10 and body["split"]["normal_count"] == 90
    top = body["attributes"][0]
    assert (top["key"], top["value"]) == ("db.statement", "SELECT * FROM users WHERE email = ?")
    assert top["slow_share"] == 1.0
    assert top["normal_share"] == pytest.approx(10 / 90)  # n = 0, 10, ..., 90
    assert "db.statement = SELECT * FROM users WHERE email = ? in 100 % of slow" in body["headline"]
    op = body["operations"][0]
    assert (op["service"], op["name"]) == ("inventory", "SELECT users")
    assert op["delta_ns"] == 880 * MS
    assert op["contribution"] == pytest.approx(1.0)
    assert all(a["key"] != "user.id" for a in body["attributes"])  # unique values never rank


def test_compare_by_percent_defaults_to_root_spans(client: TestClient) -> None:
    body = client.get("/api/v1/compare", params={"slowest_percent": "10", **WINDOW}).json()
    assert body["split"]["slow_count"] == 10
    assert body["operations"][0]["name"] == "SELECT users"


def test_compare_bad_split_is_400(client: TestClient) -> None:
    r = client.get("/api/v1/compare", params={"slower_than": "fast"})
    assert r.status_code == 400
    assert "slower_than='fast'" in r.json()["error"]["message"]


def test_service_map_edges_with_latency_and_errors(client: TestClient) -> None:
    body = client.get("/api/v1/service-map", params=WINDOW).json()
    edges = {(e["parent"], e["child"]): e for e in body["edges"]}
    assert set(edges) == {("orders", "auth"), ("orders", "inventory")}
    inv = edges["orders", "inventory"]
    assert inv["call_count"] == 100 and inv["error_count"] == 5
    assert inv["error_rate"] == 0.05
    assert inv["p50_ns"] == 20 * MS and inv["p99_ns"] == 900 * MS
    nodes = {n["service"]: n for n in body["nodes"]}
    assert nodes["orders"]["calls_out"] == 200 and nodes["inventory"]["errors_in"] == 5
    assert "orders -> inventory, 5.0 % of 100 calls" in body["headline"]


def test_red_series_with_histogram_exemplars(client: TestClient) -> None:
    body = client.get(
        "/api/v1/red",
        params={"service": "inventory", "span_kind": "client", "step": "100s", **WINDOW},
    ).json()
    (series,) = body["series"]
    assert series["totals"]["request_count"] == 100
    assert series["totals"]["error_ratio"] == 0.05
    assert sum(p["request_count"] for p in series["points"]) == 100
    assert len(series["points"]) == 2  # 100 traces, one every 2 s, in 100 s steps
    slow_bucket = next(b for b in series["histogram"] if b["le_ns"] == 1000 * MS)
    assert slow_bucket["count"] == 10
    slow_ids = {t.trace_id.hex() for t in POPULATION if t.spans[0].duration_ns > 500 * MS}
    assert set(slow_bucket["exemplar_trace_ids"]) <= slow_ids
    assert len(slow_bucket["exemplar_trace_ids"]) == 3
    # 100 requests over the 200 s that have data (two 100 s steps), not the 300 s window
    assert series["totals"]["rate_per_s"] == pytest.approx(100 / 200)
    assert "at 0.5 req/s" in body["headline"]


def test_red_requires_a_service(client: TestClient) -> None:
    r = client.get("/api/v1/red")
    assert r.status_code == 400 and "service" in r.json()["error"]["message"]


def test_jaeger_spm_latencies_and_calls(client: TestClient) -> None:
    end_ms = (T0 + 300_000 * MS) // MS
    params = {"service": "inventory", "spanKind": "client", "endTs": str(end_ms),
              "lookback": "300001", "step": "100000"}  # fmt: skip
    body = client.get("/api/metrics/latencies", params=params | {"quantile": "0.5"}).json()
    assert body["name"] == "service_latencies" and body["type"] == "GAUGE"
    (metric,) = body["metrics"]
    assert metric["labels"] == [{"name": "service_name", "value": "inventory"}]
    assert metric["metricPoints"][0]["gaugeValue"]["doubleValue"] == 20.0
    calls = client.get("/api/metrics/calls", params=params).json()
    points = calls["metrics"][0]["metricPoints"]
    assert sum(p["gaugeValue"]["doubleValue"] * 100 for p in points) == pytest.approx(100)
    assert client.get("/api/metrics/minstep").json() == {"minStep": 1000}
    r = client.get("/api/metrics/latencies", params=params)
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == 400


def test_per_trace_endpoints_and_raw(client: TestClient) -> None:
    tid = POPULATION[3].trace_id.hex()
    body = client.get(f"/api/v1/traces/{tid}/explain").json()
    assert body["breakdown"]["operations"][0]["name"] == "SELECT users"
    assert body["critical_path"]["spans"][0]["name"] == "SELECT users"
    assert client.get(f"/api/v1/traces/{tid}/breakdown").json()["headline"] == body["headline"]
    assert client.get(f"/api/v1/traces/{tid}/where-the-time-went").status_code == 200
    assert client.get("/api/v1/traces/00000000000000000000000000000abc/smells").status_code == 404
    diff = client.get("/api/v1/diff", params={"a": POPULATION[1].trace_id.hex(), "b": tid}).json()
    assert diff["paths"][0]["name"] == "SELECT users"
    assert diff["paths"][0]["self_delta_ns"] == 880 * MS


def test_trace_by_id_adjusts_skew_unless_raw(store: Store) -> None:
    skewed = build(
        ("root", None, 100, 200, {"service": "a", "host": "h1"}),
        ("child", "root", 40, 80, {"service": "b", "host": "h2"}),
        trace_id=b"\x77" * 16,
    )
    store.write(skewed.spans)
    client = TestClient(create_app(store))
    adjusted = client.get(f"/api/v1/traces/{'77' * 16}").json()
    child = next(s for s in adjusted["spans"] if s["name"] == "child")
    assert child["warnings"][0].startswith("clock skew adjusted")
    raw = client.get(f"/api/v1/traces/{'77' * 16}", params={"raw": "true"}).json()
    assert all(not s["warnings"] for s in raw["spans"])
    jaeger = client.get(f"/api/traces/{'77' * 16}").json()["data"][0]
    assert any(s["warnings"] for s in jaeger["spans"])


def test_messaging_link_edge_in_memory_and_duckdb(store: Store) -> None:
    producer = build(("p", None, 0, 5, {"service": "shop", "kind": SpanKind.PRODUCER}),
                     trace_id=b"\x88" * 16)  # fmt: skip
    consumer = build(("c", None, 10, 30, {"service": "mailer", "kind": SpanKind.CONSUMER}),
                     trace_id=b"\x99" * 16)  # fmt: skip
    consumer.spans[0].links = [Link(producer.trace_id, producer.spans[0].span_id)]
    store.write(producer.spans + consumer.spans)
    edges = {
        (e.parent, e.child): e.call_count
        for e in store.dependency_stats(T0, T0 + 10 * MS, "mailer")
    }
    assert edges == {("shop", "mailer"): 1}

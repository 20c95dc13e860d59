"""A blocked event loop is waiting, not working: a request that computes without awaiting
stalls every other request in its process, and the cause is that request — found in its
own trace, next to the ones that waited (issue #14, item 1)."""

from __future__ import annotations

from spanscope.analysis import rca
from spanscope.analysis.synthetic import make_case
from spanscope.model.spans import SpanKind, Trace
from tests.support.traces import MS, build

S, C = SpanKind.SERVER, SpanKind.CLIENT


def victim(trace_id: bytes, stall_ms: float = 300) -> Trace:
    """gateway GET /home -> GET -> search GET /search (0.2 ms in, the loop is taken)."""
    return build(
        ("home", None, 0, 20 + stall_ms, {"service": "gateway", "op": "GET /home", "kind": S}),
        ("call", "home", 2, 18 + stall_ms, {"service": "gateway", "op": "GET", "kind": C}),
        ("srv", "call", 3, 17 + stall_ms, {"service": "search", "op": "GET /search", "kind": S,
                                          "host": "search-3"}),
        ("rank", "srv", 5 + stall_ms, 15 + stall_ms, {"service": "search", "op": "rank",
                                                      "host": "search-3"}),
        trace_id=trace_id,
    )  # fmt: skip


def hog(trace_id: bytes, start_ms: float, end_ms: float, *more: tuple) -> Trace:
    return build(
        ("reindex", None, start_ms, end_ms, {"service": "search", "op": "POST /reindex",
                                             "kind": S, "host": "search-3"}),
        *more,
        trace_id=trace_id,
    )  # fmt: skip


def test_the_request_holding_the_loop_is_named_not_the_one_that_waited() -> None:
    v = victim(b"\1" * 16)
    h = hog(b"\2" * 16, 3.2, 305)
    req = rca.requests_in(v)[0]
    before = rca.explain(v, rca.requests_in(v)[0])
    assert before.causes[0].label == "search · GET /search"  # what it said before
    blocks = rca.account_loop_blocking([req], [h])
    assert [(b.name, b.stalled) for b in blocks] == [("POST /reindex", 1)]
    srv = next(t for t in req.spans if t.name == "GET /search")
    assert srv.blocked_ns == int(301.8 * MS) and srv.own_ns < 5 * MS
    e = rca.explain(v, req)
    assert e.causes[0].label == "search · POST /reindex"
    assert e.causes[0].kind == "blocking"
    assert "holding search's event loop" in e.headline
    rca.account_loop_blocking([req], [h])  # once per request: nothing moves twice
    assert srv.blocked_ns == int(301.8 * MS)


def test_a_process_that_made_progress_meanwhile_was_not_blocked() -> None:
    v = victim(b"\1" * 16)
    # A threaded server: while the long request computed, another one started and ended
    # a span in the same process, so the waiting request was not stalled by it.
    h = hog(b"\2" * 16, 3.2, 305)
    other = build(
        ("ping", None, 100, 101, {"service": "search", "op": "GET /health", "kind": S,
                                  "host": "search-3"}),
        trace_id=b"\3" * 16,
    )  # fmt: skip
    req = rca.requests_in(v)[0]
    assert rca.account_loop_blocking([req], [h, other]) == []
    assert rca.explain(v, req).causes[0].label == "search · GET /search"
    # Another host's process is another loop; and nobody waiting means it is just work.
    far = build(("reindex", None, 3.2, 305, {"service": "search", "op": "POST /reindex",
                                            "kind": S, "host": "search-4"}),
                trace_id=b"\4" * 16)  # fmt: skip
    assert rca.account_loop_blocking([rca.requests_in(v)[0]], [far]) == []
    assert rca.loop_blocks([h]) == []


def test_compare_names_the_blocking_request_on_the_generated_incident() -> None:
    case = make_case("loop_block", "fanout", seed=0, traces=150)
    reqs = [r for t in case.traces for r in rca.requests_in(t, case.subject)[:1]]
    assert rca.compare_slow(reqs).causes[0].label == "search · GET /search"  # before
    reqs = [r for t in case.traces for r in rca.requests_in(t, case.subject)[:1]]
    blocks = rca.account_loop_blocking(reqs, case.traces)
    assert len(blocks) == len(case.faulty)
    ranking = rca.compare_slow(reqs)
    assert ranking.causes[0].label == "search · POST /reindex"
    assert "holding search's event loop" in ranking.headline
    slowest = max(reqs, key=lambda r: r.span.duration_ns)
    assert rca.explain(slowest.trace, slowest).causes[0].label == "search · POST /reindex"


def test_other_generated_incidents_have_no_blocked_loop() -> None:
    for fault, topology in (("slow_work", "fanout"), ("slow_query", "chain"),
                            ("slow_consumer", "async")):  # fmt: skip
        case = make_case(fault, topology, seed=0, traces=60)
        assert rca.loop_blocks(case.traces) == []


def test_api_explain_and_compare_find_the_blocker_in_the_store() -> None:
    from fastapi.testclient import TestClient

    from spanscope.analysis.synthetic import T0
    from spanscope.api.app import create_app
    from tests.support.memory_store import store_factories

    case = make_case("loop_block", "fanout", seed=2, traces=80)
    window = {"start": str(T0 - 10**9), "end": str(T0 + 10**15)}
    for name, factory in sorted(store_factories().items()):
        store = factory()
        try:
            store.write([s for t in case.traces for s in t.spans])
            client = TestClient(create_app(store))
            body = client.get(
                "/api/v1/compare", params={"service": "gateway", "operation": "GET /home", **window}
            )
            assert body.status_code == 200, body.text
            top = body.json()["operations"][0]
            assert (name, top["label"], top["kind"]) == (name, "search · POST /reindex",
                                                         "blocking")  # fmt: skip
            victim = next(t for t in case.traces if t.trace_id in case.faulty)
            e = client.get(f"/api/v1/traces/{victim.trace_id.hex()}/explain").json()
            assert e["causes"][0]["label"] == "search · POST /reindex", name
            assert "holding search's event loop" in e["headline"]
        finally:
            store.close()

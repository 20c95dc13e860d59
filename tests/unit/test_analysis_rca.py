"""Naming the cause: own work vs waiting vs gap, calls named by target, retries, async
work, clock skew, error origins and attribute noise — on hand-built traces whose answers
are known, and on a few seeded synthetic incidents (spanscope.analysis.synthetic)."""

from __future__ import annotations

import pytest

from spanscope.analysis import rca
from spanscope.analysis.names import operation_names, templated_path
from spanscope.analysis.synthetic import make_case
from spanscope.model.spans import Link, SpanKind, Trace
from tests.support.traces import MS, T0, build, by_name

S, C, P, K = SpanKind.SERVER, SpanKind.CLIENT, SpanKind.PRODUCER, SpanKind.CONSUMER


def call_trace(gap_ms: float = 0.0) -> Trace:
    """gateway GET /home (0-100) -> GET (10-90+gap) -> inventory POST /reservations."""
    return build(
        ("root", None, 0, 100 + gap_ms, {"service": "gateway", "op": "GET /home", "kind": S}),
        ("call", "root", 10, 90 + gap_ms, {"service": "gateway", "op": "POST", "kind": C,
                                           "attributes": {"url.full": "http://inv/r/1234"}}),
        ("srv", "call", 15 + gap_ms / 2, 85 + gap_ms / 2,
         {"service": "inventory", "op": "POST /reservations", "kind": S,
          "attributes": {"http.route": "/reservations"}}),
        ("db", "srv", 20 + gap_ms / 2, 70 + gap_ms / 2,
         {"service": "inventory", "op": "SELECT stock", "kind": C}),
    )  # fmt: skip


def test_client_calls_are_named_by_their_target() -> None:
    t = call_trace()
    names = operation_names(t)
    assert names[by_name(t, "call").span_id] == "POST → inventory /reservations"
    assert names[by_name(t, "db").span_id] == "SELECT stock"
    assert templated_path("https://psp.example.com/charges/8812?x=1") == "/charges/{id}"
    assert templated_path("/users/3f2a9c1e-aaaa-bbbb-cccc-1234567890ab/cart") == "/users/{id}/cart"


def test_time_splits_into_own_work_waiting_and_gap() -> None:
    t = call_trace(gap_ms=40)
    req = rca.requests_in(t)[0]
    times = {x.name: x for x in req.spans}
    call = times["POST → inventory /reservations"]
    assert (call.own_ns, call.waiting_ns, call.gap_ns) == (0, 70 * MS, 50 * MS)
    root = times["GET /home"]
    assert (root.own_ns, root.waiting_ns, root.gap_ns) == (20 * MS, 120 * MS, 0)
    srv = times["POST /reservations"]
    assert (srv.own_ns, srv.waiting_ns) == (20 * MS, 50 * MS)
    lo, hi = call.clock_offset_bounds or (0, 0)
    assert lo <= 0 <= hi and hi - lo == 50 * MS


def test_explain_names_the_gap_when_the_wire_took_the_time() -> None:
    e = rca.explain(call_trace(gap_ms=400))
    assert e.causes[0].label == "gateway · POST → inventory /reservations"
    assert e.causes[0].kind == "gap"
    assert "waiting on the wire" in e.headline


def test_retried_call_is_named_with_attempts_and_backoff() -> None:
    t = build(
        ("root", None, 0, 500, {"service": "payments", "op": "POST /charge", "kind": S}),
        ("a1", "root", 10, 30, {"service": "payments", "op": "charge", "kind": C, "error": True}),
        ("a2", "root", 130, 150, {"service": "payments", "op": "charge", "kind": C,
                                  "error": True}),
        ("a3", "root", 350, 380, {"service": "payments", "op": "charge", "kind": C}),
    )  # fmt: skip
    e = rca.explain(t)
    top = e.causes[0]
    assert top.label == "payments · charge" and top.retry is not None
    assert top.retry.attempts == 3 and top.retry.backoff_ns == 300 * MS
    assert rca.describe(top) == "payments · charge retried 3× — 300ms of backoff"


def test_async_consumer_is_kept_out_of_the_request_and_explained_apart() -> None:
    t = build(
        ("root", None, 0, 50, {"service": "api", "op": "POST /orders", "kind": S}),
        ("pub", "root", 40, 45, {"service": "api", "op": "publish", "kind": P}),
        ("con", "pub", 60, 2060, {"service": "worker", "op": "process", "kind": K}),
        ("work", "con", 70, 2050, {"service": "worker", "op": "UPDATE orders", "kind": C}),
    )  # fmt: skip
    linked = Trace(t.trace_id, [*t.spans])
    con = by_name(t, "con")
    con.parent_span_id, con.kind = None, SpanKind.INTERNAL
    con.links = [Link(t.trace_id, by_name(t, "pub").span_id)]
    for trace in (t, linked):
        e = rca.explain(trace)
        assert e.causes[0].label == "api · POST /orders"
        assert all(c.service != "worker" for c in e.causes)
        assert [s.name for s, _ in e.async_paths] == ["process"]
        assert e.async_paths[0][1].duration_ns == 2000 * MS


def test_skewed_server_is_placed_before_ranking() -> None:
    # The pricing host's clock runs 2 s ahead: its span starts after its caller ended.
    t = build(
        ("root", None, 0, 600, {"service": "api", "op": "GET /quote", "kind": S}),
        ("call", "root", 5, 595, {"service": "api", "op": "GET", "kind": C}),
        ("srv", "call", 2010, 2590, {"service": "pricing", "op": "GET /prices", "kind": S}),
    )  # fmt: skip
    assert rca.explain(t).causes[0].label == "pricing · GET /prices"


@pytest.mark.parametrize(
    ("fault", "topology"),
    [("parallel_decoy", "fanout"), ("network_gap", "chain"), ("retry_storm", "async"),
     ("clock_skew", "chain"), ("slow_consumer", "async")],
)  # fmt: skip
def test_compare_names_the_injected_cause_first(fault: str, topology: str) -> None:
    case = make_case(fault, topology, seed=0, traces=120)
    reqs = [r for t in case.traces for r in rca.requests_in(t, case.subject)[:1]]
    ranking = rca.compare_slow(reqs)
    assert ranking.causes[0].label == f"{case.truth[0]} · {case.truth[1]}"
    assert "on the critical path in" in ranking.headline


def test_compare_errors_names_the_deepest_erroring_span() -> None:
    case = make_case("error_burst", "chain", seed=0, traces=120)
    reqs = [r for t in case.traces for r in rca.requests_in(t)[:1]]
    ranking = rca.compare_errors(reqs)
    assert ranking.causes[0].label == "s12 · SELECT t12"
    assert "errors start at s12 · SELECT t12" in ranking.headline
    assert rca.compare_errors(reqs[:0]).headline.startswith("no erroring")


def test_attributes_rank_by_lift_and_demote_id_like_values() -> None:
    case = make_case("slow_host", "fanout", seed=0, traces=200)
    reqs = [r for t in case.traces for r in rca.requests_in(t)[:1]]
    ranking = rca.compare_slow(reqs)
    top = ranking.attributes[0]
    assert (top.key, top.value) == case.truth_attribute
    ports = [a for a in ranking.attributes if a.key == "net.peer.port"]
    assert all(a.id_like for a in ports)
    assert top.cardinality == 36 and top.lift > 5  # 6 hosts of 6 services


def test_baseline_blames_an_ancestor_where_compare_does_not() -> None:
    case = make_case("slow_query", "chain", seed=0, traces=120)
    reqs = [r for t in case.traces for r in rca.requests_in(t)[:1]]
    assert rca.baseline(reqs)[0] != "s08 · SELECT t8"
    assert rca.compare_slow(reqs).causes[0].label == "s08 · SELECT t8"


def test_no_spans_and_unknown_case() -> None:
    assert rca.explain(Trace(b"\1" * 16, [])).headline == "this trace has no spans"
    with pytest.raises(ValueError, match="no synthetic case slow_query/ring"):
        make_case("slow_query", "ring")
    assert T0 > 0


def test_one_transactions_statements_are_not_suggested_in_parallel() -> None:
    from spanscope.analysis.smells import find_smells

    def tx(names: list[str]) -> Trace:
        rows: list[tuple] = [("root", None, 0, 100, {"service": "orders", "kind": S})]
        for i, n in enumerate(names):
            rows.append((f"q{i}", "root", 5 + 20 * i, 20 + 20 * i,
                         {"service": "orders", "op": n, "kind": C,
                          "attributes": {"db.system": "postgresql"}}))  # fmt: skip
        return build(*rows)

    in_tx = tx(["BEGIN", "INSERT orders", "INSERT order_items", "COMMIT"])
    assert [s.type for s in find_smells(in_tx)] == []
    calls = tx(["GET users", "GET prices", "GET stock"])
    (smell,) = find_smells(calls)
    assert smell.type == "sequential" and smell.message.endswith("they could run in parallel")
    # the saving is said once, by whoever shows the smell (the UI and the CLI add it)
    assert "save" not in smell.message and smell.saving_ns == 30 * MS


def test_diff_names_own_work_before_a_grown_gap() -> None:
    from spanscope.analysis.diff import diff_traces

    def checkout(db_ms: float, gap_ms: float, tid: int) -> Trace:
        # gateway GET -> orders POST /orders -> SELECT; the call's gap is queueing.
        return build(
            ("root", None, 0, 20 + gap_ms + db_ms, {"service": "gateway", "op": "POST /orders",
                                                   "kind": S}),
            ("call", "root", 5, 15 + gap_ms + db_ms, {"service": "gateway", "op": "POST",
                                                     "kind": C}),
            ("srv", "call", 5 + gap_ms / 2, 15 + gap_ms / 2 + db_ms,
             {"service": "orders", "op": "POST /orders", "kind": S,
              "attributes": {"http.route": "/orders"}}),
            ("db", "srv", 8 + gap_ms / 2, 8 + gap_ms / 2 + db_ms,
             {"service": "orders", "op": "SELECT orders", "kind": C}),
            trace_id=tid.to_bytes(16, "big"),
        )  # fmt: skip

    d = diff_traces(checkout(20, 2, 1), checkout(80, 100, 2))
    assert d.paths[0].name == "SELECT orders"
    assert "orders · SELECT orders took 60ms more in b" in d.headline
    assert any(p.path[-1] == "gateway · POST → orders /orders" for p in d.paths)


def test_deps_headline_names_the_edge_slow_on_its_own_not_the_top_of_the_chain() -> None:
    from spanscope.analysis.dependencies import service_map
    from spanscope.model.aggregates import DependencyStats

    edges = [
        DependencyStats("gateway", "orders", 100, 0, (200 * MS, 800 * MS, 900 * MS)),
        DependencyStats("orders", "inventory", 100, 0, (180 * MS, 780 * MS, 850 * MS)),
        DependencyStats("gateway", "users", 100, 0, (5 * MS, 9 * MS, 12 * MS)),
    ]
    headline = service_map(edges).headline
    assert "slowest on its own: orders -> inventory, p99 850ms" in headline


def test_orphans_still_count_for_the_request_but_linked_work_does_not() -> None:
    t = build(
        ("root", None, 0, 100, {"service": "api", "op": "GET /a", "kind": S}),
        ("lost", "never-stored", 10, 90, {"service": "api", "op": "SELECT a", "kind": C}),
        ("pub", "root", 95, 96, {"service": "api", "op": "publish", "kind": P}),
    )  # fmt: skip
    follower = Trace(t.trace_id, [*t.spans])
    late = build(("job", None, 98, 400, {"service": "worker", "op": "job"}), trace_id=t.trace_id)
    job = late.spans[0]
    job.links = [Link(t.trace_id, by_name(t, "pub").span_id)]
    follower.spans.append(job)
    req = rca.requests_in(follower)[0]
    assert {x.name for x in req.spans} == {"GET /a", "SELECT a", "publish"}
    assert [s.name for s in req.async_roots] == ["job"]
    assert req.path.per_span[by_name(t, "lost").span_id] == 80 * MS
    assert job.span_id not in req.path.per_span
    assert "1 span(s) have no stored parent" in req.path.warnings[0]

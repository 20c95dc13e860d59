"""The Store conformance suite: every backend must pass every test here unchanged."""

from __future__ import annotations

import pytest

from spanscope.model.aggregates import OperationStat
from spanscope.model.spans import Event, Link, Span, SpanKind, StatusCode
from spanscope.model.summaries import DependencyEdge, Operation, ServiceCount
from spanscope.query.model import SearchQuery, parse_condition
from spanscope.store.base import Store

from .conftest import MS, T0, make_span, sid, tid

WINDOW = (T0 - 3600 * 1000 * MS, T0 + 3600 * 1000 * MS)


def q(**kw) -> SearchQuery:
    return SearchQuery(start_ns=kw.pop("start_ns", WINDOW[0]), end_ns=WINDOW[1], **kw)


def full_span() -> Span:
    """A span with every field set and every attribute type, edge cases included."""
    return Span(
        trace_id=bytes.fromhex("ffeeddccbbaa99887766554433221100"),
        span_id=bytes.fromhex("ffffffffffffffff"),
        parent_span_id=bytes.fromhex("0000000000000001"),
        name="POST /commande/été ☃",
        start_ns=T0 + 123,
        end_ns=T0 + 987_654_321,
        service="café-service",
        kind=SpanKind.CONSUMER,
        status_code=StatusCode.ERROR,
        status_message="boom: ünïcode",
        attributes={
            "s": "text",
            "empty": "",
            "i": 1,
            "f": 1.0,
            "neg": -(2**63),
            "big": 2**63 - 1,
            "huge": 2**70,
            "t": True,
            "fl": False,
            "inf": float("inf"),
            "bytes": b"\x00\xffraw",
            "arr": [1, 1.0, "1", True, b"\x01", [2, [3.5]], {"k": "v"}],
            "empty_arr": [],
            "kv": {"nested": {"deeper": [False, 0, 0.0]}, "n": None or "x"},
            "emoji 🚀": "✓",
        },
        resource={"service.name": "café-service", "host.name": "h1", "pid": 42, "r": 0.5},
        scope_name="io.opentelemetry.tests",
        scope_version="1.2.3",
        trace_state="ot=th:8;rv:0123456789abcd,vendor=x",
        flags=0x301,
        events=[
            Event(time_ns=T0 + 500, name="exception", attributes={"exception.type": "E", "n": 1}),
            Event(time_ns=T0 + 600, name="retry", dropped_attributes_count=3),
        ],
        links=[
            Link(
                trace_id=bytes.fromhex("0102030405060708090a0b0c0d0e0f10"),
                span_id=bytes.fromhex("1112131415161718"),
                trace_state="a=b",
                attributes={"link.kind": "follows", "w": 2.5},
                dropped_attributes_count=1,
            )
        ],
        dropped_attributes_count=4,
        dropped_events_count=5,
        dropped_links_count=6,
        warnings=["attribute 'x' truncated to 65536 bytes"],
    )


# --- writes ---------------------------------------------------------------------------------


def test_every_field_round_trips(store: Store) -> None:
    span = full_span()
    minimal = make_span(2, 1, resource={})
    assert store.write([span, minimal]) == 2
    got = store.trace(span.trace_id)
    assert got is not None
    assert got.spans == [span]
    (back,) = got.spans
    assert type(back.attributes["i"]) is int and type(back.attributes["f"]) is float
    assert type(back.attributes["t"]) is bool and type(back.attributes["bytes"]) is bytes
    assert store.trace(minimal.trace_id).spans == [minimal]  # type: ignore[union-attr]


def test_duplicates_are_stored_once(store: Store) -> None:
    batch = [make_span(1, 1), make_span(1, 2, 1, service="db"), make_span(2, 1)]
    assert store.write(batch) == 3
    assert store.write(batch) == 0
    assert store.write(batch[1:] + [make_span(3, 1), make_span(3, 1)]) == 1
    assert store.span_count() == 4
    trace = store.trace(tid(1))
    assert trace is not None and len(trace.spans) == 2
    (summary,) = [s for s in store.search(q()) if s.trace_id == tid(1)]
    assert summary.span_count == 2
    assert summary.services == [ServiceCount("db", 1, 0), ServiceCount("frontend", 1, 0)]


def test_a_span_sent_again_with_another_start_time_is_stored_once(store: Store) -> None:
    # Idempotent by (trace id, span id), whatever the copy's times say (issue 10): a client
    # that re-sends a span with a new start time must not make it appear twice.
    first = make_span(1, 1, start_ms=0)
    assert store.write([first, make_span(1, 2, 1, start_ms=5)]) == 2
    later = make_span(1, 1, start_ms=50_000, duration_ms=3)
    earlier = make_span(1, 1, start_ms=-3_600_000)
    assert store.write([later]) == 0
    assert store.write([earlier, make_span(1, 3, 1, start_ms=90_000)]) == 1
    assert store.write([make_span(2, 1, start_ms=50_000)]) == 1  # another trace: another span
    assert store.span_count() == 4
    trace = store.trace(tid(1))
    assert trace is not None
    assert [(s.span_id, s.start_ns) for s in trace.spans] == [
        (sid(1), first.start_ns),
        (sid(2), first.start_ns + 5 * MS),
        (sid(3), first.start_ns + 90_000 * MS),
    ]
    (summary,) = [s for s in store.search(q()) if s.trace_id == tid(1)]
    assert summary.span_count == 3


def test_wal_position_is_recorded(store: Store) -> None:
    assert store.wal_position() is None
    store.write([make_span(1, 1)], wal_position=10)
    assert store.wal_position() == 10
    store.write([make_span(1, 2, 1)])
    assert store.wal_position() == 10
    store.write([make_span(1, 1)], wal_position=25)  # all duplicates: position still moves
    assert store.wal_position() == 25
    store.write([], wal_position=30)
    assert store.wal_position() == 30


# --- trace by id ----------------------------------------------------------------------------


def test_trace_by_id_returns_every_span_once_in_start_order(store: Store) -> None:
    store.write([make_span(1, 3, 2, service="db", start_ms=5), make_span(9, 1)])
    store.write([make_span(1, 1, start_ms=0, duration_ms=100), make_span(1, 2, 1, start_ms=2)])
    trace = store.trace(tid(1))
    assert trace is not None
    assert [s.span_id for s in trace.spans] == [sid(1), sid(2), sid(3)]
    hinted = store.trace(tid(1), T0 + 50 * MS, T0 + 60 * MS)
    assert hinted is not None and len(hinted.spans) == 3
    assert store.trace(tid(404)) is None


# --- search ---------------------------------------------------------------------------------


@pytest.fixture
def shop(store: Store) -> Store:
    """Three traces: a fast OK checkout, a slow failing checkout, a payment-only trace."""
    store.write(
        [
            make_span(1, 1, service="frontend", name="GET /checkout", start_ms=0, duration_ms=50),
            make_span(1, 2, 1, service="cart", name="get", start_ms=5, duration_ms=10,
                      kind=SpanKind.CLIENT, attributes={"http.status_code": 200}),
            make_span(2, 1, service="frontend", name="GET /checkout", start_ms=1000,
                      duration_ms=900, status=StatusCode.ERROR,
                      resource={"service.name": "frontend", "host.name": "web-2"}),
            make_span(2, 2, 1, service="payment", name="charge", start_ms=1010, duration_ms=800,
                      status=StatusCode.ERROR, attributes={"http.status_code": 503.0,
                                                           "user.tier": "gold"}),
            make_span(2, 3, 2, service="db", name="INSERT", start_ms=1020, duration_ms=5,
                      attributes={"http.status_code": "500", "retry": True}),
            make_span(3, 1, service="payment", name="charge", start_ms=2000, duration_ms=20,
                      status=StatusCode.OK, attributes={"http.status_code": 201}),
        ]
    )  # fmt: skip
    return store


def ids(summaries) -> list[int]:
    return [int.from_bytes(s.trace_id, "big") - int.from_bytes(tid(0), "big") for s in summaries]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, [3, 2, 1]),
        ({"service": "payment"}, [3, 2]),
        ({"operation": "GET /checkout"}, [2, 1]),
        ({"service": "frontend", "operation": "charge"}, []),
        ({"min_duration_ns": 500 * MS}, [2]),
        ({"max_duration_ns": 10 * MS}, [2, 1]),
        ({"status": "error"}, [2]),
        ({"status": "ok"}, [3]),
        ({"status": "unset"}, [2, 1]),
        ({"start_ns": T0 + 1500 * MS}, [3]),
        ({"service": "payment", "min_duration_ns": 100 * MS, "status": "error"}, [2]),
    ],
)
def test_search_filters(shop: Store, filters: dict, expected: list[int]) -> None:
    assert ids(shop.search(q(**filters))) == expected


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("http.status_code>=500", [2]),  # double 503.0
        ("http.status_code>=200", [3, 2, 1]),  # ints and the double
        ("http.status_code=200", [1]),  # int
        ("http.status_code=500", [2]),  # the string "500" from the db span
        ("http.status_code<201", [1]),
        ('http.status_code="500"', [2]),
        ("http.status_code!=200", [3, 2]),  # exists with another value
        ("user.tier=gold", [2]),
        ("user.tier!=gold", []),
        ("retry=true", [2]),
        ("retry=false", []),
        ("host.name=web-2", [2]),  # a resource attribute
        ("missing=1", []),
    ],
)
def test_search_typed_conditions(shop: Store, condition: str, expected: list[int]) -> None:
    assert ids(shop.search(q(conditions=[parse_condition(condition)]))) == expected


def test_one_span_must_match_every_filter(shop: Store) -> None:
    # trace 2 has a payment span and a db span with retry=true, but not one span with both
    query = q(service="payment", conditions=[parse_condition("retry=true")])
    assert shop.search(query) == []
    both = q(service="db", conditions=[parse_condition("retry=true"), parse_condition("x!=1")])
    assert shop.search(both) == []


def test_search_order_limit_and_ties(store: Store) -> None:
    # five traces, same start: newest order must break the tie by trace id, every time
    store.write([make_span(n, 1, start_ms=0, duration_ms=10 * (n % 3 + 1)) for n in range(1, 6)])
    newest = store.search(q(limit=3))
    assert ids(newest) == [1, 2, 3]
    slowest = store.search(q(order="slowest"))
    assert ids(slowest) == [2, 5, 1, 4, 3]
    assert ids(store.search(q(order="slowest", limit=2))) == [2, 5]


def test_summary_describes_the_whole_trace(shop: Store) -> None:
    (summary,) = shop.search(q(service="db"))
    assert summary.trace_id == tid(2)
    assert summary.root_service == "frontend"
    assert summary.root_operation == "GET /checkout"
    assert summary.start_ns == T0 + 1000 * MS
    assert summary.duration_ns == 900 * MS
    assert summary.span_count == 3
    assert summary.error_count == 2
    assert summary.orphan_count == 0
    assert summary.services == [
        ServiceCount("db", 1, 0),
        ServiceCount("frontend", 1, 1),
        ServiceCount("payment", 1, 1),
    ]


def test_missing_root_and_orphans(store: Store) -> None:
    store.write([make_span(7, 2, 1, service="api", start_ms=5), make_span(7, 3, 2, service="db")])
    store.write([make_span(7, 4, 99, service="db", start_ms=7)])
    (summary,) = store.search(q())
    assert (summary.root_service, summary.root_operation) == ("", "")
    assert summary.orphan_count == 2  # span 2 (parent 1) and span 4 (parent 99)
    store.write([make_span(7, 1, service="edge", name="ingress", start_ms=1)])
    (summary,) = store.search(q())
    assert (summary.root_service, summary.root_operation) == ("edge", "ingress")
    assert summary.orphan_count == 1
    assert summary.span_count == 4


# --- services, operations, dependencies -----------------------------------------------------


def test_services_and_operations(shop: Store) -> None:
    assert shop.services() == ["cart", "db", "frontend", "payment"]
    assert shop.operations("cart") == [Operation("get", SpanKind.CLIENT)]
    shop.write([make_span(8, 1, service="cart", name="get", kind=SpanKind.SERVER)])
    assert shop.operations("cart") == [
        Operation("get", SpanKind.SERVER),
        Operation("get", SpanKind.CLIENT),
    ]
    assert shop.operations("cart", SpanKind.CLIENT) == [Operation("get", SpanKind.CLIENT)]
    assert shop.operations("nope") == []


def test_dependencies(shop: Store) -> None:
    assert shop.dependencies(*WINDOW) == [
        DependencyEdge("frontend", "cart", 1, 0),
        DependencyEdge("frontend", "payment", 1, 1),
        DependencyEdge("payment", "db", 1, 0),
    ]
    assert shop.dependencies(*WINDOW, service="db") == [DependencyEdge("payment", "db", 1, 0)]
    # only children that started in the window count
    late = shop.dependencies(T0 + 1015 * MS, WINDOW[1])
    assert late == [DependencyEdge("payment", "db", 1, 0)]


def test_span_count(store: Store) -> None:
    assert store.span_count() == 0
    store.write([make_span(1, n) for n in range(1, 11)])
    assert store.span_count() == 10


def test_resource_first_seen_on_a_duplicate_span_is_still_stored(store: Store) -> None:
    store.write([make_span(1, 1, resource={"host.name": "a"})])
    store.write([make_span(1, 1, resource={"host.name": "b"})])  # duplicate, new resource
    store.write([make_span(2, 1, resource={"host.name": "b"})])
    trace = store.trace(tid(2))
    assert trace is not None and trace.spans[0].resource == {"host.name": "b"}
    (summary,) = store.search(q(conditions=[parse_condition("host.name=b")]))
    assert summary.trace_id == tid(2)


# --- cross-trace aggregates for spanscope.analysis ------------------------------------


def test_request_durations_roots_or_filtered(shop: Store) -> None:
    roots = dict(shop.request_durations(*WINDOW))
    assert roots == {t.trace_id: t.duration_ns for t in shop.search(q(limit=100)) if t.root_service}
    payment = dict(shop.request_durations(*WINDOW, service="payment"))
    assert set(payment) == {t.trace_id for t in shop.search(q(service="payment", limit=100))}


def _self_time_trace(store: Store) -> None:
    # root 0-100; a 10-60 and b 40-90 overlap (covered 10-90); a has child a1 20-30.
    store.write(
        [
            make_span(7, 1, name="root", start_ms=0, duration_ms=100),
            make_span(7, 2, 1, name="a", service="db", start_ms=10, duration_ms=50),
            make_span(7, 3, 1, name="b", service="db", start_ms=40, duration_ms=50),
            make_span(7, 4, 2, name="a1", service="db", start_ms=20, duration_ms=10),
            # child starting before its parent is clipped to it (10-15 covered, 5 ms)
            make_span(7, 5, 4, name="early", service="db", start_ms=15, duration_ms=10),
            make_span(8, 1, name="root", start_ms=0, duration_ms=30),
        ]
    )


def test_operation_stats_sums_self_time(store: Store) -> None:
    _self_time_trace(store)
    stats = {(s.group, s.name): s for s in store.operation_stats({"g": [tid(7)], "h": [tid(8)]})}
    assert stats["g", "root"] == OperationStat("g", "frontend", "root", 1, 1, 100 * MS, 20 * MS)
    assert stats["g", "a"].self_ns == 40 * MS
    assert stats["g", "b"].self_ns == 50 * MS
    assert stats["g", "a1"].self_ns == 5 * MS  # early covers 20-25 of it... clipped to a1
    assert stats["h", "root"] == OperationStat("h", "frontend", "root", 1, 1, 30 * MS, 30 * MS)
    assert len(stats) == 6


def test_attribute_counts_per_trace_with_focus_filter(store: Store) -> None:
    spans = []
    for n in range(1, 7):
        slow = n <= 3
        spans.append(
            make_span(
                n, 1, attributes={"db.statement": "by email" if slow or n == 4 else "by id",
                                  "cached": not slow, "shard": 7},
                resource={"service.name": "frontend", "host.name": "h1" if slow else "h2"},
            )
        )  # fmt: skip
        spans.append(make_span(n, 2, 1, attributes={"db.statement": "by email"} if slow else {}))
    store.write(spans)
    counts = store.attribute_counts(
        {"slow": [tid(1), tid(2), tid(3)], "normal": [tid(4), tid(5), tid(6)]}, focus="slow"
    )
    got = {(c.group, c.key, c.value): c.trace_count for c in counts}
    assert got[("slow", "db.statement", "by email")] == 3  # per trace, not per span
    assert got[("normal", "db.statement", "by email")] == 1
    assert got[("slow", "host.name", "h1")] == 3  # resource attributes count too
    assert got[("slow", "cached", "false")] == 3  # bools as true/false
    assert got[("normal", "shard", "7")] == 3  # ints as text
    assert ("normal", "db.statement", "by id") not in got  # fewer than 2 slow traces
    assert ("normal", "host.name", "h2") not in got


def test_red_points_totals_and_adjusted_counts(store: Store) -> None:
    spans = []
    for i in range(10):
        s = make_span(i + 1, 1, service="orders", name="POST /orders", start_ms=i * 1000,
                      duration_ms=10 * (i + 1),
                      status=StatusCode.ERROR if i == 9 else StatusCode.UNSET)  # fmt: skip
        if i < 2:
            s.trace_state = "ot=th:8;rv:0123456789abcd"  # sampled at 50 %: counts twice
        spans.append(s)
    spans.append(make_span(20, 1, service="orders", name="GET /health", kind=SpanKind.CLIENT))
    store.write(spans)
    points = store.red(T0, T0 + 10_000 * MS, 5000 * MS, ["orders"], kinds=[SpanKind.SERVER])
    totals = next(p for p in points if p.bucket_start_ns is None)
    assert totals.span_count == 10
    assert totals.request_count == 12.0
    assert totals.error_count == 1.0
    assert totals.quantiles_ns == (55 * MS, 95_500_000, 99_100_000)  # interpolated
    steps = sorted((p.bucket_start_ns, p.span_count, p.request_count) for p in points
                   if p.bucket_start_ns is not None)  # fmt: skip
    assert steps == [(T0, 5, 7.0), (T0 + 5000 * MS, 5, 5.0)]
    grouped = store.red(T0, T0 + 10_000 * MS, 10_000 * MS, ["orders"], group_by_operation=True)
    assert {p.operation for p in grouped} == {"POST /orders", "GET /health"}


def test_latency_histogram_buckets_with_exemplars(store: Store) -> None:
    store.write(
        [make_span(n, 1, service="orders", duration_ms=d) for n, d in
         [(1, 1), (2, 3), (3, 4), (4, 30), (5, 31), (6, 32), (7, 33), (8, 500)]]
    )  # fmt: skip
    buckets = store.latency_histogram(*WINDOW, [2 * MS, 10 * MS, 100 * MS], ["orders"])
    got = {b.bucket_index: (b.count, set(b.exemplar_trace_ids)) for b in buckets}
    assert got == {
        0: (1, {tid(1)}),
        1: (2, {tid(2), tid(3)}),
        2: (4, {tid(7), tid(6), tid(5)}),  # the three slowest of the bucket
        3: (1, {tid(8)}),
    }


def test_dependency_stats_with_quantiles_and_links(shop: Store) -> None:
    stats = shop.dependency_stats(*WINDOW)
    edges = shop.dependencies(*WINDOW)
    assert [(s.parent, s.child, s.call_count, s.error_count) for s in stats] == [
        (e.parent, e.child, e.call_count, e.error_count) for e in edges
    ]
    assert all(len(s.quantiles_ns) == 3 for s in stats)


def test_dependency_stats_counts_messaging_links(store: Store) -> None:
    producer = make_span(1, 1, service="orders", name="publish", kind=SpanKind.PRODUCER)
    consumer = make_span(2, 1, service="mailer", name="receive", kind=SpanKind.CONSUMER,
                         start_ms=50, duration_ms=40)  # fmt: skip
    consumer.links = [Link(tid(1), sid(1))]
    same_trace = make_span(1, 2, 1, service="mailer", name="receive", kind=SpanKind.CONSUMER)
    same_trace.links = [Link(tid(1), sid(1))]  # parent AND link: one call, not two
    store.write([producer, consumer, same_trace])
    (edge,) = store.dependency_stats(*WINDOW)
    assert (edge.parent, edge.child, edge.call_count) == ("orders", "mailer", 2)
    assert edge.quantiles_ns[0] == 25 * MS


def test_aggregates_find_traces_with_ids_of_every_size(store: Store) -> None:
    # Ids above and below 2**127 in one list once made DuckDB infer DOUBLE[] and miss them.
    ids = [
        bytes.fromhex("ff" * 16),
        bytes.fromhex("7f" + "ab" * 15),
        bytes.fromhex("00" * 15 + "01"),
    ]
    spans = [make_span(1, 1, duration_ms=5) for _ in ids]
    for s, t in zip(spans, ids, strict=True):
        s.trace_id = t
    store.write(spans)
    stats = store.operation_stats({"all": ids})
    assert [(s.trace_count, s.span_count) for s in stats] == [(3, 3)]
    counts = store.attribute_counts({"all": ids}, focus="all", min_traces=3)
    assert {(c.key, c.value, c.trace_count) for c in counts} == {("service.name", "frontend", 3)}


def test_search_summarises_traces_with_ids_of_every_size(store: Store) -> None:
    # Trace ids above and below 2**127 in one result page must all get their summaries
    # (DuckDB once read such a list of ids as DOUBLE[] and dropped traces silently).
    ids = [
        bytes.fromhex("ff" + "01" * 15),
        bytes.fromhex("80" + "23" * 15),
        bytes.fromhex("7f" + "ab" * 15),
        bytes.fromhex("00" * 15 + "01"),
    ]
    spans = []
    for i, t in enumerate(ids):
        root = make_span(1, 1, duration_ms=10 + i)
        child = make_span(1, 2, parent=1, duration_ms=5)
        root.trace_id = child.trace_id = t
        spans += [root, child]
    store.write(spans)
    found = store.search(q(limit=10))
    assert sorted(s.trace_id for s in found) == sorted(ids)
    assert all(s.span_count == 2 and s.orphan_count == 0 for s in found)

"""Per-trace analysis on hand-built traces: critical path, breakdown, clock skew, diff,
smells. Every case's answer is worked out by hand in its comment."""

from __future__ import annotations

import pytest

from spanscope.analysis.breakdown import breakdown, self_times
from spanscope.analysis.critical_path import critical_path
from spanscope.analysis.diff import diff_traces
from spanscope.analysis.skew import adjust_clock_skew
from spanscope.analysis.smells import find_smells
from spanscope.model.spans import SpanKind, Trace
from tests.support.traces import MS, build, by_name, seed_checkout, sid

C = SpanKind.CLIENT

# name -> expected ms on the critical path
CRITICAL_CASES = {
    # root 0-100 calls a (10-40) then b (50-90), one after another: both fully on the path.
    "sequential": (
        build(("root", None, 0, 100), ("a", "root", 10, 40), ("b", "root", 50, 90)),
        {"root": 30, "a": 30, "b": 40},
    ),
    # a (10-60) and b (10-90) run in parallel: only b, which finished last, is on the path.
    "parallel": (
        build(("root", None, 0, 100), ("a", "root", 10, 60), ("b", "root", 10, 90)),
        {"root": 20, "b": 80},
    ),
    # overlapping: b (50-90) last; before b started, a (10-60) ended after 50 so it is not
    # eligible; c (5-45) ended before b started, so the path goes c then b.
    "overlapping": (
        build(
            ("root", None, 0, 100),
            ("a", "root", 10, 60),
            ("b", "root", 50, 90),
            ("c", "root", 5, 45),
        ),
        {"root": 20, "c": 40, "b": 40},
    ),
    # fan-out: 3 parallel calls, each with a child; the slowest branch (y, its child y1) wins.
    "fan-out": (
        build(
            ("root", None, 0, 100),
            ("x", "root", 10, 50),
            ("x1", "x", 15, 45),
            ("y", "root", 10, 80),
            ("y1", "y", 20, 75),
            ("z", "root", 10, 30),
        ),
        {"root": 30, "y": 15, "y1": 55},
    ),
    # async: a consumer outliving its producer parent only counts up to the parent's end.
    "async outlives parent": (
        build(
            ("root", None, 0, 100),
            ("produce", "root", 10, 20, {"kind": SpanKind.PRODUCER}),
            ("consume", "produce", 15, 300, {"kind": SpanKind.CONSUMER}),
        ),
        {"root": 90, "produce": 5, "consume": 5},
    ),
    # orphan: its parent was never stored; it hangs under the root and its time counts.
    "orphan": (
        build(("root", None, 0, 100), ("lost", "never-stored", 30, 70)),
        {"root": 60, "lost": 40},
    ),
}


@pytest.mark.parametrize("case", CRITICAL_CASES, ids=list(CRITICAL_CASES))
def test_critical_path_time_per_span(case: str) -> None:
    trace, expected = CRITICAL_CASES[case]
    path = critical_path(trace)
    got = {by_id_name(trace, sid_): ns / MS for sid_, ns in path.per_span.items()}
    assert got == expected
    assert path.duration_ns == by_name(trace, "root").duration_ns  # covers the root exactly
    starts = [s.start_ns for s in path.segments]
    assert starts == sorted(starts)


def by_id_name(trace: Trace, span_id: bytes) -> str:
    for s in trace.spans:
        if s.span_id == span_id:
            for name in ("root", "a", "b", "c", "x", "x1", "y", "y1", "z"):
                if sid(trace, name) == span_id:
                    return name
            return {sid(trace, n): n for n in ("produce", "consume", "lost")}[span_id]
    raise KeyError(span_id)


def test_orphan_is_reported_in_warnings() -> None:
    trace, _ = CRITICAL_CASES["orphan"]
    assert "1 span(s) have no stored parent" in critical_path(trace).warnings[0]


def test_no_root_uses_earliest_parentless_span() -> None:
    trace = build(("a", "gone", 0, 50), ("b", "a", 10, 40))
    path = critical_path(trace)
    assert path.root is not None and path.root.span_id == sid(trace, "a")
    assert path.per_span == {sid(trace, "a"): 20 * MS, sid(trace, "b"): 30 * MS}


def test_deep_chain_does_not_recurse() -> None:
    rows = [("s0", None, 0, 20000)] + [(f"s{i}", f"s{i - 1}", i, 20000 - i) for i in range(1, 5000)]
    path = critical_path(build(*rows))
    assert path.duration_ns == 20000 * MS
    assert len(path.per_span) == 5000


def test_seed_example_database_span_dominates_path_and_breakdown() -> None:
    trace = seed_checkout()
    path = critical_path(trace)
    top_span, top_ns = path.ranked()[0]
    assert top_span.name == "SELECT inventory_items"
    assert top_ns == 975 * MS
    b = breakdown(trace)
    assert (b.operations[0].service, b.operations[0].name) == (
        "inventory",
        "SELECT inventory_items",
    )
    assert b.operations[0].critical_share == pytest.approx(0.78)
    assert b.services[0].service == "inventory"
    assert b.headline.startswith("78 % of this trace")
    assert "inventory · SELECT inventory_items, on the critical path" in b.headline
    assert sum(s.critical_share for s in b.operations) == pytest.approx(1.0)


def test_self_time_counts_overlapping_children_once() -> None:
    # root 0-100 with a 10-60 and b 40-90: covered 10-90 = 80, self = 20.
    trace = build(("root", None, 0, 100), ("a", "root", 10, 60), ("b", "root", 40, 90))
    own = self_times(trace)
    assert own[sid(trace, "root")] == 20 * MS
    assert own[sid(trace, "a")] == 50 * MS
    b = breakdown(trace)
    # parallel work: self-time shares sum past 100 %, critical shares to exactly 100 %
    assert sum(s.self_share for s in b.services) == pytest.approx(1.2)
    assert sum(s.critical_share for s in b.services) == pytest.approx(1.0)


# --- clock skew -------------------------------------------------------------------------


def test_child_on_other_host_starting_early_is_centred_and_marked() -> None:
    # parent 100-200 (host a); child 50-90 on host b: clock 80 ms behind. Centred: 130-170.
    trace = build(
        ("root", None, 100, 200, {"host": "a"}),
        ("child", "root", 50, 90, {"host": "b"}),
        ("grandchild", "child", 60, 80, {"host": "b"}),
    )
    adjusted = adjust_clock_skew(trace)
    child = by_name(adjusted, "child")
    assert (child.start_ns - by_name(adjusted, "root").start_ns) / MS == 30
    assert child.duration_ns == 40 * MS
    assert "clock skew adjusted: start shifted by +80ms" in child.warnings[0]
    grandchild = by_name(adjusted, "grandchild")  # same host as child: same shift
    assert grandchild.start_ns == by_name(trace, "grandchild").start_ns + 80 * MS
    assert grandchild.warnings
    assert not by_name(trace, "child").warnings  # the input trace is left as it was


@pytest.mark.parametrize(
    "child_row, moved",
    [
        (("child", "root", 110, 150, {"host": "b"}), False),  # fits
        (("child", "root", 90, 150, {"host": "a"}), False),  # same host: same clock
        (("child", "root", 150, 200.5, {"host": "b"}), False),  # ends late within jitter
        (("child", "root", 150, 230, {"host": "b"}), True),  # ends 30 ms late
        (("child", "root", 50, 300, {"host": "b"}), True),  # longer than parent, early
    ],
)
def test_skew_rules(child_row: tuple, moved: bool) -> None:
    trace = build(("root", None, 100, 200, {"host": "a"}), child_row)
    child = by_name(adjust_clock_skew(trace), "child")
    assert bool(child.warnings) is moved
    if child_row[3] - child_row[2] > 100:
        assert child.start_ns == by_name(trace, "root").start_ns


def test_async_consumer_ending_after_producer_is_not_skew() -> None:
    trace = build(
        ("root", None, 100, 200, {"host": "a", "kind": SpanKind.PRODUCER}),
        ("consume", "root", 150, 900, {"host": "b", "kind": SpanKind.CONSUMER}),
    )
    assert adjust_clock_skew(trace) is trace


def test_skew_fixes_critical_path() -> None:
    trace = build(
        ("root", None, 100, 200, {"host": "a"}),
        ("child", "root", 0, 60, {"host": "b"}),
    )
    per_span = critical_path(adjust_clock_skew(trace)).per_span
    assert per_span[sid(trace, "child")] == 60 * MS


# --- diff -------------------------------------------------------------------------------


def orders(n_queries: int, trace_byte: int, cache: bool = False) -> Trace:
    rows: list[tuple] = [
        ("root", None, 0, 50 + 20 * n_queries, {"service": "frontend"}),
        ("orders", "root", 5, 45 + 20 * n_queries, {"service": "orders"}),
    ]
    rows += [
        (f"q{i}", "orders", 10 + 20 * i, 28 + 20 * i, {"service": "orders", "op": "SELECT items"})
        for i in range(n_queries)
    ]
    if cache:
        rows.append(("cache", "orders", 6, 8, {"service": "orders", "op": "GET cache"}))
    return build(*rows, trace_id=bytes([trace_byte]) * 16)


def test_diff_names_the_n_plus_one_path() -> None:
    a, b = orders(1, 1, cache=True), orders(20, 2)
    d = diff_traces(a, b)
    top = d.paths[0]
    assert (top.name, top.a_count, top.b_count, top.status) == ("SELECT items", 1, 20, "changed")
    assert top.path == ("frontend · root", "orders · orders", "orders · SELECT items")
    assert top.delta_ns == 19 * 18 * MS
    assert d.headline == "b is 380ms slower; orders · SELECT items ran 20 times in b, 1 in a"
    only = {p.name: p.status for p in d.paths if p.status.startswith("only")}
    assert only == {"GET cache": "only_a"}


# --- smells -----------------------------------------------------------------------------


def test_n_plus_one_found_with_its_spans() -> None:
    trace = orders(20, 3)
    smells = find_smells(trace)
    assert [s.type for s in smells] == ["n_plus_one"]
    assert len(smells[0].spans) == 20
    assert smells[0].saving_ns == 19 * 18 * MS
    assert "SELECT items called 20 times in a row" in smells[0].message


def test_parallel_calls_are_not_n_plus_one() -> None:
    rows = [("root", None, 0, 100)] + [(f"q{i}", "root", 10, 60, {"op": "q"}) for i in range(8)]
    assert find_smells(build(*rows)) == []


def test_retry_after_error() -> None:
    trace = build(
        ("root", None, 0, 300),
        ("pay1", "root", 10, 110, {"op": "POST /pay", "kind": C, "error": True}),
        ("pay2", "root", 120, 150, {"op": "POST /pay", "kind": C}),
    )
    (smell,) = find_smells(trace)
    assert smell.type == "retry"
    assert smell.saving_ns == 100 * MS
    assert {s.span_id for s in smell.spans} == {sid(trace, "pay1"), sid(trace, "pay2")}


def test_sequential_independent_calls() -> None:
    trace = build(
        ("root", None, 0, 200),
        ("user", "root", 10, 60, {"op": "GET /user", "kind": C}),
        ("cart", "root", 60, 130, {"op": "GET /cart", "kind": C}),
        ("price", "root", 130, 190, {"op": "GET /price", "kind": C}),
    )
    (smell,) = find_smells(trace)
    assert smell.type == "sequential"
    assert smell.saving_ns == (50 + 60) * MS  # 180 ms total - the 70 ms longest

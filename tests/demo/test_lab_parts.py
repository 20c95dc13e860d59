"""The lab's pieces without processes: the switchboard, the SQL incident, the tour's math."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from spanscope.demo import data
from spanscope.demo.incidents import INCIDENTS, IncidentSwitch, check_name, write_active
from spanscope.demo.tour import (
    log_lines,
    most_grown,
    percentile,
    self_time_per_operation,
    self_times,
    where_time_went,
)


def test_switchboard_is_seen_by_a_service_and_names_are_checked(tmp_path: Path) -> None:
    switch = IncidentSwitch(tmp_path, recheck_s=0)
    assert switch.active() == frozenset()
    write_active(tmp_path, {"missing-index", "cache-miss"})
    assert switch.on("missing-index") and switch.on("cache-miss")
    write_active(tmp_path, set())
    assert not switch.on("missing-index")
    with pytest.raises(ValueError, match="choose one of missing-index"):
        check_name("missing-idx")
    assert set(INCIDENTS) == {
        "missing-index", "slow-payment-provider", "retry-storm", "error-burst", "cache-miss",
        "n-plus-one",
    }  # fmt: skip


def test_missing_index_turns_the_lookup_into_a_full_scan(lab_databases: Path) -> None:
    conn = data.connect(lab_databases / "orders.db")
    assert conn.execute("SELECT count(*) FROM orders").fetchone()[0] == data.ORDER_COUNT
    lookup = "EXPLAIN QUERY PLAN SELECT id FROM orders WHERE order_ref = ?"
    plan = " ".join(str(row[-1]) for row in conn.execute(lookup, ("x",)))
    assert plan.startswith("SEARCH orders") and data.ORDER_REF_INDEX in plan, plan
    conn.execute("BEGIN")  # the session database is shared: change it only in a transaction
    data.set_order_ref_index(conn, present=False)
    # a new statement text: sqlite3's statement cache would replay the old plan's rows
    plan = " ".join(str(row[-1]) for row in conn.execute(lookup + " ", ("x",)))
    assert plan.startswith("SCAN orders"), plan
    conn.execute("ROLLBACK")
    found = conn.execute(
        "SELECT id FROM orders WHERE order_ref = ?", (data.order_ref(1234),)
    ).fetchall()
    assert found == [(1234,)]


def test_a_regular_customer_has_an_order_history_to_check(lab_databases: Path) -> None:
    # checkout loads the customer's last ORDER_HISTORY orders by reference, one lookup
    # each: with the index gone that is ORDER_HISTORY scans, which is the incident's size
    conn = data.connect(lab_databases / "orders.db")
    counts = [
        conn.execute(data.HISTORY_QUERY, (customer, data.ORDER_HISTORY)).fetchall()
        for customer in (1, data.REGULAR_CUSTOMERS // 2, data.REGULAR_CUSTOMERS)
    ]
    assert [len(refs) for refs in counts] == [data.ORDER_HISTORY] * 3, counts
    plan = " ".join(
        str(row[-1]) for row in conn.execute("EXPLAIN QUERY PLAN " + data.HISTORY_QUERY, (1, 10))
    )
    assert "idx_orders_customer" in plan, plan  # the history itself stays cheap
    rng = random.Random(3)
    shoppers = [data.shopper(rng) for _ in range(1_000)]
    regular = sum(1 for s in shoppers if s <= data.REGULAR_CUSTOMERS)
    assert 700 <= regular <= 900 and max(shoppers) <= data.USER_COUNT, regular


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 99) == 0
    assert percentile([5], 99) == 5
    values = list(range(1, 101))
    assert (percentile(values, 50), percentile(values, 99), percentile(values, 100)) == (
        50,
        99,
        100,
    )


def span(span_id: str, parent: str | None, start: int, end: int, name: str = "x") -> dict:
    return {
        "span_id": span_id, "parent_span_id": parent, "start_time_unix_nano": start,
        "end_time_unix_nano": end, "name": name, "service": "s", "attributes": [],
    }  # fmt: skip


def test_self_time_counts_overlapping_children_once_and_clips_them() -> None:
    spans = [
        span("root", None, 0, 100),
        span("a", "root", 10, 40, "a"),
        span("b", "root", 30, 60, "b"),  # overlaps a: 10..60 covered once
        span("late", "root", 90, 130, "late"),  # outlives its parent: clipped at 100
        span("leaf", "a", 10, 35, "SELECT"),
    ]
    assert self_times(spans) == {"root": 40, "a": 5, "b": 30, "late": 40, "leaf": 25}


def test_log_lines_of_a_trace_are_its_json_lines_only(tmp_path: Path) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    (tmp_path / "orders.log").write_text(
        json.dumps({"timestamp": "2", "message": "b", "trace_id": trace_id}) + "\n"
        + json.dumps({"timestamp": "1", "message": "other", "trace_id": "0" * 32}) + "\n"
        + f"not json but mentions {trace_id}\n"
    )  # fmt: skip
    (tmp_path / "gateway.log").write_text(
        json.dumps({"timestamp": "1", "message": "a", "trace_id": trace_id}) + "\n"
    )
    assert [r["message"] for r in log_lines(tmp_path, trace_id)] == ["a", "b"]


def test_what_changed_is_the_operation_whose_self_time_per_trace_grew_most() -> None:
    def trace(select_ns: int, other_ns: int) -> dict:
        return {"spans": [
            span("root", None, 0, 100 + select_ns + other_ns, "POST /orders"),
            {**span("q", "root", 10, 10 + select_ns, "SELECT"), "service": "orders"},
            {**span("p", "root", 50, 50 + other_ns, "POST /v1/charges"), "service": "provider"},
        ]}  # fmt: skip

    before = self_time_per_operation([trace(1, 30), trace(1, 10)])
    after = self_time_per_operation([trace(40, 80), trace(40, 10)])  # one stalled provider call
    assert before[("orders", "SELECT")] == 1
    assert most_grown(before, after) == (("orders", "SELECT"), 1, 40)
    assert most_grown(before, {}) is None


def test_where_time_went_sums_the_spans_of_one_operation() -> None:
    # checkout's order lookups: five SELECTs, 15 each of one statement and one other of 10,
    # are the trace's largest time on the critical path (70), as explain ranks operations
    # (service and name), though the root alone (30) is larger than any one of them; the
    # span shown is of the statement that took most of it
    select = {"key": "db.statement", "value": "SELECT id FROM orders WHERE order_ref = ?"}
    other = {"key": "db.statement", "value": "SELECT 1"}
    spans = [span("root", None, 0, 100, "POST /orders")]
    for i in range(4):
        spans.append(span(f"q{i}", "root", 10 + 15 * i, 25 + 15 * i, "SELECT"))
        spans[-1]["attributes"] = [select]
    spans.append(span("one", "root", 70, 80, "SELECT") | {"attributes": [other]})
    found = where_time_went({"spans": spans})
    assert found is not None and found.span is not None
    assert (found.name, found.critical_ns, found.calls) == ("SELECT", 70, 5)
    assert found.span["attributes"] == [select]

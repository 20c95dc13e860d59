"""The planner over every store backend (the in-memory reference and DuckDB; the fixture
is parametrized): pushdown only ever narrows. Every known-answer
query of test_traceql_engine.py finds the shop trace through the store exactly when the engine
alone says it matches; and a form search (service, operation, status, duration range)
finds the same traces as its TraceQL translation."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_traceql_engine import CASES
from traceql_shop import BASE, SHOP_ID, shop_spans

from spanscope.query.model import SearchQuery
from spanscope.query.traceql import parse
from spanscope.query.traceql.planner import pushdown, search
from spanscope.store.base import Store
from spanscope.store.duckdb import DuckDBStore
from spanscope.store.memory import MemoryStore

WINDOW = (BASE - 10**9, BASE + 600 * 10**9)
SERVICES = ["frontend", "checkout", "payments"]
NAMES = ["GET /checkout", "POST /pay", "db.query", "render", "HTTP POST"]


@pytest.fixture(scope="module", params=["memory", "duckdb"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    st_: Store = MemoryStore() if request.param == "memory" else DuckDBStore(":memory:")
    st_.write(shop_spans())
    # more traces: the shop shifted in time, some without errors, some slower
    for k in range(1, 12):
        tid = bytes([0x20 + k]) * 16
        spans = []
        for s in shop_spans():
            shifted = replace(
                s,
                trace_id=tid,
                start_ns=s.start_ns + k * 10**9,
                end_ns=s.end_ns + k * 10**9 + (k % 3) * 40_000_000,
                events=list(s.events),
            )
            if k % 2:
                shifted.status_code = type(s.status_code)(0)
            spans.append(shifted)
        st_.write(spans)
    yield st_
    st_.close()


@pytest.mark.parametrize(("query", "expected"), CASES)
def test_pushdown_never_loses_the_trace(store: Store, query: str, expected: list) -> None:
    found = search(store, query, *WINDOW, limit=50)
    assert (SHOP_ID in [m.trace.trace_id for m in found.matches]) == bool(expected)


def test_pushdown_reaches_the_store() -> None:
    p = pushdown(
        parse('{ resource.service.name = "x" && name = "y" && status = error && duration >= 5ms }')
    )
    assert (p.service, p.operation, p.status, p.min_duration_ns, p.exact) == (
        "x",
        "y",
        "error",
        5_000_000,
        True,
    )
    assert pushdown(parse("{ .a = 1 } || { .b = 2 }")).conditions == []
    assert pushdown(parse('{ .a = 1 } !> { name = "n" }')).operation == "n"


def test_trace_duration_is_checked_before_reading(store: Store) -> None:
    assert pushdown(parse("{ trace:duration > 1s }")).trace_min_ns == 10**9 + 1
    found = search(store, "{ trace:duration > 1050ms }", *WINDOW, limit=50)
    # shifted traces k % 3 == 2 end 80 ms later: 1.08 s; the others are 1.0 s or 1.04 s
    assert len(found.matches) == found.inspected_traces == 4


def test_exact_pushdown_reads_only_limit_traces(store: Store) -> None:
    found = search(store, '{ resource.service.name = "payments" }', *WINDOW, limit=3)
    assert len(found.matches) == 3 and found.inspected_traces == 3


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    service=st.sampled_from([None, *SERVICES]),
    operation=st.sampled_from([None, *NAMES]),
    status=st.sampled_from([None, "error", "unset"]),
    low_ms=st.sampled_from([None, 0, 50, 60, 100, 800]),
    high_ms=st.sampled_from([None, 60, 100, 900, 2000]),
)
def test_form_search_equals_its_traceql(
    store: Store, service: str | None, operation: str | None, status: str | None,
    low_ms: int | None, high_ms: int | None,
) -> None:  # fmt: skip
    terms = []
    if service:
        terms.append(f'resource.service.name = "{service}"')
    if operation:
        terms.append(f'name = "{operation}"')
    if status:
        terms.append(f"status = {status}")
    if low_ms is not None:
        terms.append(f"duration >= {low_ms}ms")
    if high_ms is not None:
        terms.append(f"duration <= {high_ms}ms")
    if low_ms is not None and high_ms is not None and high_ms < low_ms:
        return
    form = SearchQuery(
        *WINDOW, service=service, operation=operation, status=status,  # type: ignore[arg-type]
        min_duration_ns=None if low_ms is None else low_ms * 1_000_000,
        max_duration_ns=None if high_ms is None else high_ms * 1_000_000, limit=100,
    )  # fmt: skip
    by_form = [t.trace_id for t in store.search(form)]
    by_traceql = [
        m.trace.trace_id
        for m in search(store, "{ " + " && ".join(terms) + " }", *WINDOW, limit=100).matches
    ]
    assert by_traceql == by_form

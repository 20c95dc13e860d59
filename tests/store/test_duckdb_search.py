"""Newest-first searches look at the window's tail first: the page must be the same one a
scan of the whole window gives, whatever the data."""

from __future__ import annotations

import random

import pytest

from spanscope.model.spans import Span, SpanKind
from spanscope.query.model import SearchQuery, parse_condition
from spanscope.store.duckdb import DuckDBStore
from spanscope.store.duckdb_search import _ranked, ranked_traces

HOUR = 3600 * 10**9
END = 1_800_000_000 * 10**9


def traces(rng: random.Random, n: int) -> list[Span]:
    spans = []
    for t in range(n):
        tid = rng.randbytes(16)
        # Mostly short traces anywhere in the day; some long ones that began hours before
        # their matching span (they must still rank by their own start).
        start = END - rng.randrange(24 * HOUR)
        length = rng.choice([HOUR // 1000, HOUR // 10, 6 * HOUR])
        for i in range(4):
            s = start + (length * i) // 4
            spans.append(
                Span(
                    trace_id=tid,
                    span_id=(t * 10 + i + 1).to_bytes(8, "big"),
                    parent_span_id=None if i == 0 else (t * 10 + 1).to_bytes(8, "big"),
                    name="GET /" if i == 0 else "SELECT",
                    start_ns=s,
                    end_ns=s + length // 4,
                    service="api",
                    kind=SpanKind.SERVER,
                    attributes={"http.status_code": rng.choice([200, 200, 200, 500])},
                )
            )
    return spans


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("limit", [1, 5, 20, 200])
def test_tail_first_search_equals_a_whole_window_scan(seed: int, limit: int) -> None:
    store = DuckDBStore(":memory:")
    store.write(traces(random.Random(seed), 400))
    cur = store._reader()
    for window in (24 * HOUR, 2 * HOUR, 30 * 60 * 10**9):
        q = SearchQuery(
            start_ns=END - window,
            end_ns=END,
            conditions=[parse_condition("http.status_code>=500")],
            limit=limit,
        )
        got = ranked_traces(cur, q)
        assert got == _ranked(cur, q)
        assert len(got) == min(
            limit,
            len(_ranked(cur, SearchQuery(q.start_ns, END, conditions=q.conditions, limit=1000))),
        )
    store.close()


def test_a_long_trace_matching_in_the_tail_does_not_outrank_a_newer_one() -> None:
    store = DuckDBStore(":memory:")
    minute = 60 * 10**9

    def trace(tid: int, start: int, matching_at: int) -> list[Span]:
        def span(i: int, s: int, status: int) -> Span:
            return Span(
                trace_id=tid.to_bytes(16, "big"),
                span_id=(tid * 10 + i).to_bytes(8, "big"),
                parent_span_id=None if i == 1 else (tid * 10 + 1).to_bytes(8, "big"),
                name="op",
                start_ns=s,
                end_ns=s + minute,
                service="api",
                attributes={"http.status_code": status},
            )

        return [span(1, start, 200), span(2, matching_at, 500)]

    # A: new and short. B: began 6 h ago, its error 2 min ago. C: an error an hour ago.
    store.write(trace(1, END - 3 * minute, END - 3 * minute))
    store.write(trace(2, END - 6 * HOUR, END - 2 * minute))
    store.write(trace(3, END - HOUR, END - HOUR))
    q = SearchQuery(
        start_ns=END - 24 * HOUR,
        end_ns=END,
        conditions=[parse_condition("http.status_code>=500")],
        limit=2,
    )
    got = [tid for tid, _, _ in ranked_traces(store._reader(), q)]
    assert got == [1, 3]  # newest first by the trace's own start: A, then C (B began first)
    store.close()

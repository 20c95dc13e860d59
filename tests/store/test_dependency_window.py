"""The service map's time window: calls are counted by the callee's start, while the caller
may start long before the window (a parent stored in an earlier write, i.e. another trace
fragment), and spans wholly outside the window count for nothing."""

from __future__ import annotations

from spanscope.model.spans import SpanKind
from spanscope.store.base import Store

from .conftest import MS, T0, make_span

HOUR_MS = 3600 * 1000


def test_caller_from_an_earlier_write_before_the_window_is_found(store: Store) -> None:
    # A long-running job: its parent starts 5 h before the window, and was written first.
    store.write([make_span(1, 1, service="scheduler", name="run", duration_ms=6 * HOUR_MS)])
    store.write(
        [
            make_span(
                1,
                2,
                1,
                service="billing",
                name="invoice",
                start_ms=5 * HOUR_MS + 1,
                duration_ms=20,
                kind=SpanKind.SERVER,
            ),  # fmt: skip
            # same shape, but entirely before the window: not in this service map
            make_span(2, 1, service="scheduler", name="run"),
            make_span(2, 2, 1, service="billing", name="invoice", start_ms=1),
        ]
    )
    window = (T0 + 5 * HOUR_MS * MS, T0 + 6 * HOUR_MS * MS)
    stats = store.dependency_stats(*window)
    assert [(s.parent, s.child, s.call_count) for s in stats] == [("scheduler", "billing", 1)]
    assert stats[0].quantiles_ns[0] == 20 * MS
    edges = store.dependencies(*window)
    assert [(e.parent, e.child, e.call_count) for e in edges] == [("scheduler", "billing", 1)]


def test_window_without_calls_is_an_empty_map(store: Store) -> None:
    store.write([make_span(1, 1, service="scheduler"), make_span(1, 2, 1, service="billing")])
    later = T0 + 10 * HOUR_MS * MS
    assert store.dependency_stats(later, later + HOUR_MS * MS) == []

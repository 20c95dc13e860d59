"""Conformance: retention by trace class (error 30 d, slow 14 d, normal 7 d here) reports
the same with ``dry_run`` as it then deletes, and deletes a trace whole — spans, index,
sampling record — leaving every other trace as it was."""

from __future__ import annotations

from spanscope.batch import sampling_table, spans_table
from spanscope.model.spans import StatusCode
from spanscope.query.model import SearchQuery
from spanscope.store.base import TRACE_CLASSES, ClassReport, Store

from .conftest import MS, T0, make_span, tid

DAY = 86_400 * 1000 * MS
RETENTION = {"error": 30 * DAY, "slow": 14 * DAY, "normal": 7 * DAY}
SLOW = 1000 * MS  # a trace lasting 1 s or more is slow
NOW = T0 + 40 * DAY


def _ends_days_ago(days: float) -> float:
    """start_ms of a 10 ms span that ends ``days`` before NOW."""
    return (NOW - days * DAY - T0) / MS - 10


def _write(store: Store) -> None:
    spans = [
        # error traces: one past 30 d, one within
        make_span(1, 1, start_ms=_ends_days_ago(31)),
        make_span(1, 2, 1, start_ms=_ends_days_ago(31), status=StatusCode.ERROR),
        make_span(2, 1, start_ms=_ends_days_ago(20), status=StatusCode.ERROR),
        # slow traces (root lasting 2 s): past 14 d, within
        make_span(3, 1, start_ms=_ends_days_ago(15) - 1990, duration_ms=2000),
        make_span(3, 2, 1, start_ms=_ends_days_ago(15)),
        make_span(3, 3, 1, start_ms=_ends_days_ago(15)),
        make_span(4, 1, start_ms=_ends_days_ago(10) - 1990, duration_ms=2000),
        # normal traces: past 7 d (two of them), within
        make_span(5, 1, start_ms=_ends_days_ago(8)),
        make_span(6, 1, start_ms=_ends_days_ago(9)),
        make_span(7, 1, start_ms=_ends_days_ago(1)),
    ]
    batch = spans_table(spans)
    batch.sampling = sampling_table(
        [(tid(5), "probabilistic", 10.0, T0), (tid(7), "slow", 1.0, T0)]
    )
    store.write_tables([batch], wal_position=1)


def _expected() -> list[ClassReport]:
    return [
        ClassReport("error", RETENTION["error"], 1, 2, NOW - 31 * DAY),
        ClassReport("slow", RETENTION["slow"], 1, 3, NOW - 15 * DAY),
        ClassReport("normal", RETENTION["normal"], 2, 2, NOW - 9 * DAY),
    ]


def _stored(store: Store) -> list[int]:
    return [n for n in range(1, 8) if store.trace(tid(n)) is not None]


def test_dry_run_reports_and_deletes_nothing(store: Store) -> None:
    _write(store)
    assert store.expire(NOW, RETENTION, SLOW, dry_run=True) == _expected()
    assert _stored(store) == [1, 2, 3, 4, 5, 6, 7]
    assert store.span_count() == 10


def test_expire_deletes_what_the_dry_run_reported_and_nothing_else(store: Store) -> None:
    _write(store)
    assert store.expire(NOW, RETENTION, SLOW) == _expected()
    assert _stored(store) == [2, 4, 7]
    assert store.span_count() == 3
    for gone in (1, 3, 5, 6):
        assert store.trace_stamp(tid(gone)) is None
    window = SearchQuery(start_ns=T0, end_ns=NOW, limit=20)
    assert sorted(t.trace_id for t in store.search(window)) == [tid(2), tid(4), tid(7)]
    assert store.sampling([tid(5), tid(7)]) == {tid(7): ("slow", 1.0)}
    assert store.wal_position() == 1
    # nothing is left to expire: every class reports zero
    again = store.expire(NOW, RETENTION, SLOW)
    assert [(r.trace_class, r.traces, r.spans, r.oldest_end_ns) for r in again] == [
        (c, 0, 0, None) for c in TRACE_CLASSES
    ]


def test_a_trace_is_classified_as_a_whole(store: Store) -> None:
    # one error span among many makes the whole trace an error trace (kept 30 d), and a
    # trace is slow by first start to last end, not by any one span
    store.write([make_span(1, 1, start_ms=_ends_days_ago(20))])
    store.write([make_span(1, 2, 1, start_ms=_ends_days_ago(20), status=StatusCode.ERROR)])
    store.write([make_span(2, 1, start_ms=_ends_days_ago(12) - 1500)])
    store.write([make_span(2, 2, start_ms=_ends_days_ago(12))])
    reports = store.expire(NOW, RETENTION, SLOW)
    assert [(r.trace_class, r.traces) for r in reports] == [("error", 0), ("slow", 0),
                                                             ("normal", 0)]  # fmt: skip
    assert _stored(store) == [1, 2]

"""TraceQL metrics over a DuckDB store holding six shop traces, 10 s apart (the first one
sampled at 1-in-2: its spans count twice), through the engine and through
/api/metrics/query_range and /api/metrics/query."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from traceql_shop import BASE, shop_spans

from spanscope.api.app import create_app
from spanscope.query.traceql import TraceQLError, parse
from spanscope.query.traceql.metrics import run_metrics
from spanscope.store.duckdb import DuckDBStore

S = 1_000_000_000
STEP = 10 * S
START, END = BASE, BASE + 60 * S


def traces() -> list:
    spans = []
    for k in range(6):
        tid = bytes([0x10 + k]) * 16
        for s in shop_spans():
            spans.append(
                replace(
                    s,
                    trace_id=tid,
                    start_ns=s.start_ns + k * STEP,
                    end_ns=s.end_ns + k * STEP,
                    trace_state="ot=th:8" if k == 0 else "",
                    events=[replace(e, time_ns=e.time_ns + k * STEP) for e in s.events],
                )
            )
    return spans


@pytest.fixture(scope="module")
def store() -> Iterator[DuckDBStore]:
    st = DuckDBStore(":memory:")
    st.write(traces())
    yield st


def stamps() -> list[int]:
    return [(BASE + (k + 1) * STEP) // 1_000_000 for k in range(6)]


def run(store: DuckDBStore, q: str, instant: bool = False):  # type: ignore[no-untyped-def]
    return run_metrics(store, parse(q), START, END, None if instant else STEP, instant)


def test_count_over_time_per_step_weighted(store: DuckDBStore) -> None:
    result = run(store, "{ status = error } | count_over_time()")
    (series,) = result.series
    assert series.labels == [("__name__", "count_over_time")]
    assert series.samples == list(zip(stamps(), [2.0, 1.0, 1.0, 1.0, 1.0, 1.0], strict=True))
    assert result.weighted


def test_rate_is_per_second(store: DuckDBStore) -> None:
    (series,) = run(store, "{ status = error } | rate()").series
    assert [v for _, v in series.samples] == [0.2, 0.1, 0.1, 0.1, 0.1, 0.1]


def test_by_splits_series(store: DuckDBStore) -> None:
    result = run(store, "{ kind = client } | count_over_time() by (resource.service.name)")
    got = {s.labels[0]: [v for _, v in s.samples] for s in result.series}
    assert got == {
        ("resource.service.name", "frontend"): [2.0, 1, 1, 1, 1, 1],
        ("resource.service.name", "payments"): [6.0, 3, 3, 3, 3, 3],
    }


def test_quantiles_are_exact_and_in_seconds(store: DuckDBStore) -> None:
    result = run(store, '{ name = "db.query" } | quantile_over_time(duration, .5, 1)')
    p50, p100 = result.series
    assert p50.labels == [("__name__", "quantile_over_time"), ("p", 0.5)]
    assert [round(v, 6) for _, v in p50.samples] == [0.06] * 6
    assert [round(v, 6) for _, v in p100.samples] == [0.07] * 6


def test_value_functions(store: DuckDBStore) -> None:
    def first(q: str) -> float:
        return round(run(store, q, instant=True).series[0].samples[0][1], 6)

    assert first('{ name = "db.query" } | min_over_time(duration)') == 0.05
    assert first('{ name = "db.query" } | max_over_time(duration)') == 0.07
    # weighted: the first trace's three spans count twice
    assert first('{ name = "db.query" } | sum_over_time(duration)') == round(0.18 * 7, 6)
    assert first('{ name = "db.query" } | avg_over_time(duration)') == 0.06


def test_histogram_buckets_are_powers_of_two(store: DuckDBStore) -> None:
    result = run(store, '{ name = "db.query" } | histogram_over_time(duration)', instant=True)
    got = {s.labels[-1]: s.samples[0][1] for s in result.series}
    assert got == {("__bucket", 0.0625): 2 * 7.0, ("__bucket", 0.125): 7.0}


def test_instant_counts_the_whole_window(store: DuckDBStore) -> None:
    (series,) = run(store, "{ } | count_over_time()", instant=True).series
    assert series.samples == [(END // 1_000_000, 6 * 7 + 7.0)]


def test_not_a_metrics_query(store: DuckDBStore) -> None:
    with pytest.raises(TraceQLError, match="not a metrics query"):
        run_metrics(store, parse("{ }"), START, END, STEP)


@pytest.fixture(scope="module")
def client(store: DuckDBStore) -> Iterator[TestClient]:
    with TestClient(create_app(store)) as c:
        yield c


def test_query_range_answers_tempo_shape(client: TestClient) -> None:
    r = client.get(
        "/tempo/api/metrics/query_range",
        params={
            "q": "{ status = error } | rate() by (resource.service.name)",
            "start": str(START // S),
            "end": str(END // S),
            "step": "10s",
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    (series,) = body["series"]
    assert series["labels"] == [
        {"key": "resource.service.name", "value": {"stringValue": "checkout"}}
    ]
    assert series["samples"][0] == {"timestampMs": str(stamps()[0]), "value": 0.2}
    assert len(series["samples"]) == 6
    assert body["metrics"] == {}  # the store's RED aggregate answered: no trace was read
    assert "weighted by each span's sampling adjusted count" in body["message"]


def test_instant_query_answers_tempo_shape(client: TestClient) -> None:
    body = client.get(
        "/api/metrics/query",
        params={
            "q": "{ status = error } | count_over_time()",
            "start": str(START // S),
            "end": str(END // S),
        },
    ).json()
    assert body["series"] == [
        {"labels": [{"key": "__name__", "value": {"stringValue": "count_over_time"}}], "value": 7.0}
    ]


def test_metrics_errors_are_400(client: TestClient) -> None:
    for q in ("{ }", "{ } | rate(", ""):
        r = client.get("/api/metrics/query_range", params={"q": q})
        assert r.status_code == 400 and r.text.startswith("invalid TraceQL query"), (q, r.text)
    tiny = client.get(
        "/api/metrics/query_range", params={"q": "{ } | rate()", "since": "24h", "step": "1s"}
    )
    assert tiny.status_code == 400 and "use a larger step" in tiny.text


def test_jaeger_spm_metrics_still_answer(client: TestClient) -> None:
    assert client.get("/api/metrics/minstep").status_code == 200


@pytest.mark.parametrize(
    "q",
    [
        "{ status = error } | count_over_time()",
        "{ } | rate() by (resource.service.name)",
        '{ kind = client && resource.service.name = "payments" } | count_over_time()',
        '{ name = "db.query" } | quantile_over_time(duration, .5, .9) by (resource.service.name)',
        "{ status = error } | rate() by (resource.service.name)",
    ],
)
@pytest.mark.parametrize("instant", [False, True])
def test_red_fast_path_equals_the_engine(store: DuckDBStore, q: str, instant: bool) -> None:
    """The same query with a term the RED aggregate cannot take runs over the traces."""
    slow_q = q.replace("}", " && duration >= 0ns }", 1).replace("{  &&", "{")
    fast = run(store, q, instant)
    slow = run(store, slow_q, instant)
    assert slow.inspected_traces == 6 and fast.inspected_traces == 0
    assert [(s.labels, [(t, round(v, 9)) for t, v in s.samples]) for s in fast.series] == [
        (s.labels, [(t, round(v, 9)) for t, v in s.samples]) for s in slow.series
    ]
    assert fast.weighted == slow.weighted


def test_topk_bottomk_and_filters_per_data_point(store: DuckDBStore) -> None:
    by_service = "{ } | count_over_time() by (resource.service.name)"
    every = {s.labels[0][1]: s.samples for s in run(store, by_service).series}
    assert {k: v[1][1] for k, v in every.items()} == {"checkout": 1, "frontend": 3, "payments": 3}
    top = run(store, by_service + " | topk(1)").series
    # per step: payments wins the weighted first step (6 to 5) and the last (3 to 2, no
    # next root on the boundary); between, a tie at 3 breaks by labels, frontend first
    assert [(s.labels[0][1], len(s.samples)) for s in top] == [("frontend", 4), ("payments", 2)]
    bottom = run(store, by_service + " | bottomk(1)").series
    assert [s.labels[0][1] for s in bottom] == ["checkout"]
    assert len(bottom[0].samples) == 6
    over = run(store, by_service + " > 2").series
    assert sorted(s.labels[0][1] for s in over) == ["frontend", "payments"]
    first_only = run(store, by_service + " >= 6").series  # payments' weighted first step
    assert [(s.labels[0][1], [t for t, _ in s.samples]) for s in first_only] == [
        ("payments", [stamps()[0]])
    ]
    chained = run(store, by_service + " > 1 | topk(1)").series
    assert [(s.labels[0][1], len(s.samples)) for s in chained] == [("frontend", 4), ("payments", 2)]
    slow = run(
        store, '{ name = "db.query" } | max_over_time(duration) by (resource.service.name) > 60ms'
    )
    assert [round(v, 6) for _, v in slow.series[0].samples] == [0.07] * 6

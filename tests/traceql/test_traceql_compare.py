"""``compare({selection}, topN, start, end)``, the TraceQL metrics function behind Grafana
Traces Drilldown's Comparison tab, in the shape Tempo's docs give (series labelled
``__meta_type`` baseline/selection per attribute value, ``baseline_total``/``selection_total``
per attribute with the value ``nil``, ``__meta_error="__too_many_values__"`` past topN):
counted on the shop trace in DuckDB, and served by the real ``/tempo/api/metrics/query_range``
(the app in-process through Starlette's TestClient)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from traceql_shop import BASE, MS, shop_spans

from spanscope.api.app import create_app
from spanscope.query.traceql import TraceQLError, parse
from spanscope.query.traceql.metrics import run_metrics
from spanscope.store.duckdb import DuckDBStore

WINDOW = (BASE - 10**9, BASE + 60 * 10**9)


@pytest.fixture(scope="module")
def store() -> Iterator[DuckDBStore]:
    st = DuckDBStore(":memory:")
    st.write(shop_spans())
    yield st
    st.close()


def totals(result: Any) -> dict[tuple[Any, ...], float]:
    return {tuple(s.labels): sum(v for _, v in s.samples) for s in result.series}


def test_compare_splits_the_spans_into_selection_and_baseline(store: DuckDBStore) -> None:
    q = parse("{ } | compare({ status = error })")
    got = totals(run_metrics(store, q, *WINDOW, instant=True))
    # one error span (checkout POST /pay) against the other six
    assert got[(("__meta_type", "selection"), ("resource.service.name", "checkout"))] == 1
    assert got[(("__meta_type", "baseline"), ("resource.service.name", "payments"))] == 3
    assert got[(("__meta_type", "baseline"), ("resource.service.name", "frontend"))] == 3
    assert got[(("__meta_type", "selection"), ("span.http.status_code", 500))] == 1
    assert got[(("__meta_type", "baseline"), ("name", "db.query"))] == 3
    assert got[(("__meta_type", "selection"), ("status", "error"))] == 1
    assert got[(("__meta_type", "selection_total"), ("name", "nil"))] == 1
    assert got[(("__meta_type", "baseline_total"), ("name", "nil"))] == 6
    assert (("__meta_type", "selection"), ("resource.service.name", "payments")) not in got


def test_compare_top_n_and_too_many_values(store: DuckDBStore) -> None:
    got = totals(run_metrics(store, parse("{ } | compare({ status = error }, 1)"), *WINDOW,
                             instant=True))  # fmt: skip
    names = [k for k in got if k[0] == ("__meta_type", "baseline") and k[1][0] == "name"]
    assert names == [(("__meta_type", "baseline"), ("name", "db.query"))]  # the most frequent
    assert (("__meta_error", "__too_many_values__"), ("name", "nil")) in got


def test_compare_window_limits_the_selection(store: DuckDBStore) -> None:
    late = f"{BASE + 500 * MS}, {BASE + 2000 * MS}"  # after POST /pay started (110 ms)
    q = parse(f"{{ }} | compare({{ status = error }}, 10, {late})")
    got = totals(run_metrics(store, q, *WINDOW, instant=True))
    assert not any(k[0] == ("__meta_type", "selection") for k in got)
    assert got[(("__meta_type", "baseline_total"), ("name", "nil"))] == 7


def test_compare_arguments_are_checked() -> None:
    for bad, words in [
        ("{ } | compare(5)", "spanset filter"),
        ("{ } | compare({ }, 0)", "above 0"),
        ("{ } | compare({ }, 3, 10)", "both start and end"),
        ("{ } | compare({ }, 3, 20, 10)", "end after start"),
        # the selection is checked like any spanset filter
        ('{ } | compare({ duration = "abc" })', "cannot compare a duration with a string"),
        ('{ } | compare({ .x =~ "(" })', "invalid regular expression"),
        ("{ } | compare({ status = 3 })", "cannot compare a status"),
    ]:
        with pytest.raises(TraceQLError, match=words):
            parse(bad)


def test_compare_through_tempo_query_range(store: DuckDBStore) -> None:
    client = TestClient(create_app(store))
    r = client.get(
        "/tempo/api/metrics/query_range",
        params={"q": "{ } | compare({ status = error })", "start": str(WINDOW[0]),
                "end": str(WINDOW[1]), "step": "10s"},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    series = r.json()["series"]
    label = {"key": "__meta_type", "value": {"stringValue": "selection_total"}}
    total = next(s for s in series if s["labels"][0] == label and s["labels"][1]["key"] == "name")
    assert total["labels"][1] == {"key": "name", "value": {"stringValue": "nil"}}
    assert sum(float(p.get("value", 0)) for p in total["samples"]) == 1
    code = next(
        s for s in series
        if s["labels"][1] == {"key": "span.http.status_code", "value": {"intValue": "500"}}
        and s["labels"][0]["value"]["stringValue"] == "selection"
    )  # fmt: skip
    assert [p for p in code["samples"] if p.get("value")] != []

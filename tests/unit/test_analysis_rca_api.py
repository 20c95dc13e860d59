"""The API's explain, breakdown and compare speak in own work, waiting and gap, name calls
by target, and compare erroring with healthy requests — over the in-memory store and
DuckDB, in-process, on seeded synthetic incidents."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from spanscope.analysis.synthetic import T0, make_case
from spanscope.api.app import create_app
from spanscope.store.base import Store
from tests.support.memory_store import store_factories

WINDOW = {"start": str(T0 - 10**9), "end": str(T0 + 10**15)}
ERRORS = make_case("error_burst", "chain", seed=0, traces=60)
GAPS = make_case("network_gap", "async", seed=1, traces=60)


@pytest.fixture(params=sorted(store_factories()))
def client(request: pytest.FixtureRequest) -> Iterator[TestClient]:
    store: Store = store_factories()[request.param]()
    store.write([s for case in (ERRORS, GAPS) for t in case.traces for s in t.spans])
    yield TestClient(create_app(store))
    store.close()


def test_compare_errors_names_where_errors_start(client: TestClient) -> None:
    body = client.get("/api/v1/compare", params={"service": "s01", "errors": "true", **WINDOW})
    assert body.status_code == 200, body.text
    answer = body.json()
    assert answer["mode"] == "errors"
    top = answer["operations"][0]
    assert (top["service"], top["name"]) == ("s12", "SELECT t12")
    assert top["error_origin_share"] == 1.0
    assert "errors start at s12 · SELECT t12" in answer["headline"]
    assert len(answer["exemplars"]["erroring"]) > 0


def test_compare_names_the_call_by_target_and_its_gap(client: TestClient) -> None:
    body = client.get("/api/v1/compare", params={"service": "api", **WINDOW}).json()
    top = body["operations"][0]
    assert top["label"] == "api · POST → orders /orders" and top["kind"] == "gap"
    assert top["slow_gap_ns"] > top["normal_gap_ns"] > 0
    assert top["on_critical_path_share"] == 1.0
    assert all(o["service"] != "worker" for o in body["operations"][:5])  # async: not blamed
    assert "on the critical path in 100 % of slow requests" in body["headline"]


def test_explain_and_breakdown_show_own_work_waiting_and_gap(client: TestClient) -> None:
    slow = max(GAPS.traces, key=lambda t: t.root().duration_ns if t.root() else 0)
    tid = slow.trace_id.hex()
    body = client.get(f"/api/v1/traces/{tid}/explain").json()
    assert body["causes"][0]["label"] == "api · POST → orders /orders"
    assert body["causes"][0]["kind"] == "gap"
    assert [p["name"] for p in body["async_paths"]] == ["orders process"]
    assert all(s["service"] != "worker" for s in body["critical_path"]["spans"])
    assert sum(s["duration_ns"] for s in body["critical_path"]["segments"]) == (
        slow.root().duration_ns if slow.root() else 0
    )
    spans = {(s["service"], s["display_name"]): s for s in body["breakdown"]["spans"]}
    call = spans[("api", "POST → orders /orders")]
    assert call["gap_ns"] > 0 and call["own_ns"] == 0 and call["waiting_ns"] > 0
    assert spans[("worker", "orders process")]["async"] is True
    ops = {(o["service"], o["name"]): o for o in body["breakdown"]["operations"]}
    assert ops[("api", "POST /orders")]["own_ns"] > 0
    bd = client.get(f"/api/v1/traces/{tid}/breakdown").json()
    assert bd["headline"] == body["headline"]


def _render(parts: list[object], width: int = 80) -> str:
    import io

    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=False)
    for part in parts:
        console.print(part, crop=False, soft_wrap=hasattr(part, "plain"))
    return out.getvalue()


def test_cli_renders_causes_whole_names_and_error_mode(client: TestClient) -> None:
    from spanscope.cli import analysis as cli_analysis

    slow = max(GAPS.traces, key=lambda t: t.root().duration_ns if t.root() else 0)
    text = _render(
        cli_analysis.explain(client.get(f"/api/v1/traces/{slow.trace_id.hex()}/explain").json())
    )
    assert "POST → orders /orders" in text  # one line, not wrapped at 80 columns
    assert "own work" in text and "waiting" in text and "gap" in text
    assert "async: worker · orders process ran" in text
    body = client.get("/api/v1/compare", params={"service": "s01", "errors": "true", **WINDOW})
    text = _render(cli_analysis.compare(body.json()))
    assert "errors start %" in text and "erroring traces:" in text
    body = client.get("/api/v1/compare", params={"service": "api", **WINDOW})
    text = _render(cli_analysis.compare(body.json()))
    assert "POST → orders /orders" in text and "on path in % of slow" in text


def test_compare_turns_to_errors_when_nothing_is_slow(client: TestClient) -> None:
    params = {"service": "s01", "slower_than": "1h", **WINDOW}
    body = client.get("/api/v1/compare", params=params).json()
    assert body["mode"] == "errors" and body["split"]["slow_count"] == 0
    assert body["operations"][0]["name"] == "SELECT t12"
    params = {"service": "nobody", "slower_than": "1h", **WINDOW}
    body = client.get("/api/v1/compare", params=params).json()
    assert body["mode"] == "slow" and body["headline"].startswith("no slow nobody requests")

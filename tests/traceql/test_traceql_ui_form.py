"""The search page's form -> TraceQL translation (ui/static/traceql.js, run by node) finds
the same traces as the form search: seeded forms (service, operation, status, duration
range, typed attribute conditions incl. a number recorded as a string) are translated by the
UI's own code, and each TraceQL runs through the planner over the same DuckDB store as the
form's SearchQuery."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from traceql_shop import BASE, shop_spans

from spanscope.model.spans import StatusCode
from spanscope.query.model import SearchQuery, parse_condition, parse_duration
from spanscope.query.traceql.planner import search
from spanscope.store.duckdb import DuckDBStore

ROOT = Path(__file__).resolve().parents[2]
TRACEQL_JS = ROOT / "src" / "spanscope" / "ui" / "static" / "traceql.js"
WINDOW = (BASE - 10**9, BASE + 600 * 10**9)
TAGS = [
    "http.status_code=500", "http.status_code>=500", "http.status_code<300",
    "http.method=POST", 'http.method="GET"', "retry=true", "ratio<0.5", "ratio=0.25",
    "db.system:postgresql", "host.name=web-1", "missing=1", 'http.status_code="500"',
    "http.status_code!=502", "http.status_code!=200",
]  # fmt: skip


@pytest.fixture(scope="module")
def store() -> Iterator[DuckDBStore]:
    st = DuckDBStore(":memory:")
    st.write(shop_spans())
    for k in range(1, 8):  # shifted copies: some without the error, some slower
        tid = bytes([0x40 + k]) * 16
        spans = [
            replace(
                s,
                trace_id=tid,
                start_ns=s.start_ns + k * 10**9,
                end_ns=s.end_ns + k * 10**9 + (k % 3) * 40_000_000,
                events=list(s.events),
                status_code=StatusCode.UNSET if k % 2 else s.status_code,
                attributes=dict(s.attributes),
            )  # fmt: skip
            for s in shop_spans()
        ]
        if k in (3, 6):  # only "render" says 500 here, and as a string: http.status_code="500"
            for s in spans:
                if s.attributes.get("http.status_code") == 500:
                    s.attributes["http.status_code"] = 502
        st.write(spans)
    yield st
    st.close()


def forms() -> list[dict[str, Any]]:
    rng = random.Random(20261204)
    out: list[dict[str, Any]] = [{}, {"tags": ["http.status_code=500"]}]
    for _ in range(150):
        low = rng.choice([None, "0ms", "50ms", "60ms", "100ms", "800ms"])
        high = rng.choice([None, "60ms", "100ms", "900ms", "2s", "1.5s"])
        out.append(
            {
                "service": rng.choice(["", "frontend", "checkout", "payments"]),
                "operation": rng.choice(["", "GET /checkout", "POST /pay", "db.query", "render"]),
                "status": rng.choice(["", "error", "unset"]),
                "min_duration": low or "",
                "max_duration": high or "",
                "tags": rng.sample(TAGS, rng.choice([0, 1, 1, 2])),
            }
        )
    return out


def translate(forms: list[dict[str, Any]]) -> list[str]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is missing: apt-get install -y nodejs (Node 20+) to run this test")
    script = (
        f"import {{ formToTraceQL }} from {json.dumps(TRACEQL_JS.as_uri())};\n"
        f"const forms = {json.dumps(forms)};\n"
        "process.stdout.write(JSON.stringify(forms.map(formToTraceQL)));\n"
    )
    done = subprocess.run(
        [node, "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def form_query(form: dict[str, Any]) -> SearchQuery:
    def ns(v: str) -> int | None:
        return parse_duration(v) if v else None

    return SearchQuery(
        *WINDOW, service=form.get("service") or None, operation=form.get("operation") or None,
        conditions=[parse_condition(t) for t in form.get("tags", [])],
        min_duration_ns=ns(form.get("min_duration", "")),
        max_duration_ns=ns(form.get("max_duration", "")),
        status=form.get("status") or None, limit=100,
    )  # fmt: skip


def test_the_ui_translation_finds_what_the_form_finds(store: DuckDBStore) -> None:
    cases = forms()
    differ = []
    compared = 0
    for form, traceql in zip(cases, translate(cases), strict=True):
        try:
            sq = form_query(form)
        except ValueError:
            continue  # e.g. max below min: the form refuses it, nothing to compare
        by_form = [t.trace_id for t in store.search(sq)]
        by_traceql = [m.trace.trace_id for m in search(store, traceql, *WINDOW, 100).matches]
        compared += 1
        if by_form != by_traceql:
            differ.append((form, traceql, len(by_form), len(by_traceql)))
    assert compared > 100
    assert not differ, f"{len(differ)} of {compared} differ: {differ[:5]}"

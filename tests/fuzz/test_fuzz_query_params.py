"""Every query parameter of every GET route, fuzzed: none answers 5xx (issue 10, item 4).

The routes and their parameters come from the app's own OpenAPI document, so a route added
later is fuzzed without touching this file. Each case sends one route hostile values —
huge and negative numbers, NaN/inf, 40,000-character strings, unicode and control
characters, JSON junk, almost-valid durations and times, a parameter repeated up to 100
times — in-process (FastAPI's TestClient over a DuckDBStore holding two seeded traces, a
log and a metric), then a smaller set against a real ``spanscope serve``. Afterwards
``/healthz`` is 200 and the seeded traces are still found.

Seeded and bounded: ``derandomize=True``, ``max_examples`` per route, ``deadline=None``.
Run: ``pytest tests/fuzz/test_fuzz_query_params.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spanscope.api.app import create_app
from spanscope.model.signals import LogRecord, MetricPoint, SignalBatch
from spanscope.model.spans import Span, SpanKind, StatusCode
from spanscope.store.duckdb import DuckDBStore
from tests.support.server import RunningServer
from tests.support.waiting import wait_until

MS = 1_000_000
NOW = time.time_ns()
BASE = NOW - 10 * 60 * 1_000_000_000  # inside every default window
TRACE_A = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACE_B = "11111111111111111111111111111111"
ROOT = "00f067aa0ba902b7"
IN_PROCESS_EXAMPLES = 45  # per route: 39 routes -> ~1,750 cases in-process
REAL_SERVER_EXAMPLES = 150


def seeded_spans() -> list[Span]:
    a, b, root = bytes.fromhex(TRACE_A), bytes.fromhex(TRACE_B), bytes.fromhex(ROOT)
    return [
        Span(
            trace_id=a, span_id=root, name="GET /checkout", start_ns=BASE,
            end_ns=BASE + 900 * MS, service="frontend", kind=SpanKind.SERVER,
            status_code=StatusCode.ERROR, attributes={"http.status_code": 500, "user": "42"},
            resource={"service.name": "frontend"},
        ),
        Span(
            trace_id=a, span_id=bytes.fromhex("00f067aa0ba902b8"), parent_span_id=root,
            name="POST /orders", start_ns=BASE + 100 * MS, end_ns=BASE + 800 * MS,
            service="orders", kind=SpanKind.SERVER, attributes={"http.method": "POST"},
            resource={"service.name": "orders"},
        ),
        Span(
            trace_id=b, span_id=bytes.fromhex("0000000000000001"), name="GET /health",
            start_ns=BASE + 5000 * MS, end_ns=BASE + 5002 * MS, service="frontend",
            kind=SpanKind.SERVER, resource={"service.name": "frontend"},
        ),
    ]  # fmt: skip


def seeded_signals() -> SignalBatch:
    log = LogRecord(
        time_ns=BASE + 200 * MS, service="orders", severity_number=17, body="order failed",
        trace_id=bytes.fromhex(TRACE_A), span_id=bytes.fromhex(ROOT),
    )  # fmt: skip
    point = MetricPoint(
        name="http.server.duration", kind="histogram", time_ns=BASE + 300 * MS,
        service="orders", unit="ms", attributes={"http.route": "/orders"}, count=2, sum=3.0,
        bounds=[1.0, 10.0], bucket_counts=[1, 1, 0],
    )  # fmt: skip
    return SignalBatch(logs=[log], points=[point])


# --- hostile values ---------------------------------------------------------------------

# Valid-looking values per parameter name, so the hostile one meets a route that gets past
# its other checks (a search with a good service and a bad lookback, not only 400 on both).
PLAUSIBLE: dict[str, list[str]] = {
    "service": ["orders", "frontend"],
    "query.serviceName": ["orders"],
    "operation": ["POST /orders"],
    "trace_id": [TRACE_A, TRACE_B],
    "traceID": [TRACE_A],
    "a": [TRACE_A],
    "b": [TRACE_B],
    "span_id": [ROOT],
    "metric": ["latencies", "calls", "errors", "http.server.duration"],
    "name": ["http.server.duration"],
    "lookback": ["1h", "3600000", "36500d"],
    "step": ["1m", "60000", "1s"],
    "start": ["2026-01-01T00:00:00Z", str(BASE // 1000), "0"],  # "0": /analytics/v1/...
    "end": [str(NOW // 1000), "2099-01-01T00:00:00Z", "0"],
    "endTs": [str(NOW // MS)],
    "query.startTimeMin": ["2000-01-01T00:00:00Z"],
    "query.startTimeMax": ["2099-01-01T00:00:00Z"],
    "quantile": ["0.95", "0.5"],
    "tag": ["http.status_code>=500", "user=42", "http.method:POST"],
    "tags": ['{"http.status_code":"500"}', '{"error":"true","span.kind":"client"}'],
    "query.attributes": [
        '{"user":"42"}',
        '{"error":"false","otel.status_code":"ERROR"}',
        '{"span.kind":"server","otel.status_description":"x"}',
    ],
    "hours": ["48", "1"],  # /api/quality-metrics
    "limit": ["20", "1000"],
    "span_kind": ["server", "any"],
    "spanKind": ["server", "SPAN_KIND_SERVER"],
}

_NUMBERS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.integers(min_value=2**62, max_value=2**65).map(str),
    st.sampled_from(
        ["9" * 400, "-" + "9" * 400, "1e309", "-1e309", "NaN", "nan", "inf", "-inf",
         "Infinity", "0", "-0", "-1", "1e-400", "0x10", "1_000", "٣", "²", "9223372036854775807",
         "9223372036854775808", "-9223372036854775809", "18446744073709551616"]
    ),
)  # fmt: skip
_DURATIONS = st.one_of(
    st.from_regex(r"\A-?[0-9]{0,25}(\.[0-9]{0,12})?(ns|us|µs|ms|s|m|h|d|y|)\Z"),
    st.lists(st.sampled_from(["1", "9" * 20, ".", "5", "h", "m", "s", "ms", "µs", " "])).map(
        "".join
    ),
)
_TIMES = st.one_of(
    st.datetimes().map(lambda d: d.isoformat() + st_choice_suffix(d.microsecond)),
    st.from_regex(r"\A[0-9]{4,6}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,20})?(Z|[+-][0-9]{2}:[0-9]{2})?\Z"),
)  # fmt: skip
_TEXT = st.text(
    st.characters(exclude_categories=("Cs",)),  # lone surrogates cannot be UTF-8 encoded
    max_size=60,
)
_CONTROL = st.text(st.characters(max_codepoint=0x1F), min_size=1, max_size=10)
_HUGE_TEXT = st.sampled_from(
    [
        "1" * 40_000,
        "1s" * 20_000,
        "a" * 5_000,
        "µ" * 9_000,
        "€" * 4_097,
        "😀" * 5_000,
        "%" * 5_000,
        "{" * 4_000,
        "[" * 3_000 + "]" * 3_000,
    ]
)
_JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.floats(), st.text(max_size=10)
)
_JSON = st.recursive(
    _JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
).map(lambda v: orjson.dumps(v).decode())
_DEEP_JSON = st.integers(1, 2_000).map(lambda n: '{"a":' * n + "1" + "}" * n)


def st_choice_suffix(microsecond: int) -> str:
    return ["Z", "+00:00", "-12:00", "", "+14:00"][microsecond % 5]


def hostile(name: str) -> st.SearchStrategy[str]:
    plausible = PLAUSIBLE.get(name, ["x"])
    return st.one_of(
        st.sampled_from(plausible),
        _NUMBERS,
        _DURATIONS,
        _TIMES,
        _TEXT,
        _CONTROL,
        _HUGE_TEXT,
        _JSON,
        _DEEP_JSON,
        st.sampled_from(plausible).map(lambda v: v + "\x00"),
    )


def route_case(path: str, params: list[dict[str, Any]]) -> st.SearchStrategy[Any]:
    """(url path, [(name, value)]) for one route: every parameter absent, plausible or
    hostile; sometimes repeated up to 100 times; sometimes an unknown one beside."""

    @st.composite
    def case(draw: st.DrawFn) -> tuple[str, list[tuple[str, str]]]:
        url = path
        query: list[tuple[str, str]] = []
        for p in params:
            name = p["name"]
            if p["in"] == "path":
                value = draw(hostile(name).filter(lambda v: v != "" and "/" not in v))
                url = url.replace("{" + name + "}", quote(value, safe=""))
                continue
            how = draw(st.sampled_from(["absent", "plausible", "hostile", "hostile", "repeat"]))
            if how == "plausible":
                query.append((name, draw(st.sampled_from(PLAUSIBLE.get(name, ["x"])))))
            elif how == "hostile":
                query.append((name, draw(hostile(name))))
            elif how == "repeat":
                n = draw(st.sampled_from([2, 3, 64, 65, 100]))
                value = draw(st.one_of(st.sampled_from(PLAUSIBLE.get(name, ["x"])), _TEXT))
                query.extend([(name, value)] * n)
        if draw(st.integers(0, 9)) == 0:
            query.append((draw(_TEXT), draw(hostile("unknown"))))
        return url, query

    return case()


def get_routes(app: Any) -> list[tuple[str, list[dict[str, Any]]]]:
    doc = app.openapi()
    return [
        (path, ops["get"].get("parameters", []))
        for path, ops in sorted(doc["paths"].items())
        if "get" in ops
    ]


# --- in-process -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store() -> Iterator[DuckDBStore]:
    s = DuckDBStore(":memory:")
    s.write(seeded_spans())
    s.write_signals([seeded_signals()])
    yield s
    s.close()


@pytest.fixture(scope="module")
def client(store: DuckDBStore) -> TestClient:
    return TestClient(create_app(store, query_timeout_s=10.0), raise_server_exceptions=False)


def _routes() -> list[tuple[str, list[dict[str, Any]]]]:
    empty = DuckDBStore(":memory:")
    try:
        return get_routes(create_app(empty))
    finally:
        empty.close()


ROUTES = _routes()


def assert_answered(resp: httpx.Response, url: str, query: list[tuple[str, str]]) -> None:
    shown = [(n[:40], v[:60]) for n, v in query[:8]]
    assert resp.status_code < 500, f"{resp.status_code} for {url} {shown}: {resp.text[:500]}"
    if resp.status_code == 400:
        assert len(resp.text) < 2_000, f"a 400 echoes too much for {url} {shown}"


def assert_still_healthy(get: Any) -> None:
    assert get("/healthz").status_code == 200
    found = get("/api/v1/traces", params={"lookback": "1h", "limit": "50"})
    assert found.status_code == 200, found.text
    assert {t["trace_id"] for t in found.json()["traces"]} >= {TRACE_A, TRACE_B}
    whole = get(f"/api/v1/traces/{TRACE_A}")
    assert whole.status_code == 200 and len(whole.json()["spans"]) == 2


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("path", "params"), ROUTES, ids=[p for p, _ in ROUTES])
def test_no_parameter_value_gives_a_5xx(
    client: TestClient, path: str, params: list[dict[str, Any]]
) -> None:
    @settings(
        max_examples=IN_PROCESS_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(route_case(path, params))
    def check(case: tuple[str, list[tuple[str, str]]]) -> None:
        url, query = case
        try:
            resp = client.get(url, params=query)
        except httpx.InvalidURL:
            return  # over httpx's 64 KiB per URL part: no client can send it
        assert_answered(resp, url, query)

    check()
    assert_still_healthy(client.get)


def test_the_fuzzed_store_still_answers(client: TestClient) -> None:
    assert_still_healthy(client.get)


# --- against a real server --------------------------------------------------------------


def otlp_json(spans: list[Span]) -> bytes:
    return orjson.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {
                        "attributes": [{"key": "service.name", "value": {"stringValue": s.service}}]
                    },
                    "scopeSpans": [
                        {
                            "spans": [
                                {
                                    "traceId": s.trace_id.hex(),
                                    "spanId": s.span_id.hex(),
                                    "parentSpanId": s.parent_span_id.hex()
                                    if s.parent_span_id
                                    else "",
                                    "name": s.name,
                                    "kind": int(s.kind),
                                    "startTimeUnixNano": str(s.start_ns),
                                    "endTimeUnixNano": str(s.end_ns),
                                }
                            ]
                        }
                    ],
                }
                for s in spans
            ]
        }
    )


@pytest.fixture(scope="module")
def real_server(
    spanscope_launcher: Callable[..., RunningServer], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """``spanscope serve`` on free ports with the seeded traces stored; its API URL."""
    data_dir = tmp_path_factory.mktemp("fuzz-serve") / "data"
    server = spanscope_launcher(data_dir, {"SPANSCOPE_QUERY_TIMEOUT_S": "10"})
    try:
        sent = httpx.post(
            server.otlp_http_url + "/v1/traces",
            content=otlp_json(seeded_spans()),
            headers={"content-type": "application/json"},
            timeout=10,
        )
        assert sent.status_code == 200, sent.text
        wait_until(lambda: _stored(server.api_url), "the seeded traces are queryable")
        yield server.api_url
        assert server.process.poll() is None, f"the server died:\n{server.log()}"
    finally:
        server.stop()


def _stored(api: str) -> bool:
    found = httpx.get(api + "/api/v1/traces", params={"lookback": "1h"}, timeout=10)
    return {t["trace_id"] for t in found.json().get("traces", [])} >= {TRACE_A, TRACE_B}


@pytest.mark.timeout(300)
def test_a_real_server_gives_no_5xx_and_stays_healthy(real_server: str) -> None:
    cases = st.sampled_from(ROUTES).flatmap(lambda r: route_case(*r))
    with httpx.Client(base_url=real_server, timeout=30) as http:

        @settings(
            max_examples=REAL_SERVER_EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        @given(cases)
        def check(case: tuple[str, list[tuple[str, str]]]) -> None:
            url, query = case
            try:
                resp = http.get(url, params=query)
            except httpx.InvalidURL:
                return  # longer than httpx will send; the in-process suite covers the value
            assert_answered(resp, url, query)

        check()
        assert_still_healthy(http.get)

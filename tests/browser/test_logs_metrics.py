"""Logs, metrics with exemplars and tail-sampling records in the web UI, in headless Chromium.

A real ``spanscope serve`` with a tail sampler (errors kept by "errors", the rest by
"rest") receives seed.py's CHECKOUT and HOME traces, log records written inside CHECKOUT's
spans and an ``http.server.duration`` histogram of the frontend whose exemplars point at
both traces — all as OTLP/HTTP protobuf, the bytes an SDK sends. What a user checks: the
Logs tab lists the trace's log lines in time order with their severities and text (markup
in a body stays text), clicking a line's span selects it in the waterfall; the span detail
shows that span's logs; the service overview's chart has exemplar dots that open their
traces, and says plainly when a service sends no metrics; the trace header and search
results say which policy kept a trace. conftest's ``page`` fails a test on console errors.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    Exemplar,
    Histogram,
    HistogramDataPoint,
    Metric,
    ResourceMetrics,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from seed import CHECKOUT, HOME, MS, XSS, TraceBuilder, api, dataset

from tests.support.sampling import keep_errors_and_sample, write_config

pytestmark = pytest.mark.timeout(180)
ARTIFACTS = Path(__file__).parents[1] / "artifacts"

# (offset ms from t0, span id or None, service, severity number, text, body, attributes);
# listed out of time order on purpose: the UI must show them oldest first.
ROOT = (1).to_bytes(8, "big")  # span id of both traces' root span
LOGS = [
    (1400, 5, "payments", 17, "ERROR", "payment declined by issuer", {"decline.code": "51"}),
    (30, 3, "checkout", 9, "INFO", "cart loaded: 3 items", {}),
    (210, 3, "checkout", 13, "WARN", "retrying payment (attempt 2)", {"retry.attempt": 2}),
    (2, None, "frontend", 9, "INFO", "checkout request received", {}),
    (260, 6, "payments", 17, "ERROR", f"card rejected: {XSS}", {"probe": XSS}),
    (45, 4, "postgres", 5, "DEBUG", "SELECT cart took 80 ms", {}),
]


def sid(n: int) -> str:
    return n.to_bytes(8, "big").hex()


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"ui-{name}.png"), full_page=True)


def _kv(key: str, value: Any) -> KeyValue:
    v = AnyValue(int_value=value) if isinstance(value, int) else AnyValue(string_value=value)
    return KeyValue(key=key, value=v)


def logs_request(t0: int) -> bytes:
    by_service: dict[str, ResourceLogs] = {}
    for offset, span, service, number, text, body, attrs in LOGS:
        rl = by_service.get(service)
        if rl is None:
            rl = by_service[service] = ResourceLogs(
                resource=Resource(attributes=[_kv("service.name", service)])
            )
            rl.scope_logs.add().scope.name = "browser-tests"
        rl.scope_logs[0].log_records.append(
            LogRecord(
                time_unix_nano=t0 + offset * MS,
                severity_number=number,  # type: ignore[arg-type]
                severity_text=text,
                body=AnyValue(string_value=body),
                attributes=[_kv(k, v) for k, v in attrs.items()],
                trace_id=bytes.fromhex(CHECKOUT),
                span_id=span.to_bytes(8, "big") if span else b"",
            )
        )
    return ExportLogsServiceRequest(resource_logs=list(by_service.values())).SerializeToString()


def metrics_request(t0: int) -> bytes:
    """frontend's http.server.duration (ms), delta, one point a minute, the last one ending
    after both traces; it carries the exemplars of the requests it measured: CHECKOUT's root
    (1500 ms) and HOME's (60 ms)."""
    bounds = [10.0, 50.0, 100.0, 500.0, 1000.0, 2500.0]
    points = []
    for k in range(6):
        start = t0 + 5_000 * MS - (6 - k) * 60_000 * MS
        exemplars = []
        if k == 5:
            exemplars.append(Exemplar(time_unix_nano=t0 + 1500 * MS, as_double=1500.0,
                                      trace_id=bytes.fromhex(CHECKOUT), span_id=ROOT))  # fmt: skip
        if k == 5:
            exemplars.append(Exemplar(time_unix_nano=t0 + 3060 * MS, as_double=60.0,
                                      trace_id=bytes.fromhex(HOME), span_id=ROOT))  # fmt: skip
        counts = [1, 4 + k, 3, 2, 0, k % 2, 0]
        points.append(
            HistogramDataPoint(
                start_time_unix_nano=start, time_unix_nano=start + 60_000 * MS,
                count=sum(counts), sum=40.0 * sum(counts), bucket_counts=counts,
                explicit_bounds=bounds, exemplars=exemplars,
                attributes=[_kv("http.route", "/checkout")],
            )
        )  # fmt: skip
    metric = Metric(
        name="http.server.duration",
        unit="ms",
        histogram=Histogram(
            data_points=points,
            aggregation_temporality=AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA,
        ),
    )
    rm = ResourceMetrics(resource=Resource(attributes=[_kv("service.name", "frontend")]))
    rm.scope_metrics.add().metrics.append(metric)
    return ExportMetricsServiceRequest(resource_metrics=[rm]).SerializeToString()


def _post(server: Any, path: str, body: bytes) -> None:
    sent = httpx.post(server.otlp_http_url + path, content=body, timeout=30,
                      headers={"Content-Type": "application/x-protobuf"})  # fmt: skip
    assert sent.status_code == 200, sent.text
    assert "rejected" not in sent.text, sent.text  # OTLP partial success: nothing refused


def _has_spans(url: str, trace_id: str, spans: int) -> bool:
    found = httpx.get(f"{url}/api/v1/traces/{trace_id}", timeout=30)
    return found.status_code == 200 and len(found.json()["spans"]) == spans


def _until(check: Any, what: str) -> None:
    deadline = time.monotonic() + 60
    while not check():
        assert time.monotonic() < deadline, f"seeded {what} not queryable"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def ui(spanscope_launcher: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A tail-sampling server holding CHECKOUT, HOME, their logs and frontend's metrics."""
    tmp = tmp_path_factory.mktemp("signals-ui")
    config = write_config(tmp, keep_errors_and_sample(1.0))
    server = spanscope_launcher(tmp / "data", {"SPANSCOPE_CONFIG": str(config)})
    try:
        t0 = (time.time_ns() - 10 * 60 * 1_000_000_000) // MS * MS
        everything = dataset(t0)
        traces = TraceBuilder(t0)  # only the small traces: no 10,000-span one needed here
        traces.by_service = {k: v for k, v in everything.by_service.items()
                             if k not in ("bulk", "etl", "store")}  # fmt: skip
        _post(server, "/v1/traces", traces.request())
        _post(server, "/v1/logs", logs_request(t0))
        _post(server, "/v1/metrics", metrics_request(t0))
        url = str(server.api_url)
        _until(lambda: _has_spans(url, CHECKOUT, 6) and _has_spans(url, HOME, 2), "traces")
        _until(
            lambda: len(api(url, f"/api/v1/traces/{CHECKOUT}/logs")["logs"]) == len(LOGS), "logs"
        )
        _until(lambda: len(api(url, "/api/v1/exemplars", metric="http.server.duration",
                               service="frontend")["exemplars"]) == 2, "exemplars")  # fmt: skip
        yield url
    finally:
        code = server.stop()
        assert code == 0, f"spanscope serve exited with {code}:\n{server.log()}"


def log_rows(page: Any, scope: str) -> list[dict[str, str]]:
    return page.eval_on_selector_all(  # type: ignore[no-any-return]
        f"{scope} .log-row",
        """rows => rows.map(r => ({span: r.dataset.spanId, severity: r.dataset.severity,
            sev: r.querySelector('.log-sev').textContent,
            body: r.querySelector('.log-body').textContent}))""",
    )


def test_logs_tab_lists_the_trace_logs_in_time_order(page: Any, ui: str) -> None:
    expected = api(ui, f"/api/v1/traces/{CHECKOUT}/logs")["logs"]
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(f"{ui}/trace/{CHECKOUT}")
    page.wait_for_selector(".waterfall[data-ready]")
    # Lazily: the timeline alone asks for no logs (a 10,000-span trace opens no slower).
    assert not [u for u in requested if "/api/v1/traces" in u and "/logs" in u]
    page.click('.tab[data-tab="logs"]')
    page.wait_for_selector(".logs-tab .log-list")
    assert "tab=logs" in page.url
    rows = log_rows(page, ".logs-tab")
    by_time = sorted(LOGS, key=lambda r: r[0])
    assert [r["body"] for r in rows] == [body for *_, body, _ in by_time]
    assert [r["body"] for r in rows] == [e["body"] for e in expected]
    assert [r["sev"] for r in rows] == [text for _, _, _, _, text, _, _ in by_time]
    assert [r["severity"] for r in rows] == ["info", "info", "debug", "warn", "error", "error"]
    assert [r["span"] for r in rows] == [sid(s) if s else "" for _, s, *_ in by_time]
    # The colour a user sees: error rows are red-bordered, warn amber.
    colours = page.eval_on_selector_all(
        ".logs-tab .log-row", "rs => rs.map(r => getComputedStyle(r).borderLeftColor)"
    )
    assert colours[3] != colours[4] and colours[4] == colours[5]
    # Markup in a body and in an attribute value is text: no <img>, no alert.
    xss_row = page.locator(f'.logs-tab .log-row[data-span-id="{sid(6)}"]')
    assert xss_row.locator(".log-body").inner_text() == f"card rejected: {XSS}"
    assert xss_row.locator('.log-attr[data-key="probe"]').inner_text() == f"probe={XSS}"
    assert page.locator(".logs-tab img").count() == 0 and page.dialogs == []
    assert "no span" in page.locator(".logs-tab .log-row").first.inner_text()
    screenshot(page, "trace-logs")

    # The warning names its span; clicking it selects that span in the waterfall.
    warn = page.locator('.logs-tab .log-row[data-severity="warn"]')
    assert warn.locator(".log-span").inner_text() == "checkout: POST /checkout"
    warn.locator(".log-span").click()
    page.wait_for_selector(f'.wf-row.selected[data-span-id="{sid(3)}"]')
    assert page.get_attribute(".span-detail", "data-span-id") == sid(3)
    assert f"span={sid(3)}" in page.url and "tab=logs" not in page.url


def test_logs_tab_filters_by_severity_and_text(page: Any, ui: str) -> None:
    page.goto(f"{ui}/trace/{CHECKOUT}?tab=logs")
    page.wait_for_selector(".logs-tab .log-list")
    page.select_option(".log-min", "13")
    visible = page.locator(".logs-tab .log-row:not(.hidden) .log-body").all_inner_texts()
    assert visible == ["retrying payment (attempt 2)", "card rejected: " + XSS,
                       "payment declined by issuer"]  # fmt: skip
    page.fill(".log-filter", "declined")
    visible = page.locator(".logs-tab .log-row:not(.hidden) .log-body").all_inner_texts()
    assert visible == ["payment declined by issuer"]
    assert page.inner_text(".log-count") == "1 of 6 log records"


def test_span_detail_shows_that_spans_logs(page: Any, ui: str) -> None:
    expected = api(ui, f"/api/v1/traces/{CHECKOUT}/logs", span_id=sid(3))["logs"]
    assert [e["body"] for e in expected] == ["cart loaded: 3 items", "retrying payment (attempt 2)"]
    page.goto(f"{ui}/trace/{CHECKOUT}?span={sid(3)}")
    page.wait_for_selector(".span-detail .span-logs .log-list")
    assert page.text_content(".span-logs h3") == "Logs (2)"
    rows = log_rows(page, ".span-logs")
    assert [r["body"] for r in rows] == [e["body"] for e in expected]
    assert [r["sev"] for r in rows] == ["INFO", "WARN"]
    attr = page.locator('.span-logs .log-attr[data-key="retry.attempt"]')
    assert attr.inner_text() == "retry.attempt=2"
    screenshot(page, "span-logs")
    # Another span: its own logs (a span that wrote none says so).
    page.click(f'.wf-row[data-span-id="{sid(2)}"]')
    page.wait_for_function(
        "id => document.querySelector(`.span-detail[data-span-id='${id}'] .span-logs h3`)"
        "?.textContent === 'Logs (0)'",
        arg=sid(2),
    )
    assert "none written inside this span" in page.inner_text(".span-logs")


def test_service_overview_chart_has_exemplar_dots_that_open_traces(page: Any, ui: str) -> None:
    exemplars = api(ui, "/api/v1/exemplars", metric="http.server.duration", service="frontend")
    page.goto(f"{ui}/services/frontend")
    page.wait_for_selector(".metrics-block svg .exemplar")
    assert "http.server.duration (ms)" in page.inner_text(".metrics-block h3")
    dots = page.eval_on_selector_all(
        ".metrics-block .exemplar", "ds => ds.map(d => d.dataset.traceId)"
    )
    assert (
        sorted(dots)
        == sorted(e["trace_id"] for e in exemplars["exemplars"])
        == sorted([CHECKOUT, HOME])
    )
    lines = page.locator(".metrics-block polyline").count()
    assert lines == 3  # p50, p95, p99
    # The slow exemplar sits above the fast one (SVG y grows downwards).
    ys = {d: float(page.get_attribute(f'.metrics-block .exemplar[data-trace-id="{d}"]', "cy") or 0)
          for d in (CHECKOUT, HOME)}  # fmt: skip
    assert ys[CHECKOUT] < ys[HOME]
    screenshot(page, "service-metrics")
    page.click(f'.metrics-block .exemplar[data-trace-id="{CHECKOUT}"]')
    page.wait_for_url(f"**/trace/{CHECKOUT}?span={sid(1)}")
    page.wait_for_selector(f'.wf-row.selected[data-span-id="{sid(1)}"]')


def test_service_without_metrics_says_so(page: Any, ui: str) -> None:
    page.goto(f"{ui}/services/catalog")
    page.wait_for_selector(".metrics-block .no-metrics")
    text = page.inner_text(".metrics-block")
    assert "catalog has sent no HTTP server duration metric" in text
    assert page.locator(".metrics-block svg").count() == 0


def test_trace_header_and_search_say_which_policy_kept_the_trace(page: Any, ui: str) -> None:
    summaries = {t["trace_id"]: t for t in api(ui, "/api/v1/traces", lookback="1h")["traces"]}
    assert summaries[CHECKOUT]["sampling"] == {"policy": "errors", "weight": 1}
    assert summaries[HOME]["sampling"] == {"policy": "rest", "weight": 1}
    page.goto(f"{ui}/search")
    page.wait_for_selector(".result-list")
    badge = page.locator(f'.result[data-trace-id="{CHECKOUT}"] .sampling')
    assert badge.inner_text() == "kept by: errors · weight 1"
    assert (
        page.inner_text(f'.result[data-trace-id="{HOME}"] .sampling') == "kept by: rest · weight 1"
    )
    screenshot(page, "search-sampling")
    page.goto(f"{ui}/trace/{CHECKOUT}")
    page.wait_for_selector(".trace-header .sampling")
    assert page.inner_text(".trace-header .sampling") == "kept by: errors · weight 1"


def test_log_search_page_filters_and_links_each_line_to_its_span(page: Any, ui: str) -> None:
    everything = api(ui, "/api/v1/logs", lookback="1h")["logs"]
    assert len(everything) == len(LOGS)
    page.goto(f"{ui}/logs")
    page.wait_for_selector(".log-results .log-list")
    rows = log_rows(page, ".log-results")
    assert [r["body"] for r in rows] == [e["body"] for e in everything]  # newest first, as the API
    assert page.inner_text(".log-results .log-count") == f"{len(LOGS)} log records"
    xss = page.locator(f'.log-results .log-row[data-span-id="{sid(6)}"]')
    assert xss.locator(".log-body").inner_text() == f"card rejected: {XSS}"
    assert page.locator(".log-results img").count() == 0 and page.dialogs == []
    screenshot(page, "log-search")

    # The form's fields are the API's: severity and text narrow the list, service too.
    page.select_option(".log-search-form select[name=severity]", "warn")
    page.fill(".log-search-form input[name=q]", "payment")
    page.click(".log-search-form button[type=submit]")
    page.wait_for_function("location.search.includes('severity=warn')")
    page.wait_for_selector(".log-results .log-list")
    bodies = [r["body"] for r in log_rows(page, ".log-results")]
    expected = api(ui, "/api/v1/logs", lookback="1h", severity="warn", q="payment")["logs"]
    assert bodies == [e["body"] for e in expected]
    assert sorted(bodies) == ["payment declined by issuer", "retrying payment (attempt 2)"]
    page.goto(f"{ui}/logs?service=postgres&trace_id={CHECKOUT}")
    page.wait_for_selector(".log-results .log-list")
    assert [r["body"] for r in log_rows(page, ".log-results")] == ["SELECT cart took 80 ms"]
    page.wait_for_function(
        "document.querySelector('.log-search-form select[name=service]').value === 'postgres'"
    )

    # Each line links to its span: the trace opens with that span selected.
    page.click(".log-results .log-row .log-span")
    page.wait_for_selector(f'.wf-row.selected[data-span-id="{sid(4)}"]')
    assert f"/trace/{CHECKOUT}" in page.url and f"span={sid(4)}" in page.url
    page.goto(f"{ui}/logs?q=checkout%20request")
    page.wait_for_selector(".log-results .log-list")
    assert page.inner_text(".log-results .log-row .log-span") == "trace 4bf92f35", (
        "a record outside any span links to its trace"
    )

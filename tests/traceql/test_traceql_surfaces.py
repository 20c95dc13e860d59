"""TraceQL everywhere else, on the real ``spanscope serve``: the native API's ``q=`` (httpx),
``spanscope search -q`` and ``spanscope query-range`` (the CLI through Typer's CliRunner,
``--url`` at the server). Spans go in as one OTLP/HTTP protobuf request."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Status
from opentelemetry.proto.trace.v1.trace_pb2 import Span as OtlpSpan
from typer.testing import CliRunner

from spanscope.cli import app
from spanscope.query.model import now_ns
from tests.support.server import RunningServer

MS = 1_000_000
MINUTE = 60 * 1_000_000_000
# ten minutes ago (inside the default 1h), 10 s into a minute: every span in one 1m step
T0 = (now_ns() - 10 * MINUTE) // MINUTE * MINUTE + 10_000 * MS
SLOW = "4bf92f3577b34da6a3ce929d0e0e4736"  # orders -> payments, 1.5 s, payments failed
FAST = "0af7651916cd43dd8448eb211c80319c"  # orders alone, 20 ms, ok
OTHER = "5b8efff798038103d269b633813fc60c"  # inventory, 300 ms, ok

runner = CliRunner()


def _span(
    trace: str, sid: int, parent: int | None, name: str, start_ms: int, dur_ms: int,
    error: bool = False, status_code: int = 200,
) -> OtlpSpan:  # fmt: skip
    return OtlpSpan(
        trace_id=bytes.fromhex(trace),
        span_id=sid.to_bytes(8, "big"),
        parent_span_id=parent.to_bytes(8, "big") if parent else b"",
        name=name,
        kind=OtlpSpan.SPAN_KIND_SERVER,
        start_time_unix_nano=T0 + start_ms * MS,
        end_time_unix_nano=T0 + (start_ms + dur_ms) * MS,
        status=Status(code=Status.STATUS_CODE_ERROR if error else Status.STATUS_CODE_UNSET),
        attributes=[KeyValue(key="http.status_code", value=AnyValue(int_value=status_code))],
    )


def dataset() -> bytes:
    services = {
        "orders": [
            _span(SLOW, 1, None, "POST /checkout", 0, 1500, status_code=500),
            _span(FAST, 11, None, "GET /cart", 100, 20, status_code=200),
        ],
        "payments": [_span(SLOW, 2, 1, "POST /charge", 10, 1400, error=True, status_code=502)],
        "inventory": [_span(OTHER, 21, None, "GET /stock", 200, 300, status_code=200)],
    }
    out = ExportTraceServiceRequest()
    for service, spans in services.items():
        rs = ResourceSpans()
        rs.resource.attributes.append(
            KeyValue(key="service.name", value=AnyValue(string_value=service))
        )
        rs.scope_spans.add().spans.extend(spans)
        out.resource_spans.append(rs)
    return out.SerializeToString()


@pytest.fixture(scope="module")
def url(spanscope_server: RunningServer) -> Iterator[str]:
    sent = httpx.post(
        spanscope_server.otlp_http_url + "/v1/traces",
        content=dataset(),
        headers={"Content-Type": "application/x-protobuf"},
        timeout=60,
    )
    assert sent.status_code == 200, sent.text
    base = spanscope_server.api_url
    deadline = time.monotonic() + 60
    while len(httpx.get(base + "/api/v1/traces", timeout=30).json()["traces"]) < 3:
        assert time.monotonic() < deadline, "spans not queryable"
        time.sleep(0.2)
    yield base


def search(url: str, **params: Any) -> httpx.Response:
    return httpx.get(url + "/api/v1/traces", params=params, timeout=30)


def ids(r: httpx.Response) -> list[str]:
    assert r.status_code == 200, r.text
    return [t["trace_id"] for t in r.json()["traces"]]


# --- native API: q= ----------------------------------------------------------------------


def test_q_finds_traces_with_traceql(url: str) -> None:
    assert ids(search(url, q="{ status = error }")) == [SLOW]
    assert ids(search(url, q='{ resource.service.name = "orders" }')) == [FAST, SLOW]
    assert ids(search(url, q="{ span.http.status_code >= 500 } >> { status = error }")) == [SLOW]
    assert ids(search(url, q="{ .http.status_code = 200 && duration > 100ms }")) == [OTHER]
    assert ids(search(url, q="{ }", limit=2)) == [OTHER, FAST]


def test_q_answers_the_same_summaries_as_the_form(url: str) -> None:
    by_q = search(url, q='{ resource.service.name = "payments" }').json()["traces"]
    by_form = search(url, service="payments").json()["traces"]
    assert by_q == by_form and len(by_q) == 1
    assert by_q[0]["root_operation"] == "POST /checkout"


def test_q_parse_error_names_line_and_column(url: str) -> None:
    r = search(url, q="{ span.http.status_code = }")
    assert r.status_code == 400
    message = r.json()["error"]["message"]
    assert "line 1, col 27" in message and "expected a value after '='" in message


def test_q_with_form_filters_is_refused_naming_them(url: str) -> None:
    r = search(url, q="{ status = error }", service="orders", min_duration="1s")
    assert r.status_code == 400
    message = r.json()["error"]["message"]
    assert "service, min_duration" in message and "TraceQL" in message
    # the window and limit are not filters: they apply to q too
    assert ids(search(url, q="{ status = error }", lookback="1m")) == []


def test_q_refuses_metrics_and_slowest(url: str) -> None:
    r = search(url, q="{ } | rate()")
    assert r.status_code == 400 and "query_range" in r.json()["error"]["message"]
    r = search(url, q="{ }", order="slowest")
    assert r.status_code == 400 and "slowest" in r.json()["error"]["message"]


# --- CLI ---------------------------------------------------------------------------------


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args), env={"COLUMNS": "160"})


def test_cli_search_q(url: str) -> None:
    out = cli("search", "-q", "{ status = error }", "--url", url)
    assert out.exit_code == 0, out.output
    assert SLOW in out.output and FAST not in out.output
    as_json = cli("search", "--query", "{ status = error }", "--url", url, "--json")
    assert json.loads(as_json.output) == search(url, q="{ status = error }").json()


def test_cli_search_q_error_is_the_api_message(url: str) -> None:
    out = cli("search", "-q", "{ span.http.status_code = }", "--url", url)
    assert out.exit_code == 1
    assert "line 1, col 27" in out.output
    out = cli("search", "-q", "{ }", "--service", "orders", "--url", url)
    assert out.exit_code == 1 and "q cannot be combined with service" in out.output


def test_cli_query_range_draws_a_chart_per_series(url: str) -> None:
    q = "{ } | count_over_time() by (resource.service.name)"
    out = cli("query-range", q, "--since", "30m", "--step", "1m", "--url", url)
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    for service in ("orders", "payments", "inventory"):
        row = next(line for line in lines if f'resource.service.name="{service}"' in line)
        assert any(ch in row for ch in "▁▂▃▄▅▆▇█"), row
    orders = next(line for line in lines if 'service.name="orders"' in line)
    assert "max 2" in orders and "total 2" in orders


def test_cli_query_range_json_is_the_tempo_answer(url: str) -> None:
    q = "{ status = error } | count_over_time()"
    out = cli("query-range", q, "--since", "30m", "--step", "1m", "--url", url, "--json")
    assert out.exit_code == 0, out.output
    answer = json.loads(out.output)
    direct = httpx.get(
        url + "/tempo/api/metrics/query_range",
        params={"q": q, "since": "30m", "step": "1m"},
        timeout=30,
    ).json()
    assert [s["labels"] for s in answer["series"]] == [s["labels"] for s in direct["series"]]
    values = [float(p.get("value", 0)) for p in answer["series"][0]["samples"]]
    assert sum(values) == 1.0


def test_cli_query_range_bad_query_is_one_line(url: str) -> None:
    out = cli("query-range", "{ status = error }", "--url", url)
    assert out.exit_code == 1 and "not a metrics query" in out.output
    out = cli("query-range", "{ status = } | rate()", "--url", url)
    assert out.exit_code == 1 and "parse error at line 1" in out.output

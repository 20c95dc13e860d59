"""The CLI clients against real query API servers on loopback ports.

Every test runs twice, once per server:

- ``api-app``: the ASGI app (``spanscope.api.app.create_app``) over the DuckDB store, run by
  uvicorn in a background thread, spans written straight into the store;
- ``spanscope-serve``: the real ``spanscope serve`` process (conftest's
  ``spanscope_server``), the same spans sent to it as one OTLP/HTTP protobuf request.

Each test runs a command through Typer's CliRunner with ``--url`` pointing at the server and
checks what a user sees: names in the tables, the tree's order and indentation, errors, and
that ``--json`` prints exactly what the API answered.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from spanscope.cli import app
from spanscope.model.spans import Span, SpanKind, StatusCode
from spanscope.query.model import now_ns

MS = 1_000_000
T0 = (now_ns() - 10 * 60 * 1_000_000_000) // MS * MS  # ten minutes ago: inside the default 1h

SLOW_ERROR = "4bf92f3577b34da6a3ce929d0e0e4736"
FAST_OK = "0af7651916cd43dd8448eb211c80319c"
WITH_ORPHAN = "5b8efff798038103d269b633813fc60c"
HUGE = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
HUGE_SPANS = 10_000

runner = CliRunner()


def sp(
    trace: str,
    span_id: int,
    parent: int | None,
    name: str,
    service: str,
    start_ms: int,
    dur_ms: int,
    kind: SpanKind = SpanKind.INTERNAL,
    error: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> Span:
    return Span(
        trace_id=bytes.fromhex(trace),
        span_id=span_id.to_bytes(8, "big"),
        parent_span_id=parent.to_bytes(8, "big") if parent is not None else None,
        name=name,
        service=service,
        kind=kind,
        start_ns=T0 + start_ms * MS,
        end_ns=T0 + (start_ms + dur_ms) * MS,
        status_code=StatusCode.ERROR if error else StatusCode.UNSET,
        status_message=error or "",
        attributes=attributes or {},
    )


def dataset() -> list[Span]:
    spans = [
        # checkout is slow (1.5 s) and failed: a 500 at the root, declined payment below it
        sp(
            SLOW_ERROR,
            1,
            None,
            "POST /checkout",
            "checkout",
            0,
            1500,
            SpanKind.SERVER,
            attributes={"http.status_code": 500},
        ),
        sp(SLOW_ERROR, 2, 1, "SELECT cart", "postgres", 20, 80, SpanKind.CLIENT),
        sp(
            SLOW_ERROR,
            3,
            1,
            "charge",
            "payments",
            200,
            1200,
            SpanKind.SERVER,
            error="payment declined",
            attributes={"card.brand": "visa"},
        ),
        sp(SLOW_ERROR, 4, 3, "call bank", "payments", 250, 1000, SpanKind.CLIENT),
        # a fast, healthy checkout
        sp(
            FAST_OK,
            1,
            None,
            "POST /checkout",
            "checkout",
            5000,
            100,
            SpanKind.SERVER,
            attributes={"http.status_code": 200},
        ),
        sp(FAST_OK, 2, 1, "GET /cart", "checkout", 5010, 30, SpanKind.CLIENT),
        # orders: one span whose parent never arrived
        sp(WITH_ORPHAN, 1, None, "POST /orders", "orders", 8000, 300, SpanKind.SERVER),
        sp(WITH_ORPHAN, 2, 99, "retry publish", "orders", 8100, 20, SpanKind.PRODUCER),
    ]
    # one very large trace: a root with 9,999 children and grandchildren
    spans.append(sp(HUGE, 1, None, "batch", "etl", 20_000, 10_000, SpanKind.SERVER))
    for i in range(2, HUGE_SPANS + 1):
        parent = 1 if i < 1000 else i % 998 + 2
        spans.append(sp(HUGE, i, parent, f"step {i}", "etl", 20_000 + i % 9000, 5))
    return spans


def make_store(path: Path) -> Any:
    from spanscope.store.duckdb import DuckDBStore

    return DuckDBStore(path)


def to_otlp(spans: list[Span]) -> bytes:
    """The spans as one OTLP ExportTraceServiceRequest, a ResourceSpans per service."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Status
    from opentelemetry.proto.trace.v1.trace_pb2 import Span as OtlpSpan

    def value(v: Any) -> AnyValue:
        return AnyValue(int_value=v) if isinstance(v, int) else AnyValue(string_value=str(v))

    by_service: dict[str, ResourceSpans] = {}
    for s in spans:
        rs = by_service.get(s.service)
        if rs is None:
            rs = by_service[s.service] = ResourceSpans()
            rs.resource.attributes.append(KeyValue(key="service.name", value=value(s.service)))
            rs.scope_spans.add()
        rs.scope_spans[0].spans.append(
            OtlpSpan(
                trace_id=s.trace_id,
                span_id=s.span_id,
                parent_span_id=s.parent_span_id or b"",
                name=s.name,
                kind=int(s.kind),  # type: ignore[arg-type]
                start_time_unix_nano=s.start_ns,
                end_time_unix_nano=s.end_ns,
                status=Status(code=int(s.status_code), message=s.status_message),  # type: ignore[arg-type]
                attributes=[KeyValue(key=k, value=value(v)) for k, v in s.attributes.items()],
            )
        )
    return ExportTraceServiceRequest(resource_spans=list(by_service.values())).SerializeToString()


def serve_url(request: pytest.FixtureRequest) -> str:
    """The real ``spanscope serve``, fed the dataset over OTLP/HTTP, once it is queryable."""
    server = request.getfixturevalue("spanscope_server")
    sent = httpx.post(
        server.otlp_http_url + "/v1/traces",
        content=to_otlp(dataset()),
        headers={"Content-Type": "application/x-protobuf"},
        timeout=60,
    )
    assert sent.status_code == 200, sent.text
    deadline = time.monotonic() + 60
    while True:
        found = httpx.get(server.api_url + f"/api/v1/traces/{HUGE}", timeout=30)
        if found.status_code == 200 and len(found.json()["spans"]) == HUGE_SPANS:
            return str(server.api_url)
        assert time.monotonic() < deadline, f"spans not queryable: {found.text[:300]}"
        time.sleep(0.2)


@pytest.fixture(scope="module", params=["api-app", "spanscope-serve"])
def api_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "spanscope-serve":
        yield serve_url(request)
        return
    from spanscope.api.app import create_app

    store = make_store(tmp_path_factory.mktemp("cli") / "x.duckdb")
    store.write(dataset())
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(store), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "API server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()
    store.close()


def cli(*args: str, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, list(args), env={"COLUMNS": "160", **(env or {})})


def api(url: str, path: str, **params: Any) -> Any:
    return httpx.get(url + path, params=params, timeout=30).json()


def waterfall_rows(output: str) -> list[str]:
    return [line for line in output.splitlines() if "█" in line]


# --- services and operations ---


def test_services_lists_every_service(api_url: str) -> None:
    result = cli("services", "--url", api_url)
    assert result.exit_code == 0, result.output
    shown = result.output.split()
    for name in ("checkout", "postgres", "payments", "orders", "etl"):
        assert name in shown


def test_services_json_is_the_api_answer(api_url: str) -> None:
    result = cli("services", "--url", api_url, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == api(api_url, "/api/v1/services")


def test_url_comes_from_the_environment(api_url: str) -> None:
    result = cli("services", "--json", env={"SPANSCOPE_URL": api_url})
    assert result.exit_code == 0, result.output
    assert "checkout" in json.loads(result.stdout)["services"]


def test_operations_with_and_without_span_kind(api_url: str) -> None:
    result = cli("operations", "checkout", "--url", api_url)
    assert result.exit_code == 0, result.output
    assert "POST /checkout" in result.output and "GET /cart" in result.output
    assert "server" in result.output and "client" in result.output

    servers = cli("operations", "checkout", "--span-kind", "server", "--url", api_url)
    assert servers.exit_code == 0, servers.output
    assert "POST /checkout" in servers.output and "GET /cart" not in servers.output

    as_json = cli("operations", "payments", "--url", api_url, "--json")
    answer = api(api_url, "/api/v1/services/payments/operations")
    assert json.loads(as_json.stdout) == answer


def test_operations_bad_span_kind_shows_the_api_message(api_url: str) -> None:
    result = cli("operations", "checkout", "--span-kind", "sever", "--url", api_url)
    assert result.exit_code == 1
    assert "sever" in result.output and "server" in result.output
    assert "Traceback" not in result.output


# --- search ---


def test_search_from_the_issue_finds_the_slow_failed_checkout(api_url: str) -> None:
    result = cli(
        "search", "--service", "checkout", "--min-duration", "1s",
        "--tag", "http.status_code=500", "--slowest", "--url", api_url,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert SLOW_ERROR in result.output and FAST_OK not in result.output
    row = next(line for line in result.output.splitlines() if SLOW_ERROR in line)
    assert "checkout · POST /checkout" in row
    assert "1.5s" in row
    assert " 4 " in row and " 1 " in row  # 4 spans, 1 error
    assert "checkout, payments, postgres" in row


def test_search_on_an_80_column_terminal(api_url: str) -> None:
    result = cli("search", "--service", "checkout", "--url", api_url, env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert f"{SLOW_ERROR}  checkout · POST /checkout" in result.output
    assert "4 spans · 1 error" in result.output
    assert all(len(line) <= 80 for line in result.output.splitlines())


def test_search_slowest_orders_by_duration(api_url: str) -> None:
    result = cli("search", "--service", "checkout", "--slowest", "--url", api_url)
    assert result.exit_code == 0, result.output
    assert result.output.index(SLOW_ERROR) < result.output.index(FAST_OK)


def test_search_status_and_limit(api_url: str) -> None:
    errors = cli("search", "--status", "error", "--url", api_url)
    assert errors.exit_code == 0, errors.output
    assert SLOW_ERROR in errors.output and FAST_OK not in errors.output
    one = cli("search", "--limit", "1", "--url", api_url, "--json")
    assert len(json.loads(one.stdout)["traces"]) == 1


def test_search_json_is_the_api_answer(api_url: str) -> None:
    start, end = str(T0 - 60_000 * MS), str(T0 + 60_000 * MS)
    result = cli(
        "search", "--service", "checkout", "--start", start, "--end", end, "--url", api_url,
        "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    answer = api(api_url, "/api/v1/traces", service="checkout", start=start, end=end)
    assert json.loads(result.stdout) == answer
    assert {t["trace_id"] for t in answer["traces"]} == {SLOW_ERROR, FAST_OK}


def test_search_with_nothing_found_says_so(api_url: str) -> None:
    result = cli("search", "--service", "no-such-service", "--url", api_url)
    assert result.exit_code == 0
    assert "no traces match" in result.output


def test_search_bad_tag_prints_the_api_error(api_url: str) -> None:
    result = cli("search", "--tag", "http.status_code", "--url", api_url)
    assert result.exit_code == 1
    assert "http.status_code" in result.stderr and "key<op>value" in result.stderr
    assert "Traceback" not in result.output
    duration = cli("search", "--min-duration", "fast", "--url", api_url)
    assert duration.exit_code == 1
    assert "'fast'" in duration.stderr and "250ms" in duration.stderr


def test_search_since_and_start_together_is_a_usage_error(api_url: str) -> None:
    result = cli("search", "--since", "1h", "--start", "2026-01-01T00:00:00Z", "--url", api_url)
    assert result.exit_code == 2
    assert "--since" in result.output


# --- trace ---


def test_trace_waterfall_shows_the_tree_errors_and_header(api_url: str) -> None:
    result = cli("trace", SLOW_ERROR, "--url", api_url, "--width", "120")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = " ".join(lines[:3])
    assert SLOW_ERROR in header and "checkout · POST /checkout" in header
    assert "1.5s" in header and "4 spans" in header and "1 error" in header
    rows = waterfall_rows(result.output)
    assert rows[0].startswith("checkout POST /checkout")
    assert rows[1].startswith("  postgres SELECT cart")
    assert rows[2].startswith("  payments charge")
    assert rows[3].startswith("    payments call bank")
    assert "payment declined" in lines[lines.index(rows[2]) + 1]
    assert all(len(row) <= 120 for row in rows)
    # bars to scale: the root covers the axis, charge starts later and is shorter
    assert rows[0].count("█") > rows[2].count("█") > rows[1].count("█")
    assert rows[2].index("█") > rows[1].index("█") > rows[0].index("█") - 1


def test_trace_marks_orphans_at_top_level(api_url: str) -> None:
    result = cli("trace", WITH_ORPHAN, "--url", api_url, "--width", "100")
    assert result.exit_code == 0, result.output
    rows = waterfall_rows(result.output)
    assert rows[0].startswith("orders POST /orders")
    assert rows[1].startswith("⚠ orphan orders retry publish")
    assert "1 orphan" in result.output


def test_trace_attributes_are_shown_under_spans(api_url: str) -> None:
    result = cli("trace", SLOW_ERROR, "--attributes", "--url", api_url, "--width", "120")
    assert result.exit_code == 0, result.output
    assert "http.status_code = 500" in result.output
    assert 'card.brand = "visa"' in result.output


def test_trace_json_is_the_api_answer(api_url: str) -> None:
    result = cli("trace", SLOW_ERROR, "--url", api_url, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == api(api_url, f"/api/v1/traces/{SLOW_ERROR}")


def test_trace_with_ten_thousand_spans(api_url: str) -> None:
    result = cli("trace", HUGE, "--url", api_url, "--width", "160")
    assert result.exit_code == 0, result.output
    rows = waterfall_rows(result.output)
    assert len(rows) == HUGE_SPANS
    assert rows[0].startswith("etl batch")
    assert f"{HUGE_SPANS} spans" in result.output


def test_bad_and_unknown_trace_ids(api_url: str) -> None:
    bad = cli("trace", "not-hex", "--url", api_url)
    assert bad.exit_code == 1
    assert "not-hex" in bad.output and "hex" in bad.output
    assert "Traceback" not in bad.output
    unknown = cli("trace", "ffffffffffffffffffffffffffffffff", "--url", api_url)
    assert unknown.exit_code == 1
    assert "not found" in unknown.output


# --- no server ---


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("command", [["services"], ["search"], ["trace", SLOW_ERROR]])
def test_unreachable_server_is_one_line_with_the_fix(command: list[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = cli(*command, "--url", url)
    assert result.exit_code == 1
    assert result.stdout == ""
    message = result.stderr.strip()
    assert url in message and "spanscope serve" in message
    assert "\n" not in message and "Traceback" not in message

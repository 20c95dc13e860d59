"""``spanscope diff``, ``trace --file`` and ``logs`` against the real ``spanscope serve``.

Two checkouts of one request are written as an OTLP JSON file and sent to the server: a
fast one (one inventory query) and a slow one (the query in a loop, 12 times). Then:

- ``spanscope diff FAST SLOW`` names the loop, as ``GET /api/v1/diff`` does;
- ``spanscope trace --file checkout.json SLOW`` draws the same waterfall as ``spanscope
  trace SLOW`` reading the server, and so does the Jaeger JSON the server's own Jaeger API
  gives for that trace, saved to a file;
- ``spanscope logs`` shows the trace id of each record (what ``spanscope trace`` takes).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from spanscope.api.serialize import traces_to_otlp
from spanscope.cli import app
from spanscope.model.spans import Span, SpanKind, StatusCode, Trace
from spanscope.query.model import now_ns
from spanscope.units import format_duration

MS = 1_000_000
T0 = (now_ns() - 10 * 60 * 1_000_000_000) // MS * MS
FAST = "0af7651916cd43dd8448eb211c80319c"
SLOW = "4bf92f3577b34da6a3ce929d0e0e4736"
LOOP = 12
TIMEOUT_S = 30.0
runner = CliRunner()


def span(trace: str, sid: int, parent: int | None, name: str, service: str, start_ms: int,
         dur_ms: int, kind: SpanKind = SpanKind.INTERNAL, error: str = "") -> Span:  # fmt: skip
    return Span(
        trace_id=bytes.fromhex(trace),
        span_id=sid.to_bytes(8, "big"),
        parent_span_id=parent.to_bytes(8, "big") if parent is not None else None,
        name=name,
        service=service,
        kind=kind,
        start_ns=T0 + start_ms * MS,
        end_ns=T0 + (start_ms + dur_ms) * MS,
        status_code=StatusCode.ERROR if error else StatusCode.UNSET,
        status_message=error,
        resource={"service.name": service},
        attributes={"http.route": "/checkout"} if parent is None else {},
    )


def checkout(trace: str, queries: int) -> Trace:
    spans = [span(trace, 1, None, "POST /checkout", "frontend", 0, 40 + 30 * queries,
                  SpanKind.SERVER)]  # fmt: skip
    for i in range(queries):
        spans.append(span(trace, 10 + i, 1, "SELECT stock", "inventory", 20 + 30 * i, 25,
                          SpanKind.CLIENT, "deadlock" if i == queries - 1 and queries > 1
                          else ""))  # fmt: skip
    return Trace(bytes.fromhex(trace), spans)


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args), env={"COLUMNS": "160"})


@pytest.fixture(scope="module")
def server(
    spanscope_launcher: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    running = spanscope_launcher(tmp_path_factory.mktemp("cli-files") / "data")
    try:
        yield running
    finally:
        code = running.stop()
        assert code == 0, running.log()


@pytest.fixture(scope="module")
def otlp_file(server: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The two checkouts as an OTLP JSON file, also sent to the server (and stored)."""
    path = tmp_path_factory.mktemp("files") / "checkout.json"
    path.write_bytes(orjson.dumps(traces_to_otlp([checkout(FAST, 1), checkout(SLOW, LOOP)])))
    sent = httpx.post(server.otlp_http_url + "/v1/traces", content=path.read_bytes(),
                      headers={"Content-Type": "application/json"}, timeout=TIMEOUT_S)  # fmt: skip
    assert sent.status_code == 200, sent.text
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        found = httpx.get(f"{server.api_url}/api/v1/traces/{SLOW}", timeout=5)
        if found.status_code == 200 and len(found.json()["spans"]) == LOOP + 1:
            break
        assert time.monotonic() < deadline, f"spans not queryable: {found.text[:300]}"
        time.sleep(0.1)
    return path


def rows(output: str) -> list[str]:
    return [line.rstrip() for line in output.splitlines() if "█" in line]


# --- diff ---------------------------------------------------------------------------------


def test_diff_names_the_loop_as_the_api_does(server: Any, otlp_file: Path) -> None:
    answer = httpx.get(f"{server.api_url}/api/v1/diff", params={"a": FAST, "b": SLOW}).json()
    result = cli("diff", FAST, SLOW, "--url", server.api_url)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == answer["headline"]
    assert lines[1].startswith(f"a: {FAST}  ") and lines[2].startswith(f"b: {SLOW}  ")
    (loop,) = [p for p in answer["paths"] if p["name"] == "SELECT stock"]
    assert (loop["a_count"], loop["b_count"], loop["status"]) == (1, LOOP, "changed")
    delta = loop.get("own_delta_ns", loop["self_delta_ns"])  # what the API ranks by
    loop_row = next(line for line in lines[3:] if "SELECT stock" in line)
    cells = re.split(r"\s{2,}", loop_row.strip())
    assert cells[:4] == ["inventory · SELECT stock", "ran more/less", "1", str(LOOP)]
    assert cells[4:6] == ["25ms", "300ms"]  # 1 x 25ms, 12 x 25ms
    assert cells[6] == ("+" if delta > 0 else "") + format_duration(delta)


def test_diff_json_is_the_api_answer(server: Any, otlp_file: Path) -> None:
    answer = httpx.get(f"{server.api_url}/api/v1/diff", params={"a": FAST, "b": SLOW}).json()
    result = cli("diff", FAST, SLOW, "--url", server.api_url, "--json")
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.output) == answer


def test_diff_of_an_unknown_trace_is_one_line_naming_it(server: Any, otlp_file: Path) -> None:
    missing = "ffffffffffffffffffffffffffffffff"
    result = cli("diff", FAST, missing, "--url", server.api_url)
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and missing in result.output
    assert len(result.output.strip().splitlines()) == 1


# --- trace --file -------------------------------------------------------------------------


def test_trace_file_draws_what_the_server_draws(server: Any, otlp_file: Path) -> None:
    from_server = cli("trace", SLOW, "--url", server.api_url)
    from_file = cli("trace", SLOW, "--file", str(otlp_file), "--url", "http://127.0.0.1:9")
    assert from_server.exit_code == 0 and from_file.exit_code == 0, from_file.output
    assert from_file.output == from_server.output
    assert len(rows(from_file.output)) == LOOP + 1 and "✗ deadlock" in from_file.output


def test_trace_file_of_the_servers_own_jaeger_json(
    server: Any, otlp_file: Path, tmp_path: Path
) -> None:
    jaeger = httpx.get(f"{server.api_url}/api/traces/{SLOW}", timeout=TIMEOUT_S)
    assert jaeger.status_code == 200, jaeger.text
    path = tmp_path / "jaeger.json"
    path.write_bytes(jaeger.content)
    from_file = cli("trace", "--file", str(path))
    from_server = cli("trace", SLOW, "--url", server.api_url)
    assert from_file.exit_code == 0, from_file.output
    assert rows(from_file.output) == rows(from_server.output)
    assert from_file.output.splitlines()[:3] == from_server.output.splitlines()[:3]


def test_trace_file_without_an_id_shows_every_trace(otlp_file: Path) -> None:
    result = cli("trace", "--file", str(otlp_file))
    assert result.exit_code == 0, result.output
    assert f"Trace {FAST}" in result.output and f"Trace {SLOW}" in result.output
    assert len(rows(result.output)) == 2 + LOOP + 1
    as_json = orjson.loads(cli("trace", "--file", str(otlp_file), "--json").output)
    assert [t["trace_id"] for t in as_json["traces"]] == [FAST, SLOW]


def test_trace_file_errors_name_the_file_and_the_fix(otlp_file: Path, tmp_path: Path) -> None:
    other = "1" * 32
    result = cli("trace", other, "--file", str(otlp_file))
    assert result.exit_code == 1 and other in result.output and "leave the id out" in result.output
    bad = tmp_path / "notes.json"
    bad.write_text('{"hello": "world"}')
    result = cli("trace", "--file", str(bad))
    assert result.exit_code == 1 and "notes.json" in result.output
    assert "resourceSpans" in result.output and "Jaeger JSON" in result.output
    assert cli("trace").exit_code == 2  # neither an id nor a file: a usage error


# --- logs ---------------------------------------------------------------------------------


def test_logs_show_the_trace_id_column(server: Any, otlp_file: Path) -> None:
    records = [{"timeUnixNano": str(T0 + 30 * MS), "severityText": "ERROR", "severityNumber": 17,
                "body": {"stringValue": "deadlock on stock row"}, "traceId": SLOW,
                "spanId": (10 + LOOP - 1).to_bytes(8, "big").hex()},
               {"timeUnixNano": str(T0 + 31 * MS), "severityText": "INFO", "severityNumber": 9,
                "body": {"stringValue": "no trace here"}}]  # fmt: skip
    body = {"resourceLogs": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "inventory"}}]},
        "scopeLogs": [{"logRecords": records}]}]}  # fmt: skip
    sent = httpx.post(server.otlp_http_url + "/v1/logs", json=body, timeout=TIMEOUT_S)
    assert sent.status_code == 200, sent.text
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        result = cli("logs", "--service", "inventory", "--url", server.api_url)
        if result.exit_code == 0 and "no trace here" in result.output:
            break
        assert time.monotonic() < deadline, result.output
        time.sleep(0.1)
    header, *lines = result.output.splitlines()
    assert header.split()[:6] == ["time", "(UTC)", "service", "level", "trace", "span"]
    deadlock = next(line for line in lines if "deadlock on stock row" in line)
    assert SLOW in deadlock.split()
    one_trace = cli("logs", "--trace", SLOW, "--url", server.api_url)
    assert one_trace.exit_code == 0 and "deadlock on stock row" in one_trace.output
    assert "no trace here" not in one_trace.output

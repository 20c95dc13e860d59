"""configure(logs=True) exports stdlib ``logging`` records over OTLP, linked to their span.

Against a real ``spanscope serve``: a warning written inside a span is found from its trace
(``GET /api/v1/traces/{id}/logs``) and from its span (``?span_id=``, and the log search);
a third-party library's record is exported too. In memory: what a record carries, what it
does not, and that a dead endpoint never reaches the app.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

import httpx
import pytest
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spanscope.sdk import configure, span

try:
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter as InMemoryLogs
except ImportError:  # older OpenTelemetry SDK
    from opentelemetry.sdk._logs.export import InMemoryLogExporter as InMemoryLogs


@pytest.fixture
def root_at_info() -> Any:
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)
    yield root
    root.setLevel(level)


def trace_logs(api_url: str, trace_id: str, want: int, **params: str) -> list[dict[str, Any]]:
    """The trace's logs once ``want`` of them are stored (export and store both batch)."""
    deadline = time.monotonic() + 20
    logs: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        answer = httpx.get(f"{api_url}/api/v1/traces/{trace_id}/logs", params=params, timeout=10)
        answer.raise_for_status()
        logs = answer.json()["logs"]
        if len(logs) >= want:
            return logs
        time.sleep(0.1)
    raise AssertionError(f"trace {trace_id}: {len(logs)} logs after 20 s, want {want}: {logs}")


def attrs(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {a["key"]: a["value"] for a in items}


def test_a_log_written_in_a_span_is_found_from_its_trace_and_span(
    spanscope_server, root_at_info
) -> None:
    handle = configure(
        "orders", endpoint=spanscope_server.otlp_http_url, instrument=False, metrics=False
    )
    try:
        with span("POST /orders", kind="server") as request:
            logging.getLogger("orders").info("checkout started")
            with span("find-order") as query:
                logging.getLogger("orders.db").warning(
                    "slow query: %d ms",
                    84,
                    extra={"db.statement": "SELECT * FROM orders WHERE order_ref = ?"},
                )
            # a library's record, through a logger we never configured
            logging.getLogger("urllib3.connectionpool").warning("Retrying (total=2)")
        logging.getLogger("orders").warning("outside any span")
    finally:
        handle.shutdown()  # flushes the last batch
    trace_id = f"{request.get_span_context().trace_id:032x}"
    query_span = f"{query.get_span_context().span_id:016x}"
    request_span = f"{request.get_span_context().span_id:016x}"

    logs = trace_logs(spanscope_server.api_url, trace_id, 3)
    assert [(r["body"], r["severity_text"]) for r in logs] == [
        ("checkout started", "INFO"),
        ("slow query: 84 ms", "WARN"),
        ("Retrying (total=2)", "WARN"),
    ]
    assert [r["span_id"] for r in logs] == [request_span, query_span, request_span]
    slow = logs[1]
    assert slow["service"] == "orders"
    assert slow["scope_name"] == "orders.db"
    assert attrs(slow["attributes"])["db.statement"] == "SELECT * FROM orders WHERE order_ref = ?"
    assert "trace_id" not in attrs(slow["attributes"])  # the record's own ids, not repeated
    assert attrs(slow["resource"])["service.name"] == "orders"

    by_span = trace_logs(spanscope_server.api_url, trace_id, 1, span_id=query_span)
    assert [r["body"] for r in by_span] == ["slow query: 84 ms"]
    found = httpx.get(
        f"{spanscope_server.api_url}/api/v1/logs",
        params={"span_id": query_span, "lookback": "1h"},
        timeout=10,
    ).json()["logs"]
    assert [r["body"] for r in found] == ["slow query: 84 ms"]
    outside = httpx.get(
        f"{spanscope_server.api_url}/api/v1/logs",
        params={"q": "outside any span", "lookback": "1h"},
        timeout=10,
    ).json()["logs"]
    assert [(r["body"], r["trace_id"]) for r in outside] == [("outside any span", None)]


def in_memory(**kwargs: Any) -> tuple[Any, Any]:
    exporter = InMemoryLogs()
    handle = configure(
        "orders",
        instrument=False,
        metrics=False,
        span_processors=[SimpleSpanProcessor(InMemorySpanExporter())],
        log_processors=[SimpleLogRecordProcessor(exporter)],
        **kwargs,
    )
    return handle, exporter


def test_records_carry_ids_severity_and_extra_fields_only(root_at_info) -> None:
    handle, exporter = in_memory()
    try:
        with span("charge") as s:
            logging.getLogger("payments").warning(
                "retrying payment-provider call, attempt %d/%d", 2, 3, extra={"attempt": 2}
            )
        logging.getLogger("opentelemetry.exporter.otlp").warning("export failed")
    finally:
        handle.shutdown()
    (record,) = [f.log_record for f in exporter.get_finished_logs()]
    ctx = s.get_span_context()
    assert (record.trace_id, record.span_id) == (ctx.trace_id, ctx.span_id)
    assert record.body == "retrying payment-provider call, attempt 2/3"
    assert record.severity_text == "WARN"
    assert dict(record.attributes or {}) == {"attempt": 2}


def test_basic_config_after_configure_still_configures_the_root_logger() -> None:
    handle, _ = in_memory()
    root = logging.getLogger()
    ours = handle.log_export.handler
    before_handlers, before_level = [h for h in root.handlers if h is not ours], root.level
    root.handlers[:] = [ours]  # as in a fresh process: only configure()'s handler
    try:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
        kinds = {type(h).__name__ for h in root.handlers}
        assert kinds == {"StreamHandler", "OtlpLogHandler"}
        assert root.level == logging.INFO
        handle.shutdown()
        assert ours not in root.handlers  # shutdown detached it
        assert logging.basicConfig.__module__ == "logging"  # and put basicConfig back
    finally:
        handle.shutdown()
        root.handlers[:] = before_handlers
        root.setLevel(before_level)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_dead_endpoint_costs_one_warning_and_never_an_exception(
    root_at_info, caplog, monkeypatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")  # seconds of retrying per export
    handle = configure(
        "orders",
        endpoint=f"http://127.0.0.1:{closed_port()}",
        instrument=False,
        metrics=False,
        span_processors=[SimpleSpanProcessor(InMemorySpanExporter())],
    )
    with caplog.at_level(logging.WARNING):
        for i in range(3):
            with span("work"):
                logging.getLogger("orders").warning("line %d", i)
            handle.log_export.force_flush(5_000)
        handle.shutdown()
    failures = [r for r in caplog.records if "log export to" in r.getMessage()]
    assert len(failures) == 1, [r.getMessage() for r in caplog.records]
    assert "127.0.0.1" in failures[0].getMessage()

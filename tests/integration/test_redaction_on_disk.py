"""Redaction against the real server: spans sent by the OTel SDK's own exporters (OTLP/HTTP,
OTLP/gRPC, Zipkin) with an ``authorization`` header, a card number in ``db.statement`` and a
custom-rule key. The raw values must be in no file under the data dir (WAL segments, DuckDB
database and its WAL), while running, after SIGKILL and the replay that follows, and after
a clean stop; the API shows the masked and hashed values."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpExporter,
)
from opentelemetry.exporter.zipkin.json import ZipkinExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tests.support.server import serve_command

if TYPE_CHECKING:
    from tests.support.server import RunningServer

CARD = "4111 1111 1111 1111"
TOKEN = "Bearer s3cr3t-VALUE"
LOYALTY = "LOYALTY-778899-RAW"
RAW = [TOKEN.encode(), b"s3cr3t-VALUE", CARD.encode(), b"4111111111111111", LOYALTY.encode()]
CONFIG = """
[[redaction]]
name = "loyalty numbers"
key = "app.loyalty_*"
action = "hash"
"""
EXPORTERS = ("http", "grpc", "zipkin")


def make_spans(service: str) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("shop")
    with tracer.start_as_current_span("POST /pay", kind=SpanKind.SERVER) as span:
        span.set_attribute("http.request.header.authorization", (TOKEN,))
        span.set_attribute("db.statement", f"SELECT * FROM cards WHERE pan = '{CARD}'")
        span.set_attribute("app.loyalty_number", LOYALTY)
        span.set_attribute("http.route", "/pay")
    provider.shutdown()
    return list(memory.get_finished_spans())


def export(server: RunningServer, how: str, spans: list[ReadableSpan]) -> None:
    if how == "http":
        exporter: Any = HttpExporter(endpoint=server.otlp_http_url + "/v1/traces")
    elif how == "grpc":
        exporter = GrpcExporter(endpoint=server.otlp_grpc_endpoint, insecure=True)
    else:
        exporter = ZipkinExporter(endpoint=server.zipkin_url + "/api/v2/spans")
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    exporter.shutdown()


def stored_attributes(server: RunningServer, trace_id: str) -> dict[str, Any]:
    """The trace's one span's attributes from the API, once it is queryable."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        answer = httpx.get(f"{server.api_url}/api/v1/traces/{trace_id}", timeout=10)
        if answer.status_code == 200 and answer.json()["spans"]:
            [span] = answer.json()["spans"]
            return {a["key"]: _plain(a["value"]) for a in span["attributes"]}
        time.sleep(0.1)
    raise AssertionError(f"trace {trace_id} not queryable after 20 s")


def _plain(value: Any) -> Any:
    """The API shows array items as {"type", "value"}: the values alone."""
    if isinstance(value, list):
        return [v["value"] if isinstance(v, dict) else v for v in value]
    return value


def files_holding(data_dir: Path, needles: list[bytes]) -> list[str]:
    """Every file under ``data_dir`` (as bytes) that contains one of ``needles``."""
    found = []
    for path in sorted(data_dir.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.relative_to(data_dir)}: {n!r}" for n in needles if n in data]
    return found


def send_all(server: RunningServer) -> dict[str, str]:
    trace_ids = {}
    for how in EXPORTERS:
        spans = make_spans(f"pay-{how}")
        export(server, how, spans)
        trace_ids[how] = f"{spans[0].context.trace_id:032x}"
    return trace_ids


def check_masked(server: RunningServer, trace_ids: dict[str, str]) -> None:
    hashes = set()
    for how, trace_id in trace_ids.items():
        attributes = stored_attributes(server, trace_id)
        authorization = attributes["http.request.header.authorization"]
        # Zipkin tags are strings: the SDK's Zipkin exporter sends the tuple as a string.
        assert authorization in (["[REDACTED]"], "[REDACTED]"), (how, authorization)
        assert attributes["db.statement"] == "SELECT * FROM cards WHERE pan = '**** **** **** ****'"
        assert attributes["app.loyalty_number"].startswith("hmac-sha256:")
        assert attributes["http.route"] == "/pay"
        hashes.add(attributes["app.loyalty_number"])
    assert len(hashes) == 1, "equal values must hash equally whatever the receiver"


def test_raw_values_never_reach_the_wal_or_the_database(
    start_spanscope: Callable[..., RunningServer], tmp_path: Path
) -> None:
    config = tmp_path / "spanscope.toml"
    config.write_text(CONFIG)
    data = tmp_path / "data"
    env = {"SPANSCOPE_CONFIG": str(config)}
    server = start_spanscope(data, env=env)
    trace_ids = send_all(server)
    check_masked(server, trace_ids)
    assert files_holding(data, RAW) == []  # while running
    assert (data / "redaction.key").stat().st_size == 32

    more = send_all(server)  # acked (in the WAL), maybe not yet in the store
    server.kill()
    assert files_holding(data, RAW) == []  # after SIGKILL
    again = start_spanscope(data, env=env)  # replays the WAL: redacted values stay so
    check_masked(again, {**trace_ids, **{f"{k}-2": v for k, v in more.items()}})
    assert again.stop() == 0
    assert files_holding(data, RAW) == []  # after a clean stop


def test_without_rules_the_raw_value_is_on_disk(
    start_spanscope: Callable[..., RunningServer], tmp_path: Path
) -> None:
    """The control: with redaction off, the same check finds the raw values, so the test
    above can fail."""
    config = tmp_path / "spanscope.toml"
    config.write_text("redaction_defaults = false\n")
    data = tmp_path / "data"
    server = start_spanscope(data, env={"SPANSCOPE_CONFIG": str(config)})
    spans = make_spans("pay-plain")
    export(server, "http", spans)
    attributes = stored_attributes(server, f"{spans[0].context.trace_id:032x}")
    assert attributes["http.request.header.authorization"] == [TOKEN]
    assert server.stop() == 0
    assert files_holding(data, [TOKEN.encode()]) != []


def test_a_bad_rule_stops_serve_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[[redaction]]\nkey = "user.email"\naction = "erase"\n')
    done = subprocess.run(
        [*serve_command(tmp_path / "d"), "--config", str(config)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "redaction[0].action = 'erase': expected one of ['drop', 'mask', 'hash']" in (
        done.stderr
    )

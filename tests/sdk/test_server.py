"""configure()d spans arrive at a real ``spanscope serve`` and come back with their resource."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from typing import Any

import httpx

from spanscope.sdk import PrioritySampler, configure, span, traced
from tests.support.server import fetch_trace


def attrs(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {a["key"]: a["value"] for a in items}


def test_spans_arrive_with_service_resource(spanscope_server, caplog) -> None:
    handle = configure(
        "checkout",
        service_version="3.2.1",
        environment="staging",
        endpoint=spanscope_server.otlp_http_url,
        resource_attributes={"team": "payments"},
        instrument=False,
    )

    @traced("charge card", kind="client")
    def charge() -> None:
        pass

    try:
        with span("POST /checkout", kind="server", cart_items=3) as root:
            charge()
        trace_id = f"{root.get_span_context().trace_id:032x}"
    finally:
        with caplog.at_level(logging.WARNING):
            handle.shutdown()  # flushes spans; metrics go to a server without /v1/metrics
    trace = fetch_trace(spanscope_server.api_url, trace_id, 2)
    names = {s["name"]: s for s in trace["spans"]}
    assert set(names) == {"POST /checkout", "charge card"}
    server_span = names["POST /checkout"]
    assert server_span["service"] == "checkout"
    assert server_span["kind"] == "server"
    resource = attrs(server_span["resource"])
    assert resource["service.name"] == "checkout"
    assert resource["service.version"] == "3.2.1"
    assert resource["deployment.environment"] == "staging"
    assert resource["host.name"]
    assert resource["team"] == "payments"
    assert names["charge card"]["parent_span_id"] == server_span["span_id"]
    # A server that does not take metrics costs at most one warning, never an exception.
    assert len([r for r in caplog.records if "metrics" in r.getMessage()]) <= 1


def test_dropped_traces_never_reach_the_server(spanscope_server) -> None:
    handle = configure(
        "sampled-out",
        endpoint=spanscope_server.otlp_http_url,
        sampler=PrioritySampler([], 0.0),
        instrument=False,
        metrics=False,
    )
    with span("GET /health") as root:
        with span("check db"):
            pass
    handle.shutdown()
    assert not root.get_span_context().trace_flags.sampled
    kept = configure(
        "kept", endpoint=spanscope_server.otlp_http_url, instrument=False, metrics=False
    )
    with span("after") as marker:
        pass
    kept.shutdown()
    fetch_trace(spanscope_server.api_url, f"{marker.get_span_context().trace_id:032x}", 1)
    answer = httpx.get(
        f"{spanscope_server.api_url}/api/v1/traces/{root.get_span_context().trace_id:032x}"
    )
    assert answer.status_code == 404


APP = """
import logging
from opentelemetry import trace
tracer = trace.get_tracer("zero-code")
kept = 0
for i in range(200):
    with tracer.start_as_current_span("job") as s:
        kept += s.get_span_context().trace_flags.sampled
        if i == 0:
            print("sampler", type(trace.get_tracer_provider().sampler).__name__)
print("kept", kept)
"""


def test_zero_code_with_opentelemetry_instrument(spanscope_server, tmp_path) -> None:
    script = tmp_path / "app.py"
    script.write_text(APP)
    instrument = os.path.join(os.path.dirname(sys.executable), "opentelemetry-instrument")
    env = {
        **os.environ,
        "OTEL_SERVICE_NAME": "zero-code",
        "OTEL_TRACES_SAMPLER": "spanscope_priority",
        "OTEL_TRACES_SAMPLER_ARG": "0.25",
        "OTEL_EXPORTER_OTLP_ENDPOINT": spanscope_server.otlp_http_url,
        "OTEL_METRICS_EXPORTER": "none",
    }
    done = subprocess.run(
        [instrument, sys.executable, str(script)],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert lines["sampler"] == "PrioritySampler"
    assert 20 <= int(lines["kept"]) <= 80  # about a quarter of 200 traces
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        services = httpx.get(f"{spanscope_server.api_url}/api/v1/services").json()
        if "zero-code" in str(services):
            break
        time.sleep(0.1)
    assert "zero-code" in str(services)

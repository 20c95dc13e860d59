"""Limits are configurable: a server started with SPANSCOPE_MAX_* caps what it keeps."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from tests.support.waiting import wait_until


def request_with(n_attributes: int, value: str, trace_id: bytes) -> bytes:
    now = time.time_ns()
    span = Span(
        trace_id=trace_id,
        span_id=bytes.fromhex("00000000000000aa"),
        name="GET /limits",
        start_time_unix_nano=now - 1_000_000,
        end_time_unix_nano=now,
        attributes=[
            KeyValue(key=f"k{i}", value=AnyValue(string_value=value)) for i in range(n_attributes)
        ],
    )
    resource_spans = ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])
    resource_spans.resource.attributes.append(
        KeyValue(key="service.name", value=AnyValue(string_value="limited"))
    )
    return ExportTraceServiceRequest(resource_spans=[resource_spans]).SerializeToString()


def test_limits_from_the_environment_cap_attributes_and_values(start_spanscope, tmp_path) -> None:
    server = start_spanscope(
        tmp_path / "data",
        env={"SPANSCOPE_MAX_ATTRIBUTES": "4", "SPANSCOPE_MAX_ATTRIBUTE_VALUE_BYTES": "8"},
    )
    trace_id = bytes.fromhex("0badc0de" * 4)
    r = httpx.post(
        server.otlp_http_url + "/v1/traces",
        content=request_with(10, "x" * 100, trace_id),
        headers={"Content-Type": "application/x-protobuf"},
    )
    assert r.status_code == 200

    def stored() -> dict | None:
        got = httpx.get(f"{server.api_url}/api/v1/traces/{trace_id.hex()}")
        return got.json() if got.status_code == 200 else None

    (span,) = wait_until(stored, "the trace is stored")["spans"]
    assert [a["key"] for a in span["attributes"]] == ["k0", "k1", "k2", "k3"]
    assert all(a["value"] == "x" * 8 for a in span["attributes"])
    assert span["dropped_attributes_count"] == 6
    assert any("kept 4 of 10" in w for w in span["warnings"])


def test_a_bad_limit_stops_the_server_with_its_name(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "spanscope", "serve", "--data-dir", str(tmp_path / "d")]
        + ["--port", "0", "--otlp-grpc-port", "0", "--otlp-http-port", "0", "--zipkin-port", "0"],
        env={"SPANSCOPE_MAX_ATTRIBUTES": "lots", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "SPANSCOPE_MAX_ATTRIBUTES='lots': expected a positive whole number" in proc.stderr


def test_a_bad_trace_cache_size_stops_the_server_at_start(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "spanscope", "serve", "--data-dir", str(tmp_path / "d")]
        + ["--port", "0", "--otlp-grpc-port", "0", "--otlp-http-port", "0", "--zipkin-port", "0"],
        env={"SPANSCOPE_TRACE_CACHE_SPANS": "-5", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "SPANSCOPE_TRACE_CACHE_SPANS='-5': expected a whole number of spans" in proc.stderr

"""Tail sampling, rules, retention and /metrics in a real ``spanscope serve``."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from tests.support.sampling import decided_and_stored, keep_errors_and_sample, write_config
from tests.support.server import serve_command
from tests.support.waiting import wait_until


def _request(first_trace: int, n_traces: int, error_every: int = 2) -> bytes:
    now = time.time_ns()
    spans = []
    for t in range(first_trace, first_trace + n_traces):
        trace_id = (t + 1).to_bytes(16, "big")
        for i in range(3):
            error = i == 2 and t % error_every == 0
            spans.append(
                trace_pb2.Span(
                    trace_id=trace_id, span_id=(i + 1).to_bytes(8, "big"),
                    parent_span_id=b"" if i == 0 else (1).to_bytes(8, "big"),
                    name=f"op {i}", start_time_unix_nano=now + i,
                    end_time_unix_nano=now + 1_000_000,
                    status=trace_pb2.Status(code=2 if error else 0),
                )
            )  # fmt: skip
    service = common_pb2.KeyValue(key="service.name", value=common_pb2.AnyValue(string_value="s"))
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                resource=resource_pb2.Resource(attributes=[service]),
                scope_spans=[trace_pb2.ScopeSpans(spans=spans)],
            )
        ]
    ).SerializeToString()


def _post(server, body: bytes) -> None:  # type: ignore[no-untyped-def]
    r = httpx.post(server.otlp_http_url + "/v1/traces", content=body,
                   headers={"content-type": "application/x-protobuf"}, timeout=10)  # fmt: skip
    assert r.status_code == 200, r.text


def _trace(server, t: int) -> dict | None:  # type: ignore[no-untyped-def,type-arg]
    r = httpx.get(f"{server.api_url}/api/v1/traces/{t + 1:032x}", timeout=10)
    return r.json() if r.status_code == 200 else None


def test_kill_before_decision_loses_nothing_acknowledged(start_spanscope, tmp_path: Path):  # type: ignore[no-untyped-def]
    # Nothing is decided before the kill.
    config = write_config(tmp_path, keep_errors_and_sample(0.0, decision_wait="1h"))
    data = tmp_path / "data"
    server = start_spanscope(data, env={"SPANSCOPE_CONFIG": str(config)})
    for k in range(10):
        _post(server, _request(k * 20, 20))  # 200 traces, 100 with an error
    wait_until(lambda: server.metric("spanscope_tail_sampling_buffered_traces") == 200,
               "all 200 traces buffered")  # fmt: skip
    assert _trace(server, 0) is None  # buffered, not decided: not in the store yet
    server.kill()

    write_config(tmp_path, keep_errors_and_sample(0.0, decision_wait="200ms"))
    again = start_spanscope(data, env={"SPANSCOPE_CONFIG": str(config)})
    errors = [t for t in range(200) if t % 2 == 0]
    # Replayed from the WAL into the sampler: 600 spans, all decided once the wait is over.
    wait_until(lambda: decided_and_stored(again, 600), "the replayed traces decided and stored")
    for t in errors:
        trace = _trace(again, t)
        assert trace is not None and len(trace["spans"]) == 3, t  # whole, none lost
    assert all(_trace(again, t) is None for t in range(1, 200, 2))  # rate 0: dropped
    metrics = httpx.get(again.api_url + "/metrics", timeout=10).text
    assert 'spanscope_tail_sampling_kept_traces_total{policy="errors"} 100' in metrics
    assert 'spanscope_tail_sampling_dropped_spans_total{policy="rest"} 300' in metrics


def test_bad_config_stops_serve_naming_the_key(tmp_path: Path) -> None:
    config = write_config(tmp_path, keep_errors_and_sample(5, decision_wait="5s"))
    done = subprocess.run(
        [*serve_command(tmp_path / "d"), "--config", str(config)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "tail_sampling.policies[1].rate = 5" in done.stderr


def test_rules_round_trip_native_jaeger_and_cli(start_spanscope, tmp_path: Path):  # type: ignore[no-untyped-def]
    server = start_spanscope(tmp_path / "data")
    cli = [sys.executable, "-m", "spanscope", "sampling"]
    done = subprocess.run(
        [*cli, "set", "checkout", "--default-rate", "0.05", "--rule", "0.5:name=POST /pay",
         "--rule", "0.001:route=/health*", "--url", server.api_url],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rules = httpx.get(server.api_url + "/api/v1/sampling/rules",
                      params={"service": "checkout"}).json()  # fmt: skip
    assert rules["default_rate"] == 0.05
    assert rules["rules"][0] == {"rate": 0.5, "name": "POST /pay"}
    other = httpx.get(server.api_url + "/api/v1/sampling/rules", params={"service": "x"}).json()
    assert other["default_rate"] == 1.0 and other["source"] == "*"
    jaeger = httpx.get(server.api_url + "/api/sampling", params={"service": "checkout"}).json()
    assert jaeger["probabilisticSampling"]["samplingRate"] == 0.05
    assert jaeger["operationSampling"]["perOperationStrategies"] == [
        {"operation": "POST /pay", "probabilisticSampling": {"samplingRate": 0.5}}
    ]
    bad = httpx.put(server.api_url + "/api/v1/sampling/rules", params={"service": "a"},
                    json={"default_rate": 2})  # fmt: skip
    assert bad.status_code == 400 and "default_rate" in bad.text
    listed = subprocess.run([*cli, "list", "--url", server.api_url], capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert "checkout: default rate 0.05" in listed.stdout
    assert "0.5  name=POST /pay" in listed.stdout
    retention = subprocess.run(
        [sys.executable, "-m", "spanscope", "retention", "--dry-run", "--url", server.api_url],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert retention.returncode == 0, retention.stderr
    assert "error   kept 30 d: would delete 0 traces" in retention.stdout

"""Logs and metric points survive ``kill -9`` (WAL replay), and the CLI's ``logs import``,
``logs --trace`` and ``metrics`` work against a real server."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

if TYPE_CHECKING:
    from tests.support.server import RunningServer

REQUESTS = 20
PROTOBUF = {"Content-Type": "application/x-protobuf"}


def logs_request(n: int) -> bytes:
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    rl.resource.attributes.add(key="service.name").value.string_value = "crash"
    rec = rl.scope_logs.add().log_records.add(
        time_unix_nano=time.time_ns(), severity_number=17, trace_id=(n + 1).to_bytes(16, "big")
    )
    rec.body.string_value = f"log {n}"
    return request.SerializeToString()


def metrics_request(n: int) -> bytes:
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.add(key="service.name").value.string_value = "crash"
    metric = rm.scope_metrics.add().metrics.add(name="jobs.done")
    dp = metric.gauge.data_points.add(time_unix_nano=time.time_ns(), as_int=n)
    dp.exemplars.add(time_unix_nano=time.time_ns(), as_int=n, trace_id=(n + 1).to_bytes(16, "big"))
    return request.SerializeToString()


def test_acknowledged_logs_and_metrics_survive_sigkill_exactly_once(
    start_spanscope: Callable[..., RunningServer], tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    # A long gather interval: what was acknowledged is only in the WAL when the kill lands.
    server = start_spanscope(data_dir, env={"SPANSCOPE_FLUSH_INTERVAL_S": "30"})
    for n in range(REQUESTS):
        for path, body in (("/v1/logs", logs_request(n)), ("/v1/metrics", metrics_request(n))):
            answer = httpx.post(server.otlp_http_url + path, content=body, headers=PROTOBUF)
            assert answer.status_code == 200, answer.text
    server.kill()

    restarted = start_spanscope(data_dir)
    for n in (0, REQUESTS // 2, REQUESTS - 1):
        logs = httpx.get(f"{restarted.api_url}/api/v1/traces/{n + 1:032x}/logs").json()["logs"]
        assert [x["body"] for x in logs] == [f"log {n}"]  # once, not twice
    found = httpx.get(
        f"{restarted.api_url}/api/v1/exemplars", params={"metric": "jobs.done"}
    ).json()["exemplars"]
    assert sorted(e["value"] for e in found) == [float(n) for n in range(REQUESTS)]
    # A clean restart after the replay does not replay again.
    assert restarted.stop() == 0
    again = start_spanscope(data_dir)
    logs = httpx.get(f"{again.api_url}/api/v1/logs", params={"service": "crash"}).json()["logs"]
    assert len(logs) == REQUESTS


def spanscope(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spanscope", *args], capture_output=True, text=True, timeout=60
    )


def test_cli_imports_a_json_log_file_and_finds_its_lines_by_trace(
    spanscope_server: RunningServer, tmp_path: Path
) -> None:
    trace_id, span_id = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"
    lines = [
        {"timestamp": "2026-11-25T09:00:00.100Z", "level": "INFO", "message": "start",
         "trace_id": trace_id, "span_id": span_id, "service.name": "billing", "sku": "A-1"},
        {"timestamp": "2026-11-25T09:00:00.200Z", "level": "WARNING",
         "message": "retrying payment", "trace_id": trace_id, "span_id": span_id,
         "service.name": "billing", "attempt": 2},
        "this line is not JSON",
        {"message": "no time"},
    ]  # fmt: skip
    path = tmp_path / "app.jsonl"
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines))
    done = spanscope("logs", "import", str(path), "--endpoint", spanscope_server.otlp_http_url)
    assert done.returncode == 0, done.stderr
    assert "imported 2 log records" in done.stdout
    assert "line 3: not JSON" in done.stderr and "line 4: no time field" in done.stderr

    url = ["--url", spanscope_server.api_url]
    deadline = time.monotonic() + 30
    while True:
        shown = spanscope("logs", "--trace", trace_id, "--json", *url)
        assert shown.returncode == 0, shown.stderr
        logs = json.loads(shown.stdout)["logs"]
        if len(logs) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert [x["body"] for x in logs] == ["start", "retrying payment"]
    assert logs[1]["severity_number"] == 13 and logs[1]["service"] == "billing"
    assert "attempt" in {a["key"] for a in logs[1]["attributes"]}
    table = spanscope("logs", "--trace", trace_id, "--span", span_id, *url)
    assert "retrying payment" in table.stdout and "WARNING" in table.stdout


def test_cli_metrics_for_an_unknown_metric_says_so(spanscope_server: RunningServer) -> None:
    done = spanscope("metrics", "no.such.metric", "--url", spanscope_server.api_url)
    assert done.returncode == 1
    assert "no metric 'no.such.metric'" in done.stderr

"""Trace-affine collectors: 3 ``spanscope serve --peers`` on loopback in front of one storage
node, fed by the OpenTelemetry SDK's own OTLP exporters with each trace's spans sent to
different collectors. Every trace must be decided once, by one collector, with all its
spans, and a collector killed with spans for it in flight loses nothing acknowledged."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.support.server import RunningServer, launch
from tests.support.waiting import wait_until

SAMPLING = """
[tail_sampling]
decision_wait = "1s"
[[tail_sampling.policies]]
name = "errors"
type = "status_code"
status_codes = ["ERROR"]
[[tail_sampling.policies]]
name = "everything"
type = "always_sample"
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_collector(data_dir: Path, port: int, peers: str, storage: str, config: Path,
                     n: int) -> RunningServer:  # fmt: skip
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.parent / f"collector-{port}-{n}.log"
    command = [
        sys.executable, "-m", "spanscope", "serve", "--data-dir", str(data_dir),
        "--host", "127.0.0.1", "--port", "0", "--otlp-grpc-port", "0",
        "--otlp-http-port", str(port), "--zipkin-port", "0", "--config", str(config),
        "--peers", peers, "--peer-self", f"127.0.0.1:{port}", "--export-to", storage,
    ]  # fmt: skip
    (data_dir / "ports.json").unlink(missing_ok=True)
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT,
                                   env=os.environ.copy())  # fmt: skip
    server = RunningServer(data_dir, process, {}, log_path)

    def ready() -> bool | None:
        if process.poll() is not None:
            raise AssertionError(f"collector exited {process.returncode}:\n{server.log()}")
        ports = data_dir / "ports.json"
        if not ports.exists():
            return None
        server.ports = json.loads(ports.read_text())
        try:
            return httpx.get(server.api_url + "/healthz", timeout=2).status_code == 200 or None
        except httpx.HTTPError:
            return None

    wait_until(ready, f"collector on {port} ready", timeout_s=60)
    return server


class Cluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.storage = launch(root / "storage", log_name="storage")
        self.config = root / "sampling.toml"
        self.config.write_text(SAMPLING)
        self.ports = [_free_port() for _ in range(3)]
        self.peers = ",".join(f"127.0.0.1:{p}" for p in self.ports)
        self.collectors = [self.start(i) for i in range(3)]
        self.started = 0

    def start(self, i: int, n: int = 0) -> RunningServer:
        return _start_collector(self.root / f"c{i}", self.ports[i], self.peers,
                                self.storage.otlp_http_url, self.config, n)  # fmt: skip

    def stop(self) -> None:
        for c in self.collectors:
            c.stop()
        self.storage.stop()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path)
    yield c
    c.stop()


def _providers(cluster: Cluster) -> list[TracerProvider]:
    """One SDK per collector (the first over OTLP/gRPC, the others OTLP/HTTP protobuf);
    SimpleSpanProcessor exports each span as it ends and raises nothing on failure."""
    out = []
    for i, collector in enumerate(cluster.collectors):
        exporter = (
            GrpcExporter(endpoint=collector.otlp_grpc_endpoint, insecure=True)
            if i == 0
            else HttpExporter(endpoint=collector.otlp_http_url + "/v1/traces")
        )
        provider = TracerProvider(resource=Resource.create({"service.name": f"svc{i}"}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        out.append(provider)
    return out


def _send_traces(providers: list[TracerProvider], count: int, first: int = 0) -> dict[str, int]:
    """``count`` traces of 3 spans, root at collector (k % 3), children at the other two;
    every 5th has an error. Returns {trace id hex: span count}."""
    traces: dict[str, int] = {}
    for k in range(first, first + count):
        tracers = [p.get_tracer("peers-test") for p in providers]
        a, b, c = (tracers[(k + j) % 3] for j in range(3))
        with a.start_as_current_span(f"root-{k}") as root:
            ctx = trace.set_span_in_context(root)
            with b.start_as_current_span("child-b", context=ctx) as child:
                if k % 5 == 0:
                    child.set_status(trace.Status(trace.StatusCode.ERROR, "boom"))
            with c.start_as_current_span("child-c", context=ctx):
                pass
        traces[format(root.get_span_context().trace_id, "032x")] = 3
    for p in providers:
        p.force_flush()
    return traces


def _stored(storage: RunningServer, trace_id: str) -> int:
    answer = httpx.get(f"{storage.api_url}/api/v1/traces/{trace_id}", timeout=10)
    return len(answer.json()["spans"]) if answer.status_code == 200 else 0


def _wait_complete(storage: RunningServer, traces: dict[str, int], timeout_s: float = 60) -> None:
    def complete() -> bool | None:
        missing = {t: n for t, n in traces.items() if _stored(storage, t) != n}
        return None if missing else True

    wait_until(complete, f"{len(traces)} traces complete on the storage node", timeout_s=timeout_s)


def _decisions(storage: RunningServer) -> dict[str, tuple[int, str]]:
    """After the storage node stopped: trace id -> (decision rows, policy)."""
    con = duckdb.connect(str(storage.data_dir / "spanscope.duckdb"), read_only=True)
    try:
        rows = con.execute(
            "SELECT trace_id, count(*), any_value(policy) FROM trace_sampling GROUP BY 1"
        ).fetchall()
    finally:
        con.close()
    return {format(int(t), "032x"): (int(n), str(p)) for t, n, p in rows}


def _metric(server: RunningServer, name: str) -> float:
    try:
        return server.metric(name)
    except AssertionError:
        return 0.0


def test_every_trace_is_decided_once_by_one_collector_with_all_its_spans(
    cluster: Cluster,
) -> None:
    providers = _providers(cluster)
    traces = _send_traces(providers, 30)
    _wait_complete(cluster.storage, traces)
    for t in traces:
        assert _stored(cluster.storage, t) == 3
    kept = sum(_metric(c, "spanscope_tail_sampling_kept_traces_total") for c in cluster.collectors)
    assert kept == len(traces)  # decided once each, over all three collectors
    spans_in = sum(_metric(c, "spanscope_tail_sampling_received_spans_total")
                   for c in cluster.collectors)  # fmt: skip
    assert spans_in == 3 * len(traces)  # each span sampled by exactly one collector
    forwarded = sum(_metric(c, "spanscope_forward_spans_total") for c in cluster.collectors)
    assert forwarded >= len(traces)  # two of three spans land at a non-owner, on average
    cluster.stop()
    decisions = _decisions(cluster.storage)
    assert set(decisions) == set(traces)
    assert {n for n, _ in decisions.values()} == {1}
    errors = [t for i, t in enumerate(traces) if i % 5 == 0]
    assert all(decisions[t][1] == "errors" for t in errors)


def test_a_collector_killed_with_spans_in_flight_loses_nothing_acknowledged(
    cluster: Cluster,
) -> None:
    providers = _providers(cluster)
    victim = cluster.collectors[1]
    # Acknowledged by the victim and held in its tail sampler's 1 s decision wait ...
    traces = _send_traces(providers, 20)
    victim.kill()
    # ... and more while it is down: spans it owns wait in the others' WALs.
    down = [providers[0], providers[2], providers[0]]
    traces.update(_send_traces(down, 20, first=100))
    others = [cluster.collectors[0], cluster.collectors[2]]

    def failing() -> bool | None:
        return sum(_metric(c, "spanscope_forward_failures_total") for c in others) > 0 or None

    wait_until(failing, "forwarding to the killed collector fails", timeout_s=30)
    queued = sum(_metric(c, "spanscope_forward_queue_spans") for c in others)
    assert queued > 0
    cluster.collectors[1] = cluster.start(1, n=1)  # same port and data dir: WAL replay
    _wait_complete(cluster.storage, traces, timeout_s=90)
    wait_until(
        lambda: sum(_metric(c, "spanscope_forward_queue_spans") for c in others) == 0 or None,
        "forward queues empty",
        timeout_s=30,
    )

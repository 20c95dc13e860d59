"""kill -9 in the middle of a stream of exports loses nothing that was acknowledged.

Clients stream OTLP/HTTP protobuf requests (one trace of ``SPANS_PER_REQUEST`` spans each)
and record which were answered 200. The server is SIGKILLed while requests are in flight,
restarted on the same data dir, and every acknowledged trace must be there with each span
exactly once; a trace whose request was never acknowledged is either absent or whole.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

if TYPE_CHECKING:
    from tests.support.server import RunningServer

SPANS_PER_REQUEST = 40
CLIENTS = 4
ACKS_BEFORE_KILL = 60


def export_request(n: int) -> bytes:
    trace_id = (n + 1).to_bytes(16, "big")
    start = time.time_ns()
    spans = [
        trace_pb2.Span(
            trace_id=trace_id,
            span_id=(i + 1).to_bytes(8, "big"),
            parent_span_id=b"" if i == 0 else (1).to_bytes(8, "big"),
            name=f"work {i}",
            start_time_unix_nano=start + i,
            end_time_unix_nano=start + 1_000_000,
        )
        for i in range(SPANS_PER_REQUEST)
    ]
    service = common_pb2.KeyValue(
        key="service.name", value=common_pb2.AnyValue(string_value="crash")
    )
    request = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                resource=resource_pb2.Resource(attributes=[service]),
                scope_spans=[trace_pb2.ScopeSpans(spans=spans)],
            )
        ]
    )
    return request.SerializeToString()


def stream_until_killed(server: RunningServer) -> tuple[set[int], set[int]]:
    """Run CLIENTS senders; SIGKILL the server after ACKS_BEFORE_KILL acks. Returns the
    (acknowledged, not acknowledged) request numbers."""
    acked: set[int] = set()
    unacked: set[int] = set()
    counter = itertools.count()
    lock = threading.Lock()
    killed = threading.Event()

    def client() -> None:
        with httpx.Client(timeout=10) as http:
            while not killed.is_set():
                n = next(counter)
                try:
                    answer = http.post(
                        server.otlp_http_url + "/v1/traces",
                        content=export_request(n),
                        headers={"Content-Type": "application/x-protobuf"},
                    )
                    ok = answer.status_code == 200
                except httpx.HTTPError:
                    ok = False
                with lock:
                    (acked if ok else unacked).add(n)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 120
    while len(acked) < ACKS_BEFORE_KILL and time.monotonic() < deadline:
        time.sleep(0.005)
    server.kill()  # mid-stream: requests are in flight, batches wait for the writer
    killed.set()
    for t in threads:
        t.join(30)
    return acked, unacked


def span_count(server: RunningServer, n: int) -> int:
    answer = httpx.get(f"{server.api_url}/api/v1/traces/{(n + 1):032x}", timeout=30)
    if answer.status_code == 404:
        return 0
    assert answer.status_code == 200, answer.text
    spans = answer.json()["spans"]
    assert len({s["span_id"] for s in spans}) == len(spans), "a span is stored twice"
    return len(spans)


def test_acknowledged_spans_survive_sigkill_exactly_once(
    start_spanscope: Callable[..., RunningServer], tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    # A long gather interval keeps acknowledged spans in the WAL only when the kill lands.
    server = start_spanscope(data_dir, env={"SPANSCOPE_FLUSH_INTERVAL_S": "1"})
    acked, unacked = stream_until_killed(server)
    assert len(acked) >= ACKS_BEFORE_KILL, server.log()

    restarted = start_spanscope(data_dir)
    missing = [n for n in sorted(acked) if span_count(restarted, n) != SPANS_PER_REQUEST]
    assert not missing, f"acknowledged requests not stored whole: {missing[:10]}"
    partial = [n for n in sorted(unacked) if span_count(restarted, n) not in (0, SPANS_PER_REQUEST)]
    assert not partial, f"unacknowledged requests stored in part: {partial[:10]}"

    # And a clean stop after the replay keeps it all, with nothing replayed twice.
    assert restarted.stop() == 0
    again = start_spanscope(data_dir)
    sample = sorted(acked)[:: max(1, len(acked) // 10)]
    assert all(span_count(again, n) == SPANS_PER_REQUEST for n in sample)


def test_sigterm_drains_everything_acknowledged(
    start_spanscope: Callable[..., RunningServer], tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    server = start_spanscope(data_dir, env={"SPANSCOPE_FLUSH_INTERVAL_S": "5"})
    for n in range(5):
        answer = httpx.post(
            server.otlp_http_url + "/v1/traces",
            content=export_request(1000 + n),
            headers={"Content-Type": "application/x-protobuf"},
        )
        assert answer.status_code == 200
    assert server.stop() == 0
    assert not (data_dir / "ports.json").exists()
    # The WAL is not needed to find them: remove it, and they are still stored.
    for segment in (data_dir / "wal").glob("*.wal"):
        segment.unlink()
    again = start_spanscope(data_dir)
    assert [span_count(again, 1000 + n) for n in range(5)] == [SPANS_PER_REQUEST] * 5

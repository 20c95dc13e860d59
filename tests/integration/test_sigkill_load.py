"""Repeated kill -9 under load: every acknowledged span is stored, and stored exactly once.

Several clients stream spans at the real server at once — threads posting OTLP/HTTP
protobuf with httpx, and one OpenTelemetry SDK gRPC exporter — while the test SIGKILLs
the server (by its PID) at moments drawn from a seeded ``random.Random``, restarts it on
the same data dir (WAL replay), and does that again, ``KILLS`` times; after two of those
kills the next server is itself killed during its start, before, during or after its WAL
replay (a seeded delay), and started once more. Each span has its own (trace id, span id);
a client records a span as acknowledged only when its request was answered 200 / gRPC OK,
and retries a request that failed, was refused or got no answer — with the same bytes, so
a retried request whose first attempt reached the WAL before the kill is exactly the
duplicate the store must not keep twice.

After a clean stop the test opens the DuckDB file itself (the server has exited, so it
holds no lock) and counts rows per (trace id, span id): every acknowledged span is there
once, no span is there twice, and nothing is there that no client sent. Spans of requests
that never got an answer may or may not be stored.
"""

from __future__ import annotations

import random
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import httpx
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import SpanContext, TraceFlags

from spanscope.server import DB_FILE
from tests.support.server import serve_command

if TYPE_CHECKING:
    from tests.support.server import RunningServer

SEED = 20261203
KILLS = 4
HTTP_CLIENTS = 3
SPANS_PER_REQUEST = 50
SDK_SPANS_PER_EXPORT = 25
ACKED_SPANS_PER_LIFE = (3_000, 9_000)
"""Between two kills: acknowledged spans drawn from this range (a seeded draw), so each
kill lands in a different place of the stream, wherever the server's batches are."""
STARTUP_KILLS = 2
STARTUP_KILL_AFTER_S = (0.3, 3.0)
"""When a restart is killed during its start: seconds after its launch (a seeded draw)."""
PHASE_DEADLINE_S = 60.0

SpanKey = tuple[int, int]  # (trace id, span id), as DuckDB stores them


@dataclass
class Ledger:
    """What the clients sent and what they were told was stored (all threads write here)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: set[SpanKey] = field(default_factory=set)
    acked: set[SpanKey] = field(default_factory=set)
    acked_in_life: int = 0
    failures: int = 0
    unexpected: list[str] = field(default_factory=list)

    def attempt(self, keys: list[SpanKey]) -> None:
        with self.lock:
            self.sent.update(keys)

    def ack(self, keys: list[SpanKey]) -> None:
        with self.lock:
            self.acked.update(keys)
            self.acked_in_life += len(keys)

    def fail(self, unexpected: str | None = None) -> None:
        with self.lock:
            self.failures += 1
            if unexpected is not None:
                self.unexpected.append(unexpected)


class Target:
    """The server the clients talk to; replaced on every restart (its ports change)."""

    def __init__(self, server: RunningServer) -> None:
        self._lock = threading.Lock()
        self._server = server
        self.generation = 0

    def set(self, server: RunningServer) -> None:
        with self._lock:
            self._server = server
            self.generation += 1

    def get(self) -> tuple[int, RunningServer]:
        with self._lock:
            return self.generation, self._server


def trace_id_of(client: int, n: int) -> int:
    """Unique per request: the client's number in the top byte, the request's below."""
    return (client + 1) << 120 | (n + 1) << 32 | 0xABCD


def otlp_request(trace_id: int) -> bytes:
    start = time.time_ns()
    spans = [
        trace_pb2.Span(
            trace_id=trace_id.to_bytes(16, "big"),
            span_id=(i + 1).to_bytes(8, "big"),
            parent_span_id=b"" if i == 0 else (1).to_bytes(8, "big"),
            name=f"step {i % 7}",
            kind=trace_pb2.Span.SPAN_KIND_INTERNAL,
            start_time_unix_nano=start + i * 1_000,
            end_time_unix_nano=start + 2_000_000,
            attributes=[
                common_pb2.KeyValue(key="i", value=common_pb2.AnyValue(int_value=i)),
            ],
        )
        for i in range(SPANS_PER_REQUEST)
    ]
    service = common_pb2.KeyValue(
        key="service.name", value=common_pb2.AnyValue(string_value="sigkill-http")
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


def http_client(client: int, target: Target, ledger: Ledger, stop: threading.Event) -> None:
    """Post requests one after another; retry each (same bytes) until it is acknowledged."""
    n = 0
    with httpx.Client(timeout=10) as http:
        while not stop.is_set():
            trace_id = trace_id_of(client, n)
            body = otlp_request(trace_id)
            keys = [(trace_id, i + 1) for i in range(SPANS_PER_REQUEST)]
            while not stop.is_set():
                _, server = target.get()
                ledger.attempt(keys)
                try:
                    answer = http.post(
                        server.otlp_http_url + "/v1/traces",
                        content=body,
                        headers={"Content-Type": "application/x-protobuf"},
                    )
                except httpx.HTTPError:  # killed mid-request, or not restarted yet
                    ledger.fail()
                    time.sleep(0.05)
                    continue
                if answer.status_code == 200:
                    ledger.ack(keys)
                    break
                # 429/503 say "retry later"; anything else is a bug the test reports.
                retry = answer.status_code in (429, 503)
                ledger.fail(None if retry else f"{answer.status_code}: {answer.text[:200]}")
                time.sleep(0.1)
            n += 1


def sdk_spans(trace_id: int) -> list[ReadableSpan]:
    resource = Resource.create({"service.name": "sigkill-sdk"})
    start = time.time_ns()
    return [
        ReadableSpan(
            name=f"sdk {i % 5}",
            context=SpanContext(trace_id, i + 1, is_remote=False, trace_flags=TraceFlags(1)),
            parent=None,
            resource=resource,
            start_time=start + i * 1_000,
            end_time=start + 1_000_000,
        )
        for i in range(SDK_SPANS_PER_EXPORT)
    ]


def sdk_client(client: int, target: Target, ledger: Ledger, stop: threading.Event) -> None:
    """The OpenTelemetry SDK's own OTLP/gRPC exporter; SUCCESS is its acknowledgement.
    A new exporter per server life: the old one's channel points at a dead port."""
    n = 0
    exporter: OTLPSpanExporter | None = None
    generation = -1
    try:
        while not stop.is_set():
            trace_id = trace_id_of(client, n)
            spans = sdk_spans(trace_id)
            keys = [(trace_id, i + 1) for i in range(SDK_SPANS_PER_EXPORT)]
            while not stop.is_set():
                current, server = target.get()
                if exporter is None or current != generation:
                    if exporter is not None:
                        exporter.shutdown()
                    exporter = OTLPSpanExporter(
                        endpoint=server.otlp_grpc_endpoint, insecure=True, timeout=3
                    )
                    generation = current
                ledger.attempt(keys)
                if exporter.export(spans) is SpanExportResult.SUCCESS:
                    ledger.ack(keys)
                    break
                ledger.fail()
                time.sleep(0.05)
            n += 1
    finally:
        if exporter is not None:
            exporter.shutdown()


def kill_during_startup(data_dir: Path, after_s: float) -> None:
    """Launch ``spanscope serve`` on ``data_dir`` and SIGKILL it ``after_s`` seconds later,
    ready or not (the fixture's launcher would wait until it is ready)."""
    log_path = data_dir.parent / f"startup-kill-{len(list(data_dir.parent.glob('startup-*')))}.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            serve_command(data_dir), stdout=log_file, stderr=subprocess.STDOUT
        )
    try:
        process.wait(after_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(30)
    else:
        raise AssertionError(f"serve exited by itself ({process.returncode}):\n"
                             f"{log_path.read_text(errors='replace')[-3000:]}")  # fmt: skip


def wait_for_acks(ledger: Ledger, count: int, server: RunningServer) -> None:
    deadline = time.monotonic() + PHASE_DEADLINE_S
    while time.monotonic() < deadline:
        with ledger.lock:
            if ledger.acked_in_life >= count:
                return
        time.sleep(0.002)
    raise AssertionError(f"fewer than {count} spans acknowledged in {PHASE_DEADLINE_S} s:\n"
                         f"{server.log()[-3000:]}")  # fmt: skip


def stored_copies(db_file: Path) -> dict[SpanKey, int]:
    db = duckdb.connect(str(db_file), read_only=True)
    try:
        rows = db.execute(
            "SELECT trace_id, span_id, count(*) FROM spans GROUP BY trace_id, span_id"
        ).fetchall()
    finally:
        db.close()
    return {(int(t), int(s)): int(n) for t, s, n in rows}


def test_acked_equals_stored_exactly_once_across_repeated_sigkills(
    start_spanscope: Callable[..., RunningServer], tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    data_dir = tmp_path / "data"
    ledger = Ledger()
    stop = threading.Event()
    target = Target(start_spanscope(data_dir))
    clients = [
        threading.Thread(target=http_client, args=(c, target, ledger, stop), daemon=True)
        for c in range(HTTP_CLIENTS)
    ]
    clients.append(
        threading.Thread(target=sdk_client, args=(HTTP_CLIENTS, target, ledger, stop), daemon=True)
    )
    for t in clients:
        t.start()
    startup_kills = set(rng.sample(range(KILLS), STARTUP_KILLS))
    try:
        for kill in range(KILLS):
            _, server = target.get()
            wait_for_acks(ledger, rng.randint(*ACKED_SPANS_PER_LIFE), server)
            time.sleep(rng.uniform(0, 0.05))  # not always right after an ack
            server.kill()
            with ledger.lock:
                ledger.acked_in_life = 0
            if kill in startup_kills:
                kill_during_startup(data_dir, rng.uniform(*STARTUP_KILL_AFTER_S))
            # The clients keep trying (connection refused) while the server is down.
            target.set(start_spanscope(data_dir))
        _, server = target.get()
        wait_for_acks(ledger, rng.randint(*ACKED_SPANS_PER_LIFE), server)
    finally:
        stop.set()
        for t in clients:
            t.join(30)
    assert not any(t.is_alive() for t in clients), "a client did not stop"
    assert not ledger.unexpected, f"answers other than 200/429/503: {ledger.unexpected[:5]}"
    assert server.stop() == 0, server.log()[-3000:]

    copies = stored_copies(data_dir / DB_FILE)
    missing = ledger.acked - copies.keys()
    twice = {key: n for key, n in copies.items() if n > 1}
    unknown = copies.keys() - ledger.sent
    assert not missing, f"{len(missing)} acknowledged spans not stored, e.g. {sorted(missing)[:5]}"
    assert not twice, f"{len(twice)} spans stored more than once, e.g. {sorted(twice.items())[:5]}"
    assert not unknown, f"{len(unknown)} stored spans no client sent, e.g. {sorted(unknown)[:5]}"
    # The kills landed under load: clients saw failed requests and retried them.
    assert ledger.failures > 0
    assert len(ledger.acked) >= KILLS * ACKED_SPANS_PER_LIFE[0]

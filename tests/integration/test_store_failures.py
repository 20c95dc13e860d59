"""The real server when its store fails: a WAL record the store refuses does not stop the
start or the writer (it is quarantined, or refused at decode once the decoders check
ranges), readiness says 503 while the store's disk is full and 200 when space returns,
SIGTERM with a failing store ends within ``--shutdown-timeout`` keeping the WAL, and every
acknowledged span is stored exactly once in the end.

The full-disk tests mount a 16 MB tmpfs as the data dir (root only; skipped otherwise),
with ``<data-dir>/wal`` a symlink to the ordinary disk so that only the store runs out of
space (the WAL on a full disk is tests/integration's durability tests' subject).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from spanscope.ingest.wal import WriteAheadLog

if TYPE_CHECKING:
    from tests.support.server import RunningServer

WAIT_S = 60.0
"""Bound for every condition waited on (never a timing assertion)."""

SPANS_PER_REQUEST = 100


def export_request(trace: int, spans: int = 1, end_ns: int | None = None, pad: int = 0) -> bytes:
    """One trace (id ``trace``) of ``spans`` spans; ``pad`` random bytes of attribute
    per span make the store's file grow fast."""
    rng = random.Random(trace)
    start = time.time_ns()
    request = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                resource=resource_pb2.Resource(
                    attributes=[
                        common_pb2.KeyValue(
                            key="service.name", value=common_pb2.AnyValue(string_value="fail")
                        )
                    ]
                ),
                scope_spans=[
                    trace_pb2.ScopeSpans(
                        spans=[
                            trace_pb2.Span(
                                trace_id=trace.to_bytes(16, "big"),
                                span_id=(i + 1).to_bytes(8, "big"),
                                name=f"work {i}",
                                start_time_unix_nano=start + i,
                                end_time_unix_nano=start + 1_000_000 if end_ns is None else end_ns,
                                attributes=[
                                    common_pb2.KeyValue(
                                        key="pad",
                                        value=common_pb2.AnyValue(
                                            string_value=rng.randbytes(pad).hex()
                                        ),
                                    )
                                ]
                                if pad
                                else [],
                            )
                            for i in range(spans)
                        ]
                    )
                ],
            )
        ]
    )
    return request.SerializeToString()


def span_ids(server: RunningServer, trace: int) -> list[str]:
    answer = httpx.get(f"{server.api_url}/api/v1/traces/{trace:032x}", timeout=30)
    if answer.status_code == 404:
        return []
    assert answer.status_code == 200, answer.text
    return [s["span_id"] for s in answer.json()["spans"]]


def wait_for(condition: Callable[[], bool], what: str, server: RunningServer) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT_S} s: {what}\n{server.log()[-4000:]}")
        time.sleep(0.05)


def post(server: RunningServer, body: bytes) -> int:
    try:
        return httpx.post(
            server.otlp_http_url + "/v1/traces",
            content=body,
            headers={"Content-Type": "application/x-protobuf"},
            timeout=30,
        ).status_code
    except httpx.HTTPError:
        return 0


def metric(server: RunningServer, name: str) -> float:
    text = httpx.get(server.api_url + "/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"/metrics has no {name}:\n{text}")


def test_a_wal_record_the_store_refuses_does_not_stop_the_start(
    start_spanscope: Callable[..., RunningServer], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    # Acknowledged before a crash: good, poison (end 2**63 ns: start + duration overflows
    # the store's BIGINT unless the decoder refuses or clamps it), good.
    wal = WriteAheadLog(data / "wal")
    for trace, end in ((1, None), (2, 2**64 - 1), (3, None)):
        wal.append("otlp-proto", export_request(trace, spans=3, end_ns=end))[1].result()
    wal.close()

    server = start_spanscope(data)  # on main: exits 1, replay hits the record forever
    assert httpx.get(server.api_url + "/readyz").json() == {"status": "ok", "reasons": []}
    assert len(span_ids(server, 1)) == 3
    assert len(span_ids(server, 3)) == 3
    quarantined = sorted((data / "quarantine").glob("*.jsonl"))
    if quarantined:  # the store refused it (today's decoders accept the value)
        (entry,) = [json.loads(line) for p in quarantined for line in p.read_text().splitlines()]
        assert entry["wal_position"] == 2
        assert entry["spans"] == 3
        assert metric(server, "spanscope_quarantined_spans_total") == 3
        assert span_ids(server, 2) == []
    # The writer goes on: a span sent now is queryable.
    assert post(server, export_request(4, spans=2)) == 200
    wait_for(lambda: len(span_ids(server, 4)) == 2, "the next span is stored", server)
    assert server.stop() == 0
    again = start_spanscope(data)
    assert len(span_ids(again, 4)) == 2
    assert len(span_ids(again, 1)) == 3


def test_a_poison_span_over_the_wire_does_not_stall_the_writer(
    start_spanscope: Callable[..., RunningServer], tmp_path: Path
) -> None:
    server = start_spanscope(tmp_path / "data")
    # Either refused at decode (4xx / partial success) or quarantined at store: never a
    # stall, and never a 5xx.
    assert post(server, export_request(7, spans=2, end_ns=2**63)) < 500
    assert post(server, export_request(8, spans=2)) == 200
    wait_for(lambda: len(span_ids(server, 8)) == 2, "the good span after it is stored", server)
    # Ready again once the writer settled the write (the good span is stored a moment
    # before the quarantine file and the checkpoint).
    wait_for(
        lambda: httpx.get(server.api_url + "/readyz").status_code == 200, "ready again", server
    )
    # Counted either way: refused by the receiver, or by the store and quarantined.
    wait_for(
        lambda: (
            metric(server, "spanscope_rejected_spans_total")
            + metric(server, "spanscope_quarantined_spans_total")
            == 2
        ),
        "the two poison spans are counted",
        server,
    )
    assert metric(server, "spanscope_wal_appends_total") >= 1
    # DuckDB holds the stored spans' blocks: the engine memory a soak reads beside RSS.
    assert metric(server, "spanscope_store_memory_bytes") > 0
    assert server.stop() == 0


# --- the store's disk fills up ---------------------------------------------------------


@pytest.fixture
def full_disk_dir(tmp_path: Path) -> Iterator[Path]:
    """A data dir on a 16 MB tmpfs whose ``wal`` is a symlink to the ordinary disk."""
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root")
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.strip()}")
    (tmp_path / "wal").mkdir()
    (mount_point / "wal").symlink_to(tmp_path / "wal")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(data: Path, leave_bytes: int) -> Path:
    """Take all but ``leave_bytes`` of the file system with one file; return its path."""
    free = os.statvfs(data).f_bavail * os.statvfs(data).f_frsize
    filler = data / "filler"
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, free - leave_bytes))
    return filler


def send_until_store_fails(server: RunningServer) -> set[int]:
    """Send traces until /readyz blames the store; return the acknowledged trace ids."""
    acked: set[int] = set()
    for trace in range(1000, 1600):  # bounded: the disk is full well before
        if post(server, export_request(trace, SPANS_PER_REQUEST, pad=200)) == 200:
            acked.add(trace)
        ready = httpx.get(server.api_url + "/readyz", timeout=10)
        if ready.status_code == 503 and any("store" in r for r in ready.json()["reasons"]):
            return acked
    raise AssertionError(f"the store never failed:\n{server.log()[-4000:]}")


def stored_exactly_once(data: Path) -> dict[int, int]:
    """{trace id: span count} read from the DuckDB file, asserting no span is stored twice."""
    db = duckdb.connect(str(data / "spanscope.duckdb"), read_only=True)
    try:
        rows = db.execute(
            "SELECT trace_id, count(*), count(DISTINCT span_id) FROM spans GROUP BY 1"
        ).fetchall()
    finally:
        db.close()
    for trace, n, distinct in rows:
        assert n == distinct, f"trace {trace:x}: a span is stored twice"
    return {int(trace): int(n) for trace, n, _ in rows}


def test_readiness_follows_the_store_s_disk_and_nothing_acknowledged_is_lost(
    start_spanscope: Callable[..., RunningServer], full_disk_dir: Path
) -> None:
    data = full_disk_dir
    server = start_spanscope(data)
    filler = fill(data, leave_bytes=2 * 1024 * 1024)
    acked = send_until_store_fails(server)
    assert acked, "nothing was acknowledged before the disk filled"
    ready = httpx.get(server.api_url + "/readyz").json()
    assert ready["status"] == "unavailable"
    assert httpx.get(server.api_url + "/healthz").status_code == 200  # alive: keep it
    assert metric(server, "spanscope_store_write_failures_total") >= 1
    assert metric(server, "spanscope_pipeline_pending_spans") > 0
    assert metric(server, "spanscope_quarantined_spans_total") == 0  # not poison

    filler.unlink()  # space returns
    wait_for(
        lambda: httpx.get(server.api_url + "/readyz").status_code == 200,
        "/readyz is 200 again once the store can write",
        server,
    )
    wait_for(lambda: metric(server, "spanscope_pipeline_pending_spans") == 0, "drained", server)
    late = 5000
    assert post(server, export_request(late, SPANS_PER_REQUEST)) == 200
    acked.add(late)
    assert server.stop() == 0
    assert not list((data / "quarantine").glob("*"))

    counts = stored_exactly_once(data)
    missing = [t for t in acked if counts.get(t) != SPANS_PER_REQUEST]
    assert not missing, f"acknowledged traces not stored whole: {missing[:10]}"


def test_sigterm_with_a_failing_store_ends_within_the_shutdown_timeout(
    start_spanscope: Callable[..., RunningServer], full_disk_dir: Path
) -> None:
    data = full_disk_dir
    server = start_spanscope(data, env={"SPANSCOPE_SHUTDOWN_TIMEOUT_S": "5"})
    filler = fill(data, leave_bytes=2 * 1024 * 1024)
    acked = send_until_store_fails(server)

    server.stopped = True  # stop it here, by hand, to see whether it exits by itself
    server.process.send_signal(signal.SIGTERM)
    try:
        code = server.process.wait(WAIT_S)
    except subprocess.TimeoutExpired:
        server.process.kill()
        raise AssertionError(f"SIGTERM did not end the server:\n{server.log()[-4000:]}") from None
    assert code == 3, server.log()[-4000:]  # acknowledged spans left in the WAL for replay
    assert "stay in the write-ahead log" in server.log()
    assert any((data / "wal").iterdir()), "the WAL was deleted with spans not stored"

    filler.unlink()
    again = start_spanscope(data)
    for trace in sorted(acked)[:: max(1, len(acked) // 10)]:
        assert len(span_ids(again, trace)) == SPANS_PER_REQUEST, trace
    assert again.stop() == 0
    counts = stored_exactly_once(data)
    missing = [t for t in acked if counts.get(t) != SPANS_PER_REQUEST]
    assert not missing, f"acknowledged traces not stored whole: {missing[:10]}"


STUCK_SERVER = """
import sys, threading
import spanscope.server as server
from spanscope.cli import app
from spanscope.store.duckdb import DuckDBStore

class StuckStore(DuckDBStore):
    '''A store whose first write of spans never returns (a hung disk, say).'''
    def write_tables(self, tables, wal_position=None, *, signals=()):
        if any(len(t) for t in tables):
            threading.Event().wait()
        return super().write_tables(tables, wal_position, signals=signals)

server.open_store = lambda data_dir: StuckStore(data_dir / server.DB_FILE)
app(sys.argv[1:], prog_name="spanscope")
"""


def test_sigterm_with_a_store_stuck_in_a_write_ends_within_the_shutdown_timeout(
    start_spanscope: Callable[..., RunningServer], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    log_path = tmp_path / "stuck.log"
    command = [
        sys.executable, "-c", STUCK_SERVER, "serve", "--data-dir", str(data),
        "--port", "0", "--otlp-grpc-port", "0", "--otlp-http-port", "0", "--zipkin-port", "0",
        "--shutdown-timeout", "3",
    ]  # fmt: skip
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + WAIT_S
        while not (data / "ports.json").exists():
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
        ports = json.loads((data / "ports.json").read_text())
        stuck = RunningServerView(ports)
        assert post(stuck, export_request(11, spans=5)) == 200  # acked: in the WAL
        while metric(stuck, "spanscope_pipeline_pending_spans") == 0:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        code = process.wait(WAIT_S)  # raises if SIGTERM did not end it
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(WAIT_S)
    text = log_path.read_text()
    assert code == 3, text
    assert "5 spans not stored" in text, text

    again = start_spanscope(data)  # a working store: replay stores the span
    assert len(span_ids(again, 11)) == 5
    assert again.stop() == 0


class RunningServerView:
    """Just the URLs of a server started by hand (for the helpers above)."""

    def __init__(self, ports: dict[str, int]) -> None:
        self.api_url = f"http://127.0.0.1:{ports['api']}"
        self.otlp_http_url = f"http://127.0.0.1:{ports['otlp_http']}"

    def log(self) -> str:
        return ""

"""A disk that really fills up: nothing refused is acknowledged, nothing acknowledged is lost.

The write-ahead log runs on a small tmpfs or ext4 filesystem (``disks.py``; without root
the same steps run against an injected ENOSPC). A filler file takes the space; appends are
refused with WalFullError — never acknowledged, and no torn bytes stay in the segments —;
the filler goes, appends succeed again, and after a reopen every acknowledged record is
read back exactly once, in order.

Then the same with the real server, its data dir (WAL and DuckDB file) on a 32 MB tmpfs:
OTLP/HTTP requests get 200 until the disk fills, then 503 + Retry-After naming the disk's
error; once space returns they get 200 again; the server is then SIGKILLed, and after a restart
(WAL replay) every acknowledged request is stored whole and no refused one at all.
"""

from __future__ import annotations

import random
import shutil
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import httpx
import pytest
from disks import InjectedDisk, RealDisk, mount, unmount
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from test_crash import SPANS_PER_REQUEST, export_request, span_count

from spanscope.ingest.wal import WalFullError, WriteAheadLog

if TYPE_CHECKING:
    from tests.support.server import RunningServer

HEADER = 17


@pytest.fixture(params=["tmpfs", "ext4"])
def small_disk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RealDisk | InjectedDisk]:
    root = tmp_path / "disk"
    root.mkdir()
    why_not = mount(root, request.param)
    if why_not is not None:
        warnings.warn(
            f"cannot mount a small {request.param} ({why_not}); "
            "running the same steps with an injected ENOSPC instead",
            stacklevel=1,
        )
        yield InjectedDisk(root, request.param)
        return
    try:
        yield RealDisk(root, request.param)
    finally:
        unmount(root)


def test_a_full_disk_refuses_appends_and_loses_nothing_acknowledged(
    small_disk: RealDisk | InjectedDisk,
) -> None:
    rng = random.Random(10)
    directory = small_disk.root / "wal"
    wal = WriteAheadLog(directory, segment_bytes=512 * 1024, write=small_disk.write)
    acked: list[tuple[int, bytes]] = []
    refused = 0

    def append(size: int) -> bool:
        nonlocal refused
        body = rng.randbytes(size)
        try:
            position, durable = wal.append("otlp-proto", body)
        except WalFullError as exc:
            assert exc.needed == HEADER + size
            assert "No space left on device" in str(exc)
            refused += 1
            return False
        assert durable.result(timeout=30) == position
        acked.append((position, body))
        return True

    for _ in range(40):
        assert append(rng.randint(100, 9000))
    small_disk.fill(leave=64 * 1024)

    attempts = 0
    while append(rng.randint(100, 9000)):  # odd sizes: the last one tears mid-record
        attempts += 1
        assert attempts < 1000, "the filesystem never filled up"
    for _ in range(10):  # bigger than any space left: refused, again and again
        assert not append(128 * 1024)
    assert refused == 11
    # What the segments hold is exactly the acknowledged records: no torn bytes.
    on_disk = sum(path.stat().st_size for path in wal.segments())
    assert on_disk == sum(HEADER + len(body) for _, body in acked)

    small_disk.empty()  # space returns
    for _ in range(40):
        assert append(rng.randint(100, 9000))
    wal.close()

    reopened = WriteAheadLog(directory)
    read = [(r.position, r.payload) for r in reopened.records()]
    assert [p for p, _ in read] == list(range(1, len(acked) + 1))  # no gap, no repeat
    assert read == acked
    assert (reopened.bad_records, reopened.torn_tail_bytes) == (0, 0)
    reopened.close()


def test_the_server_on_a_full_disk_answers_503_and_stores_every_acked_span_once(
    start_spanscope: Callable[..., RunningServer], tmp_path: Path
) -> None:
    root = tmp_path / "disk"
    root.mkdir()
    why_not = mount(root, "tmpfs", size_mb=32)
    if why_not is not None:
        pytest.skip(f"needs a real small filesystem ({why_not}); the WAL test above still runs")
    servers: list[RunningServer] = []
    try:
        data_dir = root / "data"
        servers.append(start_spanscope(data_dir, env={"SPANSCOPE_FLUSH_INTERVAL_S": "2"}))
        disk = RealDisk(root, "tmpfs")
        acked: set[int] = set()
        refused: set[int] = set()
        numbers = iter(range(10_000))

        def send() -> int:
            n = next(numbers)
            answer = httpx.post(
                servers[-1].otlp_http_url + "/v1/traces",
                content=export_request(n),
                headers={"Content-Type": "application/x-protobuf"},
                timeout=30,
            )
            if answer.status_code == 200:
                acked.add(n)
            else:
                assert answer.status_code == 503, answer.text
                assert int(answer.headers["retry-after"]) >= 1
                message = status_message(answer)
                assert "No space left on device" in message, message
                assert "nothing from this request was stored" in message
                refused.add(n)
            return answer.status_code

        for _ in range(20):
            assert send() == 200
        disk.fill(leave=256 * 1024)
        while len(refused) < 20:
            send()
            assert len(acked) + len(refused) < 3000, "the disk never filled up"
        # The same refusal over OTLP/gRPC and Zipkin. Top the filler up first: the store
        # may have freed a little meanwhile (DuckDB drops its own WAL at a checkpoint).
        disk.fill(leave=0)
        n = next(numbers)
        with grpc.insecure_channel(servers[-1].otlp_grpc_endpoint) as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
            request = trace_service_pb2.ExportTraceServiceRequest.FromString(export_request(n))
            with pytest.raises(grpc.RpcError) as info:
                stub.Export(request, timeout=30)
        error: Any = info.value
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        assert "No space left on device" in error.details()
        assert "google.rpc.retryinfo-bin" in dict(error.trailing_metadata())
        refused.add(n)
        zipkin_spans = [  # ~12 KB: more than any room left (a small body could still fit)
            {
                "traceId": "f" * 32,
                "id": f"{i + 1:016x}",
                "name": "full",
                "timestamp": 1_700_000_000_000_000,
            }
            for i in range(120)
        ]
        zipkin = httpx.post(servers[-1].zipkin_url + "/api/v2/spans", json=zipkin_spans, timeout=30)
        assert zipkin.status_code == 503 and int(zipkin.headers["retry-after"]) >= 1
        assert "No space left on device" in zipkin.text

        disk.empty()  # space returns: the server takes requests again by itself
        deadline = time.monotonic() + 60
        while send() != 200:
            assert time.monotonic() < deadline, servers[-1].log()
        for _ in range(20):
            assert send() == 200

        # A crash now: the last acknowledged requests are only in the WAL (the writer
        # gathers for 2 s), behind the records written while the disk was full.
        servers[-1].kill()
        servers.append(start_spanscope(data_dir))  # replay whatever the store missed
        missing = [n for n in sorted(acked) if span_count(servers[-1], n) != SPANS_PER_REQUEST]
        assert not missing, f"acknowledged requests not stored whole: {missing[:10]}"
        stored = [n for n in sorted(refused) if span_count(servers[-1], n)]
        assert not stored, f"refused requests stored anyway: {stored[:10]}"
        # And a clean stop after the replay keeps them (it deletes the WAL only then).
        assert servers[-1].stop() == 0, servers[-1].log()
        servers.append(start_spanscope(data_dir))
        sample = sorted(acked)[:: max(1, len(acked) // 10)]
        assert all(span_count(servers[-1], n) == SPANS_PER_REQUEST for n in sample)
    finally:
        for server in servers:
            server.stop()
        for log in root.glob("*.log"):  # keep the servers' logs for a failure report
            shutil.copy(log, tmp_path / log.name)
        unmount(root)


def status_message(answer: httpx.Response) -> str:
    return str(status_pb2.Status.FromString(answer.content).message)

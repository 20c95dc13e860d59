"""A request the write-ahead log cannot take gets the same answer over HTTP and gRPC (503 /
UNAVAILABLE, a retry hint, a sentence naming the disk's problem), and the server log counts
what was refused, rate limited."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import grpc
import orjson
import pytest
from google.rpc import error_details_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1 import trace_pb2

from spanscope.config import Settings
from spanscope.ingest.grpc import create_grpc_server
from spanscope.ingest.http import OtlpHttpReceiver
from spanscope.ingest.limits import Limits
from spanscope.ingest.pipeline import IngestPipeline, OverloadedError
from spanscope.ingest.refusals import RefusalLog, refusal
from spanscope.ingest.wal import WalClosedError, WalFullError, WalWriteError, WriteAheadLog
from spanscope.tenancy import TenantError, TooManyTenantsError
from tests.support.memory_store import MemoryStore


class FullDisk:
    """``os.write`` for a disk with no space left while ``full`` is set."""

    full = True

    def write(self, fd: int, data: bytes | memoryview) -> int:
        if self.full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return os.write(fd, data)


@pytest.fixture
def full_disk_pipeline(tmp_path: Path) -> Iterator[tuple[IngestPipeline, FullDisk]]:
    disk = FullDisk()
    wal = WriteAheadLog(tmp_path / "wal", write=disk.write)
    store = MemoryStore()
    pipeline = IngestPipeline(store, wal, Settings(data_dir=tmp_path, flush_interval_s=0.01))
    pipeline.start()
    yield pipeline, disk
    pipeline.stop()
    wal.close()


def test_each_refusal_has_one_answer_for_both_protocols(tmp_path: Path) -> None:
    full = refusal(WalFullError(errno.ENOSPC, tmp_path, 120))
    assert full is not None
    assert (full.http_status, full.grpc_code, full.rpc_code) == (503, "UNAVAILABLE", 14)
    assert full.retry_after_s == 10
    assert full.message == (
        f"the write-ahead log could not be written (No space left on device) in {tmp_path}; "
        "nothing from this request was stored; retry after 10 s"
    )
    io = refusal(WalWriteError(errno.EIO, tmp_path, 120, "fsync"))
    assert io is not None and io.retry_after_s == 5
    assert "could not be flushed to disk (Input/output error)" in io.message
    busy = refusal(OverloadedError(10, 5, 3))
    assert busy is not None
    assert (busy.http_status, busy.grpc_code, busy.retry_after_s) == (429, "RESOURCE_EXHAUSTED", 3)
    stopping = refusal(WalClosedError("closed"))
    assert stopping is not None and (stopping.http_status, stopping.retry_after_s) == (503, 1)
    other = refusal(PermissionError(errno.EACCES, "Permission denied"))
    assert other is not None and other.http_status == 503 and "Permission denied" in other.message
    assert refusal(ValueError("a bug")) is None  # not a refusal: it must propagate


def _otlp_json(trace: str) -> bytes:
    span = {
        "traceId": trace * 16,
        "spanId": "ab" * 8,
        "name": "checkout",
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000000100000000",
    }
    return orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]})


def _post(app: OtlpHttpReceiver, body: bytes) -> tuple[int, dict[str, str], bytes]:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/traces",
        "headers": [(b"content-type", b"application/json")],
    }
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    asyncio.run(app(scope, receive, send))
    headers = {k.decode(): v.decode() for k, v in messages[0]["headers"]}
    return messages[0]["status"], headers, messages[1]["body"]


def test_otlp_http_answers_503_with_retry_after_while_the_disk_is_full(
    full_disk_pipeline: tuple[IngestPipeline, FullDisk],
) -> None:
    pipeline, disk = full_disk_pipeline
    app = OtlpHttpReceiver(pipeline, Limits())
    status, headers, body = _post(app, _otlp_json("aa"))
    assert status == 503
    assert headers["retry-after"] == "10"
    answer = orjson.loads(body)
    assert answer["code"] == 14
    assert "No space left on device" in answer["message"]
    assert "nothing from this request was stored" in answer["message"]
    assert pipeline.pending_spans == 0  # the refused spans hold no room
    disk.full = False
    assert _post(app, _otlp_json("bb"))[0] == 200


def test_otlp_grpc_answers_unavailable_with_retry_info_while_the_disk_is_full(
    full_disk_pipeline: tuple[IngestPipeline, FullDisk],
) -> None:
    pipeline, disk = full_disk_pipeline
    server, port = create_grpc_server(pipeline, Limits(), "127.0.0.1", 0, workers=2)
    server.start()
    span = trace_pb2.Span(
        trace_id=b"\xaa" * 16,
        span_id=b"\xab" * 8,
        name="checkout",
        start_time_unix_nano=1_700_000_000_000_000_000,
        end_time_unix_nano=1_700_000_000_100_000_000,
    )
    request = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=[span])])]
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
            with pytest.raises(grpc.RpcError) as info:
                stub.Export(request, timeout=10)
            error: Any = info.value
            assert error.code() == grpc.StatusCode.UNAVAILABLE
            assert "No space left on device" in error.details()
            assert "nothing from this request was stored" in error.details()
            retry = error_details_pb2.RetryInfo.FromString(
                dict(error.trailing_metadata())["google.rpc.retryinfo-bin"]
            )
            assert retry.retry_delay.seconds == 10
            disk.full = False
            stub.Export(request, timeout=10)  # space returned: accepted
    finally:
        server.stop(grace=None)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_refusals_are_logged_rate_limited_with_counts_and_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    refusals = RefusalLog(interval_s=10, clock=clock, wall_clock=lambda: 1_796_292_000.0)
    full = WalFullError(errno.ENOSPC, tmp_path, 100)
    with caplog.at_level(logging.INFO, logger="spanscope.ingest.refusals"):
        refusals.refused(50, full)  # logged at once
        for _ in range(9):
            clock.now += 1
            refusals.refused(10, full)  # within 10 s: counted, not logged
        clock.now += 1
        refusals.refused(5, full)  # 10 s after the first line
        refusals.refused(5, OverloadedError(1, 1, 1))  # not a disk refusal
        refusals.accepted()
        refusals.accepted()  # nothing more to say
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3, lines
    assert lines[0].startswith("refused 1 requests (50 spans) since 2026-12-03T")
    assert "No space left on device" in lines[0] and str(tmp_path) in lines[0]
    assert lines[1].startswith("refused 11 requests (145 spans) since")
    assert "takes requests again; 11 requests (145 spans) were refused" in lines[2]
    assert (refusals.requests, refusals.spans) == (11, 145)


def test_dead_decode_workers_and_stopping_tenants_are_refusals_too() -> None:
    gone = refusal(BrokenProcessPool("A child process terminated abruptly"))
    assert gone is not None
    assert (gone.http_status, gone.grpc_code, gone.rpc_code, gone.retry_after_s) == (
        503,
        "UNAVAILABLE",
        14,
        5,
    )
    stopping = refusal(TenantError(503, "the server is stopping: retry against its successor"))
    assert stopping is not None and (stopping.grpc_code, stopping.retry_after_s) == (
        "UNAVAILABLE",
        5,
    )
    assert stopping.message == "the server is stopping: retry against its successor"
    # Retrying cannot fix these: each receiver answers them with its own 4xx.
    assert refusal(TenantError(400, "bad tenant id")) is None
    assert refusal(TooManyTenantsError("too many tenants")) is None

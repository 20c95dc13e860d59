"""One condition, one answer: OTLP/HTTP and OTLP/gRPC refuse a request they cannot make
durable with the same status (429 = RESOURCE_EXHAUSTED, 503 = UNAVAILABLE), the same retry
hint (``Retry-After`` = ``google.rpc.RetryInfo``) and the same sentence. Each condition is
made for real: the pending bound reached, the WAL closed, the WAL's disk full or failing
its fsync, the decode worker process killed."""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from spanscope.config import Settings
from spanscope.ingest.decode_worker import DecodePool
from spanscope.ingest.grpc import create_grpc_server
from spanscope.ingest.http import OtlpHttpReceiver
from spanscope.ingest.limits import Limits
from spanscope.ingest.pipeline import IngestPipeline
from spanscope.ingest.wal import WriteAheadLog
from spanscope.store.duckdb import DuckDBStore
from tests.support.memory_store import MemoryStore
from tests.support.workload import make_request


@dataclass(frozen=True)
class Answer:
    code: str
    """gRPC status code name; for HTTP, the google.rpc.Status code in the body."""
    status: int | None
    """HTTP status (None for gRPC)."""
    retry_after_s: int | None
    message: str


def _no_space(fd: int, data: bytes | memoryview) -> int:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class FailingFsync:
    """``os.fsync`` for a disk that reports an I/O error once ``failing`` is set (the WAL
    fsyncs its directory while it opens)."""

    failing = False

    def __call__(self, fd: int) -> None:
        if self.failing:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        os.fsync(fd)


_fsync = FailingFsync()


def _kill_decode_workers(pool: DecodePool) -> None:
    # The pool's own processes, started by this test, ended by their pids.
    processes = list(pool._executor._processes.values())  # type: ignore[attr-defined]
    for process in processes:
        os.kill(process.pid, signal.SIGKILL)
    for process in processes:
        process.join(10)


@dataclass
class World:
    pipeline: IngestPipeline
    wal: WriteAheadLog
    pool: DecodePool | None


CONDITIONS: dict[str, tuple[dict[str, Any], Callable[[World], None], tuple[int, str, int]]] = {
    # name: (WAL options, make the condition, (HTTP status, gRPC code, retry after s))
    "overload": ({}, lambda w: w.pipeline.admit(1), (429, "RESOURCE_EXHAUSTED", 4)),
    "stopping": ({}, lambda w: w.wal.close(), (503, "UNAVAILABLE", 1)),
    "disk full": ({"write": _no_space}, lambda w: None, (503, "UNAVAILABLE", 10)),
    "fsync fails": (
        {"fsync": _fsync},
        lambda w: setattr(_fsync, "failing", True),
        (503, "UNAVAILABLE", 5),
    ),
    "decode workers gone": (
        {},
        lambda w: _kill_decode_workers(w.pool),  # type: ignore[arg-type]
        (503, "UNAVAILABLE", 5),
    ),
}


@contextmanager
def _world(condition: str, directory: Path) -> Iterator[World]:
    """A pipeline in ``directory`` with ``condition`` made; each protocol gets a fresh one,
    so both meet the same state (a failed fsync, say, moves the WAL to a new segment)."""
    wal_options, make, _ = CONDITIONS[condition]
    pool = DecodePool(1) if condition == "decode workers gone" else None
    store = DuckDBStore(":memory:") if pool is not None else MemoryStore()
    wal = WriteAheadLog(directory / "wal", **wal_options)
    # max_pending_spans=1: once one span is admitted, every request is over the bound.
    settings = Settings(data_dir=directory, flush_interval_s=1.0, max_pending_spans=1)
    pipeline = IngestPipeline(store, wal, settings, decode_pool=pool)
    pipeline.start()
    world = World(pipeline, wal, pool)
    try:
        make(world)
        yield world
    finally:
        _fsync.failing = False
        pipeline.stop()
        wal.close()
        if pool is not None:
            pool.close()
        shutil.rmtree(directory / "wal")


def _http_answer(app: OtlpHttpReceiver, body: bytes) -> Answer:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/traces",
        "headers": [(b"content-type", b"application/x-protobuf")],
    }
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    asyncio.run(app(scope, receive, send))
    headers = {k.decode(): v.decode() for k, v in messages[0]["headers"]}
    status = status_pb2.Status.FromString(messages[1]["body"])
    retry = headers.get("retry-after")
    return Answer(
        grpc.StatusCode(_code_pair(status.code)).name,
        messages[0]["status"],
        int(retry) if retry is not None else None,
        status.message,
    )


def _code_pair(number: int) -> tuple[int, str]:
    return next(code.value for code in grpc.StatusCode if code.value[0] == number)


def _grpc_answer(pipeline: IngestPipeline, body: bytes) -> Answer:
    server, port = create_grpc_server(pipeline, Limits(), "127.0.0.1", 0, workers=2)
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            export = channel.unary_unary(
                "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                request_serializer=lambda b: b,
                response_deserializer=lambda b: b,
            )
            with pytest.raises(grpc.RpcError) as info:
                export(body, timeout=30)
    finally:
        server.stop(grace=None)
    error: Any = info.value
    trailers = dict(error.trailing_metadata() or ())
    retry = None
    if "google.rpc.retryinfo-bin" in trailers:
        info_ = error_details_pb2.RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"])
        retry = info_.retry_delay.seconds
        rich = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
        assert (rich.code, rich.message) == (error.code().value[0], error.details())
    return Answer(error.code().name, None, retry, error.details())


@pytest.mark.parametrize("condition", sorted(CONDITIONS))
def test_http_and_grpc_answer_the_same_for_the_same_condition(
    condition: str, tmp_path: Path
) -> None:
    http_status, code, retry_after_s = CONDITIONS[condition][2]
    body = make_request(n_spans=8, seed=5).SerializeToString()
    with _world(condition, tmp_path) as world:
        over_http = _http_answer(OtlpHttpReceiver(world.pipeline, Limits()), body)
    with _world(condition, tmp_path) as world:
        over_grpc = _grpc_answer(world.pipeline, body)
    assert (over_http.status, over_http.code, over_http.retry_after_s) == (
        http_status,
        code,
        retry_after_s,
    )
    assert (over_grpc.code, over_grpc.retry_after_s) == (code, retry_after_s)
    assert over_http.message == over_grpc.message

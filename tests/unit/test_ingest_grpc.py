"""OTLP/gRPC decodes the bytes it received once, on the decode path OTLP/HTTP protobuf
takes: the pipeline's ``otlp-proto`` decoder in-process, or the decode worker pool."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from spanscope.config import Settings
from spanscope.ingest.decode_worker import DecodePool, TableResult
from spanscope.ingest.grpc import create_grpc_server
from spanscope.ingest.limits import Limits
from spanscope.ingest.otlp_columns import ColumnarResult, decode_otlp_columns
from spanscope.ingest.pipeline import IngestPipeline
from spanscope.ingest.wal import WriteAheadLog
from spanscope.store.base import Store
from spanscope.store.duckdb import DuckDBStore
from tests.support.memory_store import MemoryStore
from tests.support.workload import make_request


class RecordingPool(DecodePool):
    """A real decode pool that remembers the bodies it was given."""

    def __init__(self, workers: int) -> None:
        super().__init__(workers)
        self.bodies: list[bytes] = []

    def decode_otlp_blocking(self, body: bytes, limits: Limits) -> TableResult:
        self.bodies.append(body)
        return super().decode_otlp_blocking(body, limits)


@contextmanager
def _serve(store: Store, tmp_path: Path, **options: Any) -> Iterator[tuple[IngestPipeline, int]]:
    wal = WriteAheadLog(tmp_path / "wal")
    pipeline = IngestPipeline(store, wal, Settings(data_dir=tmp_path), **options)
    pipeline.start()
    server, port = create_grpc_server(pipeline, Limits(), "127.0.0.1", 0, workers=2)
    server.start()
    try:
        yield pipeline, port
    finally:
        server.stop(grace=None)
        pipeline.stop()
        wal.close()


def _export(port: int, request: trace_service_pb2.ExportTraceServiceRequest) -> Any:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        return trace_service_pb2_grpc.TraceServiceStub(channel).Export(request, timeout=30)


def test_grpc_hands_the_received_bytes_to_the_pipelines_decoder(tmp_path: Path) -> None:
    bodies: list[bytes] = []

    def decoder(body: bytes, limits: Limits) -> ColumnarResult:
        bodies.append(body)
        return decode_otlp_columns(body, limits)

    request = make_request(n_spans=64, seed=3)
    store = MemoryStore()
    with _serve(store, tmp_path, decoders={"otlp-proto": decoder}) as (_pipeline, port):
        response = _export(port, request)
        assert not response.HasField("partial_success")
        assert bodies == [request.SerializeToString()]  # the bytes as sent, decoded once
    assert store.span_count() == 64


def test_grpc_decodes_in_the_worker_pool_when_the_server_has_one(tmp_path: Path) -> None:
    pool = RecordingPool(1)
    store = DuckDBStore(tmp_path / "spans.duckdb")
    request = make_request(n_spans=64, seed=4)
    try:
        with _serve(store, tmp_path, decode_pool=pool) as (_pipeline, port):
            _export(port, request)
            assert pool.bodies == [request.SerializeToString()]
        assert store.span_count() == 64
    finally:
        pool.close()
        store.close()


def test_an_empty_grpc_request_is_still_an_empty_success(tmp_path: Path) -> None:
    with _serve(MemoryStore(), tmp_path) as (pipeline, port):
        response = _export(port, trace_service_pb2.ExportTraceServiceRequest())
        assert response == trace_service_pb2.ExportTraceServiceResponse()
        assert pipeline.pending_spans == 0

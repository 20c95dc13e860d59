"""Decode OTLP protobuf requests in worker processes, so decoding is not held to one GIL.

Measured on the served path (docs/performance.md): with decoding in the server process, the
event loop and the store writer held the GIL ~85 % of the time at ~30k spans/s — the GIL,
not the CPUs, was the wall. A :class:`DecodePool` runs
:func:`~spanscope.ingest.otlp_columns.decode_otlp_columns` and the Arrow conversion in
``spawn``-ed processes; the server receives an Arrow table (buffers, not Python objects)
plus the rejected count, and DuckDB's insert of it runs without the GIL. The table
crosses the process boundary as one Arrow IPC stream (bytes), not as a pickled
``pa.Table``: 0.34 vs 1.4 µs/span for the round trip, same ~490 bytes/span.

Nothing changes for the client: the server still answers 400 for an undecodable body,
``partial_success`` for rejected spans, and acknowledges only after the WAL fsync (the
payload is logged by the server process, after the worker decoded it).

``SPANSCOPE_DECODE_WORKERS`` sets the number of processes (``0`` decodes in the server
process, as on a one-core machine, where a worker would only add copies).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import pyarrow as pa

from spanscope.ingest.limits import Limits
from spanscope.ingest.results import DecodeError
from spanscope.model.spans import Attributes
from spanscope.store.duckdb_schema import SpanTable, columns_table


def default_workers() -> int:
    """One decode process per core, at most 4; none on a single core."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return 0 if not cores or cores < 2 else min(cores, 4)


@dataclass(slots=True)
class TableResult:
    """A DecodeResult whose spans are a :class:`SpanTable`."""

    spans: SpanTable
    rejected: int
    first_error: str | None
    payload: bytes | None = None
    """The request re-encoded after redaction (what the WAL logs), or None."""


@dataclass(slots=True)
class _Packed:
    """What a worker sends back: the table as Arrow IPC stream bytes, the rest as is."""

    ipc: bytes
    resources: list[Attributes]
    operations: set[tuple[str, str, int]]
    rejected: int
    first_error: str | None
    payload: bytes | None

    def unpack(self) -> TableResult:
        table = pa.ipc.open_stream(pa.py_buffer(self.ipc)).read_all()  # no copy
        return TableResult(
            SpanTable(table, self.resources, self.operations),
            self.rejected,
            self.first_error,
            self.payload,
        )


def _pack(
    result: SpanTable, rejected: int, first_error: str | None, payload: bytes | None
) -> _Packed:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, result.table.schema) as writer:
        writer.write_table(result.table)
    return _Packed(
        sink.getvalue().to_pybytes(),
        result.resources,
        result.operations,
        rejected,
        first_error,
        payload,
    )


def _init_worker(server_pid: int) -> None:
    # Ctrl-C reaches the whole process group; the server decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A server killed with SIGKILL cannot shut the pool down: leave with it.
    threading.Thread(target=_exit_with, args=(server_pid,), daemon=True).start()


def _exit_with(server_pid: int) -> None:
    while os.getppid() == server_pid:
        time.sleep(1.0)
    os._exit(0)


def _decode(body: bytes, limits: Limits) -> _Packed | str:
    from spanscope.ingest.otlp_columns import decode_otlp_columns

    try:
        result = decode_otlp_columns(body, limits)
        table = columns_table(result.spans)
    except DecodeError as exc:
        return str(exc)  # an exception would be pickled with its traceback; the text is all
    except (ValueError, OverflowError, TypeError, pa.ArrowException) as exc:
        # The decoder range-checks every column, so this is a bug; the client still gets a
        # 400 naming it (never a bare 500), and the worker stays up.
        return f"spans do not fit the store's columns ({type(exc).__name__}: {exc})"
    return _pack(table, result.rejected, result.first_error, result.payload)


def _ready() -> bool:
    import spanscope.ingest.otlp_columns  # noqa: F401  (import while the server starts)

    return True


class DecodePool:
    """A pool of decode processes for OTLP protobuf bodies."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"decode workers {workers}: expected at least 1 (or use none)")
        context = multiprocessing.get_context("spawn")  # fork would copy the server's threads
        self._executor = ProcessPoolExecutor(
            workers, context, initializer=_init_worker, initargs=(os.getpid(),)
        )
        for future in [self._executor.submit(_ready) for _ in range(workers)]:
            future.result()

    async def decode_otlp(self, body: bytes, limits: Limits) -> TableResult:
        """Decode in a worker; raises DecodeError as the in-process decoder would."""
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self._executor, _decode, body, limits)
        if isinstance(result, str):
            raise DecodeError(result)
        return result.unpack()

    def decode_otlp_blocking(self, body: bytes, limits: Limits) -> TableResult:
        result = self._executor.submit(_decode, body, limits).result()
        if isinstance(result, str):
            raise DecodeError(result)
        return result.unpack()

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

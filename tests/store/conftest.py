"""The ``backend`` and ``store`` fixtures: every conformance test runs once per backend.

A new backend joins the suite with one line in ``BACKENDS`` (e.g. ClickHouse via chDB): a
name and a callable that opens a Store over the data under a directory — fresh for an
empty directory and, for a backend whose ``capabilities.durable`` is True, the same data
again when the directory is opened a second time (the reopen and crash cases rely on it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from spanscope.model.spans import Span, SpanKind, StatusCode
from spanscope.store.base import Store
from spanscope.store.duckdb import DuckDBStore
from spanscope.store.memory import MemoryStore


@dataclass(frozen=True)
class Backend:
    name: str
    open: Callable[[Path], Store]
    durable: bool = False
    """What its ``capabilities.durable`` must say (checked): only these run the reopen and
    crash cases, which need a store that keeps its data across a close."""


BACKENDS = [
    Backend("memory", lambda directory: MemoryStore()),
    Backend("duckdb-file", lambda directory: DuckDBStore(directory / "spans.duckdb"), True),
    Backend("duckdb-memory", lambda directory: DuckDBStore(":memory:")),
]


@pytest.fixture(params=BACKENDS, ids=lambda b: b.name)
def backend(request: pytest.FixtureRequest) -> Backend:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(params=[b for b in BACKENDS if b.durable], ids=lambda b: b.name)
def durable_backend(request: pytest.FixtureRequest) -> Backend:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def store(backend: Backend, tmp_path: Path) -> Iterator[Store]:
    s = backend.open(tmp_path)
    yield s
    s.close()


T0 = 1_764_000_000_000_000_000  # 2025-11-24T16:00:00Z
MS = 1_000_000


def tid(n: int) -> bytes:
    """A trace id whose high half is non-zero too (exercises the full 128 bits)."""
    return (0xF0F0_0000_0000_0000_0000_0000_0000_0000 + n).to_bytes(16, "big")


def sid(n: int) -> bytes:
    return (0xA000_0000_0000_0000 + n).to_bytes(8, "big")


def make_span(
    trace: int,
    span: int,
    parent: int | None = None,
    *,
    service: str = "frontend",
    name: str = "GET /",
    start_ms: float = 0,
    duration_ms: float = 10,
    kind: SpanKind = SpanKind.SERVER,
    status: StatusCode = StatusCode.UNSET,
    attributes: dict | None = None,
    resource: dict | None = None,
) -> Span:
    start = T0 + int(start_ms * MS)
    return Span(
        trace_id=tid(trace),
        span_id=sid(span),
        parent_span_id=None if parent is None else sid(parent),
        name=name,
        service=service,
        start_ns=start,
        end_ns=start + int(duration_ms * MS),
        kind=kind,
        status_code=status,
        attributes=attributes or {},
        resource=resource if resource is not None else {"service.name": service},
    )

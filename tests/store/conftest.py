"""The ``store`` fixture: every conformance test runs once per backend.

A new backend joins the suite by adding one factory to ``BACKENDS`` (e.g. ClickHouse via
chDB): a callable taking a temporary directory and returning a fresh, empty Store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from spanscope.model.spans import Span, SpanKind, StatusCode
from spanscope.store.base import Store
from spanscope.store.duckdb import DuckDBStore

BACKENDS: dict[str, Callable[[Path], Store]] = {
    "duckdb-file": lambda tmp: DuckDBStore(tmp / "spans.duckdb"),
    "duckdb-memory": lambda tmp: DuckDBStore(":memory:"),
}


@pytest.fixture(params=sorted(BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = BACKENDS[request.param](tmp_path)
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

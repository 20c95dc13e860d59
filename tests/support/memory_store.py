"""Spans for the API unit tests, and the in-memory reference store they run over.

The store itself is :class:`spanscope.store.memory.MemoryStore` (a real Store backend that
passes tests/store/); it is re-exported here for the tests that import it from this file.
"""

from __future__ import annotations

from collections.abc import Callable

from spanscope.model.spans import Event, Link, Span, SpanKind, StatusCode
from spanscope.store.base import Store
from spanscope.store.memory import MemoryStore

__all__ = ["MemoryStore"]


TRACE_ID = bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")
ROOT_ID = bytes.fromhex("00f067aa0ba902b7")
ORDERS_ID = bytes.fromhex("00f067aa0ba902b8")
DB_ID = bytes.fromhex("00f067aa0ba902b9")
OTHER_TRACE_ID = bytes.fromhex("11111111111111111111111111111111")
LINKED_TRACE_ID = bytes.fromhex("22222222222222222222222222222222")
MS = 1_000_000


def checkout_spans(base_ns: int) -> list[Span]:
    """A three-span checkout trace across two services (frontend -> orders -> orders db
    call), with an error, an exception event, a link and typed attributes of every kind."""
    frontend_resource = {"service.name": "frontend", "host.name": "web-1"}
    orders_resource = {"service.name": "orders", "host.name": "api-7", "process.pid": 4242}
    return [
        Span(
            trace_id=TRACE_ID,
            span_id=ROOT_ID,
            name="GET /checkout",
            start_ns=base_ns,
            end_ns=base_ns + 1250 * MS,
            service="frontend",
            kind=SpanKind.SERVER,
            status_code=StatusCode.ERROR,
            status_message="payment declined",
            attributes={
                "http.status_code": 500,
                "http.method": "GET",
                "big": 2**60,
                "ratio": 0.5,
                "cached": False,
                "retries": [1, 2],
                "blob": b"\x00\x01",
                "headers": {"accept": "json"},
            },
            resource=frontend_resource,
            scope_name="opentelemetry.instrumentation.flask",
            scope_version="0.48b0",
            flags=1,
            trace_state="ot=th:8",
        ),
        Span(
            trace_id=TRACE_ID,
            span_id=ORDERS_ID,
            parent_span_id=ROOT_ID,
            name="POST /orders",
            start_ns=base_ns + 100 * MS,
            end_ns=base_ns + 1100 * MS,
            service="orders",
            kind=SpanKind.SERVER,
            status_code=StatusCode.ERROR,
            attributes={"http.status_code": "503", "user.id": "42"},
            resource=orders_resource,
            events=[
                Event(base_ns + 150 * MS, "exception", {"exception.message": "boom"}),
            ],
            links=[Link(LINKED_TRACE_ID, bytes.fromhex("0000000000000abc"))],
        ),
        Span(
            trace_id=TRACE_ID,
            span_id=DB_ID,
            parent_span_id=ORDERS_ID,
            name="INSERT orders",
            start_ns=base_ns + 200 * MS,
            end_ns=base_ns + 250 * MS,
            service="orders",
            kind=SpanKind.CLIENT,
            status_code=StatusCode.OK,
            attributes={"db.system": "postgresql"},
            resource=orders_resource,
        ),
    ]


def quick_spans(base_ns: int) -> list[Span]:
    """A second, fast and healthy one-span trace of the frontend."""
    return [
        Span(
            trace_id=OTHER_TRACE_ID,
            span_id=bytes.fromhex("0000000000000001"),
            name="GET /health",
            start_ns=base_ns + 5000 * MS,
            end_ns=base_ns + 5002 * MS,
            service="frontend",
            kind=SpanKind.SERVER,
            attributes={"http.status_code": 200, "http.method": "GET"},
            resource={"service.name": "frontend", "host.name": "web-1"},
        )
    ]


def store_factories() -> dict[str, Callable[[], Store]]:
    """The stores the API tests run over: this reference one and every real backend."""
    from spanscope.store.duckdb import DuckDBStore

    return {"memory": MemoryStore, "duckdb": lambda: DuckDBStore(":memory:")}

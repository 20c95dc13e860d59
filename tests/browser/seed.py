"""The traces the browser tests seed, built as OTLP protobuf (the bytes an SDK sends).

``dataset(t0)`` returns a :class:`TraceBuilder` holding four traces (ids below): CHECKOUT
(6 spans over frontend/checkout/postgres/payments, an error, typed attributes, an event, a
link to HOME, and markup in an attribute value and a span name), HOME (2 spans), WIDE
(300 spans, etl and store calling each other) and HUGE (10,000 spans).
"""

from __future__ import annotations

from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span, Status

MS = 1_000_000
XSS = "<img src=x onerror=alert(1)>"
CHECKOUT = "4bf92f3577b34da6a3ce929d0e0e4736"  # slow, failed: a declined payment
HOME = "0af7651916cd43dd8448eb211c80319c"  # fast and healthy
WIDE = "5b8efff798038103d269b633813fc60c"  # 300 spans: one of each depth pattern
HUGE = "1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a"  # 10,000 spans
WIDE_SPANS = 300
HUGE_SPANS = 10_000


def value(v: Any) -> AnyValue:
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    if isinstance(v, list):
        return AnyValue(array_value=ArrayValue(values=[value(x) for x in v]))
    return AnyValue(string_value=str(v))


def attrs(d: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=value(v)) for k, v in d.items()]


class TraceBuilder:
    """Spans of many traces, grouped per service into one OTLP export request."""

    def __init__(self, t0: int) -> None:
        self.t0 = t0
        self.by_service: dict[str, ResourceSpans] = {}

    def span(
        self,
        trace: str,
        span_id: int,
        parent: int | None,
        service: str,
        name: str,
        start_ms: float,
        dur_ms: float,
        kind: int = Span.SPAN_KIND_INTERNAL,
        error: str = "",
        attributes: dict[str, Any] | None = None,
        events: list[Span.Event] | None = None,
        links: list[Span.Link] | None = None,
    ) -> None:
        rs = self.by_service.get(service)
        if rs is None:
            rs = self.by_service[service] = ResourceSpans()
            rs.resource.attributes.extend(attrs({"service.name": service, "host.name": "h1"}))
            rs.scope_spans.add().scope.name = "browser-tests"
        start = self.t0 + int(start_ms * MS)
        rs.scope_spans[0].spans.append(
            Span(
                trace_id=bytes.fromhex(trace),
                span_id=span_id.to_bytes(8, "big"),
                parent_span_id=parent.to_bytes(8, "big") if parent else b"",
                name=name,
                kind=kind,  # type: ignore[arg-type]
                start_time_unix_nano=start,
                end_time_unix_nano=start + int(dur_ms * MS),
                status=Status(code=Status.STATUS_CODE_ERROR, message=error) if error else None,
                attributes=attrs(attributes or {}),
                events=events or [],
                links=links or [],
            )
        )

    def request(self) -> bytes:
        request = ExportTraceServiceRequest(resource_spans=list(self.by_service.values()))
        return request.SerializeToString()


def dataset(t0: int) -> TraceBuilder:
    b = TraceBuilder(t0)
    server, client = Span.SPAN_KIND_SERVER, Span.SPAN_KIND_CLIENT
    # CHECKOUT: frontend -> checkout -> {postgres, payments (error)}; the payment dominates.
    b.span(CHECKOUT, 1, None, "frontend", "GET /checkout", 0, 1500, server,
           attributes={"http.status_code": 500, "http.route": "/checkout"})  # fmt: skip
    b.span(CHECKOUT, 2, 1, "frontend", "POST checkout", 10, 1480, client)
    b.span(CHECKOUT, 3, 2, "checkout", "POST /checkout", 20, 1460, server,
           attributes={"xss.probe": XSS, "retry.count": 2, "cart.total": 12.5,
                       "cart.gift": True, "cart.skus": ["a1", "b2"]},
           events=[Span.Event(time_unix_nano=t0 + 30 * MS, name="cart loaded",
                              attributes=attrs({"items": 3}))],
           links=[Span.Link(trace_id=bytes.fromhex(HOME),
                            span_id=(1).to_bytes(8, "big"))])  # fmt: skip
    b.span(CHECKOUT, 4, 3, "postgres", "SELECT cart", 40, 80, client,
           attributes={"db.system": "postgresql"})  # fmt: skip
    b.span(CHECKOUT, 5, 3, "payments", "charge", 200, 1250, server,
           error="payment declined", attributes={"card.brand": "visa"})  # fmt: skip
    b.span(CHECKOUT, 6, 5, "payments", XSS, 250, 1100, client)
    # HOME: fast, frontend -> catalog
    b.span(HOME, 1, None, "frontend", "GET /home", 3000, 60, server)
    b.span(HOME, 2, 1, "catalog", "list products", 3010, 30, server)
    # WIDE: a root, 3 levels of fan-out, 300 spans in all, in the "etl" and "store" services
    b.span(WIDE, 1, None, "etl", "batch", 5000, 2000, server)
    for i in range(2, WIDE_SPANS + 1):
        parent = 1 if i < 12 else (i % 10) + 2 if i < 120 else (i % 100) + 12
        b.span(WIDE, i, parent, "store" if i % 3 else "etl", f"step {i}", 5000 + i * 5, 20)
    # HUGE: 10,000 spans, a root with 999 children that each have ~9 children
    b.span(HUGE, 1, None, "bulk", "import", 8000, 10_000, server)
    for i in range(2, HUGE_SPANS + 1):
        parent = 1 if i < 1000 else i % 998 + 2
        b.span(HUGE, i, parent, "bulk", f"row {i}", 8000 + i % 9000, 5)
    return b


def api(server_url: str, path: str, **params: Any) -> Any:
    answer = httpx.get(server_url + path, params=params, timeout=30)
    answer.raise_for_status()
    return answer.json()

"""Fixtures for the TraceQL tests: a hand-built shop trace whose every span is known.

``shop`` (trace id 0x01..): frontend "GET /checkout" (server, 1 s, http.method=GET,
http.status_code=200) with children "HTTP POST" (client, 800 ms) and "render" (internal,
100 ms, http.status_code="500" as a STRING, a link). "HTTP POST" calls checkout
"POST /pay" (server, 780 ms, error "card declined", http.status_code=500, an exception
event), which calls payments "db.query" three times (client 50/60/70 ms, db.system).
"""

from __future__ import annotations

from spanscope.model.spans import Event, Link, Span, SpanKind, StatusCode, Trace

MS = 1_000_000
BASE = 1_760_000_000_000_000_000
SHOP_ID = bytes.fromhex("01" * 16)
OTHER_ID = bytes.fromhex("02" * 16)


def sid(n: int) -> bytes:
    return n.to_bytes(8, "big")


def span(n: int, parent: int | None, name: str, start_ms: int, dur_ms: int, **kw: object) -> Span:
    s = Span(
        trace_id=kw.pop("trace_id", SHOP_ID),  # type: ignore[arg-type]
        span_id=sid(n),
        name=name,
        start_ns=BASE + start_ms * MS,
        end_ns=BASE + (start_ms + dur_ms) * MS,
        parent_span_id=sid(parent) if parent else None,
        **kw,  # type: ignore[arg-type]
    )
    s.resource.setdefault("service.name", s.service)
    return s


def shop_trace() -> Trace:
    spans = [
        span(1, None, "GET /checkout", 0, 1000, service="frontend", kind=SpanKind.SERVER,
             attributes={"http.method": "GET", "http.status_code": 200},
             resource={"host.name": "web-1"}, scope_name="otel.http", scope_version="1.2"),
        span(2, 1, "HTTP POST", 100, 800, service="frontend", kind=SpanKind.CLIENT,
             attributes={"http.method": "POST"}),
        span(3, 2, "POST /pay", 110, 780, service="checkout", kind=SpanKind.SERVER,
             status_code=StatusCode.ERROR, status_message="card declined",
             attributes={"http.status_code": 500, "retry": True, "ratio": 0.25},
             resource={"deployment.environment": "prod"},
             events=[Event(BASE + 500 * MS, "exception", {"exception.type": "CardError"})]),
        span(4, 3, "db.query", 120, 50, service="payments", kind=SpanKind.CLIENT,
             attributes={"db.system": "postgresql"}),
        span(5, 3, "db.query", 200, 60, service="payments", kind=SpanKind.CLIENT,
             attributes={"db.system": "postgresql"}),
        span(6, 3, "db.query", 300, 70, service="payments", kind=SpanKind.CLIENT,
             attributes={"db.system": "postgresql"}),
        span(7, 1, "render", 900, 100, service="frontend", kind=SpanKind.INTERNAL,
             attributes={"http.status_code": "500"},
             links=[Link(OTHER_ID, sid(9), attributes={"link.kind": "follows"})]),
    ]  # fmt: skip
    return Trace(SHOP_ID, sorted(spans, key=lambda s: s.start_ns))


SHOP_HEX = SHOP_ID.hex()


def shop_spans() -> list[Span]:
    return list(shop_trace().spans)

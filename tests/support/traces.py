"""Hand-built traces whose answers are known, for the analysis tests.

``build(("root", None, 0, 100), ("db", "root", 10, 90, {...}))`` makes a trace from
(name, parent name, start ms, end ms[, options]) rows; options: service, kind, error,
host, attributes, trace_state.
"""

from __future__ import annotations

import hashlib
from typing import Any

from spanscope.model.spans import Span, SpanKind, StatusCode, Trace

MS = 1_000_000
T0 = 1_764_061_200_000_000_000
TRACE_ID = bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")


def span_id(name: str) -> bytes:
    return hashlib.blake2b(name.encode(), digest_size=8).digest()


def build(*rows: tuple[Any, ...], trace_id: bytes = TRACE_ID, base: int = T0) -> Trace:
    spans = []
    for row in rows:
        name, parent, start, end = row[:4]
        opts: dict[str, Any] = row[4] if len(row) > 4 else {}
        service = opts.get("service", "svc")
        host = opts.get("host", service)
        spans.append(
            Span(
                trace_id=trace_id,
                span_id=span_id(f"{trace_id.hex()}/{name}"),
                parent_span_id=span_id(f"{trace_id.hex()}/{parent}") if parent else None,
                name=opts.get("op", name),
                start_ns=base + int(start * MS),
                end_ns=base + int(end * MS),
                service=service,
                kind=opts.get("kind", SpanKind.INTERNAL),
                status_code=StatusCode.ERROR if opts.get("error") else StatusCode.UNSET,
                attributes=opts.get("attributes", {}),
                resource={"service.name": service, "host.name": host},
                trace_state=opts.get("trace_state", ""),
            )
        )
    spans.sort(key=lambda s: (s.start_ns, s.span_id))
    return Trace(trace_id, spans)


def sid(trace: Trace, name: str) -> bytes:
    return span_id(f"{trace.trace_id.hex()}/{name}")


def by_name(trace: Trace, name: str) -> Span:
    return next(s for s in trace.spans if s.span_id == sid(trace, name))


def seed_checkout() -> Trace:
    """The seed's example: a checkout whose inventory database call dominates."""
    return build(
        ("checkout", None, 0, 1250, {"service": "frontend", "kind": SpanKind.SERVER}),
        ("auth", "checkout", 5, 30, {"service": "auth", "kind": SpanKind.CLIENT}),
        ("inventory", "checkout", 40, 1200, {"service": "inventory", "kind": SpanKind.SERVER}),
        (
            "select",
            "inventory",
            60,
            1035,
            {"service": "inventory", "op": "SELECT inventory_items", "kind": SpanKind.CLIENT},
        ),
        ("render", "checkout", 1200, 1240, {"service": "frontend"}),
    )

"""A realistic OTLP export request, the shape production SDKs send, for benchmarks.

``make_request(n_spans=512, seed=0)`` returns an ``ExportTraceServiceRequest`` with about
20 spans per trace spread over 10 services: each service's spans in its own
``ResourceSpans`` (as one SDK per process would send them), parent/child links that
cross services (a CLIENT span in the caller, a SERVER span in the callee), ~8 attributes
per span in the OpenTelemetry HTTP/DB vocabulary, and an ``exception`` event with an
ERROR status on ~10 % of spans. The same seed gives the same trace and span ids, so
callers that need fresh traces per request pass a different seed.

    >>> from workload import make_request
    >>> request = make_request(n_spans=40, seed=1)
    >>> sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
    40
"""

from __future__ import annotations

import random
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

SERVICES = [
    "frontend",
    "checkout",
    "cart",
    "payment",
    "shipping",
    "currency",
    "email",
    "recommendation",
    "ad",
    "product-catalog",
]
ROUTES = ["/api/cart", "/api/checkout", "/api/products/{id}", "/api/orders/{id}", "/health"]
DB_STATEMENTS = [
    "SELECT * FROM orders WHERE user_id = ?",
    "UPDATE cart SET qty = ? WHERE id = ?",
    "INSERT INTO payments (order_id, amount) VALUES (?, ?)",
]
SPANS_PER_TRACE = 20


def _kv(key: str, value: object) -> KeyValue:
    kv = KeyValue(key=key)
    if isinstance(value, bool):
        kv.value.bool_value = value
    elif isinstance(value, int):
        kv.value.int_value = value
    elif isinstance(value, float):
        kv.value.double_value = value
    else:
        kv.value.string_value = str(value)
    return kv


def _attributes(rng: random.Random, kind: int, service: str) -> list[KeyValue]:
    status = rng.choice([200, 200, 200, 200, 201, 404, 500])
    attrs = [
        _kv("http.method", rng.choice(["GET", "GET", "POST", "PUT"])),
        _kv("http.route", rng.choice(ROUTES)),
        _kv("http.status_code", status),
        _kv("net.peer.name", f"{rng.choice(SERVICES)}.svc.cluster.local"),
        _kv("user.id", f"user-{rng.randrange(100_000):05d}"),
        _kv("thread.id", rng.randrange(1, 64)),
    ]
    if kind == Span.SPAN_KIND_CLIENT and rng.random() < 0.3:
        attrs.append(_kv("db.system", rng.choice(["postgresql", "redis", "mysql"])))
        attrs.append(_kv("db.statement", rng.choice(DB_STATEMENTS)))
    else:
        attrs.append(_kv("http.url", f"http://{service}:8080{rng.choice(ROUTES)}"))
        attrs.append(_kv("http.response_content_length", rng.randrange(100, 50_000)))
    return attrs


def make_request(
    n_spans: int = 512, seed: int = 0, now_ns: int | None = None
) -> ExportTraceServiceRequest:
    """A request of ``n_spans`` spans in traces of ~20 spans, ending shortly before
    ``now_ns`` (default: the current time), deterministic for a given seed."""
    rng = random.Random(seed)
    now = time.time_ns() if now_ns is None else now_ns
    by_service: dict[str, list[Span]] = {}
    made = 0
    while made < n_spans:
        trace_id = rng.getrandbits(128).to_bytes(16, "big")
        size = min(SPANS_PER_TRACE, n_spans - made)
        trace_start = now - rng.randrange(1, 60_000_000_000)
        # (span_id, service, start, end) of the spans made so far in this trace
        made_here: list[tuple[bytes, str, int, int]] = []
        for i in range(size):
            span_id = (rng.getrandbits(63) | 1).to_bytes(8, "big")
            if i == 0:
                parent_id, service, kind = b"", SERVICES[0], Span.SPAN_KIND_SERVER
                start, end = trace_start, trace_start + rng.randrange(5_000_000, 900_000_000)
            else:
                parent_id, parent_service, p_start, p_end = rng.choice(made_here)
                if rng.random() < 0.5:
                    service, kind = rng.choice(SERVICES[1:]), Span.SPAN_KIND_SERVER
                else:
                    service = parent_service
                    kind = rng.choice([Span.SPAN_KIND_CLIENT, Span.SPAN_KIND_INTERNAL])
                start = p_start + rng.randrange(0, max(1, (p_end - p_start) // 2))
                end = start + rng.randrange(100_000, max(200_000, (p_end - start)))
            span = Span(
                trace_id=trace_id,
                span_id=span_id,
                parent_span_id=parent_id,
                name=f"{rng.choice(['GET', 'POST'])} {rng.choice(ROUTES)}",
                kind=kind,
                start_time_unix_nano=start,
                end_time_unix_nano=end,
                flags=0x101,
                attributes=_attributes(rng, kind, service),
            )
            if rng.random() < 0.1:
                event = span.events.add(time_unix_nano=start + (end - start) // 2)
                event.name = "exception"
                event.attributes.extend(
                    [
                        _kv("exception.type", "TimeoutError"),
                        _kv("exception.message", "upstream timed out after 2s"),
                    ]
                )
                span.status.CopyFrom(
                    Status(code=Status.STATUS_CODE_ERROR, message="upstream timed out")
                )
            by_service.setdefault(service, []).append(span)
            made_here.append((span_id, service, start, end))
        made += size
    request = ExportTraceServiceRequest()
    for service, spans in by_service.items():
        rs = request.resource_spans.add()
        rs.resource.attributes.extend(
            [
                _kv("service.name", service),
                _kv("service.version", "1.4.2"),
                _kv("host.name", f"{service}-7d9f8b6c5-x2x9q"),
                _kv("telemetry.sdk.language", "python"),
            ]
        )
        ss = rs.scope_spans.add()
        ss.scope.name = "opentelemetry.instrumentation.requests"
        ss.scope.version = "0.48b0"
        ss.spans.extend(spans)
    return request


def to_otlp_json(request: ExportTraceServiceRequest) -> bytes:
    """The request as OTLP/JSON: protobuf's JSON mapping, but ids in hex and enums as
    numbers, as the OTLP spec requires (json_format alone writes ids in base64)."""
    import base64

    import orjson
    from google.protobuf.json_format import MessageToDict

    def hex_id(value: str) -> str:
        return base64.b64decode(value).hex()

    document = MessageToDict(request, use_integers_for_enums=True)
    for rs in document.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = hex_id(span[key])
                for link in span.get("links", []):
                    for key in ("traceId", "spanId"):
                        if key in link:
                            link[key] = hex_id(link[key])
    return orjson.dumps(document)

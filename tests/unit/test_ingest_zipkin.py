"""Zipkin v2 JSON decoding: shared spans, annotations, tags, endpoints, 64-bit ids."""

from __future__ import annotations

import orjson
import pytest

from spanscope.ingest.limits import Limits
from spanscope.ingest.results import DecodeError
from spanscope.ingest.zipkin import decode_zipkin_json, shared_server_span_id
from spanscope.model.spans import SpanKind, StatusCode

NOW_US = 1_800_000_000_000_000
NOW_NS = NOW_US * 1000
TRACE64 = "463ac35c9f6413ad"
CLIENT_ID = "72485a3953bb6124"
ROOT_ID = "a2fb4a1d1a96d312"


def client_server_pair() -> list[dict]:
    """What Brave-style instrumentation sends for one RPC: both halves share one id."""
    return [
        {
            "traceId": TRACE64,
            "parentId": ROOT_ID,
            "id": CLIENT_ID,
            "kind": "CLIENT",
            "name": "get /api/cart",
            "timestamp": NOW_US - 2_000,
            "duration": 1_500,
            "localEndpoint": {"serviceName": "frontend", "ipv4": "10.0.0.1"},
            "remoteEndpoint": {"serviceName": "cart", "ipv4": "10.0.0.2", "port": 8080},
            "tags": {"http.method": "GET", "http.path": "/api/cart"},
            "annotations": [{"timestamp": NOW_US - 1_900, "value": "wire send"}],
        },
        {
            "traceId": TRACE64,
            "parentId": ROOT_ID,
            "id": CLIENT_ID,
            "kind": "SERVER",
            "shared": True,
            "name": "get /api/cart",
            "timestamp": NOW_US - 1_800,
            "duration": 1_000,
            "localEndpoint": {"serviceName": "cart", "ipv6": "::1", "port": 8080},
            "tags": {"http.status_code": "503", "error": "upstream unavailable"},
        },
        {
            "traceId": TRACE64,
            "parentId": CLIENT_ID,
            "id": "0000000000000bbb",
            "name": "redis get",
            "timestamp": NOW_US - 1_700,
            "duration": 300,
            "localEndpoint": {"serviceName": "cart"},
        },
    ]


def decode(spans: list, limits: Limits = Limits()):  # noqa: B008 - frozen dataclass
    return decode_zipkin_json(orjson.dumps(spans), limits, now_ns=NOW_NS)


def test_client_server_pair_with_shared_span_keeps_both_and_unique_ids() -> None:
    result = decode(client_server_pair())
    assert (result.rejected, result.first_error) == (0, None)
    client, server, child = result.spans
    trace_id = bytes.fromhex(TRACE64.rjust(32, "0"))
    assert {s.trace_id for s in result.spans} == {trace_id}

    assert client.span_id == bytes.fromhex(CLIENT_ID)
    assert client.parent_span_id == bytes.fromhex(ROOT_ID)
    assert server.span_id == shared_server_span_id(trace_id, bytes.fromhex(CLIENT_ID))
    assert server.span_id not in (client.span_id, bytes(8))
    assert server.parent_span_id == client.span_id
    # The server's local child was reported under the shared id: it follows the server.
    assert child.parent_span_id == server.span_id
    assert len({s.span_id for s in result.spans}) == 3


def test_shared_span_id_is_the_same_on_every_retry() -> None:
    first = decode(client_server_pair()).spans[1].span_id
    again = decode(client_server_pair()).spans[1].span_id
    assert first == again


def test_fields_map_like_otlp() -> None:
    client, server, child = decode(client_server_pair()).spans
    assert (client.service, client.kind, client.name) == (
        "frontend",
        SpanKind.CLIENT,
        "get /api/cart",
    )
    assert client.resource == {"service.name": "frontend"}
    assert client.start_ns == (NOW_US - 2_000) * 1000 and client.duration_ns == 1_500_000
    assert client.attributes == {
        "http.method": "GET",
        "http.path": "/api/cart",
        "network.local.address": "10.0.0.1",
        "peer.service": "cart",
        "network.peer.address": "10.0.0.2",
        "network.peer.port": 8080,
    }
    [event] = client.events
    assert (event.time_ns, event.name, event.attributes) == (
        (NOW_US - 1_900) * 1000,
        "wire send",
        {},
    )
    assert client.status_code == StatusCode.UNSET

    assert server.kind == SpanKind.SERVER and server.service == "cart"
    assert (server.status_code, server.status_message) == (StatusCode.ERROR, "upstream unavailable")
    assert server.attributes["http.status_code"] == "503"  # Zipkin tags stay strings
    assert "error" not in server.attributes
    assert server.attributes["network.local.address"] == "::1"
    assert child.kind == SpanKind.INTERNAL  # no kind: the OTel exporter's INTERNAL


def test_spans_from_the_otel_zipkin_exporter_round_trip() -> None:
    from opentelemetry.exporter.zipkin.encoder import Protocol
    from opentelemetry.exporter.zipkin.json import ZipkinExporter
    from opentelemetry.exporter.zipkin.node_endpoint import NodeEndpoint
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind as OtelKind
    from opentelemetry.trace import Status
    from opentelemetry.trace import StatusCode as OtelCode

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "orders"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("shop.orders", "2.0")
    with tracer.start_as_current_span("place order", kind=OtelKind.SERVER) as root:
        root.set_attribute("order.items", 3)
        root.add_event("exception", {"exception.type": "KeyError"})
        root.set_status(Status(OtelCode.ERROR, "no stock"))
        with tracer.start_as_current_span("reserve"):
            pass
    exporter = ZipkinExporter(version=Protocol.V2)
    local = NodeEndpoint(ipv4="10.1.2.3")
    local.service_name = "orders"  # what the exporter takes from the first span's resource
    body = exporter.encoder.serialize(memory.get_finished_spans(), local)

    result = decode_zipkin_json(body.encode())
    assert result.rejected == 0, result.first_error
    by_name = {s.name: s for s in result.spans}
    root_span, child = by_name["place order"], by_name["reserve"]
    assert child.parent_span_id == root_span.span_id and root_span.is_root
    assert (root_span.kind, child.kind) == (SpanKind.SERVER, SpanKind.INTERNAL)
    assert (root_span.status_code, root_span.status_message) == (StatusCode.ERROR, "no stock")
    assert (root_span.scope_name, root_span.scope_version) == ("shop.orders", "2.0")
    assert root_span.attributes == {"order.items": "3", "network.local.address": "10.1.2.3"}
    assert root_span.service == "orders"
    assert root_span.resource["service.name"] == "orders"
    assert root_span.resource["telemetry.sdk.language"] == "python"
    [event] = root_span.events
    assert (event.name, event.attributes) == ("exception", {"exception.type": "KeyError"})


def test_128_bit_trace_id_and_uppercase_hex() -> None:
    span = dict(client_server_pair()[0], traceId="4BF92F3577B34DA6A3CE929D0E0E4736")
    [decoded] = decode([span]).spans
    assert decoded.trace_id_hex == "4bf92f3577b34da6a3ce929d0e0e4736"


def test_debug_sets_the_sampled_flag() -> None:
    span = dict(client_server_pair()[0], debug=True)
    assert decode([span]).spans[0].flags == 0x01
    assert decode(client_server_pair()[:1]).spans[0].flags == 0


def test_missing_duration_is_kept_with_a_warning() -> None:
    span = client_server_pair()[0]
    del span["duration"]
    [decoded] = decode([span]).spans
    assert decoded.duration_ns == 0
    assert any("duration missing" in w for w in decoded.warnings)


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"traceId": "0" * 16}, "traceId is all zeros"),
        ({"traceId": "a" * 33}, "has 33 hex digits, at most 32"),
        ({"id": "xyz"}, 'id "xyz" is not hexadecimal'),
        ({"parentId": "1" * 17}, "parentId .* at most 16"),
        ({"timestamp": None}, "timestamp: expected microseconds"),
        ({"timestamp": "yesterday"}, "timestamp: expected microseconds"),
        ({"timestamp": 1_000}, "before the earliest accepted time"),
        ({"timestamp": NOW_US * 1000}, "timestamp 1800000000000000000 µs overflows int64"),
        ({"timestamp": NOW_US + 2 * 86_400_000_000}, "after the receiver's clock"),
        ({"duration": -5}, "duration: expected microseconds"),
        ({"kind": "SIDEWAYS"}, "expected CLIENT, SERVER, PRODUCER or CONSUMER"),
        ({"tags": ["a"]}, "tags: expected an object"),
        ({"annotations": [{"value": 3}]}, "annotation"),
    ],
)
def test_invalid_span_is_rejected_and_the_rest_kept(change: dict, reason: str) -> None:
    import re

    good, bad = client_server_pair()[0], dict(client_server_pair()[0], **change)
    bad["id"] = change.get("id", "00000000000000cc")
    result = decode([good, bad])
    assert len(result.spans) == 1 and result.rejected == 1
    assert result.first_error is not None and " in frontend: " in result.first_error
    assert re.search(reason, result.first_error), result.first_error


def test_missing_timestamp_is_rejected() -> None:
    span = client_server_pair()[0]
    del span["timestamp"]
    result = decode([span])
    assert result.rejected == 1
    assert (
        result.first_error
        == f"span {CLIENT_ID} in frontend: timestamp is missing (microseconds since the epoch)"
    )


@pytest.mark.parametrize(
    "body, message",
    [
        (b"", "empty body"),
        (b"[{", "not valid JSON"),
        (b'[{"name": "caf\xff"}]', "not valid JSON in UTF-8"),
        (b'{"resourceSpans": []}', "looks like OTLP/JSON"),
        (b"42", "expected a Zipkin v2 JSON list"),
    ],
)
def test_undecodable_body_is_refused(body: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_zipkin_json(body)


def test_limits_apply_to_tags_values_and_annotations() -> None:
    limits = Limits(max_attributes=3, max_attribute_value_bytes=4, max_events=1)
    span = client_server_pair()[0]
    span["remoteEndpoint"] = None
    span["localEndpoint"] = {"serviceName": "frontend"}
    span["tags"] = {f"k{i}": "long value" for i in range(5)}
    span["annotations"] = [{"timestamp": NOW_US - 1_900, "value": f"a{i}"} for i in range(3)]
    [decoded] = decode([span], limits).spans
    assert decoded.attributes == {"k0": "long", "k1": "long", "k2": "long"}
    assert decoded.dropped_attributes_count == 2
    assert [e.name for e in decoded.events] == ["a0"] and decoded.dropped_events_count == 2
    assert "span attributes truncated: kept 3 of 5" in decoded.warnings
    assert "attribute 'k0' value truncated from 10 to 4 bytes" in decoded.warnings
    assert "events truncated: kept 1 of 3" in decoded.warnings

"""OTLP protobuf and OTLP/JSON decoding: every field arrives, bad input is refused clearly."""

from __future__ import annotations

import base64
import re
import time

import orjson
import pytest
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from spanscope.ingest.limits import Limits
from spanscope.ingest.otlp import decode_otlp_protobuf, decode_otlp_request
from spanscope.ingest.otlp_json import decode_otlp_json
from spanscope.ingest.results import DecodeError
from spanscope.ingest.span_checks import SPAN_FIELD_ORDER, new_span
from spanscope.model.spans import Span, SpanKind, StatusCode

NOW = 1_800_000_000_000_000_000
START = NOW - 5_000_000_000
TRACE = bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")
SPAN = bytes.fromhex("00f067aa0ba902b7")
PARENT = bytes.fromhex("1111111111111111")
LINKED_TRACE = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
LINKED_SPAN = bytes.fromhex("b7ad6b7169203331")


def kv(key: str, value: object) -> KeyValue:
    return KeyValue(key=key, value=any_value(value))


def any_value(value: object) -> AnyValue:
    av = AnyValue()
    if isinstance(value, bool):
        av.bool_value = value
    elif isinstance(value, int):
        av.int_value = value
    elif isinstance(value, float):
        av.double_value = value
    elif isinstance(value, bytes):
        av.bytes_value = value
    elif isinstance(value, list):
        av.array_value.values.extend(any_value(v) for v in value)
    elif isinstance(value, dict):
        av.kvlist_value.values.extend(kv(k, v) for k, v in value.items())
    elif isinstance(value, str):
        av.string_value = value
    return av


def full_request() -> ExportTraceServiceRequest:
    """One span using every OTLP field the model keeps."""
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.extend([kv("service.name", "checkout"), kv("host.name", "web-1")])
    ss = rs.scope_spans.add()
    ss.scope.name = "opentelemetry.instrumentation.flask"
    ss.scope.version = "0.48b0"
    span = ss.spans.add(
        trace_id=TRACE,
        span_id=SPAN,
        parent_span_id=PARENT,
        trace_state="ot=th:8",
        flags=0x301,
        name="POST /cart",
        kind=PbSpan.SPAN_KIND_SERVER,
        start_time_unix_nano=START,
        end_time_unix_nano=START + 250_000_000,
        dropped_attributes_count=2,
        dropped_events_count=3,
        dropped_links_count=4,
        status=Status(code=Status.STATUS_CODE_ERROR, message="payment declined"),
    )
    span.attributes.extend(
        [
            kv("http.method", "POST"),
            kv("http.status_code", 502),
            kv("retry", True),
            kv("ratio", 0.25),
            kv("blob", b"\x00\xff"),
            kv("tags", ["a", 1, True]),
            kv("nested", {"k": "v", "n": 2}),
            KeyValue(key="empty"),  # an empty AnyValue: dropped
        ]
    )
    event = span.events.add(time_unix_nano=START + 1000, name="exception")
    event.attributes.append(kv("exception.type", "ValueError"))
    event.dropped_attributes_count = 1
    link = span.links.add(trace_id=LINKED_TRACE, span_id=LINKED_SPAN, trace_state="k=v")
    link.attributes.append(kv("link.kind", "batch"))
    link.dropped_attributes_count = 5
    return request


def assert_full_span(span: Span) -> None:
    assert span.trace_id == TRACE and span.span_id == SPAN and span.parent_span_id == PARENT
    assert span.service == "checkout"
    assert span.resource == {"service.name": "checkout", "host.name": "web-1"}
    assert (span.scope_name, span.scope_version) == (
        "opentelemetry.instrumentation.flask",
        "0.48b0",
    )
    assert (span.trace_state, span.flags) == ("ot=th:8", 0x301)
    assert (span.name, span.kind) == ("POST /cart", SpanKind.SERVER)
    assert (span.start_ns, span.duration_ns) == (START, 250_000_000)
    assert (span.status_code, span.status_message) == (StatusCode.ERROR, "payment declined")
    assert span.attributes == {
        "http.method": "POST",
        "http.status_code": 502,
        "retry": True,
        "ratio": 0.25,
        "blob": b"\x00\xff",
        "tags": ["a", 1, True],
        "nested": {"k": "v", "n": 2},
    }
    assert type(span.attributes["http.status_code"]) is int
    assert (span.dropped_attributes_count, span.dropped_events_count) == (2, 3)
    assert span.dropped_links_count == 4
    [event] = span.events
    assert (event.time_ns, event.name) == (START + 1000, "exception")
    assert event.attributes == {"exception.type": "ValueError"}
    assert event.dropped_attributes_count == 1
    [link] = span.links
    assert (link.trace_id, link.span_id, link.trace_state) == (LINKED_TRACE, LINKED_SPAN, "k=v")
    assert (link.attributes, link.dropped_attributes_count) == ({"link.kind": "batch"}, 5)
    assert span.warnings == []


def to_json(request: ExportTraceServiceRequest, *, integers: bool = True) -> dict:
    """OTLP/JSON as the spec writes it: hex ids (json_format writes base64)."""
    doc = MessageToDict(request, use_integers_for_enums=integers)
    for rs in doc.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                for holder in [span, *span.get("links", [])]:
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if key in holder:
                            holder[key] = base64.b64decode(holder[key]).hex()
    return doc


def one_span_json(**fields: object) -> bytes:
    span = {
        "traceId": TRACE.hex(),
        "spanId": SPAN.hex(),
        "name": "op",
        "startTimeUnixNano": str(START),
        "endTimeUnixNano": str(START + 1000),
    }
    span.update(fields)
    span = {k: v for k, v in span.items() if v is not None}
    return orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]})


def one_span_pb(**fields: object) -> bytes:
    request = ExportTraceServiceRequest()
    values = dict(
        trace_id=TRACE,
        span_id=SPAN,
        name="op",
        start_time_unix_nano=START,
        end_time_unix_nano=START + 1000,
    )
    values.update(fields)
    request.resource_spans.add().scope_spans.add().spans.add(**values)
    return request.SerializeToString()


# --- every field arrives ------------------------------------------------------------------


def test_protobuf_keeps_every_field() -> None:
    result = decode_otlp_protobuf(full_request().SerializeToString(), now_ns=NOW)
    assert (result.rejected, result.first_error) == (0, None)
    [span] = result.spans
    assert_full_span(span)


def test_parsed_request_from_grpc_decodes_the_same() -> None:
    request = full_request()
    result = decode_otlp_request(request, now_ns=NOW)
    assert_full_span(result.spans[0])


@pytest.mark.parametrize("integers", [True, False], ids=["enum-numbers", "enum-names"])
def test_json_keeps_every_field(integers: bool) -> None:
    body = orjson.dumps(to_json(full_request(), integers=integers))
    result = decode_otlp_json(body, now_ns=NOW)
    assert result.rejected == 0, result.first_error
    assert_full_span(result.spans[0])


def test_json_accepts_snake_case_keys_and_uppercase_ids() -> None:
    doc = MessageToDict(full_request(), preserving_proto_field_name=True)
    span = doc["resource_spans"][0]["scope_spans"][0]["spans"][0]
    for holder in [span, *span["links"]]:
        for key in ("trace_id", "span_id", "parent_span_id"):
            if key in holder:
                holder[key] = base64.b64decode(holder[key]).hex().upper()
    result = decode_otlp_json(orjson.dumps(doc), now_ns=NOW)
    assert result.rejected == 0, result.first_error
    assert_full_span(result.spans[0])


def test_json_int64_as_numbers_and_special_doubles() -> None:
    attrs = [
        {"key": "n", "value": {"intValue": 7}},
        {"key": "neg", "value": {"intValue": "-3"}},
        {"key": "inf", "value": {"doubleValue": "Infinity"}},
        {"key": "b", "value": {"bytesValue": base64.b64encode(b"\x01\x02").decode()}},
    ]
    body = one_span_json(startTimeUnixNano=START, endTimeUnixNano=START + 5, attributes=attrs)
    [span] = decode_otlp_json(body, now_ns=NOW).spans
    assert span.attributes == {"n": 7, "neg": -3, "inf": float("inf"), "b": b"\x01\x02"}
    assert span.duration_ns == 5


def test_span_from_the_otel_sdk_encoder_round_trips() -> None:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind as OtelKind
    from opentelemetry.trace import Status as OtelStatus
    from opentelemetry.trace import StatusCode as OtelCode

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "cart"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("shop.cart", "1.2.3")
    with tracer.start_as_current_span("checkout", kind=OtelKind.SERVER) as parent:
        parent.set_attribute("http.status_code", 500)
        with tracer.start_as_current_span("db.query", kind=OtelKind.CLIENT) as child:
            child.set_attribute("db.system", "postgresql")
            child.add_event("retry", {"attempt": 2})
            child.set_status(OtelStatus(OtelCode.ERROR, "deadlock"))
    finished = exporter.get_finished_spans()
    request = encode_spans(finished)

    for result in (
        decode_otlp_protobuf(request.SerializeToString()),
        decode_otlp_json(orjson.dumps(to_json(request))),
    ):
        assert result.rejected == 0, result.first_error
        by_name = {s.name: s for s in result.spans}
        root, child_span = by_name["checkout"], by_name["db.query"]
        assert root.is_root and child_span.parent_span_id == root.span_id
        assert child_span.trace_id == root.trace_id
        assert root.trace_id == finished[0].context.trace_id.to_bytes(16, "big")
        assert (root.service, root.scope_name, root.scope_version) == ("cart", "shop.cart", "1.2.3")
        assert root.resource["telemetry.sdk.language"] == "python"
        assert root.kind == SpanKind.SERVER and child_span.kind == SpanKind.CLIENT
        assert root.attributes == {"http.status_code": 500}
        assert (child_span.status_code, child_span.status_message) == (
            StatusCode.ERROR,
            "deadlock",
        )
        assert [(e.name, e.attributes) for e in child_span.events] == [("retry", {"attempt": 2})]
        sent_flags = {
            pb.span_id: pb.flags
            for rs in request.resource_spans
            for ss in rs.scope_spans
            for pb in ss.spans
        }
        assert child_span.flags == sent_flags[child_span.span_id]


def test_missing_service_name_is_unknown_service() -> None:
    [span] = decode_otlp_protobuf(one_span_pb(), now_ns=NOW).spans
    assert span.service == "unknown_service" and span.is_root


def test_span_positional_constructor_matches_the_model() -> None:
    # The fast path builds spans positionally; it must be the real constructor.
    assert new_span is Span
    assert len(SPAN_FIELD_ORDER) == len(Span.__dataclass_fields__)


# --- the body as a whole is refused -------------------------------------------------------


def test_empty_body_is_refused() -> None:
    with pytest.raises(DecodeError, match="empty body"):
        decode_otlp_protobuf(b"")
    with pytest.raises(DecodeError, match="empty body"):
        decode_otlp_json(b"")


def test_truncated_protobuf_is_refused() -> None:
    body = full_request().SerializeToString()
    with pytest.raises(DecodeError, match="not a valid OTLP ExportTraceServiceRequest"):
        decode_otlp_protobuf(body[: len(body) // 2])


def test_json_sent_as_protobuf_gets_a_hint() -> None:
    with pytest.raises(DecodeError, match="application/json"):
        decode_otlp_protobuf(b'{"resourceSpans": [{"scopeSpans": []}]}')


def test_invalid_utf8_in_a_protobuf_string_is_refused() -> None:
    body = one_span_pb(name="caf\u00e9")
    bad = body.replace("caf\u00e9".encode(), b"caf\xff\xfe")
    assert bad != body
    with pytest.raises(DecodeError, match="UTF-8"):
        decode_otlp_protobuf(bad)


@pytest.mark.parametrize(
    "body, message",
    [
        (b"{not json", "not valid JSON"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "caf\xff"}]}]}]}', "JSON"),
        (b"[]", "expected a JSON object"),
        (b'"spans"', "expected a JSON object"),
        (b'{"resourceSpans": {}}', "resourceSpans: expected a list"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": 3}]}]}', r"scopeSpans\[0\]\.spans"),
    ],
)
def test_undecodable_json_is_refused(body: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_otlp_json(body)


def test_empty_request_object_is_zero_spans() -> None:
    result = decode_otlp_json(b"{}")
    assert (result.spans, result.rejected) == ([], 0)


# --- one span is refused, the others are kept ---------------------------------------------


@pytest.mark.parametrize(
    "fields, reason",
    [
        (dict(trace_id=bytes(16)), "trace id is all zeros"),
        (dict(trace_id=b"\x01" * 8), "trace id '0101010101010101' has 8 bytes, expected 16"),
        (dict(span_id=bytes(8)), "span id is all zeros"),
        (dict(span_id=b"\x01" * 4), "span id '01010101' has 4 bytes"),
        (dict(parent_span_id=b"\x01" * 3), "parent span id '010101' has 3 bytes"),
        (dict(end_time_unix_nano=START - 1), "end time .* is before start time"),
        (dict(start_time_unix_nano=10**9, end_time_unix_nano=2 * 10**9), "before the earliest"),
        (
            dict(start_time_unix_nano=NOW + 200 * 365 * 86400 * 10**9, end_time_unix_nano=2**63),
            "after the receiver's clock",
        ),
    ],
)
def test_invalid_span_is_rejected_with_its_reason(fields: dict, reason: str) -> None:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.append(kv("service.name", "checkout"))
    spans = rs.scope_spans.add().spans
    good = dict(
        trace_id=TRACE,
        span_id=SPAN,
        name="op",
        start_time_unix_nano=START,
        end_time_unix_nano=START + 10,
    )
    spans.add(**good)
    spans.add(**{**good, "span_id": PARENT, **fields})
    for result in (
        decode_otlp_protobuf(request.SerializeToString(), now_ns=NOW),
        decode_otlp_json(orjson.dumps(to_json(request)), now_ns=NOW),
    ):
        assert [s.span_id for s in result.spans] == [SPAN]
        assert result.rejected == 1
        assert result.first_error is not None
        assert result.first_error.startswith("span ") and " in checkout: " in result.first_error
        assert re.search(reason, result.first_error), result.first_error


def test_all_zero_or_empty_parent_means_root() -> None:
    [span] = decode_otlp_protobuf(one_span_pb(parent_span_id=bytes(8)), now_ns=NOW).spans
    assert span.parent_span_id is None
    [span] = decode_otlp_json(one_span_json(parentSpanId=""), now_ns=NOW).spans
    assert span.parent_span_id is None


@pytest.mark.parametrize(
    "fields, reason",
    [
        ({"startTimeUnixNano": {}}, "startTimeUnixNano: expected an integer"),
        ({"startTimeUnixNano": "soon"}, "'soon'|\"soon\" is not an integer"),
        ({"traceId": 42}, "traceId: expected a hex string"),
        ({"spanId": "AA=="}, "not hexadecimal"),
        ({"name": ["x"]}, "name: expected a string"),
        ({"kind": 9}, "kind: unknown value 9"),
        ({"kind": "SPAN_KIND_SIDEWAYS"}, "kind: unknown value"),
        ({"status": "ok"}, "status: expected an object"),
        ({"attributes": {"k": "v"}}, "attributes: expected a list"),
        ({"attributes": [{"key": "k", "value": {"intValue": "x1"}}]}, "attribute 'k'"),
        ({"attributes": [{"key": "k", "value": "v"}]}, "attribute 'k'"),
        ({"events": [3]}, "event 3: expected an object"),
        ({"endTimeUnixNano": str(2**64)}, "out of range"),
    ],
)
def test_wrong_json_types_inside_a_span_reject_only_that_span(fields: dict, reason: str) -> None:
    good = orjson.loads(one_span_json())["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    bad = {**good, "spanId": PARENT.hex(), **fields}
    body = orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [good, bad]}]}]})
    result = decode_otlp_json(body, now_ns=NOW)
    assert len(result.spans) == 1 and result.rejected == 1
    assert result.first_error is not None
    assert re.search(reason, result.first_error), result.first_error


def test_a_span_that_is_not_an_object_is_rejected_by_index() -> None:
    body = orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [17]}]}]})
    result = decode_otlp_json(body, now_ns=NOW)
    assert result.rejected == 1 and result.first_error is not None
    assert result.first_error.startswith("span #1 in unknown_service:")


# --- limits: kept, capped, warned ---------------------------------------------------------


SMALL = Limits(max_attributes=4, max_events=2, max_links=1, max_name_bytes=8)


def test_a_10_mb_attribute_value_is_cut_with_a_warning() -> None:
    big = "é" * (5 * 1024 * 1024)  # 10 MiB of UTF-8, two bytes per character
    request = ExportTraceServiceRequest()
    request.ParseFromString(one_span_pb())
    request.resource_spans[0].scope_spans[0].spans[0].attributes.append(kv("payload", big))
    expected = "attribute 'payload' value truncated from 10485760 to 65536 bytes"
    for result in (
        decode_otlp_protobuf(request.SerializeToString(), now_ns=NOW),
        decode_otlp_json(orjson.dumps(to_json(request)), now_ns=NOW),
    ):
        [span] = result.spans
        assert len(span.attributes["payload"].encode()) == 65536
        assert span.attributes["payload"] == "é" * 32768
        assert expected in span.warnings


def test_a_cut_never_splits_a_utf8_character() -> None:
    limits = Limits(max_attribute_value_bytes=5)
    request = ExportTraceServiceRequest()
    request.ParseFromString(one_span_pb())
    request.resource_spans[0].scope_spans[0].spans[0].attributes.append(kv("s", "ab€€"))
    [span] = decode_otlp_protobuf(request.SerializeToString(), limits, now_ns=NOW).spans
    assert span.attributes["s"] == "ab€"  # 5 bytes: the second € (3 bytes) does not fit


def test_a_span_with_100000_attributes_keeps_the_first_128() -> None:
    request = ExportTraceServiceRequest()
    request.ParseFromString(one_span_pb(dropped_attributes_count=1))
    span_pb = request.resource_spans[0].scope_spans[0].spans[0]
    span_pb.attributes.extend(kv(f"k{i}", i) for i in range(100_000))
    for result in (
        decode_otlp_protobuf(request.SerializeToString(), now_ns=NOW),
        decode_otlp_json(orjson.dumps(to_json(request)), now_ns=NOW),
    ):
        [span] = result.spans
        assert list(span.attributes) == [f"k{i}" for i in range(128)]
        assert span.dropped_attributes_count == 1 + 100_000 - 128
        assert "span attributes truncated: kept 128 of 100000" in span.warnings


def test_event_link_name_and_resource_limits() -> None:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.extend(kv(f"r{i}", i) for i in range(6))
    span_pb = rs.scope_spans.add().spans.add(
        trace_id=TRACE,
        span_id=SPAN,
        name="a-very-long-operation-name",
        start_time_unix_nano=START,
        end_time_unix_nano=START + 1,
    )
    for i in range(3):
        event = span_pb.events.add(time_unix_nano=START, name=f"e{i}")
        event.attributes.extend(kv(f"a{j}", j) for j in range(5))
    span_pb.links.add(trace_id=LINKED_TRACE, span_id=LINKED_SPAN)
    span_pb.links.add(trace_id=LINKED_TRACE, span_id=LINKED_SPAN)
    for result in (
        decode_otlp_protobuf(request.SerializeToString(), SMALL, now_ns=NOW),
        decode_otlp_json(orjson.dumps(to_json(request)), SMALL, now_ns=NOW),
    ):
        [span] = result.spans
        assert span.name == "a-very-l"
        assert span.resource == {f"r{i}": i for i in range(4)}
        assert [e.name for e in span.events] == ["e0", "e1"]
        assert span.events[0].attributes == {f"a{j}": j for j in range(4)}
        assert span.events[0].dropped_attributes_count == 1
        assert (span.dropped_events_count, len(span.links), span.dropped_links_count) == (1, 1, 1)
        for warning in (
            "resource attributes truncated: kept 4 of 6",
            "span name truncated from 26 to 8 bytes",
            "events truncated: kept 2 of 3",
            "links truncated: kept 1 of 2",
            "event 'e0' attributes truncated: kept 4 of 5",
        ):
            assert warning in span.warnings


def test_a_link_with_invalid_ids_is_dropped_and_counted() -> None:
    request = ExportTraceServiceRequest()
    request.ParseFromString(one_span_pb())
    span_pb = request.resource_spans[0].scope_spans[0].spans[0]
    span_pb.links.add(trace_id=bytes(16), span_id=LINKED_SPAN)
    [span] = decode_otlp_protobuf(request.SerializeToString(), now_ns=NOW).spans
    assert (span.links, span.dropped_links_count) == ([], 1)
    assert any(w.startswith("link #0 dropped: invalid ids") for w in span.warnings)


def test_default_now_accepts_a_span_that_just_ended() -> None:
    now = time.time_ns()
    body = one_span_pb(start_time_unix_nano=now - 10**9, end_time_unix_nano=now)
    assert len(decode_otlp_protobuf(body).spans) == 1

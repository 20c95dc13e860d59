"""The columnar decoder's raw-attribute walk and its KeyValue cache change nothing a user
can see: same spans, same warnings, same refusals as the Span decoder, whatever was
decoded before and whatever the limits."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from test_ingest_otlp import NOW, START, TRACE, kv

from spanscope.ingest import otlp_columns
from spanscope.ingest.limits import DEFAULT_LIMITS, Limits
from spanscope.ingest.otlp import decode_otlp_protobuf
from spanscope.ingest.otlp_columns import decode_otlp_columns, decode_otlp_request_columns
from spanscope.ingest.results import DecodeError
from tests.support.workload import make_request


def _request(*attributes: KeyValue, span_id: bytes = b"\x05" * 8) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.append(kv("service.name", "cart"))
    span = rs.scope_spans.add().spans.add(
        trace_id=TRACE,
        span_id=span_id,
        name="GET /cart",
        start_time_unix_nano=START,
        end_time_unix_nano=START + 10,
    )
    span.attributes.extend(attributes)
    return request


def _same(body: bytes, limits: Limits = DEFAULT_LIMITS) -> None:
    expected = decode_otlp_protobuf(body, limits, now_ns=NOW)
    got = decode_otlp_columns(body, limits, now_ns=NOW)
    assert got.spans.to_spans() == expected.spans
    assert (got.rejected, got.first_error) == (expected.rejected, expected.first_error)


def test_a_value_cached_under_a_large_limit_is_still_capped_under_a_small_one() -> None:
    body = _request(kv("note", "x" * 100)).SerializeToString()
    _same(body)  # cached: 100 bytes fits the default limit
    small = Limits(max_attribute_value_bytes=16)
    _same(body, small)
    (span,) = decode_otlp_columns(body, small, now_ns=NOW).spans.to_spans()
    assert span.attributes["note"] == "x" * 16
    assert span.warnings == ["attribute 'note' value truncated from 100 to 16 bytes"]


def test_a_repeated_key_keeps_the_last_value_and_an_empty_value_keeps_the_earlier_one() -> None:
    body = _request(kv("k", "a"), kv("k", 2), KeyValue(key="k"), kv("j", True)).SerializeToString()
    _same(body)
    (span,) = decode_otlp_columns(body, now_ns=NOW).spans.to_spans()
    assert span.attributes == {"k": 2, "j": True}


def test_results_do_not_depend_on_the_cache_size(monkeypatch: pytest.MonkeyPatch) -> None:
    bodies = [make_request(n_spans=100, seed=s, now_ns=NOW).SerializeToString() for s in (3, 4)]
    monkeypatch.setattr(otlp_columns, "CACHE_ENTRIES", 7)  # emptied every few attributes
    for body in bodies + bodies:
        _same(body)


def test_the_grpc_path_decodes_an_already_parsed_request_the_same_way() -> None:
    request = make_request(n_spans=50, seed=5, now_ns=NOW)
    expected = decode_otlp_protobuf(request.SerializeToString(), now_ns=NOW).spans
    assert decode_otlp_request_columns(request, now_ns=NOW).spans.to_spans() == expected


@pytest.mark.parametrize("where", ["kept", "capped away", "rejected span"])
def test_invalid_utf8_in_a_span_attribute_refuses_the_whole_body(where: str) -> None:
    bad = kv("user.id", "MARKER-MARKER")
    attributes = [bad] if where != "capped away" else [kv("a", 1), kv("b", 2), bad]
    span_id = bytes(8) if where == "rejected span" else b"\x05" * 8
    body = _request(*attributes, span_id=span_id).SerializeToString()
    body = body.replace(b"MARKER-MARKER", b"\xff\xfe" * 6 + b"\xff")
    limits = Limits(max_attributes=2)
    with pytest.raises(DecodeError):
        decode_otlp_protobuf(body, limits, now_ns=NOW)
    with pytest.raises(DecodeError, match="not a valid OTLP ExportTraceServiceRequest"):
        decode_otlp_columns(body, limits, now_ns=NOW)

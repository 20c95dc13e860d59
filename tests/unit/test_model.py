from __future__ import annotations

import pytest

from spanscope.model.spans import Span, SpanKind, Trace, parse_span_id, parse_trace_id


def test_ids_parse_and_pad() -> None:
    assert (
        parse_trace_id("4BF92F3577B34DA6A3CE929D0E0E4736").hex()
        == "4bf92f3577b34da6a3ce929d0e0e4736"
    )
    # 64-bit Zipkin/Jaeger ids are left-padded to 128 bits
    assert parse_trace_id("a3ce929d0e0e4736") == bytes(8) + bytes.fromhex("a3ce929d0e0e4736")
    assert parse_span_id("00f067aa0ba902b7") == bytes.fromhex("00f067aa0ba902b7")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected 1 to 32"),
        ("0" * 32, "all zeros"),
        ("xyz", "not hexadecimal"),
        ("a" * 33, "1 to 32"),
    ],
)
def test_bad_trace_ids(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_trace_id(text)


def test_span_kind_labels() -> None:
    assert SpanKind.from_label("SPAN_KIND_SERVER") is SpanKind.SERVER
    assert SpanKind.from_label("client") is SpanKind.CLIENT
    assert SpanKind.CONSUMER.label == "consumer"
    with pytest.raises(ValueError, match="unknown span kind 'serverr'"):
        SpanKind.from_label("serverr")


def test_trace_root_and_duration() -> None:
    t = bytes(15) + b"\x01"
    root = Span(t, b"\x00" * 7 + b"\x01", "root", 100, 400, service="a")
    child = Span(
        t, b"\x00" * 7 + b"\x02", "child", 150, 450, service="b", parent_span_id=root.span_id
    )
    trace = Trace(t, [root, child])
    assert trace.root() is root
    assert trace.duration_ns == 350
    assert child.duration_ns == 300 and not child.is_root

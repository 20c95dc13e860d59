"""spanscope.sdk.propagation: the W3C Trace Context parser, one test per case category.

Cases come from W3C Trace Context Level 2 (spec/20-http_request_header_format.md and
spec/30-processing-model.md of github.com/w3c/trace-context) and from what its test harness
(test/test.py) sends; the test name says which. Plain OpenTelemetry's propagator is run on
the same input where it behaves differently, so each test shows what we change.
"""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from spanscope.sdk.propagation import (
    MAX_MEMBERS,
    W3CTraceContextPropagator,
    W3CTraceState,
    parse_traceparent,
    parse_tracestate,
    tracestate_header,
)

TRACE_ID = "12345678901234567890123456789012"
PARENT = "00-12345678901234567890123456789012-1234567890123456-00"

ours = W3CTraceContextPropagator()
otel = TraceContextTextMapPropagator()


def extracted(propagator, headers: dict[str, str | list[str]]) -> SpanContext:
    carrier = {k: v if isinstance(v, list) else [v] for k, v in headers.items()}
    context = propagator.extract(carrier, getter=_ListGetter())
    return trace.get_current_span(context).get_span_context()


class _ListGetter:
    """A carrier that keeps every header field, as ASGI's getter does."""

    def get(self, carrier, key):
        return carrier.get(key)

    def keys(self, carrier):
        return list(carrier)


def state_of(propagator, *tracestate: str) -> dict[str, str] | None:
    span_context = extracted(propagator, {"traceparent": PARENT, "tracestate": list(tracestate)})
    assert span_context.is_valid
    return dict(span_context.trace_state) if span_context.trace_state else None


# -- tracestate: keys ------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "foo@",  # harness test_tracestate_key_illegal_vendor_format: '@' is a keychar (Level 2)
        "foo@@bar",
        "foo@bar@baz",
        "1special",  # a key may start with a digit
        "t" * 241 + "@" + "v" * 14,  # harness test_tracestate_key_length_limit
        "t" * 242 + "@v",  # Level 1's tenant limit (241) is gone in Level 2
        "t@" + "v" * 15,  # ... and so is its 14-character system limit
        "z" * 256,  # the longest key
        "abcdefghijklmnopqrstuvwxyz0123456789_-*/@a-z0-9_-*/",  # every keychar
    ],
)
def test_level_2_keys_are_kept_with_their_neighbours(key: str) -> None:
    assert state_of(ours, f"{key}=1,bar=2") == {key: "1", "bar": "2"}


def test_plain_opentelemetry_drops_the_whole_tracestate_for_a_level_2_key() -> None:
    # Its parser knows only Level 1's tenant@system grammar: 'foo@' costs 'bar' too.
    assert state_of(otel, "foo@=1,bar=2") is None
    assert state_of(otel, "t@" + "v" * 15 + "=1", "bar=2") is None


@pytest.mark.parametrize(
    "member",
    [
        "@foo=1",  # harness: a key starts with a lowercase letter or a digit
        "z" * 257 + "=1",  # harness: 257 characters
        "foo =1",  # harness test_tracestate_key_illegal_characters
        "FOO=1",
        "foo.bar=1",
        "foo=bar=baz",  # harness test_tracestate_value_illegal_characters
        "foo=",  # a value has at least one character
        "foo=" + "v" * 257,  # ... and at most 256
        "foo=a\tb",  # tab is not a value character
        "foo",  # no '='
    ],
)
def test_an_invalid_member_discards_the_whole_tracestate(member: str) -> None:
    # Processing model step 3 allows dropping the member or the header; the harness's strict
    # tests require the header ('@foo=1,bar=2' must lose 'bar'), so that is what we do.
    assert state_of(ours, "foo=1", f"{member},bar=2") is None
    assert parse_tracestate([f"ok=1,{member}"]) is None


def test_all_allowed_value_characters_and_leading_spaces_are_kept() -> None:
    value = "".join(map(chr, [*range(0x20, 0x2C), *range(0x2D, 0x3D), *range(0x3E, 0x7F)]))
    assert state_of(ours, f"k={value}") == {"k": value}
    assert state_of(ours, "k=  lead") == {"k": "  lead"}  # leading spaces belong to the value
    assert state_of(ours, "v=" + "x" * 256) == {"v": "x" * 256}


# -- tracestate: duplicates, members, whitespace, several header fields -------------------


@pytest.mark.parametrize(
    "fields",
    [["foo=1,foo=1"], ["foo=1,foo=2"], ["foo=1", "foo=1"], ["foo=1", "foo=2"]],
)
def test_duplicated_keys_keep_the_first_member(fields: list[str]) -> None:
    # harness test_tracestate_duplicated_keys: keep one of them (the spec lets us discard
    # duplicates we did not generate); plain OpenTelemetry drops the whole tracestate.
    assert state_of(ours, *fields) == {"foo": "1"}
    assert state_of(otel, *fields) is None


def test_32_members_are_kept_and_33_discard_the_tracestate() -> None:
    members = [f"bar{i:02d}={i:02d}" for i in range(1, 34)]
    fields32 = [",".join(members[0:10]), ",".join(members[10:20]), ",".join(members[20:32])]
    kept = state_of(ours, *fields32)
    assert kept is not None and len(kept) == MAX_MEMBERS and list(kept)[0] == "bar01"
    assert state_of(ours, *fields32[:2], ",".join(members[20:33])) is None


def test_duplicates_do_not_count_towards_the_32_members() -> None:
    members = [f"k{i}=1" for i in range(32)]
    assert len(state_of(ours, ",".join(members + ["k0=2"])) or {}) == 32


@pytest.mark.parametrize(
    "fields",
    [
        ["foo=1 \t , \t bar=2, \t baz=3"],  # harness test_tracestate_ows_handling
        ["foo=1\t \t,\t \tbar=2,\t \tbaz=3"],
        ["foo=1,,, ,\t,bar=2,baz=3,"],  # empty and whitespace-only members are allowed
        ["", "foo=1,bar=2", "", "baz=3"],  # harness test_tracestate_empty_header
        ["foo=1", "bar=2,baz=3"],  # several fields combine in order (RFC 9110 5.3)
    ],
)
def test_whitespace_empty_members_and_several_fields(fields: list[str]) -> None:
    state = state_of(ours, *fields)
    assert state == {"foo": "1", "bar": "2", "baz": "3"}
    assert list(state) == ["foo", "bar", "baz"]


def test_an_empty_tracestate_is_no_tracestate() -> None:
    assert state_of(ours, "") is None or state_of(ours, "") == {}
    assert parse_tracestate(["", " ", ","]) == W3CTraceState()


def test_tracestate_without_traceparent_is_ignored() -> None:
    assert not extracted(ours, {"tracestate": "foo=1"}).is_valid


# -- tracestate: the 512-character limit on what we send -------------------------------


def test_a_long_tracestate_is_truncated_by_whole_members_long_ones_first() -> None:
    # spec "tracestate Limits": propagate at least 512 characters; when truncating, remove
    # whole entries, those over 128 characters first, then from the end.
    small = [(f"s{i:02d}", "y" * 20) for i in range(15)]  # 24 characters each
    state = W3CTraceState([("first", "1"), ("big", "x" * 200), *small])  # 587 characters
    header = tracestate_header(state, 512)
    assert header is not None and len(header) <= 512
    kept = header.split(",")
    assert "big=" + "x" * 200 not in kept  # the long entry went first
    assert kept == ["first=1"] + [f"{k}={v}" for k, v in small]  # the rest fits (382)

    crowded = W3CTraceState([(f"k{i:02d}", "v" * 40) for i in range(20)])  # 20 x 44 + 19
    header = tracestate_header(crowded, 512)
    assert header is not None and len(header) <= 512
    names = [m.split("=")[0] for m in header.split(",")]
    assert names == [f"k{i:02d}" for i in range(len(names))]  # dropped from the end
    assert len(header) + 45 > 512  # and no more than needed


def test_512_characters_are_propagated_untouched() -> None:
    members = [(f"k{i:02d}", "v" * 58) for i in range(8)]  # 8 x 62 + 7 commas = 503
    members.append(("last", "z"))  # + ",last=z" = 510
    state = W3CTraceState(members)
    assert tracestate_header(state, 512) == state.to_header()


def test_the_limit_is_a_setting() -> None:
    state = W3CTraceState([("a", "1" * 250), ("b", "2" * 250), ("c", "3" * 250)])  # 758
    assert W3CTraceContextPropagator(max_tracestate_length=1024).max_tracestate_length == 1024
    assert tracestate_header(state, 1024) == state.to_header()
    assert tracestate_header(state, 512) == f"a={'1' * 250},b={'2' * 250}"  # 505
    with pytest.raises(ValueError, match="max_tracestate_length=0"):
        W3CTraceContextPropagator(max_tracestate_length=0)


# -- W3CTraceState: an OTel TraceState that holds Level 2 keys --------------------------


def test_trace_state_mutations_keep_level_2_keys_and_the_spec_order() -> None:
    state = W3CTraceState([("foo@", "1"), ("t@" + "v" * 15, "2")])
    assert isinstance(state, TraceState)
    added = state.add("ot", "th:0")
    assert isinstance(added, W3CTraceState)
    assert list(added.items()) == [("ot", "th:0"), ("foo@", "1"), ("t@" + "v" * 15, "2")]
    updated = added.update("foo@", "3")  # a modified key moves to the front
    assert list(updated) == ["foo@", "ot", "t@" + "v" * 15] and updated["foo@"] == "3"
    assert list(updated.delete("ot")) == ["foo@", "t@" + "v" * 15]
    assert state.add("BAD", "1") is state and state.add("foo@", "9") is state
    assert W3CTraceState([("a", "1"), ("a", "2"), ("B", "x")]) == W3CTraceState([("a", "1")])


def test_adding_to_32_members_removes_the_right_most() -> None:
    full = W3CTraceState([(f"k{i:02d}", "1") for i in range(32)])
    added = full.add("new", "1")
    assert len(added) == 32 and list(added)[0] == "new" and "k31" not in added


# -- traceparent -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "00-12345678901234567890123456789012-1234567890123456-01.",  # version 00: exactly 55
        "00-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
        "ff-12345678901234567890123456789012-1234567890123456-01",  # version ff is forbidden
        ".0-12345678901234567890123456789012-1234567890123456-01",
        "0.-12345678901234567890123456789012-1234567890123456-01",
        "000-12345678901234567890123456789012-1234567890123456-01",
        "0000-12345678901234567890123456789012-1234567890123456-01",
        "0-12345678901234567890123456789012-1234567890123456-01",
        "00-00000000000000000000000000000000-1234567890123456-01",  # all-zero trace id
        "00-.2345678901234567890123456789012-1234567890123456-01",
        "00-1234567890123456789012345678901.-1234567890123456-01",
        "00-123456789012345678901234567890123-1234567890123456-01",
        "00-1234567890123456789012345678901-1234567890123456-01",
        "00-12345678901234567890123456789012-0000000000000000-01",  # all-zero parent id
        "00-12345678901234567890123456789012-.234567890123456-01",
        "00-12345678901234567890123456789012-123456789012345.-01",
        "00-12345678901234567890123456789012-12345678901234567-01",
        "00-12345678901234567890123456789012-123456789012345-01",
        "00-12345678901234567890123456789012-1234567890123456-.0",
        "00-12345678901234567890123456789012-1234567890123456-0.",
        "00-12345678901234567890123456789012-1234567890123456-001",
        "00-12345678901234567890123456789012-1234567890123456-1",
        "00-ABCDEF78901234567890123456789012-1234567890123456-01",  # upper case hex
        "cc-12345678901234567890123456789012-1234567890123456-01.what-the-future-will-be-like",
        "cc-12345678901234567890123456789012-1234567890123456",  # future, shorter than 55
        "",
    ],
)
def test_invalid_traceparent_starts_a_new_trace_and_ignores_tracestate(value: str) -> None:
    assert parse_traceparent(value) is None
    assert not extracted(ours, {"traceparent": value, "tracestate": "foo=1"}).is_valid


@pytest.mark.parametrize(
    "value",
    [
        "cc-12345678901234567890123456789012-1234567890123456-01",  # a future version
        "cc-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
        " 00-12345678901234567890123456789012-1234567890123456-01",  # OWS around the value
        "\t 00-12345678901234567890123456789012-1234567890123456-01 \t",
    ],
)
def test_future_versions_and_whitespace_are_parsed(value: str) -> None:
    span_context = extracted(ours, {"traceparent": value, "tracestate": "foo=1"})
    assert f"{span_context.trace_id:032x}" == TRACE_ID
    assert f"{span_context.span_id:016x}" == "1234567890123456"
    assert span_context.trace_flags.sampled and span_context.is_remote
    assert dict(span_context.trace_state) == {"foo": "1"}


def test_two_traceparent_fields_are_invalid() -> None:
    # harness test_traceparent_duplicated; plain OpenTelemetry takes the first one.
    headers = {"traceparent": [PARENT.replace("9012-", "9011-"), PARENT]}
    assert not extracted(ours, headers).is_valid
    assert extracted(otel, headers).is_valid


@pytest.mark.parametrize(
    ("flags", "kept"),
    [("00", 0), ("01", 1), ("02", 2), ("03", 3), ("ff", 3), ("fd", 1), ("04", 0)],
)
def test_only_the_sampled_and_random_flags_are_kept(flags: str, kept: int) -> None:
    # Level 2: bit 0 sampled, bit 1 random-trace-id; "other flags ... Vendors MUST set those
    # to zero", and for a future version "set all unparsed / unknown trace-flags to 0".
    for version in ("00", "cc"):
        value = f"{version}-{TRACE_ID}-1234567890123456-{flags}"
        assert extracted(ours, {"traceparent": value}).trace_flags == kept


# -- inject ----------------------------------------------------------------------------


def inject(span_context: SpanContext, propagator=ours) -> dict[str, str]:
    carrier: dict[str, str] = {}
    context = trace.set_span_in_context(NonRecordingSpan(span_context), Context())
    propagator.inject(carrier, context)
    return carrier


def test_inject_writes_version_00_known_flags_and_the_level_2_tracestate() -> None:
    state = W3CTraceState([("foo@", "1"), ("bar", "2")])
    span_context = SpanContext(int(TRACE_ID, 16), 0xABC, False, TraceFlags(0xFF), state)
    assert inject(span_context) == {
        "traceparent": f"00-{TRACE_ID}-0000000000000abc-03",
        "tracestate": "foo@=1,bar=2",
    }


def test_inject_sends_no_empty_tracestate_and_nothing_for_an_invalid_context() -> None:
    span_context = SpanContext(int(TRACE_ID, 16), 0xABC, False, TraceFlags(1), W3CTraceState())
    assert inject(span_context) == {"traceparent": f"00-{TRACE_ID}-0000000000000abc-01"}
    assert inject(trace.INVALID_SPAN_CONTEXT) == {}


def test_round_trip_through_two_hops_keeps_state_and_flags() -> None:
    incoming = {"traceparent": f"00-{TRACE_ID}-1234567890123456-03", "tracestate": "a@=1,a@=2,b=3"}
    hop = extracted(ours, incoming)
    out = inject(hop)
    assert out == {"traceparent": incoming["traceparent"], "tracestate": "a@=1,b=3"}
    assert dict(extracted(ours, out).trace_state) == {"a@": "1", "b": "3"}


def test_fields_are_the_two_headers() -> None:
    assert ours.fields == {"traceparent", "tracestate"}
    assert isinstance(ours, TraceContextTextMapPropagator)  # usable wherever OTel's is


# -- installed by configure() and by entry point ----------------------------------------


def test_configure_installs_it_for_tracecontext(sdk) -> None:
    from opentelemetry import propagate

    installed = propagate.get_global_textmap()
    kinds = [type(p).__name__ for p in installed._propagators]  # a CompositePropagator
    assert kinds == ["W3CTraceContextPropagator", "W3CBaggagePropagator"]
    context = propagate.extract({"traceparent": PARENT, "tracestate": "foo@=1,foo@=2,bar=2"})
    assert dict(trace.get_current_span(context).get_span_context().trace_state) == {
        "foo@": "1",
        "bar": "2",
    }


def test_propagator_names() -> None:
    from spanscope.sdk.config import build_propagator

    def kinds(names: str) -> list[type]:
        return [type(p) for p in build_propagator(names)._propagators]

    assert kinds("spanscope_tracecontext") == [W3CTraceContextPropagator]
    assert kinds("tracecontext") == [W3CTraceContextPropagator]
    assert kinds("otel_tracecontext") == [TraceContextTextMapPropagator]  # OTel's, on request
    with pytest.raises(ValueError, match="'w3c': unknown.*otel_tracecontext"):
        build_propagator("w3c")


def test_the_entry_point_works_in_a_plain_opentelemetry_app(tmp_path) -> None:
    """``OTEL_PROPAGATORS=spanscope_tracecontext,baggage`` in an app that never imports
    spanscope: OTel's own loader finds the entry point declared in pyproject.toml. The
    package metadata is written to a temporary dist-info from that declaration, so the test
    reads this checkout's pyproject.toml rather than whatever is installed."""
    import os
    import subprocess
    import sys
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    declared = project["entry-points"]["opentelemetry_propagator"]
    assert declared == {
        "spanscope_tracecontext": "spanscope.sdk.propagation:W3CTraceContextPropagator"
    }
    info = tmp_path / "spanscope_entry_points-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: spanscope-entry-points\nVersion: 0\n"
    )
    lines = [f"{name} = {target}" for name, target in declared.items()]
    (info / "entry_points.txt").write_text("[opentelemetry_propagator]\n" + "\n".join(lines) + "\n")
    app = (
        "from opentelemetry import propagate, trace\n"
        "print(sorted(type(p).__name__ for p in propagate.get_global_textmap()._propagators))\n"
        f"ctx = propagate.extract({{'traceparent': {PARENT!r}, 'tracestate': 'foo@=1,bar=2'}})\n"
        "print(trace.get_current_span(ctx).get_span_context().trace_state.to_header())\n"
    )
    env = {
        **os.environ,
        "OTEL_PROPAGATORS": "spanscope_tracecontext,baggage",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(root / "src")]),
    }
    out = subprocess.run(
        [sys.executable, "-c", app], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "['W3CBaggagePropagator', 'W3CTraceContextPropagator']",
        "foo@=1,bar=2",
    ]


# -- the random flag (Level 2), end to end through the SDK -------------------------------


def test_a_trace_we_start_carries_the_random_flag_and_a_continued_one_keeps_the_callers(
    sdk,
) -> None:
    """Level 2 "Random Trace ID Flag": set it when we draw the trace id at random (the SDK's
    RandomIdGenerator); when continuing a trace, send exactly what came in. The SDK does the
    first (opentelemetry-sdk >= 1.42.1; 1.42.0 set it on every span, older never), the
    propagator carries it both ways."""
    from opentelemetry import propagate

    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("root"):
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
    assert carrier["traceparent"].endswith("-03")  # sampled + random
    for flags in ("00", "01", "02", "03"):
        incoming = {"traceparent": f"00-{TRACE_ID}-1234567890123456-{flags}"}
        with tracer.start_as_current_span("child", context=propagate.extract(incoming)):
            carrier = {}
            propagate.inject(carrier)
        assert carrier["traceparent"][-2:] == flags  # parent-based sampling, same randomness
        assert carrier["traceparent"][3:35] == TRACE_ID


def test_the_largest_valid_tracestate_is_read_and_a_prohibitive_one_is_not() -> None:
    # 32 members of 256-character keys and values: 16,447 characters, all valid.
    biggest = ",".join(f"{i:02d}{'k' * 254}={'v' * 256}" for i in range(32))
    assert len(state_of(ours, biggest) or {}) == 32
    # OWS and empty members are allowed, but not without end: past 64 KiB it is discarded.
    assert state_of(ours, "foo=1" + " ," * 40_000) is None
    assert state_of(ours, "foo=1" + " ," * 30_000) == {"foo": "1"}

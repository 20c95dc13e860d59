"""The w3c/trace-context test harness's cases, as data (nothing is fetched at test time).

Each :class:`Case` is one test of the harness's test/test.py (github.com/w3c/trace-context,
main as of 2026-06, "Fix tracestate key grammar tests (#584)"), named as there: the headers
it sends to the service under test and what it checks on the ``traceparent``/``tracestate``
the service sends to its callback. The cases are written from the harness's docstrings and
assertions and from the spec text they test; the harness's code is not copied.

Suites: ``TraceContextTest`` (Level 1, 37 cases, 6 of them "strict", skipped below
STRICT_LEVEL=2), ``AdvancedTest`` (Level 1, 3), ``TraceContext2Test`` (Level 2, 1): 40 + 1.
Besides each case's own checks, every callback must carry exactly one ``traceparent`` of
version 00 with non-zero ids and a ``tracestate`` that parses (the harness's own parser
raises on an invalid member, which fails the test).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

ID = "12345678901234567890123456789012"
PARENT_ID = "1234567890123456"
TP = f"00-{ID}-{PARENT_ID}-01"
TP0 = f"00-{ID}-{PARENT_ID}-00"  # the tracestate cases send an unsampled parent

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Send:
    """One request to the service, and the checks on what reached its callback(s)."""

    headers: Headers
    same_trace: bool | None = None  # True: trace id kept (= ID); False: a new trace id
    new_parent: bool = False  # parent id differs from the one sent
    has: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)  # key -> value(s)
    lacks: tuple[str, ...] = ()  # keys that must not be in tracestate
    members: int | None = None  # exact number of tracestate members
    in_order: tuple[str, ...] = ()  # these "key=value" appear in this order
    random_flag: bool = False  # trace-flags bit 0x02 set
    callbacks: int = 1
    distinct_parents: int | None = None  # over all callbacks
    none_is: tuple[str, ...] = ()  # trace ids that no callback may carry


@dataclass(frozen=True)
class Case:
    name: str  # the harness's test method
    suite: str
    sends: tuple[Send, ...]
    strict: bool = False  # skipped by the harness unless STRICT_LEVEL >= 2
    level: int = 1


def tp(*headers: tuple[str, str]) -> Headers:
    return tuple(headers)


def state(*values: str, parent: str = TP0) -> Headers:
    return (("traceparent", parent), *(("tracestate", v) for v in values))


def new_trace(value: str) -> Send:
    return Send(tp(("traceparent", value)), same_trace=False)


KEY_WITHOUT_VENDOR = "abcdefghijklmnopqrstuvwxyz0123456789_-*/"
KEY_WITH_VENDOR = KEY_WITHOUT_VENDOR + "@a-z0-9_-*/"
ALL_VALUE_CHARS = "".join(map(chr, [*range(0x20, 0x2C), *range(0x2D, 0x3D), *range(0x3E, 0x7F)]))
BARS = [f"bar{i:02d}={i:02d}" for i in range(1, 34)]

L1 = "TraceContextTest"

CASES: tuple[Case, ...] = (
    Case("test_both_traceparent_and_tracestate_missing", L1, (Send(()),)),
    Case(
        "test_traceparent_included_tracestate_missing",
        L1,
        (Send(tp(("traceparent", TP)), same_trace=True, new_parent=True),),
    ),
    Case(
        "test_traceparent_duplicated",
        L1,
        (
            Send(
                tp(("traceparent", TP.replace("9012-", "9011-")), ("traceparent", TP)),
                same_trace=False,
            ),
        ),
    ),
    Case(
        "test_traceparent_header_name",
        L1,
        (
            Send(tp(("trace-parent", TP)), same_trace=False),
            Send(tp(("trace.parent", TP)), same_trace=False),
        ),
    ),
    Case(
        "test_traceparent_header_name_valid_casing",
        L1,
        tuple(
            Send(tp((n, TP)), same_trace=True)
            for n in ("TraceParent", "TrAcEpArEnT", "TRACEPARENT")
        ),
    ),
    Case(
        "test_traceparent_version_0x00",
        L1,
        (new_trace(TP + "."), new_trace(TP + "-what-the-future-will-be-like")),
    ),
    Case(
        "test_traceparent_version_0xcc",
        L1,
        (
            Send(tp(("traceparent", "cc" + TP[2:])), same_trace=True),
            Send(
                tp(("traceparent", "cc" + TP[2:] + "-what-the-future-will-be-like")),
                same_trace=True,
            ),
            new_trace("cc" + TP[2:] + ".what-the-future-will-be-like"),
        ),
    ),
    Case("test_traceparent_version_0xff", L1, (new_trace("ff" + TP[2:]),)),
    Case(
        "test_traceparent_version_illegal_characters",
        L1,
        (new_trace(".0" + TP[2:]), new_trace("0." + TP[2:])),
    ),
    Case(
        "test_traceparent_version_too_long",
        L1,
        (new_trace("000" + TP[2:]), new_trace("0000" + TP[2:])),
    ),
    Case("test_traceparent_version_too_short", L1, (new_trace("0" + TP[2:]),)),
    Case("test_traceparent_trace_id_all_zero", L1, (new_trace(f"00-{'0' * 32}-{PARENT_ID}-01"),)),
    Case(
        "test_traceparent_trace_id_illegal_characters",
        L1,
        (new_trace(f"00-.{ID[1:]}-{PARENT_ID}-01"), new_trace(f"00-{ID[:-1]}.-{PARENT_ID}-01")),
    ),
    Case("test_traceparent_trace_id_too_long", L1, (new_trace(f"00-{ID}3-{PARENT_ID}-01"),)),
    Case("test_traceparent_trace_id_too_short", L1, (new_trace(f"00-{ID[:-1]}-{PARENT_ID}-01"),)),
    Case("test_traceparent_parent_id_all_zero", L1, (new_trace(f"00-{ID}-{'0' * 16}-01"),)),
    Case(
        "test_traceparent_parent_id_illegal_characters",
        L1,
        (new_trace(f"00-{ID}-.{PARENT_ID[1:]}-01"), new_trace(f"00-{ID}-{PARENT_ID[:-1]}.-01")),
    ),
    Case("test_traceparent_parent_id_too_long", L1, (new_trace(f"00-{ID}-{PARENT_ID}7-01"),)),
    Case("test_traceparent_parent_id_too_short", L1, (new_trace(f"00-{ID}-{PARENT_ID[:-1]}-01"),)),
    Case(
        "test_traceparent_trace_flags_illegal_characters",
        L1,
        (new_trace(f"00-{ID}-{PARENT_ID}-.0"), new_trace(f"00-{ID}-{PARENT_ID}-0.")),
    ),
    Case("test_traceparent_trace_flags_too_long", L1, (new_trace(f"00-{ID}-{PARENT_ID}-001"),)),
    Case("test_traceparent_trace_flags_too_short", L1, (new_trace(f"00-{ID}-{PARENT_ID}-1"),)),
    Case(
        "test_traceparent_ows_handling",
        L1,
        tuple(
            Send(tp(("traceparent", v)), same_trace=True)
            for v in (" " + TP, "\t" + TP, TP + " ", TP + "\t", "\t " + TP + " \t")
        ),
    ),
    Case(
        "test_tracestate_included_traceparent_missing",
        L1,
        # The harness compares the member counts of the two answers; the spec says such a
        # tracestate MUST be discarded, which is what this checks directly.
        (
            Send(tp(("tracestate", "foo=1")), lacks=("foo",)),
            Send(tp(("tracestate", "foo=1,bar=2")), lacks=("foo", "bar")),
        ),
    ),
    Case(
        "test_tracestate_included_traceparent_included",
        L1,
        (Send(state("foo=1,bar=2"), same_trace=True, has={"foo": "1", "bar": "2"}),),
    ),
    Case(
        "test_tracestate_header_name",
        L1,
        (
            Send((("traceparent", TP0), ("trace-state", "foo=1")), lacks=("foo",)),
            Send((("traceparent", TP0), ("trace.state", "foo=1")), lacks=("foo",)),
        ),
    ),
    Case(
        "test_tracestate_header_name_valid_casing",
        L1,
        tuple(
            Send((("traceparent", TP0), (n, "foo=1")), has={"foo": "1"})
            for n in ("TraceState", "TrAcEsTaTe", "TRACESTATE")
        ),
    ),
    Case(
        "test_tracestate_empty_header",
        L1,
        (
            Send(state(""), same_trace=True),
            Send(state("foo=1", ""), same_trace=True, has={"foo": "1"}),
            Send(state("", "foo=1"), same_trace=True, has={"foo": "1"}),
        ),
    ),
    Case(
        "test_tracestate_multiple_headers_different_keys",
        L1,
        (
            Send(
                state("foo=1,bar=2", "rojo=1,congo=2", "baz=3"),
                same_trace=True,
                in_order=("foo=1", "bar=2", "rojo=1", "congo=2", "baz=3"),
            ),
        ),
    ),
    Case(
        "test_tracestate_duplicated_keys",
        L1,
        # "either kept as-is or one of them to be discarded"
        (
            Send(state("foo=1,foo=1"), same_trace=True, has={"foo": "1"}),
            Send(state("foo=1,foo=2"), same_trace=True, has={"foo": ("1", "2")}),
            Send(state("foo=1", "foo=1"), same_trace=True, has={"foo": "1"}),
            Send(state("foo=1", "foo=2"), same_trace=True, has={"foo": ("1", "2")}),
        ),
        strict=True,
    ),
    Case(
        "test_tracestate_all_allowed_characters",
        L1,
        (
            Send(
                state(f"{KEY_WITHOUT_VENDOR}={ALL_VALUE_CHARS}"),
                has={KEY_WITHOUT_VENDOR: ALL_VALUE_CHARS},
            ),
            Send(
                state(f"{KEY_WITH_VENDOR}={ALL_VALUE_CHARS}"),
                has={KEY_WITH_VENDOR: ALL_VALUE_CHARS},
            ),
        ),
    ),
    Case(
        "test_tracestate_ows_handling",
        L1,
        tuple(
            Send(state(v), has={"foo": "1", "bar": "2", "baz": "3"})
            for v in ("foo=1 \t , \t bar=2, \t baz=3", "foo=1\t \t,\t \tbar=2,\t \tbaz=3")
        )
        + tuple(
            Send(state(v), same_trace=True, has={"foo": "1"})
            for v in (" foo=1", "\tfoo=1", "foo=1 ", "foo=1\t", "\t foo=1 \t")
        ),
    ),
    Case(
        "test_tracestate_key_illegal_characters",
        L1,
        tuple(Send(state(v)) for v in ("foo =1", "FOO=1", "foo.bar=1")),  # must not be sent on
        strict=True,
    ),
    Case(
        "test_tracestate_key_illegal_vendor_format",
        L1,
        (
            Send(state("foo@=1,bar=2"), has={"foo@": "1", "bar": "2"}),
            Send(state("@foo=1,bar=2"), lacks=("bar",)),
            Send(state("foo@@bar=1,bar=2"), has={"foo@@bar": "1", "bar": "2"}),
            Send(state("foo@bar@baz=1,bar=2"), has={"foo@bar@baz": "1", "bar": "2"}),
        ),
        strict=True,
    ),
    Case(
        "test_tracestate_member_count_limit",
        L1,
        (
            Send(
                state(
                    ",".join(BARS[0:10]),
                    ",".join(BARS[10:20]),
                    ",".join(BARS[20:30]),
                    ",".join(BARS[30:32]),
                ),
                has={"bar01": "01"},
                members=32,
            ),
            Send(
                state(
                    ",".join(BARS[0:10]),
                    ",".join(BARS[10:20]),
                    ",".join(BARS[20:30]),
                    ",".join(BARS[30:33]),
                ),
                lacks=("bar01",),
            ),
        ),
        strict=True,
    ),
    Case(
        "test_tracestate_key_length_limit",
        L1,
        (
            Send(state("foo=1", "z" * 256 + "=1"), has={"foo": "1", "z" * 256: "1"}),
            Send(state("foo=1", "z" * 257 + "=1"), lacks=("foo",)),
            *(
                Send(state("foo=1", key + "=1"), has={"foo": "1", key: "1"})
                for key in ("t" * 241 + "@" + "v" * 14, "t" * 242 + "@v", "t@" + "v" * 15)
            ),
        ),
        strict=True,
    ),
    Case(
        "test_tracestate_value_illegal_characters",
        L1,
        (
            Send(state("foo=bar=baz"), lacks=("foo",)),
            Send(state("foo=,bar=3"), lacks=("foo", "bar")),
        ),
        strict=True,
    ),
    Case(
        "test_multiple_requests_with_valid_traceparent",
        "AdvancedTest",
        (Send(tp(("traceparent", TP)), same_trace=True, callbacks=3, distinct_parents=3),),
    ),
    Case(
        "test_multiple_requests_without_traceparent",
        "AdvancedTest",
        (Send((), callbacks=3, distinct_parents=3),),
    ),
    Case(
        "test_multiple_requests_with_illegal_traceparent",
        "AdvancedTest",
        (
            Send(
                tp(("traceparent", f"00-{'0' * 32}-{PARENT_ID}-01")),
                callbacks=3,
                distinct_parents=3,
                none_is=("0" * 32,),
            ),
        ),
    ),
    Case(
        "test_propagates_random_flag",
        "TraceContext2Test",
        (
            Send(
                tp(("traceparent", f"00-{ID}-{PARENT_ID}-02")),
                same_trace=True,
                new_parent=True,
                random_flag=True,
            ),
        ),
        level=2,
    ),
)

# The harness's strict tests that plain OpenTelemetry Python's propagator fails (measured
# by tests/sdk/test_w3c.py): its tracestate parser drops everything on a duplicate key or a
# Level 2 key, and it takes the first of two traceparent fields.
OTEL_FAILS = {
    "test_traceparent_duplicated",
    "test_tracestate_duplicated_keys",
    "test_tracestate_key_illegal_vendor_format",
    "test_tracestate_key_length_limit",
}

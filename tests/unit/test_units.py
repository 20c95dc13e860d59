"""spanscope.units: the one duration parser and formatter (PLAN.md's shared format).

The table is the spec's own examples plus the edges where rounding changes the unit; the
properties say that what the formatter prints the parser reads back to within the
formatter's rounding, and that no exponent is ever printed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spanscope.units import (
    DURATION_HINT,
    HOUR,
    MAX_NS,
    MINUTE,
    MS,
    US,
    S,
    format_duration,
    parse_duration,
)

SPEC = [
    (850, "850ns"),
    (0, "0ns"),
    (999, "999ns"),
    (1_000, "1µs"),
    (1_500_000, "1.5ms"),
    (12_000_000, "12ms"),
    (999_600_000, "999.6ms"),  # was "1e+03ms" in the headlines
    (123_456_789, "123.5ms"),
    (1_234_567_890, "1.235s"),
    (999_960_000, "1s"),  # rounds to 1000ms: the next unit
    (999_949_999, "999.9ms"),
    (999_999, "1ms"),  # 999.999µs rounds to 1000µs
    (9_999_600, "10ms"),
    (12_125, "12.13µs"),  # an exact tie rounds half up (not to even, as :.4g would)
    (90 * S, "1m30s"),
    (59 * MINUTE + 59 * S, "59m59s"),
    (HOUR + 2 * MINUTE + 3 * S, "1h2m3s"),
    (2 * HOUR, "2h"),
    (HOUR + 5 * MINUTE, "1h5m"),
    (HOUR + 5 * S, "1h0m5s"),
    (5 * MINUTE, "5m"),
    (89_500_000_000, "1m30s"),  # whole seconds, rounded half up
    (-1_500, "-1.5µs"),
]


@pytest.mark.parametrize(("ns", "text"), SPEC)
def test_format_follows_the_shared_spec(ns: int, text: str) -> None:
    assert format_duration(ns) == text


def test_format_takes_floats_rounded_to_whole_nanoseconds() -> None:
    assert format_duration(999.6e6) == "999.6ms"
    assert format_duration(1499.6) == "1.5µs"


PARSED = [
    ("1m30s", 90 * S),
    ("1h", HOUR),
    ("250ms", 250 * MS),
    ("1.5s", 1_500 * MS),
    ("100us", 100 * US),
    ("100µs", 100 * US),
    ("10ns", 10),
    ("1h2m3s", HOUR + 2 * MINUTE + 3 * S),
    ("2d", 48 * HOUR),
    (" 5s ", 5 * S),
    (".5s", 500 * MS),
]


@pytest.mark.parametrize(("text", "ns"), PARSED)
def test_parse_reads_go_and_prometheus_durations(text: str, ns: int) -> None:
    assert parse_duration(text) == ns


@pytest.mark.parametrize("text", [text for _, text in SPEC if not text.startswith("-")])
def test_parse_reads_everything_the_formatter_prints(text: str) -> None:
    assert parse_duration(text) >= 0


@pytest.mark.parametrize("text", ["90", "", "5 parsecs", "-1s", "1e3ms", "s", "1.5.5s"])
def test_bad_durations_name_the_value_and_show_a_valid_one(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    assert repr(text) in str(info.value) and "1m30s" in str(info.value)
    assert DURATION_HINT in str(info.value)


def test_a_bare_number_only_where_the_caller_gives_its_unit() -> None:
    assert parse_duration("90", bare=S) == 90 * S
    assert parse_duration("2.5", bare=S) == 2_500 * MS
    assert parse_duration("1m30s", bare=S) == 90 * S  # units still win
    with pytest.raises(ValueError, match="'90'"):
        parse_duration("90")
    with pytest.raises(ValueError, match="'90x'"):
        parse_duration("90x", bare=S)


def test_out_of_range_and_too_long_are_refused_before_overflow() -> None:
    with pytest.raises(ValueError, match="int64"):
        parse_duration(f"{MAX_NS}ns1ns")
    with pytest.raises(ValueError, match="longer than 64"):
        parse_duration("1s" * 40)


def _rounding_bound(ns: int) -> float:
    """How far the printed text may be from ``ns``: half a unit of the 4th digit below a
    minute, half a second above (plus a nanosecond for the integer rounding)."""
    if ns < US:
        return 0
    if ns >= MINUTE - S:  # 59.99..s prints as "60s": whole seconds from here
        return S / 2 + 1
    size = max(size for size in (US, MS, S) if ns >= size)
    digits = len(str(ns // size))
    return size * 10 ** (digits - 4) / 2 + 1


durations = st.one_of(
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=0, max_value=2 * MINUTE),
    st.integers(min_value=0, max_value=400 * HOUR),
    st.integers(min_value=0, max_value=MAX_NS // 2),
)


@given(durations)
def test_parse_of_format_is_within_rounding(ns: int) -> None:
    text = format_duration(ns)
    assert abs(parse_duration(text) - ns) <= _rounding_bound(ns), text


@given(st.one_of(durations, st.floats(min_value=0, max_value=1e15, allow_nan=False)))
def test_format_never_prints_an_exponent_or_more_than_four_digits(ns: float) -> None:
    text = format_duration(ns)
    assert re.fullmatch(r"\d+(\.\d+)?(ns|µs|ms|s)|(\d+h)?(\d+m)?(\d+s)?", text), text
    assert "e" not in text.replace("ns", "").replace("ms", "").replace("µs", "")
    if re.fullmatch(r"\d+(\.\d+)?(µs|ms|s)", text):
        assert len(re.sub(r"\D", "", text).lstrip("0")) <= 4, text


@given(durations)
def test_a_unit_below_a_minute_never_shows_1000(ns: int) -> None:
    text = format_duration(ns)
    if text.endswith(("µs", "ms")):
        assert float(text[:-2]) < 1000, text


def test_the_toml_config_reads_the_same_durations_as_the_cli(tmp_path: Path) -> None:
    from spanscope.sampling.config import load_config

    path = tmp_path / "spanscope.toml"
    path.write_text(
        '[retention]\nerror = "1m30s"\nslow_threshold = "999.6ms"\ninterval = "1h2m3s"\n'
        '[tail_sampling]\ndecision_wait = "1m30s"\n'
        '[[tail_sampling.policies]]\nname = "slow"\ntype = "latency"\nthreshold = "1.5s"\n'
    )
    config = load_config(path)
    assert config.retention.error_ns == parse_duration("1m30s") == 90 * S
    assert config.retention.slow_threshold_ns == 999_600_000
    assert config.retention.interval_ns == HOUR + 2 * MINUTE + 3 * S
    assert config.tail_sampling is not None
    assert config.tail_sampling.decision_wait_ns == 90 * S
    assert config.tail_sampling.policies[0].condition.params["threshold"] == 1_500 * MS

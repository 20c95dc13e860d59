"""OTEP 235 thresholds in one place: probability <-> rejection threshold <-> the ``th``
value in ``tracestate``, and the adjusted count a kept span stands for."""

from __future__ import annotations

import pytest

from spanscope.sampling.threshold import (
    MAX_THRESHOLD,
    adjusted_count,
    decode_threshold,
    encode_threshold,
    rate_to_threshold,
    threshold_to_rate,
    tracestate_adjusted_count,
    tracestate_threshold,
)


@pytest.mark.parametrize(
    ("rate", "text", "count"),
    [(1.0, "0", 1.0), (0.5, "8", 2.0), (0.25, "c", 4.0), (0.125, "e", 8.0), (0.0, None, 0.0)],
)
def test_a_rate_its_threshold_its_th_value_and_its_adjusted_count(
    rate: float, text: str | None, count: float
) -> None:
    th = rate_to_threshold(rate)
    assert threshold_to_rate(th) == rate
    assert adjusted_count(th) == count
    if text is not None:  # rate 0 keeps nothing: no kept span carries its th
        assert encode_threshold(th) == text
        assert decode_threshold(text) == th
    else:
        assert th == MAX_THRESHOLD


def test_encoding_drops_trailing_zeros_and_keeps_56_bits() -> None:
    th = rate_to_threshold(0.01)
    assert encode_threshold(th).startswith("fd70a")
    assert len(encode_threshold(th)) <= 14
    assert decode_threshold(encode_threshold(th)) == th
    assert adjusted_count(th) == pytest.approx(100.0)


@pytest.mark.parametrize("rate", [-0.1, 1.5, float("nan")])
def test_a_rate_outside_zero_to_one_is_refused_with_an_example(rate: float) -> None:
    with pytest.raises(ValueError, match=r"must be in \[0.0, 1.0\] \(e.g. 0.05 for 5 %\)"):
        rate_to_threshold(rate)


@pytest.mark.parametrize("text", ["", "C", "123456789abcdef", "0x8", "g"])
def test_a_th_value_that_is_not_1_to_14_lowercase_hex_digits_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="expected 1-14 lowercase hex digits"):
        decode_threshold(text)


@pytest.mark.parametrize(
    ("trace_state", "th"),
    [
        ("ot=th:8", 1 << 55),
        ("vendor=x,ot=rv:ffffffffffffff;th:c", 0xC << 52),
        ("ot=th:c;rv:ffffffffffffff, other=1", 0xC << 52),
        ("", None),
        ("vendor=th:8", None),  # another vendor's key, not OTel's
        ("ot=th:", None),
        ("ot=th:C", None),
    ],
)
def test_the_threshold_inside_a_tracestate(trace_state: str, th: int | None) -> None:
    assert tracestate_threshold(trace_state) == th
    expected = 1.0 if th is None else MAX_THRESHOLD / (MAX_THRESHOLD - th)
    assert tracestate_adjusted_count(trace_state) == expected


def test_the_sdk_policies_and_red_metrics_use_this_module() -> None:
    from spanscope.analysis import red
    from spanscope.sampling import policies
    from spanscope.sdk import sampling

    assert sampling.rate_to_threshold is rate_to_threshold
    assert sampling.encode_threshold is encode_threshold
    assert sampling.MAX_THRESHOLD == MAX_THRESHOLD
    assert policies.rate_to_threshold is rate_to_threshold
    assert red.adjusted_count is tracestate_adjusted_count

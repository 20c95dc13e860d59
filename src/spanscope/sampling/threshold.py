"""OTEP 235 consistent-probability sampling: probability <-> threshold <-> ``th``.

OpenTelemetry's consistent probability sampling (OTEP 235, the ``ot`` entry of the W3C
``tracestate``) compares 56 random bits of a trace with a 56-bit *rejection threshold*:
a trace is kept when its randomness is ``>= th``. A sampling probability ``p`` is the
threshold ``th = (1 - p) * 2**56``; a kept span records ``th`` in its tracestate as 1-14
lowercase hex digits with trailing zeros dropped (``ot=th:c`` is 25 %), so whoever counts
spans later knows each stands for ``2**56 / (2**56 - th)`` spans (its *adjusted count*).

>>> th = rate_to_threshold(0.25)
>>> encode_threshold(th), adjusted_count(th), threshold_to_rate(decode_threshold("c"))
('c', 4.0, 0.25)
>>> tracestate_adjusted_count("vendor=1,ot=th:8;rv:ffffffffffffff")
2.0

This is the one home of those facts: the SDK's head sampler (:mod:`spanscope.sdk.sampling`)
writes ``th``, the tail sampler's policies (:mod:`spanscope.sampling.policies`) weigh the
traces they keep with it, and RED metrics (:mod:`spanscope.analysis.red`) and the stores
read it back (:data:`TH_PATTERN` is RE2-compatible, so SQL can use it too).
"""

from __future__ import annotations

import re

MAX_THRESHOLD = 1 << 56
"""``th == 2**56`` means "never": no randomness value reaches it (probability 0)."""
RANDOMNESS_MASK = MAX_THRESHOLD - 1
"""The 56 bits of randomness (the low bits of a W3C random trace id, or ``rv``)."""

TH_PATTERN = r"(?:^|,)\s*ot=(?:[^,]*;)?th:([0-9a-f]{1,14})(?:;|,|$)"
"""OTEP 235's threshold inside a tracestate (RE2-compatible: stores use it in SQL too)."""
_TH = re.compile(TH_PATTERN)
_HEX_DIGITS = frozenset("0123456789abcdef")


def rate_to_threshold(rate: float) -> int:
    """Sampling probability -> OTEP 235 rejection threshold in [0, 2**56]."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"sampling rate {rate!r}: must be in [0.0, 1.0] (e.g. 0.05 for 5 %)")
    return round((1.0 - rate) * MAX_THRESHOLD)


def threshold_to_rate(th: int) -> float:
    """Rejection threshold -> the probability it keeps a trace with."""
    return (MAX_THRESHOLD - th) / MAX_THRESHOLD


def adjusted_count(th: int) -> float:
    """How many spans one kept span stands for at threshold ``th`` (0 for "never")."""
    return MAX_THRESHOLD / (MAX_THRESHOLD - th) if th < MAX_THRESHOLD else 0.0


def encode_threshold(th: int) -> str:
    """Threshold -> the ``th`` value: 14 hex digits with trailing zeros dropped (``0`` = all)."""
    if th == 0:
        return "0"
    return f"{th:014x}".rstrip("0")


def decode_threshold(text: str) -> int:
    """The ``th`` value -> threshold; raises ValueError on anything but 1-14 hex digits."""
    if not 1 <= len(text) <= 14 or not _HEX_DIGITS.issuperset(text):
        raise ValueError(f"tracestate ot th:{text!r}: expected 1-14 lowercase hex digits")
    return int(text.ljust(14, "0"), 16)


def tracestate_threshold(trace_state: str) -> int | None:
    """The threshold a W3C ``tracestate`` header value records, or None if it has none."""
    if "th:" not in trace_state:  # the common case, without the regex
        return None
    m = _TH.search(trace_state)
    return None if m is None else int(m.group(1).ljust(14, "0"), 16)


def tracestate_adjusted_count(trace_state: str) -> float:
    """How many requests a span sampled with tracestate ``trace_state`` stands for (1 when
    it records no threshold: it was not sampled, or not consistently)."""
    th = tracestate_threshold(trace_state)
    return 1.0 if th is None else MAX_THRESHOLD / (MAX_THRESHOLD - th)

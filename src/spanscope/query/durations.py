"""One parser for every duration and point in time the query API, the CLI and the sampling
config accept, linear in the text and bounded in length and range.

::

    >>> parse_duration("1m30s")
    90000000000
    >>> parse_duration("1.5h") == parse_duration("90m")
    True
    >>> parse_time("2026-11-25T09:00:00Z")
    1795597200000000000
    >>> parse_integer("1764061200000", MS, "milliseconds")   # Jaeger's endTs
    1764061200000000000

A duration is Go's syntax: numbers with units (``ns us µs ms s m h d``), one after the
other, no sign. A point in time is RFC 3339 or a unix timestamp whose unit is told by its
size (seconds, ms, µs or ns). Every value is unix nanoseconds or nanoseconds, an int64:

- at most :data:`MAX_CHARS` (64) characters: a longer value is refused before it is read,
  so a 40,000-character ``lookback`` costs nothing (issue 10: it used to cost 36 s of a
  regex that held the GIL, and ``/healthz`` with it);
- at most :data:`MAX_NS` (2^63 - 1 ns, ~292 years; times up to the year 2262), never
  negative: a 400-digit number is an error that names it, not an overflow in the store.

Errors are ``ValueError`` whose message shows the value truncated (:func:`shown`); the API
prefixes the parameter's name and answers 400.
"""

from __future__ import annotations

import re
from datetime import datetime

MAX_CHARS = 64
"""Longest duration, time or number text accepted (``2026-11-25T09:00:00.123456789+01:00``
is 35)."""
MAX_NS = 2**63 - 1
"""The largest duration or unix time, in ns: what the store's BIGINT columns hold."""

NS, US, MS, S = 1, 1_000, 1_000_000, 1_000_000_000
UNITS = {"ns": NS, "us": US, "µs": US, "ms": MS, "s": S, "m": 60 * S, "h": 3600 * S, "d": 86400 * S}
_TWO_CHAR_UNITS = ("ns", "us", "µs", "ms")
_DIGITS = frozenset("0123456789")  # not str.isdigit(): that takes "²" and "٣" too
DURATION_HINT = "expected a number with a unit, e.g. 250ms, 1.5s, 1m30s (units: ns us ms s m h d)"


def shown(text: str, keep: int = 40) -> str:
    """``text`` quoted for an error message, cut to ``keep`` characters when longer."""
    if len(text) <= keep:
        return repr(text)
    return f"{text[:keep]!r}... ({len(text)} characters)"


def shown_int(n: int) -> str:
    """An integer for an error message: whole up to 40 digits (str() of a 5,000-digit int
    would itself raise)."""
    return str(n) if -(10**40) < n < 10**40 else f"{'-' if n < 0 else ''}<a number over 40 digits>"


def _check_length(text: str, what: str) -> None:
    if len(text) > MAX_CHARS:
        raise ValueError(f"{what} {shown(text)}: longer than {MAX_CHARS} characters")


def _digits_end(t: str, i: int) -> int:
    while i < len(t) and t[i] in _DIGITS:
        i += 1
    return i


def parse_duration(text: str) -> int:
    """Go-style duration -> nanoseconds: "250ms", "1.5s", "1m30s", "2h" (one pass)."""
    _check_length(text, "duration")
    t = text.strip()
    if not t:
        raise ValueError(f"duration {shown(text)}: {DURATION_HINT}")
    total, i = 0, 0
    while i < len(t):
        j = _digits_end(t, i)
        whole = t[i:j]
        fraction = ""
        if j < len(t) and t[j] == ".":
            k = _digits_end(t, j + 1)
            fraction, j = t[j + 1 : k], k
        unit = t[j : j + 2] if t[j : j + 2] in _TWO_CHAR_UNITS else t[j : j + 1]
        if not (whole or fraction) or unit not in UNITS:
            raise ValueError(f"duration {shown(text)}: {DURATION_HINT}")
        scale = UNITS[unit]
        total += int(whole or 0) * scale
        if fraction:  # exact: 1.5h is 5,400,000,000,000 ns, rounded half up below 1 ns
            denominator = 10 ** len(fraction)
            total += (2 * int(fraction) * scale + denominator) // (2 * denominator)
        if total > MAX_NS:
            raise ValueError(
                f"duration {shown(text)}: more than {MAX_NS} ns (~292 years, the int64 range)"
            )
        i = j + len(unit)
    return total


_UNIX = re.compile(r"\d+(\.\d+)?", re.ASCII)
_FRACTION = re.compile(r"\.(\d+)", re.ASCII)


def parse_time(text: str) -> int:
    """A point in time -> unix nanoseconds.

    Accepts RFC 3339 ("2026-11-25T09:00:00Z", with or without fraction/offset) or a unix
    timestamp whose unit is told by its size: seconds, milliseconds, microseconds or
    nanoseconds (Jaeger's API sends µs; ``date +%s`` in a shell gives seconds).
    """
    _check_length(text, "time")
    t = text.strip()
    if _UNIX.fullmatch(t):
        v = float(t)
        if v < 1e11:
            ns = int(v * 1e9)
        elif v < 1e14:
            ns = int(v * 1e6)
        elif v < 1e17:
            ns = int(v * 1e3)
        else:
            ns = int(t) if "." not in t else int(v)
        return _in_range(ns, text)
    iso = t.replace("Z", "+00:00").replace("z", "+00:00")
    frac = _FRACTION.search(iso)
    ns_frac = 0
    if frac:
        digits = frac.group(1)
        ns_frac = int(digits[:9].ljust(9, "0"))
        iso = iso[: frac.start()] + iso[frac.end() :]
    try:
        dt = datetime.fromisoformat(iso)
    except ValueError:
        raise ValueError(
            f"time {shown(text)}: expected RFC 3339 (2026-11-25T09:00:00Z) or a unix timestamp"
        ) from None
    if dt.tzinfo is None:
        raise ValueError(f"time {shown(text)}: add a UTC offset or 'Z'")
    try:
        seconds = int(dt.timestamp())
    except (OverflowError, OSError, ValueError):
        seconds = -1  # outside what the platform's clock can say: out of range below
    return _in_range(seconds * 1_000_000_000 + ns_frac, text)


def _in_range(ns: int, text: str) -> int:
    if not 0 <= ns <= MAX_NS:
        raise ValueError(
            f"time {shown(text)}: outside 1970-01-01 to 2262-04-11 (int64 unix nanoseconds)"
        )
    return ns


_INTEGER = re.compile(r"[+-]?\d+", re.ASCII)


def parse_integer(text: str, unit_ns: int, unit: str) -> int:
    """A whole number of ``unit`` (Jaeger's µs ``start``, ms ``endTs`` and ``lookback``)
    -> nanoseconds, in [0, :data:`MAX_NS`]."""
    _check_length(text, "number")
    t = text.strip()
    if not _INTEGER.fullmatch(t):
        raise ValueError(f"{shown(text)}: expected a whole number of {unit}")
    ns = int(t) * unit_ns
    if not 0 <= ns <= MAX_NS:
        top = MAX_NS // unit_ns
        raise ValueError(f"{shown(text)}: expected 0 to {top} {unit} (the int64 ns range)")
    return ns

"""One parser for every point in time the query API and the CLI accept, linear in the text and
bounded in length and range; durations are :mod:`spanscope.units`' (re-exported here for
the API modules that read both).

::

    >>> parse_duration("1m30s")
    90000000000
    >>> parse_duration("1.5h") == parse_duration("90m")
    True
    >>> parse_time("2026-11-25T09:00:00Z")
    1795597200000000000
    >>> parse_integer("1764061200000", MS, "milliseconds")   # Jaeger's endTs
    1764061200000000000

A duration is Go's syntax (:func:`spanscope.units.parse_duration`). A point in time is
RFC 3339 or a unix timestamp whose unit is told by its size (seconds, ms, µs or ns).
Every value is unix nanoseconds or nanoseconds, an int64:

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

from spanscope.units import (
    DURATION_HINT,
    MAX_CHARS,
    MAX_NS,
    MS,
    NS,
    UNITS,
    US,
    S,
    parse_duration,
    shown,
    shown_int,
)
from spanscope.units import check_length as _check_length

__all__ = ["DURATION_HINT", "MAX_CHARS", "MAX_NS", "MS", "NS", "S", "UNITS", "US",
           "parse_duration", "parse_integer", "parse_time", "shown", "shown_int"]  # fmt: skip


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

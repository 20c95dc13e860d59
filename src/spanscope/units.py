"""Durations, the one way: a parser for what people type and a formatter for what they read.

Everything that takes a duration as text (the query API's ``min_duration`` and ``lookback``,
the CLI's flags, the TOML config's ``threshold`` and ``[retention]``) goes through
:func:`parse_duration`; everything that shows one (the CLI's tables and waterfall, the
analysis headlines, the web UI's ``format.js`` from the same spec) prints it as
:func:`format_duration` does, so one duration reads the same everywhere::

    >>> parse_duration("1m30s"), parse_duration("250ms"), parse_duration("100µs")
    (90000000000, 250000000, 100000)
    >>> parse_duration("90", bare=S)         # the caller says a bare number is seconds
    90000000000
    >>> [format_duration(ns) for ns in (850, 1_500_000, 999_600_000, 999_960_000, 90 * S)]
    ['850ns', '1.5ms', '999.6ms', '1s', '1m30s']

The format (shared with the UI; docs/cli.md shows it):

- under 1µs: whole nanoseconds, ``850ns``;
- under a minute: the largest of µs, ms, s in which the value is at least 1, rounded (half
  up, on the exact integer, so Python and JavaScript agree) to 4 significant digits, no
  exponent, trailing zeros and ``.`` dropped: ``1.5ms``, ``12ms``, ``999.6ms``,
  ``1.235s``; a value that rounds to 1000µs or 1000ms moves up a unit (``999.96ms`` ->
  ``1s``). The micro sign is ``µ`` (U+00B5), as in the parser;
- from a minute: whole seconds (rounded half up) as ``1m30s``, from an hour ``1h2m3s``,
  trailing zero parts dropped: ``2h``, ``1h5m``, ``5m``.

A duration is written as Go and Prometheus write them: numbers with units (``ns us µs ms s
m h d``), one after the other (``1h30m``, ``1.5s``), no sign. It is at most
:data:`MAX_CHARS` characters (longer text is refused before it is read: issue 10, where a
40,000-character ``lookback`` held the GIL for 36 s) and at most :data:`MAX_NS`. Errors are
``ValueError`` naming the value (:func:`shown`) and showing a valid one.
"""

from __future__ import annotations

NS, US, MS, S = 1, 1_000, 1_000_000, 1_000_000_000
MINUTE, HOUR, DAY = 60 * S, 3600 * S, 86400 * S
UNITS = {"ns": NS, "us": US, "µs": US, "ms": MS, "s": S, "m": MINUTE, "h": HOUR, "d": DAY}
"""Unit suffix -> nanoseconds, as the parser reads them."""

MAX_CHARS = 64
"""Longest duration, time or number text accepted (``2026-11-25T09:00:00.123456789+01:00``
is 35)."""
MAX_NS = 2**63 - 1
"""The largest duration or unix time, in ns (~292 years): what the store's BIGINT holds."""

DURATION_HINT = "expected a number with a unit, e.g. 250ms, 1.5s, 1m30s (units: ns us ms s m h d)"
_TWO_CHAR_UNITS = ("ns", "us", "µs", "ms")
_DIGITS = frozenset("0123456789")  # not str.isdigit(): that takes "²" and "٣" too
_SIGNIFICANT = 4
_SUBSECOND = (("µs", US), ("ms", MS), ("s", S))


def shown(text: str, keep: int = 40) -> str:
    """``text`` quoted for an error message, cut to ``keep`` characters when longer."""
    if len(text) <= keep:
        return repr(text)
    return f"{text[:keep]!r}... ({len(text)} characters)"


def shown_int(n: int) -> str:
    """An integer for an error message: whole up to 40 digits (str() of a 5,000-digit int
    would itself raise)."""
    return str(n) if -(10**40) < n < 10**40 else f"{'-' if n < 0 else ''}<a number over 40 digits>"


def check_length(text: str, what: str) -> None:
    """Refuse ``text`` longer than :data:`MAX_CHARS` before reading it."""
    if len(text) > MAX_CHARS:
        raise ValueError(f"{what} {shown(text)}: longer than {MAX_CHARS} characters")


def _digits_end(t: str, i: int) -> int:
    while i < len(t) and t[i] in _DIGITS:
        i += 1
    return i


def parse_duration(text: str, bare: int | None = None) -> int:
    """A duration as text -> nanoseconds: "250ms", "1.5s", "1m30s", "2h" (one pass, exact).

    ``bare``: what a number without a unit means, in ns (``bare=S``: "90" is 90 s); None
    (the default) refuses it, since "90" could be any unit.
    """
    check_length(text, "duration")
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
        if bare is not None and i == 0 and j == len(t) and (whole or fraction):
            return _checked(_amount(whole, fraction, bare), text)  # one bare number
        if not (whole or fraction) or unit not in UNITS:
            raise ValueError(f"duration {shown(text)}: {DURATION_HINT}")
        total = _checked(total + _amount(whole, fraction, UNITS[unit]), text)
        i = j + len(unit)
    return total


def _amount(whole: str, fraction: str, scale: int) -> int:
    """``whole.fraction`` units of ``scale`` ns, exact (1.5h is 5,400,000,000,000 ns),
    rounded half up below 1 ns."""
    ns = int(whole or 0) * scale
    if fraction:
        denominator = 10 ** len(fraction)
        ns += (2 * int(fraction) * scale + denominator) // (2 * denominator)
    return ns


def _checked(ns: int, text: str) -> int:
    if ns > MAX_NS:
        raise ValueError(
            f"duration {shown(text)}: more than {MAX_NS} ns (~292 years, the int64 range)"
        )
    return ns


def format_duration(ns: int | float) -> str:
    """Nanoseconds as a person reads them: 850ns, 42µs, 999.6ms, 1.235s, 1m30s, 1h2m3s.

    A float is rounded to whole nanoseconds first; a negative value gets a leading ``-``.
    """
    n = round(ns)
    if n < 0:
        return "-" + format_duration(-n)
    if n < US:
        return f"{n}ns"
    if n < MINUTE:
        return _subsecond(n)
    seconds = (n + S // 2) // S
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(hours, "h"), (minutes, "m"), (secs, "s")]
    while parts[-1][0] == 0:
        parts.pop()  # trailing zero parts: "2h", "1h5m" (a minute or more is never empty)
    while parts[0][0] == 0:
        parts.pop(0)
    return "".join(f"{value}{unit}" for value, unit in parts)


def _subsecond(n: int) -> str:
    """``n`` (1µs <= n < 1 min) in µs, ms or s, 4 significant digits, rounded half up."""
    index = max(i for i, (_, size) in enumerate(_SUBSECOND) if n >= size)
    while True:
        unit, size = _SUBSECOND[index]
        decimals = max(0, _SIGNIFICANT - len(str(n // size)))
        scaled = (2 * n * 10**decimals + size) // (2 * size)  # value * 10^decimals, half up
        if scaled >= 1000 * 10**decimals and unit != "s":
            index += 1  # 999.96ms rounds to 1000ms: say 1s
            continue
        whole, fraction = divmod(scaled, 10**decimals)
        digits = str(fraction).rjust(decimals, "0").rstrip("0") if decimals else ""
        return f"{whole}.{digits}{unit}" if digits else f"{whole}{unit}"

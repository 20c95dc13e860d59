"""One typed query model. The native API, the Jaeger- and Tempo-compatible APIs and the
CLI all parse their parameters into a :class:`SearchQuery`; each store compiles it.

Search semantics (Jaeger's): a trace matches when ONE of its spans matches every given
filter together — service, operation, attribute conditions, span duration range and
status — and that span started inside ``[start_ns, end_ns]``. Results are trace
summaries, newest first (by the trace's start) or slowest first (by trace duration).

Attribute conditions are typed::

    >>> parse_condition("http.status_code>=500")
    Condition(key='http.status_code', op='>=', value=500)
    >>> parse_condition('user.id="42"')          # quotes force a string
    Condition(key='user.id', op='=', value='42')
    >>> parse_duration("1.5s")
    1500000000

A condition matches span attributes or resource attributes (a resource attribute such as
``host.name`` is a property of every span of that process, as in Jaeger's process tags).
A number matches an int or double attribute; ``=`` and ``!=`` with a number also match a
string attribute holding that number's text, so ``http.status_code=500`` finds spans from
SDKs that record it as a string.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

OPERATORS = ("!=", ">=", "<=", "=", ">", "<")
Op = Literal["=", "!=", ">", ">=", "<", "<="]
Scalar = str | int | float | bool

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000
DEFAULT_LOOKBACK_NS = 3600 * 1_000_000_000


@dataclass(frozen=True, slots=True)
class Condition:
    key: str
    op: Op
    value: Scalar


@dataclass(slots=True)
class SearchQuery:
    start_ns: int
    end_ns: int
    service: str | None = None
    operation: str | None = None
    conditions: list[Condition] = field(default_factory=list)
    min_duration_ns: int | None = None
    max_duration_ns: int | None = None
    status: Literal["error", "ok", "unset"] | None = None
    limit: int = DEFAULT_LIMIT
    order: Literal["newest", "slowest"] = "newest"

    def __post_init__(self) -> None:
        if self.end_ns < self.start_ns:
            raise ValueError("time range: end is before start")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise ValueError(f"limit {self.limit}: expected 1 to {MAX_LIMIT}")
        if self.order not in ("newest", "slowest"):
            raise ValueError(f"order {self.order!r}: expected 'newest' or 'slowest'")
        if self.status not in (None, "error", "ok", "unset"):
            raise ValueError(f"status {self.status!r}: expected 'error', 'ok' or 'unset'")
        if (
            self.min_duration_ns is not None
            and self.max_duration_ns is not None
            and self.max_duration_ns < self.min_duration_ns
        ):
            raise ValueError("duration range: max duration is below min duration")


def parse_value(text: str) -> Scalar:
    """Infer a typed literal: "500" -> 500, "0.5" -> 0.5, "true" -> True, '"500"' -> "500"."""
    t = text.strip()
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "\"'":
        return t[1:-1]
    if t in ("true", "false"):
        return t == "true"
    if re.fullmatch(r"[+-]?\d+", t):
        return int(t)
    if re.fullmatch(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?", t):
        return float(t)
    return t


def parse_condition(text: str) -> Condition:
    """Parse ``key<op>value`` (ops: = != > >= < <=); Jaeger's ``key:value`` means ``=``."""
    for i, ch in enumerate(text):
        if ch in "=!<>:":
            key = text[:i].strip()
            rest = text[i:]
            op = next((o for o in OPERATORS if rest.startswith(o)), None)
            if op is None and ch == ":":
                op, raw = "=", rest[1:]
            elif op is None:
                break
            else:
                raw = rest[len(op) :]
            if not key:
                raise ValueError(f"condition {text!r}: missing attribute name before {op!r}")
            if raw.strip() == "":
                raise ValueError(f"condition {text!r}: missing value after {op!r}")
            value = parse_value(raw)
            if op in (">", ">=", "<", "<=") and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise ValueError(f"tag filter {text!r}: expected a number after {op!r}")
            return Condition(key, op, value)  # type: ignore[arg-type]
    raise ValueError(
        f"condition {text!r}: expected key<op>value with op one of = != > >= < <= "
        "(e.g. http.status_code>=500)"
    )


_DURATION_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
    "d": 86400 * 1_000_000_000,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d)")


def parse_duration(text: str) -> int:
    """Go-style duration -> nanoseconds: "250ms", "1.5s", "1m30s", "2h"."""
    t = text.strip()
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(t):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if not t or pos != len(t):
        raise ValueError(
            f"duration {text!r}: expected a number with a unit, e.g. 250ms, 1.5s, 1m30s "
            "(units: ns us ms s m h d)"
        )
    return int(round(total))


def parse_time(text: str) -> int:
    """A point in time -> unix nanoseconds.

    Accepts RFC 3339 ("2026-11-25T09:00:00Z", with or without fraction/offset) or a unix
    timestamp whose unit is told by its size: seconds, milliseconds, microseconds or
    nanoseconds (as Jaeger's µs and Tempo's seconds both arrive here).
    """
    t = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", t):
        v = float(t)
        if v < 1e11:
            return int(v * 1e9)
        if v < 1e14:
            return int(v * 1e6)
        if v < 1e17:
            return int(v * 1e3)
        return int(t) if "." not in t else int(v)
    iso = t.replace("Z", "+00:00").replace("z", "+00:00")
    frac = re.search(r"\.(\d+)", iso)
    ns_frac = 0
    if frac:
        digits = frac.group(1)
        ns_frac = int(digits[:9].ljust(9, "0"))
        iso = iso[: frac.start()] + iso[frac.end() :]
    try:
        dt = datetime.fromisoformat(iso)
    except ValueError:
        raise ValueError(
            f"time {text!r}: expected RFC 3339 (2026-11-25T09:00:00Z) or a unix timestamp"
        ) from None
    if dt.tzinfo is None:
        raise ValueError(f"time {text!r}: add a UTC offset or 'Z'")
    return int(dt.timestamp()) * 1_000_000_000 + ns_frac


def now_ns() -> int:
    return time.time_ns()


def time_range(
    start: str | None, end: str | None, lookback: str | None, default_lookback_ns: int
) -> tuple[int, int]:
    """Resolve start/end/lookback parameters into a [start_ns, end_ns] window."""
    end_ns = parse_time(end) if end else now_ns()
    if start:
        start_ns = parse_time(start)
    else:
        span = parse_duration(lookback) if lookback else default_lookback_ns
        start_ns = end_ns - span
    if end_ns < start_ns:
        raise ValueError("time range: end is before start")
    return start_ns, end_ns


@dataclass(slots=True)
class LogQuery:
    """Log search (issue #7): records whose time is in ``[start_ns, end_ns]`` and that match
    every given filter — service, ``min_severity`` (OTLP severity number, 13 = WARN),
    ``text`` (case-insensitive substring of the body), ``attributes`` (key = value as text,
    log or resource attribute), trace id and span id. Newest first, up to ``limit``."""

    start_ns: int
    end_ns: int
    service: str | None = None
    min_severity: int | None = None
    text: str | None = None
    attributes: list[tuple[str, str]] = field(default_factory=list)
    trace_id: bytes | None = None
    span_id: bytes | None = None
    limit: int = 100
    order: Literal["newest", "oldest"] = "newest"

    def __post_init__(self) -> None:
        if self.end_ns < self.start_ns:
            raise ValueError("time range: end is before start")
        if not 1 <= self.limit <= MAX_LOG_LIMIT:
            raise ValueError(f"limit {self.limit}: expected 1 to {MAX_LOG_LIMIT}")
        if self.order not in ("newest", "oldest"):
            raise ValueError(f"order {self.order!r}: expected 'newest' or 'oldest'")


MAX_LOG_LIMIT = 5000

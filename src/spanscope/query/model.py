"""One typed query model. The native API, the Jaeger-compatible APIs and the CLI all
parse their parameters into a :class:`SearchQuery`; each store compiles it.

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

import math
import re
import time
from dataclasses import dataclass, field
from typing import Literal

from spanscope.query.durations import MAX_NS, parse_duration, parse_time, shown, shown_int

__all__ = ["parse_duration", "parse_time"]  # re-exported: one parser, query/durations.py

OPERATORS = ("!=", ">=", "<=", "=", ">", "<")
Op = Literal["=", "!=", ">", ">=", "<", "<="]
Scalar = str | int | float | bool
TraceStatus = Literal["error", "ok", "unset"]
"""A search's status filter: spans whose status is ERROR, OK or UNSET."""
TraceOrder = Literal["newest", "slowest"]
"""Search results by the trace's start, newest first, or by its duration, slowest first."""
LogOrder = Literal["newest", "oldest"]

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000
DEFAULT_LOOKBACK_NS = 3600 * 1_000_000_000
MAX_CONDITIONS = 64
"""Attribute conditions per search: each is a join in the store's SQL, and a thousand of
them made DuckDB's binder fail (issue 10)."""
MAX_CONDITION_CHARS = 4096
"""Longest attribute key or string value a condition may compare."""


@dataclass(frozen=True, slots=True)
class Condition:
    key: str
    op: Op
    value: Scalar

    def __post_init__(self) -> None:
        if not isinstance(self.value, str | int | float | bool):
            raise ValueError(
                f"condition on {shown(self.key)}: value {shown(repr(self.value))} is not a "
                "string, number or boolean"
            )
        if len(self.key) > MAX_CONDITION_CHARS or (
            isinstance(self.value, str) and len(self.value) > MAX_CONDITION_CHARS
        ):
            raise ValueError(
                f"condition on {shown(self.key)}: key or value longer than "
                f"{MAX_CONDITION_CHARS} characters"
            )
        if isinstance(self.value, int) and not isinstance(self.value, bool):
            if not -MAX_NS - 1 <= self.value <= MAX_NS:
                raise ValueError(
                    f"condition on {shown(self.key)}: {shown_int(self.value)} is outside "
                    "the int64 range that attributes hold"
                )
        elif isinstance(self.value, float) and not math.isfinite(self.value):
            raise ValueError(f"condition on {shown(self.key)}: {self.value} is not a finite number")


@dataclass(slots=True)
class SearchQuery:
    start_ns: int
    end_ns: int
    service: str | None = None
    operation: str | None = None
    conditions: list[Condition] = field(default_factory=list)
    min_duration_ns: int | None = None
    max_duration_ns: int | None = None
    status: TraceStatus | None = None
    limit: int = DEFAULT_LIMIT
    order: TraceOrder = "newest"

    def __post_init__(self) -> None:
        if self.end_ns < self.start_ns:
            raise ValueError("time range: end is before start")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise ValueError(f"limit {shown_int(self.limit)}: expected 1 to {MAX_LIMIT}")
        if len(self.conditions) > MAX_CONDITIONS:
            raise ValueError(
                f"{len(self.conditions)} attribute conditions (tag filters): at most "
                f"{MAX_CONDITIONS} per search"
            )
        for name, ns in (
            ("start", self.start_ns),
            ("end", self.end_ns),
            ("min duration", self.min_duration_ns),
            ("max duration", self.max_duration_ns),
        ):
            if ns is not None and not 0 <= ns <= MAX_NS:
                raise ValueError(f"{name} {shown_int(ns)} ns: outside 0 to {MAX_NS}")
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
        start_ns = max(0, end_ns - span)  # "36500d": everything since 1970, not negative
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
    order: LogOrder = "newest"

    def __post_init__(self) -> None:
        if self.end_ns < self.start_ns:
            raise ValueError("time range: end is before start")
        if not 1 <= self.limit <= MAX_LOG_LIMIT:
            raise ValueError(f"limit {shown_int(self.limit)}: expected 1 to {MAX_LOG_LIMIT}")
        if len(self.attributes) > MAX_CONDITIONS:
            raise ValueError(
                f"{len(self.attributes)} attribute filters: at most {MAX_CONDITIONS} per search"
            )
        if self.order not in ("newest", "oldest"):
            raise ValueError(f"order {self.order!r}: expected 'newest' or 'oldest'")


MAX_LOG_LIMIT = 5000

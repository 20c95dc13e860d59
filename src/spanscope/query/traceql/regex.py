"""``=~`` and ``!~``: anchored RE2 regular expressions, never catastrophic.

Tempo matches with Go's ``regexp`` (RE2 syntax, linear time) and anchors the pattern, so
``{ name =~ "GET.*" }`` matches "GET /orders" but not "xGET". We keep both promises:

- the pattern must be valid RE2: it is checked by RE2 itself (the one DuckDB embeds, a
  dependency we already have), so lookarounds and back-references — which RE2 lacks and
  which make backtracking engines exponential — are refused with RE2's own reason;
- matching uses Python's ``re`` (fast, no round trip) only when the pattern's shape cannot
  backtrack badly: no quantifier inside another quantifier, no alternation under a
  quantifier, at most two unbounded quantifiers. Every other pattern is matched by RE2
  (linear time), each distinct value once per query (:data:`CACHE_VALUES`).

>>> compile_regex("GET.*").matches("GET /orders"), compile_regex("GET.*").matches("xGET")
(True, False)
>>> compile_regex("(a+)+$").fast     # nested quantifier: RE2 runs it, in linear time
False
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from typing import Any

import duckdb

MAX_PATTERN_CHARS = 1024
"""Longest pattern accepted (RE2's own program-size limit is near 10x this)."""
CACHE_VALUES = 4096
"""Distinct values whose RE2 answer is remembered per pattern."""

_local = threading.local()
try:  # Python 3.11+: the module sre_parse became
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    import sre_parse as _sre_parse  # type: ignore[no-redef]


def _re2() -> duckdb.DuckDBPyConnection:
    con = getattr(_local, "con", None)
    if con is None:
        con = _local.con = duckdb.connect(":memory:")
    return con


class RegexError(ValueError):
    pass


class Regex:
    """A compiled, anchored pattern; :meth:`matches` answers whether a whole string does."""

    def __init__(self, pattern: str, compiled: re.Pattern[str] | None) -> None:
        self.pattern = pattern
        self.fast = compiled is not None
        self._compiled = compiled
        self._cache: dict[str, bool] = {}

    def matches(self, value: str) -> bool:
        if self._compiled is not None:
            return self._compiled.fullmatch(value) is not None
        hit = self._cache.get(value)
        if hit is None:
            try:
                row = (
                    _re2()
                    .execute("SELECT regexp_full_match(?, ?)", [value, self.pattern])
                    .fetchone()
                )
            except duckdb.Error:  # a value the engine cannot take (a NUL): no match
                row = None
            hit = bool(row and row[0])
            if len(self._cache) < CACHE_VALUES:
                self._cache[value] = hit
        return hit


@lru_cache(maxsize=256)
def compile_regex(pattern: str) -> Regex:
    """A :class:`Regex` for ``pattern``; RegexError naming the problem if RE2 refuses it."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise RegexError(
            f"regular expression of {len(pattern)} characters: at most {MAX_PATTERN_CHARS}"
        )
    try:
        _re2().execute("SELECT regexp_full_match('', ?)", [pattern]).fetchone()
    except duckdb.Error as exc:
        reason = str(exc).split("Error: ", 1)[-1]
        raise RegexError(f"invalid regular expression {pattern[:60]!r}: {reason}") from None
    return Regex(pattern, _python_if_safe(pattern))


def _python_if_safe(pattern: str) -> re.Pattern[str] | None:
    try:
        parsed = _sre_parse.parse(pattern)
        compiled = re.compile(pattern)
    except (re.error, RecursionError, OverflowError):
        return None  # valid RE2 that Python reads otherwise: RE2 decides
    unbounded = [0]
    if not _safe(parsed, inside_repeat=False, unbounded=unbounded) or unbounded[0] > 2:
        return None
    return compiled


_REPEATS = {"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"}


def _safe(items: Any, inside_repeat: bool, unbounded: list[int]) -> bool:
    for op, arg in items:
        name = str(op)
        if name in _REPEATS:
            lo, hi, body = arg
            many = hi is _sre_parse.MAXREPEAT or hi > 1
            if many and inside_repeat:
                return False
            if hi is _sre_parse.MAXREPEAT:
                unbounded[0] += 1
            if not _safe(body, inside_repeat or many, unbounded):
                return False
        elif name == "BRANCH":
            if inside_repeat:
                return False
            if not all(_safe(b, inside_repeat, unbounded) for b in arg[1]):
                return False
        elif name in ("SUBPATTERN", "ATOMIC_GROUP"):
            body = arg[-1]
            if not _safe(body, inside_repeat, unbounded):
                return False
        elif name in ("GROUPREF", "GROUPREF_EXISTS", "ASSERT", "ASSERT_NOT"):
            return False
    return True

"""OTLP log severities: the one table of numbers and the names people use for them.

An OTLP log record carries a ``severity_number`` from 1 to 24 (0: unspecified) in six
ranges of four, TRACE 1-4, DEBUG 5-8, INFO 9-12, WARN 13-16, ERROR 17-20 and FATAL 21-24,
and a free ``severity_text``. Spanscope shows a record's own text, else the short name of
its number; searches take a minimum severity by name or number; the logs import maps
the level word of a JSON log line to a number:

>>> severity_name(13), severity_name(18), parse_severity("warn"), level_severity("critical")
('WARN', 'ERROR2', 13, 21)

Used by the OTLP logs decoder (``ingest/otlp_logs.py``), the logs API (``api/signals.py``,
``?severity=warn``) and ``spanscope logs import``; the UI's ``logs.js`` shows the same
ranges.
"""

from __future__ import annotations

MAX_SEVERITY = 24
"""The highest OTLP severity number (FATAL4)."""

SEVERITY_NAMES = {1: "TRACE", 5: "DEBUG", 9: "INFO", 13: "WARN", 17: "ERROR", 21: "FATAL"}
"""The first number of each OTLP severity range and its short name."""

SEVERITY_NUMBERS = {
    "trace": 1,
    "debug": 5,
    "info": 9,
    "warn": 13,
    "warning": 13,
    "error": 17,
    "fatal": 21,
}
"""The names a search takes for a minimum severity (``?severity=warn``)."""

LEVEL_WORDS = {
    **SEVERITY_NUMBERS,
    "notice": 10,
    "err": 17,
    "critical": 21,
    "panic": 21,
}
"""Level words of common log formats (syslog's notice/err/crit, Go's panic) -> numbers."""


def severity_name(number: int) -> str:
    """OTLP severity number -> its short name ("WARN" for 13, "WARN2" for 14, "" for 0)."""
    if number <= 0:
        return ""
    base = max(b for b in SEVERITY_NAMES if b <= number)
    return SEVERITY_NAMES[base] + (str(number - base + 1) if number > base else "")


def parse_severity(text: str) -> int:
    """ "warn" / "WARN" / "13" -> 13 (OTLP severity number); ValueError listing the names."""
    t = text.strip().lower()
    if t.isdigit() and 0 <= int(t) <= MAX_SEVERITY:
        return int(t)
    if t in SEVERITY_NUMBERS:
        return SEVERITY_NUMBERS[t]
    raise ValueError(f"expected one of {', '.join(SEVERITY_NUMBERS)} or a number 1-{MAX_SEVERITY}")


def level_severity(level: str) -> int | None:
    """A log line's level word ("Warning", "err", "panic") -> its severity number, or None
    for a word no format uses (the record keeps it as its severity text)."""
    return LEVEL_WORDS.get(level.lower())

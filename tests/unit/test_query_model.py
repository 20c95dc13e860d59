"""The query model: what users type into --tag, --min-duration and time parameters."""

from __future__ import annotations

import pytest

from spanscope.query.model import (
    Condition,
    SearchQuery,
    parse_condition,
    parse_duration,
    parse_time,
    parse_value,
    time_range,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http.status_code>=500", Condition("http.status_code", ">=", 500)),
        ("http.status_code=500", Condition("http.status_code", "=", 500)),
        ("http.status_code!=200", Condition("http.status_code", "!=", 200)),
        ("latency<0.25", Condition("latency", "<", 0.25)),
        ("retries>3", Condition("retries", ">", 3)),
        ("retries<=3", Condition("retries", "<=", 3)),
        ("cache.hit=true", Condition("cache.hit", "=", True)),
        ('user.id="42"', Condition("user.id", "=", "42")),
        ("http.method=GET", Condition("http.method", "=", "GET")),
        ("error:true", Condition("error", "=", True)),
        (
            "db.statement=SELECT * FROM t WHERE a=1",
            Condition("db.statement", "=", "SELECT * FROM t WHERE a=1"),
        ),
    ],
)
def test_parse_condition(text: str, expected: Condition) -> None:
    assert parse_condition(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("http.status_code", "expected key<op>value"),
        (">=500", "missing attribute name"),
        ("http.status_code>=", "missing value"),
        ("flag>true", "expected a number after '>'"),
        ("http.status_code>=abc", "expected a number after '>='"),
    ],
)
def test_parse_condition_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as err:
        parse_condition(text)
    assert repr(text) in str(err.value)


def test_parse_value_types() -> None:
    assert parse_value("500") == 500 and isinstance(parse_value("500"), int)
    assert parse_value("1.5") == 1.5
    assert parse_value("1e3") == 1000.0
    assert parse_value("false") is False
    assert parse_value("'x'") == "x"
    assert parse_value("abc") == "abc"


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("250ms", 250_000_000),
        ("1.5s", 1_500_000_000),
        ("1m30s", 90_000_000_000),
        ("2h", 7_200_000_000_000),
        ("42us", 42_000),
        ("42µs", 42_000),
        ("7ns", 7),
        ("1d", 86_400_000_000_000),
    ],
)
def test_parse_duration(text: str, ns: int) -> None:
    assert parse_duration(text) == ns


@pytest.mark.parametrize("text", ["", "10", "1.5", "ms", "5 minutes", "1s2"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="expected a number with a unit"):
        parse_duration(text)


def test_parse_time_units_by_size() -> None:
    s = 1_764_061_200
    assert parse_time(str(s)) == s * 10**9
    assert parse_time(str(s * 1000)) == s * 10**9
    assert parse_time(str(s * 10**6)) == s * 10**9
    assert parse_time(str(s * 10**9 + 7)) == s * 10**9 + 7


def test_parse_time_rfc3339() -> None:
    assert parse_time("2025-11-25T09:00:00Z") == 1_764_061_200 * 10**9
    assert parse_time("2025-11-25T09:00:00.123456789Z") == 1_764_061_200 * 10**9 + 123_456_789
    assert parse_time("2025-11-25T10:00:00+01:00") == 1_764_061_200 * 10**9
    with pytest.raises(ValueError, match="UTC offset"):
        parse_time("2025-11-25T09:00:00")
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_time("yesterday")


def test_time_range_lookback() -> None:
    start, end = time_range(None, "1764061200", "15m", 3600 * 10**9)
    assert end - start == 15 * 60 * 10**9
    with pytest.raises(ValueError, match="end is before start"):
        time_range("1764061200", "1764061100", None, 10)


def test_search_query_validates() -> None:
    with pytest.raises(ValueError, match="limit 0"):
        SearchQuery(start_ns=0, end_ns=1, limit=0)
    with pytest.raises(ValueError, match="order"):
        SearchQuery(start_ns=0, end_ns=1, order="fastest")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max duration is below min"):
        SearchQuery(start_ns=0, end_ns=1, min_duration_ns=10, max_duration_ns=5)

"""One severity table: OTLP severity numbers <-> the names logs show, the API and CLI
accept, and the logs import maps a log line's level with."""

from __future__ import annotations

import pytest

from spanscope.severity import (
    MAX_SEVERITY,
    SEVERITY_NAMES,
    level_severity,
    parse_severity,
    severity_name,
)


@pytest.mark.parametrize(
    ("number", "name"),
    [
        (0, ""),
        (1, "TRACE"),
        (4, "TRACE4"),
        (9, "INFO"),
        (13, "WARN"),
        (14, "WARN2"),
        (24, "FATAL4"),
    ],
)
def test_a_number_has_its_ranges_short_name(number: int, name: str) -> None:
    assert severity_name(number) == name


def test_each_name_parses_back_to_the_first_number_of_its_range() -> None:
    assert MAX_SEVERITY == 24
    for number, name in SEVERITY_NAMES.items():
        assert parse_severity(name) == parse_severity(name.lower()) == number
        assert severity_name(number) == name


@pytest.mark.parametrize(("text", "number"), [("warning", 13), (" 17 ", 17), ("0", 0), ("24", 24)])
def test_query_severities_take_names_and_numbers(text: str, number: int) -> None:
    assert parse_severity(text) == number


@pytest.mark.parametrize("text", ["25", "loud", "critical", "-1"])
def test_a_severity_that_is_not_a_name_or_0_to_24_is_refused_listing_the_names(
    text: str,
) -> None:
    with pytest.raises(ValueError) as info:
        parse_severity(text)
    assert str(info.value) == (
        "expected one of trace, debug, info, warn, warning, error, fatal or a number 1-24"
    )


@pytest.mark.parametrize(
    ("level", "number"),
    [("INFO", 9), ("notice", 10), ("Warning", 13), ("err", 17), ("critical", 21), ("panic", 21)],
)
def test_log_line_levels_map_to_severity_numbers(level: str, number: int) -> None:
    assert level_severity(level) == number


def test_an_unknown_log_line_level_has_no_number() -> None:
    assert level_severity("chatty") is None


def test_the_logs_decoder_and_the_api_share_the_table() -> None:
    from spanscope.api import signals
    from spanscope.ingest import otlp_logs

    assert otlp_logs.severity_name is severity_name
    assert signals.parse_severity is parse_severity

"""The CLI's pure rendering pieces: durations, bar scaling, the span tree, the waterfall."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console

from spanscope.cli.render import (
    bar_cells,
    build_tree,
    format_attribute_value,
    format_duration,
    render_trace,
    search_table,
)

T0 = 1_764_061_200_000_000_000
MS = 1_000_000


def span(
    span_id: str,
    parent: str | None,
    start_ms: float,
    dur_ms: float,
    name: str = "op",
    service: str = "svc",
    error: str | None = None,
    attributes: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    start = T0 + int(start_ms * MS)
    return {
        "span_id": span_id,
        "parent_span_id": parent,
        "name": name,
        "service": service,
        "start_time_unix_nano": start,
        "end_time_unix_nano": start + int(dur_ms * MS),
        "duration_ns": int(dur_ms * MS),
        "status": {"code": "error", "message": error} if error else {"code": "unset"},
        "attributes": attributes or [],
    }


def text_of(payload: dict[str, Any], width: int = 100, attributes: bool = False) -> list[str]:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(render_trace(payload, width, attributes), crop=False)
    return console.export_text().splitlines()


@pytest.mark.parametrize(
    ("ns", "shown"),
    [
        (0, "0ns"),
        (999, "999ns"),
        (42_000, "42µs"),
        (1_500, "1.5µs"),
        (250 * MS, "250ms"),
        (12_345_678, "12.35ms"),  # 4 significant digits: the shared format (units.py)
        (1_250 * MS, "1.25s"),
        (999_999, "1ms"),  # rounds up into the next unit, not "1000µs"
        (999_600_000, "999.6ms"),  # as the headlines and the UI print it
        (90_000 * MS, "1m30s"),
        (3_900_000 * MS, "1h5m"),
    ],
)
def test_format_duration(ns: int, shown: str) -> None:
    assert format_duration(ns) == shown


def test_bar_position_and_length_scale_with_the_trace() -> None:
    assert bar_cells(0, 1000, 1000, 40) == (0, 40)
    assert bar_cells(500, 250, 1000, 40) == (20, 10)
    assert bar_cells(250, 500, 1000, 80) == (20, 40)


def test_a_tiny_span_still_gets_one_cell_and_bars_stay_on_the_axis() -> None:
    assert bar_cells(999, 1, 1000, 40) == (39, 1)
    assert bar_cells(0, 0, 1000, 40) == (0, 1)
    assert bar_cells(-50, 100, 1000, 40) == (0, 4)  # clock skew: starts before the trace
    assert bar_cells(900, 500, 1000, 40) == (36, 4)  # ends after the trace: clipped
    assert bar_cells(0, 0, 0, 40) == (0, 1)


def test_tree_orders_children_by_start_depth_first() -> None:
    spans = [
        span("a", None, 0, 100, "root"),
        span("c", "a", 50, 10, "late child"),
        span("b", "a", 10, 30, "early child"),
        span("d", "b", 15, 5, "grandchild"),
    ]
    rows = build_tree(spans)
    assert [(r.span["name"], r.depth) for r in rows] == [
        ("root", 0),
        ("early child", 1),
        ("grandchild", 2),
        ("late child", 1),
    ]
    assert not any(r.orphan for r in rows)


def test_orphans_sit_at_top_level_marked_and_cycles_are_not_dropped() -> None:
    spans = [
        span("a", None, 0, 100, "root"),
        span("o", "ffffffffffffffff", 20, 5, "orphan"),
        span("p", "q", 30, 1, "cycle p"),
        span("q", "p", 31, 1, "cycle q"),
    ]
    rows = build_tree(spans)
    assert [r.span["name"] for r in rows] == ["root", "orphan", "cycle p", "cycle q"]
    assert [r.orphan for r in rows] == [False, True, True, False]


def test_deep_and_wide_trees_build_without_recursion_limits() -> None:
    chain = [span(f"{i:x}", f"{i - 1:x}" if i else None, i, 1) for i in range(10_000)]
    rows = build_tree(chain)
    assert rows[-1].depth == 9_999


def test_waterfall_shows_header_tree_errors_and_bars() -> None:
    payload = {
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "start_time_unix_nano": T0,
        "duration_ns": 1000 * MS,
        "warnings": [],
        "spans": [
            span("a", None, 0, 1000, "GET /checkout", "frontend"),
            span("b", "a", 100, 500, "POST /orders", "orders"),
            span("c", "b", 200, 100, "charge", "payments", error="payment declined"),
            span("x", "gone", 900, 50, "lost", "orders"),
        ],
    }
    lines = text_of(payload, width=100)
    header = " ".join(lines[:3])
    assert "4bf92f3577b34da6a3ce929d0e0e4736" in header
    assert "frontend · GET /checkout" in header
    assert "1s" in header and "4 spans" in header and "1 error" in header
    assert "3 services: frontend, orders, payments" in header
    rows = [line for line in lines if "█" in line]
    assert rows[0].startswith("frontend GET /checkout")
    assert rows[1].startswith("  orders POST /orders")
    assert rows[2].startswith("    payments charge")
    assert "orphan" in rows[3] and "lost" in rows[3]
    # the root's bar spans the whole axis; the child's starts a tenth in and is half as long
    assert rows[0].count("█") > rows[1].count("█") * 1.8
    assert rows[1].index("█") > rows[0].index("█")
    message_line = lines[lines.index(rows[2]) + 1]
    assert "payment declined" in message_line
    assert all(len(line) <= 100 for line in rows)


def test_attributes_are_listed_under_their_span() -> None:
    attrs = [
        {"key": "http.status_code", "type": "int", "value": 500},
        {"key": "peer", "type": "string", "value": "[bold]x"},
    ]
    payload = {"trace_id": "ab", "spans": [span("a", None, 0, 10, "root", attributes=attrs)]}
    lines = text_of(payload, attributes=True)
    assert any("http.status_code = 500" in line for line in lines)
    assert any('peer = "[bold]x"' in line for line in lines)  # text, never rich markup


def test_attribute_values_render_by_type() -> None:
    items = [{"type": "int", "value": 1}, {"type": "bool", "value": True}]
    array = {"type": "array", "value": items}
    assert format_attribute_value(array) == "[1, true]"
    kv = {"type": "map", "value": [{"key": "k", "type": "double", "value": 0.5}]}
    assert format_attribute_value(kv) == "{k: 0.5}"


SEARCH_ANSWER = {
    "traces": [
        {
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "root_service": "checkout",
            "root_operation": "POST /pay",
            "start_time_unix_nano": T0,
            "duration_ns": 1_250 * MS,
            "span_count": 42,
            "error_count": 3,
            "orphan_count": 0,
            "services": [
                {"name": "checkout", "span_count": 40, "error_count": 3},
                {"name": "payments", "span_count": 2, "error_count": 0},
            ],
        }
    ]
}


def test_search_table_lists_root_duration_and_services() -> None:
    payload = SEARCH_ANSWER
    console = Console(width=200, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(search_table(payload))
    row = console.export_text().splitlines()[1]
    for shown in ("4bf92f3577b34da6a3ce929d0e0e4736", "checkout · POST /pay", "1.25s", "42"):
        assert shown in row
    assert "checkout, payments" in row


def test_search_table_on_80_columns_keeps_whole_trace_ids_and_stacks_the_rest() -> None:
    console = Console(width=80, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(search_table(SEARCH_ANSWER, width=80))
    text = console.export_text()
    assert "4bf92f3577b34da6a3ce929d0e0e4736  checkout · POST /pay" in text
    assert "42 spans · 3 errors" in text and "checkout, payments" in text
    assert all(len(line) <= 80 for line in text.splitlines())


def test_a_very_deep_chain_writes_its_depth_instead_of_indenting_off_screen() -> None:
    chain = [span(f"{i:x}", f"{i - 1:x}" if i else None, i, 1, f"hop{i}") for i in range(3000)]
    rows = [line for line in text_of({"trace_id": "ab", "spans": chain}, 120) if "█" in line]
    assert len(rows) == 3000
    assert "↳2999 svc hop2999" in rows[-1]
    assert rows[-1].index("↳") < 60


def test_span_warnings_are_shown_under_the_span() -> None:
    skewed = span("b", "a", -5, 3, "child")
    skewed["warnings"] = ["clock skew: started 5ms before its parent, shown adjusted"]
    lines = text_of({"trace_id": "ab", "spans": [span("a", None, 0, 10, "root"), skewed]})
    assert any("⚠ clock skew: started 5ms before its parent" in line for line in lines)

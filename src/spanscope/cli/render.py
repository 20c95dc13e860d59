"""Terminal rendering for the CLI clients: tables of services, operations and search
results, and the trace waterfall.

Everything here works on the native API's JSON (docs/api.md), so the CLI shows exactly what
the API answered. The pure functions are the testable core (durations print as
:func:`spanscope.units.format_duration` prints them, as in the headlines and the UI)::

    >>> format_duration(1_250_000_000), format_duration(250_000_000), format_duration(42_000)
    ('1.25s', '250ms', '42µs')
    >>> bar_cells(offset_ns=500, duration_ns=250, total_ns=1000, width=40)
    (20, 10)

:func:`build_tree` orders a trace's spans depth-first (children by start time), puts spans
whose parent is not in the trace at the top level marked as orphans, and runs in
O(n log n) without recursion, so a 10,000-span trace (or a 10,000-deep chain) renders fast.

Names and attribute values come from untrusted spans, so they are always wrapped in
``rich.text.Text`` (never interpreted as markup).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from spanscope.units import format_duration

JsonSpan = Mapping[str, Any]

_PALETTE = ("cyan", "green", "yellow", "blue", "magenta", "bright_cyan", "bright_green")
_ERROR_STYLE = "bold red"
_DURATION_WIDTH = 8
_MIN_BAR_WIDTH = 10
NARROW_WIDTH = 120


def format_local_time(unix_ns: int, today: date | None = None) -> str:
    """Unix nanoseconds as local wall time: 10:00:00.125 today, 2026-11-24 10:00:00 before
    (short, because the trace id beside it already takes 32 columns)."""
    moment = datetime.fromtimestamp(unix_ns / 1e9)
    if moment.date() == (today or date.today()):
        return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def bar_cells(offset_ns: int, duration_ns: int, total_ns: int, width: int) -> tuple[int, int]:
    """Where a span's bar sits on a ``width``-cell time axis: (first cell, cell count).

    The position is the span's start offset from the trace start, the length its duration,
    both scaled by ``total_ns``; every bar is at least one cell so a 1µs span stays visible,
    and bars are clamped to the axis (a clock-skewed child may start before the trace).
    """
    if width <= 0:
        return 0, 0
    if total_ns <= 0:
        return 0, 1
    start = offset_ns * width // total_ns
    start = min(max(start, 0), width - 1)
    length = max(1, round(max(duration_ns, 0) * width / total_ns))
    return start, min(length, width - start)


@dataclass(frozen=True, slots=True)
class WaterfallRow:
    """One line of the waterfall: a span, its depth in the tree, and whether it is an
    orphan (its parent id names a span that is not in the trace)."""

    span: JsonSpan
    depth: int
    orphan: bool = False


def build_tree(spans: Sequence[JsonSpan]) -> list[WaterfallRow]:
    """Spans in waterfall order: depth-first from each top-level span, children by start.

    Top level holds the roots (no parent) and the orphans (parent missing), ordered by
    start. Spans caught in a parent cycle (bad data) are shown at top level as orphans
    rather than dropped; a duplicated span id keeps its first span as the parent target.
    """
    index_of: dict[str, int] = {}
    for i, span in enumerate(spans):
        index_of.setdefault(str(span.get("span_id", "")), i)

    children: dict[int, list[int]] = {}
    tops: list[int] = []
    orphans: set[int] = set()
    for i, span in enumerate(spans):
        parent_id = span.get("parent_span_id")
        parent = index_of.get(str(parent_id)) if parent_id else None
        if parent is None or parent == i:
            tops.append(i)
            if parent_id and parent is None:
                orphans.add(i)
        else:
            children.setdefault(parent, []).append(i)

    def by_start(i: int) -> tuple[int, int]:
        return int(spans[i].get("start_time_unix_nano", 0)), i

    for kids in children.values():
        kids.sort(key=by_start)
    tops.sort(key=by_start)

    rows: list[WaterfallRow] = []
    visited = bytearray(len(spans))

    def walk(top: int, orphan: bool) -> None:
        stack = [(top, 0)]
        while stack:
            i, depth = stack.pop()
            if visited[i]:
                continue
            visited[i] = 1
            rows.append(WaterfallRow(spans[i], depth, orphan and depth == 0))
            stack.extend((k, depth + 1) for k in reversed(children.get(i, ())))

    for top in tops:
        walk(top, top in orphans)
    if len(rows) < len(spans):
        for i in sorted((i for i in range(len(spans)) if not visited[i]), key=by_start):
            walk(i, True)
    return rows


def service_styles(names: Iterable[str]) -> dict[str, str]:
    """A stable colour per service, in order of first appearance."""
    styles: dict[str, str] = {}
    for name in names:
        if name not in styles:
            styles[name] = _PALETTE[len(styles) % len(_PALETTE)]
    return styles


def print_json(console: Console, payload: Any) -> None:
    """The API's answer, pretty-printed, and nothing else (safe to pipe into jq)."""
    console.file.write(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")


def services_table(payload: Mapping[str, Any]) -> Table:
    table = Table("service", box=None, header_style="bold", pad_edge=False)
    for name in payload.get("services", []):
        table.add_row(Text(str(name)))
    return table


def operations_table(payload: Mapping[str, Any]) -> Table:
    table = Table("operation", "span kind", box=None, header_style="bold", pad_edge=False)
    for op in payload.get("operations", []):
        table.add_row(Text(str(op.get("name", ""))), Text(str(op.get("span_kind", ""))))
    return table


def search_table(payload: Mapping[str, Any], width: int = 160) -> Table:
    """Search results: one row per trace summary, errors in red when there are any.

    Below ``NARROW_WIDTH`` columns the start, counts and services move under the root in
    the same cell, so an 80-column terminal still shows whole trace ids (which
    ``spanscope trace`` takes) and readable roots.
    """
    narrow = width < NARROW_WIDTH
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("trace id", no_wrap=True)
    if narrow:
        table.add_column("root\nspans · errors · start\nservices", min_width=16)
        table.add_column("duration", justify="right", no_wrap=True)
    else:
        for name in ("start", "root", "duration", "spans", "errors", "services"):
            right = name in ("duration", "spans", "errors")
            table.add_column(
                name,
                justify="right" if right else "left",
                no_wrap=name not in ("root", "services"),
                min_width=12 if name in ("root", "services") else None,
            )
    for summary in payload.get("traces", []):
        errors = int(summary.get("error_count", 0))
        error_text = Text(str(errors), style=_ERROR_STYLE if errors > 0 else "")
        service, operation = summary.get("root_service", ""), summary.get("root_operation", "")
        root = Text(f"{service} · {operation}") if service or operation else Text("(no root)")
        if not (service or operation):
            root.stylize("dim")
        start = format_local_time(int(summary.get("start_time_unix_nano", 0)))
        names = ", ".join(str(s.get("name", "")) for s in summary.get("services", []))
        spans = str(summary.get("span_count", 0))
        trace_id = Text(str(summary.get("trace_id", "")))
        duration = format_duration(int(summary.get("duration_ns", 0)))
        if narrow:
            root.append(f"\n{spans} spans · ", style="dim")
            error_text.append(" errors" if errors != 1 else " error")
            root.append_text(error_text)
            root.append(f" · {start}\n{names}", style="dim")
            table.add_row(trace_id, root, duration)
        else:
            table.add_row(trace_id, start, root, duration, spans, error_text, Text(names))
    return table


def render_trace(payload: Mapping[str, Any], width: int, attributes: bool = False) -> Text:
    """The waterfall of a trace (the native API's trace JSON) for a ``width``-cell terminal.

    A header names the trace, its root, duration, span and error counts and services; then
    one line per span in tree order: indented service and span name, duration, and a bar
    placed on a shared time axis. Error spans are red with their status message beneath;
    orphans are marked; span warnings (e.g. a clock-skew adjustment) follow in yellow;
    ``attributes`` lists each span's attributes under it.
    """
    spans: Sequence[JsonSpan] = payload.get("spans", [])
    rows = build_tree(spans)
    trace_start = int(payload.get("start_time_unix_nano") or _min_start(spans))
    total_ns = int(payload.get("duration_ns") or _max_end(spans) - trace_start)
    styles = service_styles(str(s.get("service", "")) for s in spans)

    max_label_w = (width - _DURATION_WIDTH - 2) * 2 // 5
    max_indent = max(2, max_label_w // 4)  # indentation takes at most half the label
    labels = [_label(row, styles, max_indent) for row in rows]
    longest = max((label.cell_len for label in labels), default=10)
    label_w = max(10, min(longest, max_label_w))
    bar_w = max(_MIN_BAR_WIDTH, width - label_w - _DURATION_WIDTH - 2)

    out = Text()
    out.append_text(_header(payload, spans, rows, total_ns, styles))
    for warning in payload.get("warnings", []) or []:
        out.append(f"\nwarning: {warning}", style="yellow")
    out.append("\n")
    out.append(" " * (label_w + _DURATION_WIDTH + 2))
    out.append(_axis(total_ns, bar_w), style="dim")
    for row, label in zip(rows, labels, strict=True):
        span = row.span
        error = _is_error(span)
        label.truncate(label_w, overflow="ellipsis", pad=True)
        out.append("\n")
        out.append_text(label)
        duration = int(span.get("duration_ns", 0))
        out.append(" " + format_duration(duration).rjust(_DURATION_WIDTH) + " ")
        offset = int(span.get("start_time_unix_nano", trace_start)) - trace_start
        start, length = bar_cells(offset, duration, total_ns, bar_w)
        bar_style = _ERROR_STYLE if error else styles.get(str(span.get("service", "")), "")
        out.append(" " * start)
        out.append("█" * length, style=bar_style)
        pad = "  " * min(row.depth, max_indent) + "   "
        for warning in span.get("warnings", []) or []:
            out.append("\n" + pad)
            out.append(f"⚠ {warning}", style="yellow")
        if error:
            message = str(span.get("status", {}).get("message") or "error")
            out.append("\n" + pad)
            out.append(f"✗ {message}", style=_ERROR_STYLE)
        if attributes:
            for attr in span.get("attributes", []) or []:
                out.append("\n" + pad)
                out.append(f"{attr.get('key', '')} = ", style="dim")
                out.append(format_attribute_value(attr))
    return out


def format_attribute_value(attr: Mapping[str, Any]) -> str:
    """A typed API attribute value as text: arrays as [a, b], maps as {k: v}."""
    kind, value = attr.get("type"), attr.get("value")
    if kind == "array" and isinstance(value, list):
        return "[" + ", ".join(format_attribute_value(v) for v in value) + "]"
    if kind == "map" and isinstance(value, list):
        inner = (f"{v.get('key', '')}: {format_attribute_value(v)}" for v in value)
        return "{" + ", ".join(inner) + "}"
    if kind == "string":
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _is_error(span: JsonSpan) -> bool:
    status = span.get("status") or {}
    return bool(status.get("code") == "error")


def _label(row: WaterfallRow, styles: Mapping[str, str], max_indent: int) -> Text:
    span = row.span
    service = str(span.get("service", ""))
    # Past max_indent levels the depth is written, not drawn: a 10,000-deep chain would
    # otherwise cost O(n^2) characters and push every name off the screen.
    if row.depth > max_indent:
        label = Text("  " * max_indent)
        label.append(f"↳{row.depth} ", style="dim")
    else:
        label = Text("  " * row.depth)
    if row.orphan:
        label.append("⚠ orphan ", style="yellow")
    label.append(service, style=styles.get(service, ""))
    label.append(" ")
    label.append(str(span.get("name", "")), style=_ERROR_STYLE if _is_error(span) else "")
    return label


def _header(
    payload: Mapping[str, Any],
    spans: Sequence[JsonSpan],
    rows: Sequence[WaterfallRow],
    total_ns: int,
    styles: Mapping[str, str],
) -> Text:
    root = next((r.span for r in rows if r.depth == 0 and not r.orphan), None)
    errors = sum(1 for s in spans if _is_error(s))
    orphans = sum(1 for r in rows if r.orphan)
    head = Text("Trace ", style="bold")
    head.append(str(payload.get("trace_id", "")), style="bold")
    head.append(f"  {format_duration(total_ns)}  {len(spans)} spans")
    if errors:
        head.append(f"  {errors} error{'s' if errors != 1 else ''}", style=_ERROR_STYLE)
    if orphans:
        head.append(f"  {orphans} orphan{'s' if orphans != 1 else ''}", style="yellow")
    head.append("\nroot: ")
    if root is None:
        head.append("(missing)", style="dim")
    else:
        head.append(f"{root.get('service', '')} · {root.get('name', '')}", style="bold")
    head.append(f"\n{len(styles)} service{'s' if len(styles) != 1 else ''}: ")
    for i, (name, style) in enumerate(styles.items()):
        head.append(", " if i else "")
        head.append(name, style=style)
    return head


def _axis(total_ns: int, width: int) -> str:
    """Tick labels at 0, ¼, ½, ¾ and the end of the time axis."""
    axis = [" "] * width
    for quarter in range(5):
        text = format_duration(total_ns * quarter // 4) if quarter else "0"
        at = min(width * quarter // 4, width - len(text)) if quarter else 0
        if quarter and at < 0:
            continue
        if any(c != " " for c in axis[max(0, at - 1) : at + len(text)]):
            continue  # too narrow for this tick: skip it rather than overprint
        axis[at : at + len(text)] = text
    return "".join(axis[:width])


def _min_start(spans: Sequence[JsonSpan]) -> int:
    return min((int(s.get("start_time_unix_nano", 0)) for s in spans), default=0)


def _max_end(spans: Sequence[JsonSpan]) -> int:
    return max((int(s.get("end_time_unix_nano", 0)) for s in spans), default=0)

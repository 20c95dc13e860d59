"""``spanscope query-range``: a TraceQL metrics query drawn in the terminal.

It asks the server's Tempo API (``/tempo/api/metrics/query_range``, docs/tempo.md) and draws
one line per series: its labels, a sparkline of its values over the window (eight block
heights, scaled to the largest value of all series so lines compare), and its min, max,
last and total::

    spanscope query-range '{ } | rate() by (resource.service.name)' --since 1h --step 1m

``--json`` prints Tempo's answer as it came, for scripts. ``spanscope search -q '{ ... }'``
(cli/traces.py) is the TraceQL search.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import typer
from rich.text import Text

from spanscope.cli.options import JSON_OPTION, URL_OPTION, HelpCommand, fetch
from spanscope.cli.options import console as make_console

BLOCKS = "▁▂▃▄▅▆▇█"
QUERY_RANGE_PATH = "/tempo/api/metrics/query_range"


def register(app: typer.Typer) -> None:
    """Add ``query-range`` to the ``spanscope`` command."""

    @app.command("query-range", cls=HelpCommand)
    def query_range(
        query: str = typer.Argument(
            ..., help="A TraceQL metrics query, e.g. '{ } | rate() by (resource.service.name)'."
        ),
        since: str | None = typer.Option(
            None, "--since", help="Look back this far from --end or now: 15m, 1h (default), 2d."
        ),
        start: str | None = typer.Option(None, "--start", help="RFC 3339 or unix timestamp."),
        end: str | None = typer.Option(None, "--end", help="RFC 3339 or unix timestamp."),
        step: str | None = typer.Option(
            None, "--step", help="Width of each point: 30s, 1m (default: about 240 points)."
        ),
        width: int | None = typer.Option(
            None, "--width", help="Columns (default: the terminal's)."
        ),
        url: str = URL_OPTION,
        as_json: bool = JSON_OPTION,
    ) -> None:
        """Chart a TraceQL metrics query: one sparkline per series.

        Example: spanscope query-range '{ status = error } | rate() by
        (resource.service.name)' --since 1h --step 1m
        """
        from spanscope.cli import render

        if since and start:
            raise typer.BadParameter(
                f"--since {since} and --start {start} both set the window start; give one of them",
                param_hint="--since",
            )
        params = {"q": query, "since": since, "start": start, "end": end, "step": step}
        params = {k: v for k, v in params.items() if v is not None}
        payload = fetch(url, lambda api: api.get(QUERY_RANGE_PATH, params))
        console = make_console(width)
        if as_json:
            render.print_json(console, payload)
            return
        console.print(chart(payload, console.width), crop=False)


def label_text(labels: Sequence[Mapping[str, Any]]) -> str:
    """Tempo's series labels as ``{key="value", ...}`` (PromQL's way of writing them)."""
    parts = []
    for label in labels:
        value = label.get("value") or {}
        kind, v = next(iter(value.items()), ("", "")) if isinstance(value, Mapping) else ("", value)
        shown = f'"{v}"' if kind == "stringValue" else str(v)  # intValue is a string in JSON
        parts.append(f"{label.get('key', '')}={shown}")
    return "{" + ", ".join(parts) + "}"


def sparkline(values: Sequence[float], top: float, width: int) -> str:
    """``values`` as block characters, at most ``width`` of them (neighbours merged by
    their maximum, so a spike stays visible), scaled so ``top`` is a full block."""
    if not values or width <= 0:
        return ""
    if len(values) > width:
        per = len(values) / width
        values = [
            max(values[int(i * per) : max(int(i * per) + 1, int((i + 1) * per))])
            for i in range(width)
        ]
    cells = []
    for v in values:
        if not math.isfinite(v) or v <= 0 or top <= 0:
            cells.append(" " if not math.isfinite(v) or v == 0 else BLOCKS[0])
            continue
        cells.append(BLOCKS[min(len(BLOCKS) - 1, max(0, math.ceil(v / top * len(BLOCKS)) - 1))])
    return "".join(cells)


def number(v: float) -> str:
    return f"{v:.3g}" if v != int(v) or abs(v) >= 1e6 else str(int(v))


def series_values(series: Mapping[str, Any]) -> list[float]:
    """A series' values in time order; Tempo leaves a zero sample's ``value`` out."""
    samples = sorted(series.get("samples", []), key=lambda s: int(s.get("timestampMs", 0)))
    return [float(s.get("value", 0.0)) for s in samples]


def chart(payload: Mapping[str, Any], width: int) -> Text:
    """The whole answer: a line per series (labels, sparkline, min/max/last/total), then
    Tempo's message (weighted counts, a partial answer) if it sent one."""
    series = list(payload.get("series", []))
    out = Text()
    if not series:
        out.append("no series: nothing matched in the window; widen it (--since 1d)\n")
    rows = [(label_text(s.get("labels", [])), series_values(s)) for s in series]
    top = max((v for _, vs in rows for v in vs if math.isfinite(v)), default=0.0)
    name_width = min(max((len(n) for n, _ in rows), default=0), max(20, width // 2))
    for name, values in rows:
        finite = [v for v in values if math.isfinite(v)] or [0.0]
        stats = (
            f" min {number(min(finite))}  max {number(max(finite))}  "
            f"last {number(finite[-1])}  total {number(sum(finite))}"
        )
        room = max(10, width - name_width - len(stats) - 3)
        shown = name if len(name) <= name_width else name[: name_width - 1] + "…"
        out.append(shown.ljust(name_width), style="bold")
        out.append(" ")
        out.append(sparkline(values, top, room), style="cyan")
        out.append(" ")
        out.append(stats + "\n", style="dim")
    if payload.get("message"):
        out.append(f"note: {payload['message']}\n", style="yellow")
    return out

"""Terminal rendering for ``spanscope explain | compare | deps | red | diff``.

Each command prints, first, one line that answers the question — the API's ``headline``,
e.g. "78 % of this trace (975ms of 1.25s) is inventory · SELECT inventory_items, on the
critical path" — then the detail as plain tables. The commands are thin (analyze.py): they
fetch an ``/api/v1`` answer (docs/analysis.md) and hand it to a function here, so what
the terminal shows is exactly what the API said.

When the output is not a terminal (a pipe, a file), tables keep every operation name
whole instead of wrapping it at 80 columns; ``--json`` stays the interface for scripts.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

from spanscope.analysis.tree import format_ns


def _pct(share: float) -> str:
    return f"{share * 100:.0f} %"


class _Unwrapped:
    """A table that, off a terminal, is as wide as its longest row (no wrapped names)."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not console.is_terminal:
            wide = options.update(max_width=10_000)
            need = console.measure(self.table, options=wide).maximum
            options = options.update(max_width=max(options.max_width, need))
        yield from console.render(self.table, options)


_RIGHT = ("%", "ms", "count", "time", "work", "waiting", "gap", "Δ", "lift", "values")


def _table(*columns: str) -> Table:
    t = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for c in columns:
        t.add_column(c, justify="right" if c.endswith(_RIGHT) else "left")
    return t


def explain(payload: dict[str, Any]) -> list[Any]:
    """Headline, causes (own work, waiting, gap), critical path, time per operation,
    async paths, smells."""
    out: list[Any] = [Text(payload["headline"], style="bold")]
    causes = _table("cause", "on path time", "%", "own work", "waiting", "gap")
    for c in payload.get("causes", [])[:10]:
        causes.add_row(
            c["label"], format_ns(c["critical_ns"]), _pct(c.get("share", 0.0)),
            format_ns(c["own_ns"]), format_ns(c["waiting_ns"]), format_ns(c["gap_ns"]),
        )  # fmt: skip
    if payload.get("causes"):
        out += [Text(""), _Unwrapped(causes)]
    path = payload["critical_path"]
    crit = _table("critical path", "service", "time", "%")
    for s in path["spans"][:15]:
        name = s.get("display_name", s["name"])
        crit.add_row(name, s["service"], format_ns(s["critical_ns"]), _pct(s["share"]))
    out += [Text(""), _Unwrapped(crit)]
    ops = _table(
        "operation", "service", "self time", "self %", "critical %", "own work", "waiting",
        "gap", "count",
    )  # fmt: skip
    for o in payload["breakdown"]["operations"][:15]:
        ops.add_row(
            o.get("display_name", o["name"]), o["service"], format_ns(o["self_ns"]),
            _pct(o["self_share"]), _pct(o["critical_share"]), format_ns(o.get("own_ns", 0)),
            format_ns(o.get("waiting_ns", 0)), format_ns(o.get("gap_ns", 0)),
            str(o["span_count"]),
        )  # fmt: skip
    out += [Text(""), _Unwrapped(ops)]
    for p in payload.get("async_paths", []):
        out.append(Text(""))
        out.append(
            Text(
                f"async: {p['service']} · {p['name']} ran {format_ns(p['duration_ns'])} "
                "outside the request's latency; its critical path:"
            )
        )
        apath = _table("async critical path", "service", "time")
        for s in p["spans"][:10]:
            apath.add_row(s["name"], s["service"], format_ns(s["critical_ns"]))
        out.append(_Unwrapped(apath))
    smells = payload["smells"]["smells"]
    out.append(Text(""))
    if smells:
        for s in smells[:10]:
            saving = f" — could save up to {format_ns(s['saving_ns'])}" if s["saving_ns"] else ""
            out.append(Text(f"• {s['message']}{saving}"))
    else:
        out.append(Text("no smells: no N+1 calls, retries or sequential calls found"))
    for w in path["warnings"]:
        out.append(Text(f"warning: {w}", style="yellow"))
    return out


def compare(payload: dict[str, Any]) -> list[Any]:
    out: list[Any] = [Text(payload["headline"], style="bold")]
    split = payload["split"]
    errors = payload.get("mode") == "errors"
    if errors:
        out.append(
            Text(
                f"{split.get('sampled_focus', 0)} erroring vs {split.get('sampled_other', 0)} "
                "healthy requests read"
            )
        )
    else:
        out.append(
            Text(
                f"{split['slow_count']} slow (p50 {format_ns(split['slow_p50_ns'])}) vs "
                f"{split['normal_count']} normal (p50 {format_ns(split['normal_p50_ns'])}), "
                f"threshold {format_ns(split['threshold_ns'])}"
            )
        )
    focus, other = ("erroring", "healthy") if errors else ("slow", "normal")
    attrs = _table("attribute", "value", f"{focus} %", f"{other} %", "lift", "values")
    for a in payload["attributes"][:10]:
        attrs.add_row(
            a["key"], a["value"][:60], _pct(a["slow_share"]), _pct(a["normal_share"]),
            f"{a.get('lift', 0):.3g}", str(a.get("cardinality", "")),
        )  # fmt: skip
    if errors:
        ops = _table("operation", "service", "errors start %", "in healthy %")
        for o in payload["operations"][:10]:
            ops.add_row(
                _op_name(o), o["service"], _pct(o.get("error_origin_share") or 0.0),
                _pct(o.get("normal_error_origin_share") or 0.0),
            )  # fmt: skip
    else:
        ops = _table(
            "operation", "service", "slow on path", "normal on path", "of the gap %",
            "on path in % of slow", "own work Δ", "gap Δ",
        )  # fmt: skip
        for o in payload["operations"][:10]:
            ops.add_row(
                _op_name(o), o["service"], format_ns(o["slow_mean_ns"]),
                format_ns(o["normal_mean_ns"]), _pct(o["contribution"]),
                _pct(o.get("on_critical_path_share", 0.0)),
                _signed(o.get("slow_own_ns", 0) - o.get("normal_own_ns", 0)),
                _signed(o.get("slow_gap_ns", 0) - o.get("normal_gap_ns", 0)),
            )  # fmt: skip
    out += [Text(""), _Unwrapped(attrs), Text(""), _Unwrapped(ops)]
    exemplars = payload["exemplars"].get("erroring" if errors else "slow") or []
    if exemplars:
        out += [Text(""), Text(f"{focus} traces: " + " ".join(exemplars[:3]))]
    return out


def _op_name(o: dict[str, Any]) -> str:
    """The operation as compare's headline names it (retries with their attempts)."""
    label = str(o.get("label") or o["name"])
    prefix = f"{o['service']} · "
    return label[len(prefix) :] if label.startswith(prefix) else label


def _signed(ns: float) -> str:
    return ("+" if ns > 0 else "") + format_ns(ns)


def deps(payload: dict[str, Any]) -> list[Any]:
    out: list[Any] = [Text(payload["headline"], style="bold")]
    edges = _table("caller", "callee", "calls count", "errors %", "p50 time", "p99 time")
    for e in payload["edges"]:
        edges.add_row(
            e["parent"], e["child"], str(e["call_count"]), f"{e['error_rate'] * 100:.1f} %",
            format_ns(e["p50_ns"]), format_ns(e["p99_ns"]),
        )  # fmt: skip
    return [*out, Text(""), _Unwrapped(edges)]


def red(payload: dict[str, Any]) -> list[Any]:
    out: list[Any] = [Text(payload["headline"], style="bold")]
    for s in payload["series"]:
        name = f"{s['service']} · {s['operation']}" if s["operation"] else s["service"]
        t = s["totals"] or {}
        out += [
            Text(""),
            Text(
                f"{name}: {t.get('rate_per_s', 0):.3g} req/s, "
                f"{t.get('error_ratio', 0) * 100:.1f} % errors, "
                f"p50 {format_ns(t.get('p50_ns', 0))} p95 {format_ns(t.get('p95_ns', 0))} "
                f"p99 {format_ns(t.get('p99_ns', 0))}",
                style="bold",
            ),
        ]
        points = _table("time", "req/s", "errors %", "p50 time", "p99 time")
        for p in s["points"][-20:]:
            points.add_row(
                _clock(p["time_unix_nano"]), f"{p['rate_per_s']:.3g}",
                f"{p['error_ratio'] * 100:.1f} %", format_ns(p["p50_ns"]),
                format_ns(p["p99_ns"]),
            )  # fmt: skip
        out.append(points)
        hist = _table("latency ≤", "count", "exemplar trace")
        for b in s["histogram"]:
            bound = format_ns(b["le_ns"]) if b["le_ns"] is not None else "+Inf"
            hist.add_row(bound, str(b["count"]), (b["exemplar_trace_ids"] or [""])[0])
        out += [Text(""), hist]
    return out


def _clock(ns: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")


_DIFF_STATUS = {"only_a": "only in a", "only_b": "only in b", "changed": "ran more/less"}


def diff(payload: dict[str, Any], limit: int = 20) -> list[Any]:
    """Headline, the two traces, then the first ``limit`` paths in the API's order (the
    largest change first), with the change they are ranked by."""
    out: list[Any] = [Text(payload["headline"], style="bold")]
    for side in ("a", "b"):
        t = payload[side]
        out.append(Text(f"{side}: {t['trace_id']}  {format_ns(t['duration_ns'])}"))
    # The API ranks by own-work change where it reports one (#14), else by self time.
    own = any("own_delta_ns" in p for p in payload["paths"])
    key, label = ("own_delta_ns", "own work Δ time") if own else ("self_delta_ns", "self Δ time")
    paths = _table("path", "change", "a count", "b count", "a time", "b time", label)
    for p in payload["paths"][:limit]:
        depth = len(p["path"]) - 1
        delta = p[key]
        paths.add_row(
            Text("  " * min(depth, 8) + p["path"][-1]), _DIFF_STATUS.get(p["status"], ""),
            str(p["a_count"]), str(p["b_count"]), format_ns(p["a_total_ns"]),
            format_ns(p["b_total_ns"]), ("+" if delta > 0 else "") + format_ns(delta),
        )  # fmt: skip
    out += [Text(""), paths]
    if len(payload["paths"]) > limit:
        out.append(Text(f"… {len(payload['paths']) - limit} more paths (--limit, or --json)"))
    return out

"""Terminal rendering for ``spanscope explain | compare | deps | red | diff``.

Each command prints, first, one line that answers the question — the API's ``headline``,
e.g. "78 % of this trace (975ms of 1.25s) is inventory · SELECT inventory_items, on the
critical path" — then the detail as plain tables. The commands are thin (analyze.py): they
fetch an ``/api/v1`` answer (docs/analysis.md) and hand it to a function here, so what
the terminal shows is exactly what the API said.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from spanscope.analysis.tree import format_ns


def _pct(share: float) -> str:
    return f"{share * 100:.0f} %"


def _table(*columns: str) -> Table:
    t = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for c in columns:
        t.add_column(c, justify="right" if c.endswith(("%", "ms", "count", "time")) else "left")
    return t


def explain(payload: dict[str, Any]) -> list[Any]:
    """Headline, critical path, time per service/operation, smells."""
    out: list[Any] = [Text(payload["headline"], style="bold")]
    path = payload["critical_path"]
    crit = _table("critical path", "service", "time", "%")
    for s in path["spans"][:15]:
        crit.add_row(s["name"], s["service"], format_ns(s["critical_ns"]), _pct(s["share"]))
    out += [Text(""), crit]
    ops = _table("operation", "service", "self time", "self %", "critical %", "count")
    for o in payload["breakdown"]["operations"][:15]:
        ops.add_row(
            o["name"], o["service"], format_ns(o["self_ns"]), _pct(o["self_share"]),
            _pct(o["critical_share"]), str(o["span_count"]),
        )  # fmt: skip
    out += [Text(""), ops]
    smells = payload["smells"]["smells"]
    out.append(Text(""))
    if smells:
        for s in smells[:10]:
            out.append(Text(f"• {s['message']}"))
    else:
        out.append(Text("no smells: no N+1 calls, retries or sequential calls found"))
    for w in path["warnings"]:
        out.append(Text(f"warning: {w}", style="yellow"))
    return out


def compare(payload: dict[str, Any]) -> list[Any]:
    out: list[Any] = [Text(payload["headline"], style="bold")]
    split = payload["split"]
    out.append(
        Text(
            f"{split['slow_count']} slow (p50 {format_ns(split['slow_p50_ns'])}) vs "
            f"{split['normal_count']} normal (p50 {format_ns(split['normal_p50_ns'])}), "
            f"threshold {format_ns(split['threshold_ns'])}"
        )
    )
    attrs = _table("attribute", "value", "slow %", "normal %")
    for a in payload["attributes"][:10]:
        attrs.add_row(a["key"], a["value"][:60], _pct(a["slow_share"]), _pct(a["normal_share"]))
    ops = _table("operation", "service", "slow mean", "normal mean", "of the gap %")
    for o in payload["operations"][:10]:
        ops.add_row(
            o["name"], o["service"], format_ns(o["slow_mean_ns"]),
            format_ns(o["normal_mean_ns"]), _pct(o["contribution"]),
        )  # fmt: skip
    out += [Text(""), attrs, Text(""), ops]
    if payload["exemplars"]["slow"]:
        out += [Text(""), Text("slow traces: " + " ".join(payload["exemplars"]["slow"][:3]))]
    return out


def deps(payload: dict[str, Any]) -> list[Any]:
    out: list[Any] = [Text(payload["headline"], style="bold")]
    edges = _table("caller", "callee", "calls count", "errors %", "p50 time", "p99 time")
    for e in payload["edges"]:
        edges.add_row(
            e["parent"], e["child"], str(e["call_count"]), f"{e['error_rate'] * 100:.1f} %",
            format_ns(e["p50_ns"]), format_ns(e["p99_ns"]),
        )  # fmt: skip
    return [*out, Text(""), edges]


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

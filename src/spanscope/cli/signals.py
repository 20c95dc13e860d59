"""``spanscope logs`` and ``spanscope metrics``: the terminal side of logs and metrics.

::

    spanscope logs --trace 4bf92f3577b34da6a3ce929d0e0e4736          # what a request logged
    spanscope logs --trace 4bf9... --span 00f067aa0ba902b7             # ... inside one span
    spanscope logs --service orders --severity warn --grep "slow" --since 15m  # + trace ids
    spanscope logs import app.jsonl                                     # JSON log file -> server
    spanscope metrics http.server.duration --service orders --since 1h --step 5m

``logs`` and ``metrics`` read the query API (``--url``, ``SPANSCOPE_URL``); ``logs import``
sends the file over OTLP/HTTP JSON to ``--endpoint`` (``OTEL_EXPORTER_OTLP_ENDPOINT``,
default http://127.0.0.1:4318), so imported lines take the same path as exported ones:
write-ahead log, limits, partial success. One JSON object per line; the fields understood
are those :class:`spanscope.sdk.logs.JsonFormatter` writes and their usual spellings:

=================  ==============================================================
time               ``timestamp``, ``time``, ``ts``, ``@timestamp`` (RFC 3339 or unix)
severity           ``level``, ``severity``, ``levelname``
body               ``message``, ``msg``, ``body``
trace / span id    ``trace_id``, ``traceId``, ``otelTraceID`` / ``span_id``, ``spanId``
service            ``service.name``, ``service``, else ``--service``
=================  ==============================================================

Every other field becomes a log attribute. A line that is not a JSON object, or has no
usable time, is skipped and reported with its line number.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import typer
from rich.table import Table

from spanscope.cli.client import auth_headers, error_text
from spanscope.cli.options import (
    JSON_OPTION,
    URL_OPTION,
    HelpCommand,
    HelpGroup,
    fetch,
    tenant_headers,
    token,
)
from spanscope.cli.options import console as make_console
from spanscope.query.model import parse_time
from spanscope.severity import level_severity

TIME_KEYS = ("timestamp", "time", "ts", "@timestamp")
LEVEL_KEYS = ("level", "severity", "levelname", "severity_text")
BODY_KEYS = ("message", "msg", "body")
TRACE_KEYS = ("trace_id", "traceId", "otelTraceID", "trace.id")
SPAN_KEYS = ("span_id", "spanId", "otelSpanID", "span.id")
SERVICE_KEYS = ("service.name", "service", "service_name")
BATCH_LINES = 1000


# --- logs import ------------------------------------------------------------------------


def _first(obj: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for k in keys:
        if k in obj:
            return obj.pop(k)
    return None


def _any_value(v: Any) -> dict[str, Any]:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int) and -(2**63) <= v < 2**63:
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, str):
        return {"stringValue": v}
    return {"stringValue": orjson.dumps(v).decode()}


def line_to_record(line: str, default_service: str) -> tuple[str, dict[str, Any]]:
    """One JSON log line -> (service, OTLP/JSON LogRecord); ValueError says what is wrong."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    when = _first(obj, TIME_KEYS)
    if when is None:
        raise ValueError(f"no time field (one of {', '.join(TIME_KEYS)})")
    time_ns = parse_time(str(when))
    record: dict[str, Any] = {"timeUnixNano": str(time_ns)}
    level = _first(obj, LEVEL_KEYS)
    if level is not None:
        record["severityText"] = str(level).upper()
        number = level_severity(str(level))
        if number:
            record["severityNumber"] = number
    body = _first(obj, BODY_KEYS)
    if body is not None:
        record["body"] = _any_value(body)
    trace_id, span_id = _first(obj, TRACE_KEYS), _first(obj, SPAN_KEYS)
    if trace_id:
        record["traceId"] = str(trace_id)
        if span_id:
            record["spanId"] = str(span_id)
    service = _first(obj, SERVICE_KEYS) or default_service
    record["attributes"] = [{"key": k, "value": _any_value(v)} for k, v in obj.items()]
    return str(service), record


def _requests(
    lines: Iterator[str], default_service: str, problems: list[str]
) -> Iterator[tuple[int, bytes]]:
    """(line count, OTLP/JSON body) per batch of lines, grouped by service."""
    by_service: dict[str, list[dict[str, Any]]] = {}
    count = 0
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            service, record = line_to_record(line, default_service)
        except ValueError as exc:
            problems.append(f"line {n}: {exc}")
            continue
        by_service.setdefault(service, []).append(record)
        count += 1
        if count >= BATCH_LINES:
            yield count, _body(by_service)
            by_service, count = {}, 0
    if count:
        yield count, _body(by_service)


def _body(by_service: dict[str, list[dict[str, Any]]]) -> bytes:
    resource_logs = [
        {
            "resource": {
                "attributes": [{"key": "service.name", "value": {"stringValue": service}}]
            },
            "scopeLogs": [{"scope": {"name": "spanscope logs import"}, "logRecords": records}],
        }
        for service, records in by_service.items()
    ]
    return orjson.dumps({"resourceLogs": resource_logs})


def import_json_logs(
    path: Path,
    endpoint: str,
    service: str,
    token: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> tuple[int, int, list[str]]:
    """Send a JSON-lines log file to ``endpoint``/v1/logs; (stored, refused, problems).
    ``token``: sent as ``Authorization: Bearer`` (scope ``ingest``) to a server with tokens;
    ``extra_headers``: sent too (``X-Scope-OrgID`` of ``spanscope --tenant``)."""
    problems: list[str] = []
    stored = refused = 0
    url = endpoint.rstrip("/") + "/v1/logs"
    headers = {"Content-Type": "application/json", **auth_headers(token), **(extra_headers or {})}
    with path.open(encoding="utf-8", errors="replace") as f, httpx.Client(timeout=30) as http:
        for count, body in _requests(iter(f), service, problems):
            try:
                answer = http.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                raise RuntimeError(
                    f"cannot send logs to {url} ({exc}): is `spanscope serve` running? "
                    "Point --endpoint (OTEL_EXPORTER_OTLP_ENDPOINT) at its OTLP/HTTP port"
                ) from None
            if answer.status_code in (401, 403):
                raise RuntimeError(f"{url} answered {answer.status_code}: "
                                   + error_text(answer, token))  # fmt: skip
            if answer.status_code != 200:
                raise RuntimeError(f"{url} answered {answer.status_code}: {answer.text[:300]}")
            partial = (answer.json() or {}).get("partialSuccess") or {}
            rejected = int(partial.get("rejectedLogRecords") or 0)
            if rejected:
                problems.append(f"server refused {rejected}: {partial.get('errorMessage', '')}")
            stored += count - rejected
            refused += rejected
    return stored, refused, problems


# --- rendering ----------------------------------------------------------------------------


def _clock(ns: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


NARROW_LOGS = 130
"""Below this many columns the span id goes under the trace id, leaving room for text."""


def render_logs(payload: dict[str, Any], trace_column: bool = True, width: int = 160) -> Table:
    """One row per record, with its trace id (what ``spanscope trace`` takes) unless
    ``trace_column`` is off (the logs of one trace: the same id on every line); under
    :data:`NARROW_LOGS` columns the span id is on the line below the trace id."""
    stacked = trace_column and width < NARROW_LOGS
    t = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    t.add_column("time (UTC)", no_wrap=True)
    t.add_column("service", overflow="fold")
    t.add_column("level", no_wrap=True)
    ids = ["trace\nspan"] if stacked else ["trace", "span"] if trace_column else ["span"]
    for c in ids:
        t.add_column(c, no_wrap=True)
    t.add_column("message", overflow="fold", min_width=20)
    for log in payload.get("logs", []):
        body = log["body"]
        text = body if isinstance(body, str) else orjson.dumps(body).decode()
        trace_id, span_id = log.get("trace_id") or "", (log.get("span_id") or "")[:16]
        cells = [f"{trace_id}\n{span_id}"] if stacked else [trace_id, span_id] if trace_column \
            else [span_id]  # fmt: skip
        t.add_row(
            _clock(log["time_unix_nano"]),
            log["service"],
            log["severity_text"] or str(log["severity_number"]),
            *cells,
            text,
        )
    return t


def render_series(payload: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    unit = payload.get("unit") or ""
    for s in payload.get("series", []):
        labels = ", ".join(f"{k}={v}" for k, v in s["labels"].items())
        out.append(f"{payload['metric']} ({payload.get('kind')}, {unit or 'no unit'}) {labels}")
        t = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
        quantile_names = sorted({q for p in s["points"] for q in p.get("quantiles", {})})
        columns = ["time (UTC)", "count", "rate/s", "value", *quantile_names]
        for c in columns:
            t.add_column(c, justify="left" if c.startswith("time") else "right")
        for p in s["points"]:
            row = [_clock(p["time_unix_nano"]), _num(p.get("count")), _num(p.get("rate"))]
            row.append(_num(p.get("value")))
            row += [_num(p.get("quantiles", {}).get(q)) for q in quantile_names]
            t.add_row(*row)
        out.append(t)
    exemplars = sorted(payload.get("exemplars", []), key=lambda e: -e["value"])[:5]
    if exemplars:
        out.append("slowest exemplars (open with `spanscope trace ID`):")
        for e in exemplars:
            out.append(f"  {_num(e['value'])} {unit}  trace {e['trace_id']}  span {e['span_id']}")
    if not payload.get("series"):
        out.append(f"no points of {payload['metric']} in the range")
    return out


def _num(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e6 else f"{v:.0f}"
    return str(v)


# --- commands (registered on the main app by main.py) ------------------------------------


def register(app: typer.Typer) -> None:
    """Add ``logs`` (with ``logs import``) and ``metrics`` to the ``spanscope`` command."""
    from spanscope.cli.render import print_json

    logs_app = typer.Typer(
        cls=HelpGroup, help="Log records: of a trace, a span, or a search; import files."
    )

    @logs_app.callback(invoke_without_command=True)
    def logs(
        ctx: typer.Context,
        trace: str | None = typer.Option(None, "--trace", help="Trace id (hex)."),
        span: str | None = typer.Option(None, "--span", help="Only this span's logs."),
        service: str | None = typer.Option(None, "--service"),
        severity: str | None = typer.Option(None, "--severity", help="Minimum: info, warn..."),
        grep: str | None = typer.Option(None, "--grep", help="Text the message contains."),
        attr: list[str] = typer.Option([], "--attr", help="key=value (repeatable)."),
        since: str = typer.Option("1h", "--since", help="Look back this far (searches)."),
        limit: int = typer.Option(100, "--limit"),
        url: str = URL_OPTION,
        as_json: bool = JSON_OPTION,
    ) -> None:
        """Logs of a trace (--trace ID), of a span (--span), or a log search."""
        if ctx.invoked_subcommand is not None:
            return
        if trace:
            path = f"/api/v1/traces/{trace.strip()}/logs"
            params: dict[str, Any] = {"span_id": span} if span else {}
            if severity:
                params["severity"] = severity
        else:
            path = "/api/v1/logs"
            params = {"lookback": since, "limit": limit, "attr": attr}
            extra = {"service": service, "severity": severity, "q": grep, "span_id": span}
            params |= {k: v for k, v in extra.items() if v}
        payload = fetch(url, lambda api: api.get(path, params))
        console = make_console()
        if as_json:
            print_json(console, payload)
        elif not payload["logs"]:
            console.print("no log records found")
        else:
            console.print(render_logs(payload, not trace, console.width), crop=False)

    @logs_app.command("import", cls=HelpCommand)
    def import_(
        path: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSON lines file."),
        service: str = typer.Option("unknown_service", "--service", help="When a line has none."),
        endpoint: str = typer.Option(
            os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            "--endpoint",
            help="OTLP/HTTP base URL of the server.",
        ),
    ) -> None:
        """Send a JSON log file (one object per line) to the server, keeping trace ids."""
        try:
            stored, refused, problems = import_json_logs(
                path, endpoint, service, token(), tenant_headers()
            )
        except RuntimeError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        for p in problems[:10]:
            typer.echo(f"skipped {p}", err=True)
        typer.echo(f"imported {stored} log records from {path} ({refused} refused)")
        if not stored and problems:
            raise typer.Exit(1)

    app.add_typer(logs_app, name="logs")

    @app.command(cls=HelpCommand)
    def metrics(
        name: str = typer.Argument(..., help="Metric name, e.g. http.server.duration."),
        service: str | None = typer.Option(None, "--service"),
        label: list[str] = typer.Option([], "--label", help="key=value (repeatable)."),
        group_by: list[str] = typer.Option([], "--by", help="Split series by this label."),
        since: str = typer.Option("1h", "--since", help="Look back this far."),
        step: str | None = typer.Option(None, "--step", help="Step, e.g. 1m (default ~60)."),
        url: str = URL_OPTION,
        as_json: bool = JSON_OPTION,
    ) -> None:
        """A metric over time (histograms: p50/p95/p99) and its slowest exemplars."""
        params: dict[str, Any] = {"lookback": since, "label": label, "group_by": group_by}
        if service:
            params["service"] = service
        if step:
            params["step"] = step
        path = f"/api/v1/metrics/{name}/series"
        payload = fetch(url, lambda api: api.get(path, params))
        console = make_console()
        if as_json:
            print_json(console, payload)
            return
        for part in render_series(payload):
            console.print(part, crop=False)

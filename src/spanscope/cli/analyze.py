"""``spanscope explain | compare | deps | red | diff``: find where the time went.

Each command GETs one analysis endpoint of the query API (docs/analysis.md) and prints
its answer through :mod:`spanscope.cli.analysis`: first the one-line ``headline``, then
the detail as tables; ``--json`` prints the answer as it came::

    spanscope explain 4bf92f3577b34da6a3ce929d0e0e4736
    spanscope diff 0af7651916cd43dd8448eb211c80319c 4bf92f3577b34da6a3ce929d0e0e4736
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from spanscope.cli import analysis
from spanscope.cli.options import JSON_OPTION, URL_OPTION, HelpCommand, fetch
from spanscope.cli.options import console as make_console


def show(
    url: str, path: str, params: Any, render: Callable[[Any], list[Any]], as_json: bool
) -> None:
    """GET ``path`` and print what ``render`` makes of the answer (or the JSON itself)."""
    from spanscope.cli.render import print_json

    payload = fetch(url, lambda api: api.get(path, params))
    console = make_console()
    if as_json:
        print_json(console, payload)
        return
    for part in render(payload):
        console.print(part, crop=False, soft_wrap=isinstance(part, str) or hasattr(part, "plain"))


def _window(since: str | None, default: str) -> dict[str, str]:
    return {"lookback": since or default}


def register(app: typer.Typer) -> None:
    """Add ``explain``, ``compare``, ``deps``, ``red`` and ``diff`` to ``spanscope``."""

    @app.command(cls=HelpCommand)
    def explain(
        trace_id: str = typer.Argument(..., help="Trace id, hex."),
        raw: bool = typer.Option(False, "--raw", help="Skip the clock-skew adjustment."),
        url: str = URL_OPTION,
        as_json: bool = JSON_OPTION,
    ) -> None:
        """Where this trace's time went: critical path, time per operation, smells."""
        path = f"/api/v1/traces/{trace_id.strip()}/explain"
        show(url, path, {"raw": "true"} if raw else None, analysis.explain, as_json)

    @app.command(cls=HelpCommand)
    def compare(
        service: str | None = typer.Option(None, "--service", help="Requests of this service."),
        operation: str | None = typer.Option(None, "--operation", help="Requests with this name."),
        slower_than: str | None = typer.Option(
            None, "--slower-than", help="Slow means > this: 1s."
        ),
        slowest_percent: float | None = typer.Option(
            None, "--slowest-percent", help="Or: the slowest N % are slow (default 10)."
        ),
        since: str | None = typer.Option(None, "--since", help="Look back this far (default 1h)."),
        errors: bool = typer.Option(False, "--errors", help="Erroring vs healthy requests."),
        url: str = URL_OPTION,
        as_json: bool = JSON_OPTION,
    ) -> None:
        """Slow vs normal requests: which attribute values and operations set them apart.

        Example: spanscope compare --service orders --operation "POST /orders" --slower-than 1s
        """
        params = {k: v for k, v in {"service": service, "operation": operation,
                  "slower_than": slower_than, "slowest_percent": slowest_percent}.items()
                  if v is not None} | _window(since, "1h")  # fmt: skip
        if errors:
            params["errors"] = "true"
        show(url, "/api/v1/compare", params, analysis.compare, as_json)

    @app.command(cls=HelpCommand)
    def deps(
        service: str | None = typer.Option(None, "--service", help="Only edges touching it."),
        since: str | None = typer.Option(None, "--since", help="Look back this far (default 24h)."),
        url: str = URL_OPTION,
        as_json: bool = JSON_OPTION,
    ) -> None:
        """The service map: caller -> callee calls, error rates and latencies."""
        params = _window(since, "24h") | ({"service": service} if service else {})
        show(url, "/api/v1/service-map", params, analysis.deps, as_json)

    @app.command(cls=HelpCommand)
    def red(
        service: list[str] = typer.Option(..., "--service", help="Service (repeatable)."),
        operation: str | None = typer.Option(None, "--operation", help="Only this operation."),
        by_operation: bool = typer.Option(
            False, "--by-operation", help="One series per operation."
        ),
        span_kind: str = typer.Option("server", "--span-kind", help="server, client, ... or any."),
        step: str = typer.Option("1m", "--step", help="Time step, e.g. 1m, 5m."),
        since: str | None = typer.Option(None, "--since", help="Look back this far (default 1h)."),
        url: str = URL_OPTION,
        as_json: bool = JSON_OPTION,
    ) -> None:
        """Rate, errors and duration (RED) of a service from its spans."""
        params: dict[str, Any] = {"service": service, "span_kind": span_kind, "step": step,
                                  "group_by_operation": str(by_operation).lower()}  # fmt: skip
        if operation:
            params["operation"] = operation
        show(url, "/api/v1/red", params | _window(since, "1h"), analysis.red, as_json)

    @app.command(cls=HelpCommand)
    def diff(
        trace_a: str = typer.Argument(..., help="Trace id, hex: the baseline (a)."),
        trace_b: str = typer.Argument(..., help="Trace id, hex: the one to explain (b)."),
        raw: bool = typer.Option(False, "--raw", help="Skip the clock-skew adjustment."),
        limit: int = typer.Option(20, "--limit", min=1, help="Paths to list (largest first)."),
        url: str = URL_OPTION,
        as_json: bool = JSON_OPTION,
    ) -> None:
        """Two traces of one request side by side: which paths ran more, less or longer.

        Example: spanscope diff FAST_TRACE_ID SLOW_TRACE_ID
        """
        params = {"a": trace_a.strip(), "b": trace_b.strip()} | ({"raw": "true"} if raw else {})
        show(url, "/api/v1/diff", params, lambda payload: analysis.diff(payload, limit), as_json)

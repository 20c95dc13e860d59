"""``spanscope services | operations | search | trace``: find traces and read them.

Each command makes one request to the query API (``--url``) and prints a table, or with
``--json`` the API's answer as it came; ``trace --file PATH`` reads an OTLP JSON or Jaeger
JSON file instead (:mod:`spanscope.cli.trace_file`) and draws the same waterfall
(:func:`spanscope.cli.render.render_trace`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from spanscope.cli.options import JSON_OPTION, URL_OPTION, HelpCommand, fetch
from spanscope.cli.options import console as make_console


def register(app: typer.Typer) -> None:
    """Add ``services``, ``operations``, ``search`` and ``trace`` to the ``spanscope`` command."""

    @app.command(cls=HelpCommand)
    def services(url: str = URL_OPTION, as_json: bool = JSON_OPTION) -> None:
        """List the services that sent spans."""
        from spanscope.cli import render

        payload = fetch(url, lambda api: api.services())
        console = make_console()
        if as_json:
            render.print_json(console, payload)
        else:
            console.print(render.services_table(payload))

    @app.command(cls=HelpCommand)
    def operations(
        service: str = typer.Argument(..., help="Service whose operations (span names) to list."),
        span_kind: str | None = typer.Option(
            None,
            "--span-kind",
            help="Only this kind: server, client, internal, producer, consumer.",
        ),
        url: str = URL_OPTION,
        as_json: bool = JSON_OPTION,
    ) -> None:
        """List a service's operations (span names) and their span kinds."""
        from spanscope.cli import render

        payload = fetch(url, lambda api: api.operations(service, span_kind))
        console = make_console()
        if as_json:
            render.print_json(console, payload)
        else:
            console.print(render.operations_table(payload))

    @app.command(cls=HelpCommand)
    def search(
        service: str | None = typer.Option(None, "--service", help="A span of this service."),
        operation: str | None = typer.Option(None, "--operation", help="A span with this name."),
        tag: list[str] = typer.Option(
            [], "--tag", help="Attribute condition key<op>value (= != > >= < <=), repeatable."
        ),
        min_duration: str | None = typer.Option(None, "--min-duration", help="e.g. 250ms, 1.5s."),
        max_duration: str | None = typer.Option(None, "--max-duration", help="e.g. 2s."),
        status: str | None = typer.Option(None, "--status", help="error, ok or unset."),
        since: str | None = typer.Option(
            None, "--since", help="Look back this far from --end or now: 15m, 1h (default), 2d."
        ),
        start: str | None = typer.Option(None, "--start", help="RFC 3339 or unix timestamp."),
        end: str | None = typer.Option(None, "--end", help="RFC 3339 or unix timestamp."),
        limit: int | None = typer.Option(None, "--limit", help="Traces to list (API default 20)."),
        slowest: bool = typer.Option(False, "--slowest", help="Slowest traces first, not newest."),
        query: str | None = typer.Option(
            None,
            "-q",
            "--query",
            help="A TraceQL query instead of the filters, e.g. '{ status = error }'.",
        ),
        url: str = URL_OPTION,
        as_json: bool = JSON_OPTION,
    ) -> None:
        """Find traces; all filters must hold on one span (as in Jaeger), or -q TraceQL.

        Example: spanscope search --service checkout --min-duration 1s
        --tag http.status_code=500 --slowest, or
        spanscope search -q '{ resource.service.name = "checkout" && duration > 1s }'
        """
        from spanscope.cli import render
        from spanscope.cli.client import SearchParams

        if since and start:
            raise typer.BadParameter(
                f"--since {since} and --start {start} both set the window start; give one of them",
                param_hint="--since",
            )
        params = SearchParams(
            service=service,
            operation=operation,
            tags=list(tag),
            min_duration=min_duration,
            max_duration=max_duration,
            status=status,
            start=start,
            end=end,
            lookback=since,
            limit=limit,
            order="slowest" if slowest else None,
            q=query,
        )
        payload = fetch(url, lambda api: api.search(params))
        console = make_console()
        if as_json:
            render.print_json(console, payload)
        elif not payload.get("traces"):
            typer.echo("no traces match; widen the window (--since 1d) or loosen the filters")
        else:
            console.print(render.search_table(payload, console.width))

    @app.command(cls=HelpCommand)
    def trace(
        trace_id: str | None = typer.Argument(
            None, help="Trace id, hex (with --file: which of the file's traces; default all)."
        ),
        file: Path | None = typer.Option(
            None,
            "--file",
            dir_okay=False,
            help="Read the trace from an OTLP JSON or Jaeger JSON file instead of the "
            "server (no server needed).",
        ),
        attributes: bool = typer.Option(False, "--attributes", help="Show span attributes."),
        width: int | None = typer.Option(
            None, "--width", help="Columns (default: the terminal's)."
        ),
        url: str = URL_OPTION,
        as_json: bool = JSON_OPTION,
    ) -> None:
        """Show a trace as a waterfall: the span tree with time bars to scale.

        Example: spanscope trace 4bf92f3577b34da6a3ce929d0e0e4736, or without a server:
        spanscope trace --file trace.json
        """
        from spanscope.cli import render

        if file is not None:
            payloads = _traces_from_file(file, trace_id)
        elif trace_id is None:
            raise typer.BadParameter(
                "give a trace id (spanscope trace 4bf92f35...) or a file (--file trace.json)",
                param_hint="TRACE_ID",
            )
        else:
            payloads = [fetch(url, lambda api: api.trace(trace_id))]
        console = make_console(width)
        if as_json:
            every = file is not None and trace_id is None  # a file's traces, however many
            render.print_json(console, {"traces": payloads} if every else payloads[0])
            return
        for i, payload in enumerate(payloads):
            if i:
                console.print()
            console.print(render.render_trace(payload, console.width, attributes), crop=False)


def _traces_from_file(path: Path, trace_id: str | None) -> list[Any]:
    """The native API's JSON of the traces in ``path`` (one, with ``trace_id``), clock
    skew adjusted as the API adjusts it; problems go to stderr."""
    from spanscope.analysis.skew import adjust_clock_skew
    from spanscope.api.serialize import trace_to_native
    from spanscope.cli.trace_file import read_trace_file
    from spanscope.model.spans import parse_trace_id

    try:
        traces, problems = read_trace_file(path)
        wanted = parse_trace_id(trace_id) if trace_id is not None else None
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for problem in problems[:10]:
        typer.echo(f"warning: {problem}", err=True)
    if wanted is not None:
        traces = [t for t in traces if t.trace_id == wanted]
    if not traces and wanted is not None:
        typer.echo(f"error: no trace {trace_id} in {path}; leave the id out to show every "
                   "trace the file holds", err=True)  # fmt: skip
        raise typer.Exit(1)
    if not traces:
        typer.echo(f"error: no spans in {path}", err=True)
        raise typer.Exit(1)
    return [trace_to_native(adjust_clock_skew(t)) for t in traces]

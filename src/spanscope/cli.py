"""The ``spanscope`` command.

``spanscope serve`` runs the collector, store and query API in one process. The other
commands are clients of the query API at ``--url`` (``SPANSCOPE_URL``, default
http://127.0.0.1:16686), and every one of them takes ``--json`` to print what the API said.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from spanscope.config import (
    DEFAULT_API_PORT,
    DEFAULT_MAX_TENANTS,
    DEFAULT_OTLP_GRPC_PORT,
    DEFAULT_OTLP_HTTP_PORT,
    DEFAULT_QUERY_TIMEOUT_S,
    DEFAULT_URL,
    DEFAULT_ZIPKIN_PORT,
    Settings,
)

app = typer.Typer(
    name="spanscope",
    help="Spanscope: receive, store and explore distributed traces.",
    no_args_is_help=True,
    add_completion=False,
)


_ca_file: list[str | None] = [None]
"""``--ca-file`` of the command being run: the callback sets it on every invocation."""
_tenant: list[str | None] = [None]
"""``--tenant`` of the command being run (None: the server's default tenant)."""
_token: list[str | None] = [None]
"""``--token`` of the command being run (never printed)."""


@app.callback()
def _client_options(
    ca_file: Path | None = typer.Option(
        None,
        "--ca-file",
        envvar="SPANSCOPE_CA_FILE",
        help="PEM CA certificate the client commands trust for an https:// --url "
        "(a server run with --tls-cert); default: the system's store or SSL_CERT_FILE.",
    ),
    tenant: str | None = typer.Option(
        None,
        "--tenant",
        envvar="SPANSCOPE_TENANT",
        help="Tenant the client commands read (and `logs import` writes), sent as "
        "X-Scope-OrgID; default: the server's default tenant (docs/security.md).",
    ),
    token: str | None = typer.Option(
        None,
        "--token",
        envvar="SPANSCOPE_TOKEN",
        show_default=False,
        help="Token the client commands send (Authorization: Bearer) to a server run with "
        "--auth-file: scope query to read, admin for sampling/retention changes, ingest "
        "for `logs import`. Prefer the env var: a flag shows in `ps`.",
    ),
) -> None:
    """Spanscope: receive, store and explore distributed traces."""
    _ca_file[0] = str(ca_file) if ca_file else None
    _token[0] = token.strip() if token and token.strip() else None
    if tenant is not None:
        from spanscope.tenancy import TenantError, validate_tenant_id

        try:
            validate_tenant_id(tenant)
        except TenantError as exc:
            raise typer.BadParameter(exc.message, param_hint="--tenant") from None
    _tenant[0] = tenant


def ca_file() -> str | None:
    """``spanscope --ca-file`` (or ``SPANSCOPE_CA_FILE``) of the command being run."""
    return _ca_file[0]


def tenant_headers() -> dict[str, str]:
    """``X-Scope-OrgID`` for ``spanscope --tenant`` (``SPANSCOPE_TENANT``); none without."""
    return {"X-Scope-OrgID": _tenant[0]} if _tenant[0] is not None else {}


def token() -> str | None:
    """``spanscope --token`` (or ``SPANSCOPE_TOKEN``) of the command being run."""
    return _token[0]


@app.command()
def serve(
    data_dir: Path = typer.Option(
        Path("spanscope-data"),
        envvar="SPANSCOPE_DATA_DIR",
        help="Where the DuckDB file and WAL live.",
    ),
    host: str = typer.Option("127.0.0.1", envvar="SPANSCOPE_HOST", help="Address to bind."),
    port: int = typer.Option(
        DEFAULT_API_PORT, envvar="SPANSCOPE_PORT", help="Query API and UI port (0 = any free)."
    ),
    otlp_grpc_port: int = typer.Option(
        DEFAULT_OTLP_GRPC_PORT, envvar="SPANSCOPE_OTLP_GRPC_PORT", help="OTLP/gRPC port."
    ),
    otlp_http_port: int = typer.Option(
        DEFAULT_OTLP_HTTP_PORT, envvar="SPANSCOPE_OTLP_HTTP_PORT", help="OTLP/HTTP port."
    ),
    zipkin_port: int = typer.Option(
        DEFAULT_ZIPKIN_PORT, envvar="SPANSCOPE_ZIPKIN_PORT", help="Zipkin v2 JSON port."
    ),
    config: Path | None = typer.Option(
        None,
        "--config",
        envvar="SPANSCOPE_CONFIG",
        # Rich markup would swallow the [table] names: escape them.
        help="TOML file: \\[tail_sampling] policies, \\[retention] (docs/sampling.md), "
        "\\[\\[redaction]] rules (docs/security.md).",
    ),
    query_timeout: float = typer.Option(
        DEFAULT_QUERY_TIMEOUT_S,
        "--query-timeout",
        envvar="SPANSCOPE_QUERY_TIMEOUT_S",
        help="Seconds a query API request may read before it is cancelled (503); 0: no limit.",
    ),
    shutdown_timeout: float = typer.Option(
        30.0,
        "--shutdown-timeout",
        envvar="SPANSCOPE_SHUTDOWN_TIMEOUT_S",
        min=1.0,
        help="Seconds SIGTERM may take; what the store has not stored by then stays in "
        "the WAL for the next start (exit code 3).",
    ),
    tls_cert: Path | None = typer.Option(
        None,
        "--tls-cert",
        envvar="SPANSCOPE_TLS_CERT",
        help="PEM certificate (chain): every listener speaks TLS only (needs --tls-key).",
    ),
    tls_key: Path | None = typer.Option(
        None, "--tls-key", envvar="SPANSCOPE_TLS_KEY", help="Unencrypted PEM key of --tls-cert."
    ),
    allowed_hosts: str | None = typer.Option(
        None,
        "--allowed-hosts",
        envvar="SPANSCOPE_ALLOWED_HOSTS",
        help="Comma-separated Host names the HTTP listeners answer (default: localhost, "
        "127.0.0.1, [::1] and --host unless 0.0.0.0/::); * for any. Guards against DNS "
        "rebinding (docs/security.md).",
    ),
    max_tenants: int = typer.Option(
        DEFAULT_MAX_TENANTS,
        "--max-tenants",
        envvar="SPANSCOPE_MAX_TENANTS",
        min=0,
        help="Tenants (X-Scope-OrgID) besides the default one that writes may create; a "
        "write for one more is refused 400 (docs/security.md). 0: the default tenant only.",
    ),
    auth_file: Path | None = typer.Option(
        None,
        "--auth-file",
        envvar="SPANSCOPE_AUTH_FILE",
        help="TOML file of \\[\\[tokens]] (token, scopes: ingest/query/admin, tenant, name): "
        "every listener then needs a token; re-read on SIGHUP (docs/security.md).",
    ),
    insecure_listen: bool = typer.Option(
        False,
        "--insecure-listen",
        envvar="SPANSCOPE_INSECURE_LISTEN",
        help="Allow a non-loopback --host without --auth-file: anyone who reaches it may "
        "write spans, read traces and change settings.",
    ),
    jaeger_ui: Path | None = typer.Option(
        None,
        "--jaeger-ui",
        envvar="SPANSCOPE_JAEGER_UI",
        exists=True,
        file_okay=False,
        help="A Jaeger UI build (the directory with its index.html) to serve at /jaeger/, "
        "with the Monitor tab, deep dependencies and trace quality on (docs/jaeger.md).",
    ),
) -> None:
    """Receive OTLP (gRPC 4317, HTTP 4318) and Zipkin (9411); serve the API on 16686."""
    from spanscope.request_policy import parse_allowed_hosts
    from spanscope.server import serve as run_server

    try:
        hosts = parse_allowed_hosts(allowed_hosts) if allowed_hosts is not None else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--allowed-hosts") from None
    settings = Settings(
        data_dir=data_dir,
        host=host,
        api_port=port,
        otlp_grpc_port=otlp_grpc_port,
        otlp_http_port=otlp_http_port,
        zipkin_port=zipkin_port,
        config_file=config,
        query_timeout_s=query_timeout,
        shutdown_timeout_s=shutdown_timeout,
        tls_cert=tls_cert,
        tls_key=tls_key,
        allowed_hosts=hosts,
        max_tenants=max_tenants,
        auth_file=auth_file,
        insecure_listen=insecure_listen,
        jaeger_ui_dir=jaeger_ui,
    )
    if not query_timeout >= 0:  # also NaN
        raise typer.BadParameter(
            f"{query_timeout}: expected seconds >= 0 (0 turns the limit off)",
            param_hint="--query-timeout",
        )
    run_server(settings)


# --- clients of the query API: logic in cli_client.py, rendering in cli_render.py ---

URL_OPTION = typer.Option(DEFAULT_URL, "--url", envvar="SPANSCOPE_URL", help="Query API URL.")
JSON_OPTION = typer.Option(False, "--json", help="Print the API's JSON answer, nothing else.")


def _fetch(url: str, call: Callable[[Any], Any]) -> Any:
    """Run one API call; any failure is one line on stderr and exit status 1."""
    from spanscope.cli_client import ApiClient, ApiError

    try:
        with ApiClient(url, ca_file=ca_file(), token=token(), headers=tenant_headers()) as api:
            return call(api)
    except ApiError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _console(width: int | None = None) -> Any:
    from rich.console import Console

    return Console(width=width, highlight=False)


@app.command()
def services(url: str = URL_OPTION, as_json: bool = JSON_OPTION) -> None:
    """List the services that sent spans."""
    from spanscope import cli_render

    payload = _fetch(url, lambda api: api.services())
    console = _console()
    if as_json:
        cli_render.print_json(console, payload)
    else:
        console.print(cli_render.services_table(payload))


@app.command()
def operations(
    service: str = typer.Argument(..., help="Service whose operations (span names) to list."),
    span_kind: str | None = typer.Option(
        None, "--span-kind", help="Only this kind: server, client, internal, producer, consumer."
    ),
    url: str = URL_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """List a service's operations (span names) and their span kinds."""
    from spanscope import cli_render

    payload = _fetch(url, lambda api: api.operations(service, span_kind))
    console = _console()
    if as_json:
        cli_render.print_json(console, payload)
    else:
        console.print(cli_render.operations_table(payload))


@app.command()
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
    url: str = URL_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Find traces; all filters must hold on one span (as in Jaeger).

    Example: spanscope search --service checkout --min-duration 1s
    --tag http.status_code=500 --slowest
    """
    from spanscope import cli_render
    from spanscope.cli_client import SearchParams

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
    )
    payload = _fetch(url, lambda api: api.search(params))
    console = _console()
    if as_json:
        cli_render.print_json(console, payload)
    elif not payload.get("traces"):
        typer.echo("no traces match; widen the window (--since 1d) or loosen the filters")
    else:
        console.print(cli_render.search_table(payload, console.width))


@app.command()
def trace(
    trace_id: str = typer.Argument(..., help="Trace id, hex."),
    attributes: bool = typer.Option(False, "--attributes", help="Show span attributes."),
    width: int | None = typer.Option(None, "--width", help="Columns (default: the terminal's)."),
    url: str = URL_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Show a trace as a waterfall: the span tree with time bars to scale."""
    from spanscope import cli_render

    payload = _fetch(url, lambda api: api.trace(trace_id))
    console = _console(width)
    if as_json:
        cli_render.print_json(console, payload)
    else:
        console.print(cli_render.render_trace(payload, console.width, attributes), crop=False)


# `spanscope demo` and `spanscope demo incident NAME --on/--off` (src/spanscope/demo/cli.py)
from spanscope.demo.cli import demo_app  # noqa: E402

app.add_typer(demo_app, name="demo")

# `spanscope sampling set|list|delete` and `spanscope retention` (src/spanscope/sampling/cli.py)
from spanscope.sampling.cli import register as _register_sampling  # noqa: E402

_register_sampling(app)


# --- analysis: find where the time went (rendering in cli_analysis.py) --------------------


def _analysis(url: str, path: str, params: Any, render: str, as_json: bool) -> None:
    from spanscope import cli_analysis, cli_render

    payload = _fetch(url, lambda api: cli_analysis.get(api, path, params))
    console = _console()
    if as_json:
        cli_render.print_json(console, payload)
        return
    for part in getattr(cli_analysis, render)(payload):
        console.print(part, crop=False, soft_wrap=isinstance(part, str) or hasattr(part, "plain"))


def _window(since: str | None, default: str) -> dict[str, str]:
    return {"lookback": since or default}


@app.command()
def explain(
    trace_id: str = typer.Argument(..., help="Trace id, hex."),
    raw: bool = typer.Option(False, "--raw", help="Skip the clock-skew adjustment."),
    url: str = URL_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Where this trace's time went: critical path, time per operation, smells."""
    path = f"/api/v1/traces/{trace_id.strip()}/explain"
    _analysis(url, path, {"raw": "true"} if raw else None, "explain", as_json)


@app.command()
def compare(
    service: str | None = typer.Option(None, "--service", help="Requests of this service."),
    operation: str | None = typer.Option(None, "--operation", help="Requests with this name."),
    slower_than: str | None = typer.Option(None, "--slower-than", help="Slow means > this: 1s."),
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
    _analysis(url, "/api/v1/compare", params, "compare", as_json)


@app.command()
def deps(
    service: str | None = typer.Option(None, "--service", help="Only edges touching it."),
    since: str | None = typer.Option(None, "--since", help="Look back this far (default 24h)."),
    url: str = URL_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """The service map: caller -> callee calls, error rates and latencies."""
    params = _window(since, "24h") | ({"service": service} if service else {})
    _analysis(url, "/api/v1/service-map", params, "deps", as_json)


@app.command()
def red(
    service: list[str] = typer.Option(..., "--service", help="Service (repeatable)."),
    operation: str | None = typer.Option(None, "--operation", help="Only this operation."),
    by_operation: bool = typer.Option(False, "--by-operation", help="One series per operation."),
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
    _analysis(url, "/api/v1/red", params | _window(since, "1h"), "red", as_json)


if __name__ == "__main__":
    app()


# `spanscope logs [--trace ID | import FILE]` and `spanscope metrics NAME` (cli_signals.py)
from spanscope.cli_signals import register as _register_signals  # noqa: E402

_register_signals(app)

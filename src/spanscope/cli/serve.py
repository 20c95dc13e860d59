"""``spanscope serve``: the collector, store and query API in one process.

Every flag has an environment twin (``SPANSCOPE_*``), read by Typer; the values become one
:class:`spanscope.config.Settings` that :func:`spanscope.server.serve` runs. The flags and
what each one does are in docs/cli.md and docs/serving.md.
"""

from __future__ import annotations

from pathlib import Path

import typer

from spanscope.cli.options import HelpCommand
from spanscope.config import (
    DEFAULT_API_PORT,
    DEFAULT_MAX_TENANTS,
    DEFAULT_OTLP_GRPC_PORT,
    DEFAULT_OTLP_HTTP_PORT,
    DEFAULT_QUERY_TIMEOUT_S,
    DEFAULT_ZIPKIN_PORT,
    Settings,
)


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the ``spanscope`` command."""
    app.command(cls=HelpCommand)(serve)


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
        help="TOML file: [tail_sampling] policies, [retention] (docs/sampling.md), "
        "[[redaction]] rules (docs/security.md).",
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
        help="TOML file of [[tokens]] (token, scopes: ingest/query/admin, tenant, name): "
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
    peers: str | None = typer.Option(
        None,
        "--peers",
        envvar="SPANSCOPE_PEERS",
        help="Comma-separated OTLP/HTTP host:port of every collector (this one too): each "
        "span goes to the collector that owns its trace id (docs/scaling.md).",
    ),
    peer_self: str | None = typer.Option(
        None,
        "--peer-self",
        envvar="SPANSCOPE_PEER_SELF",
        help="This collector's entry in --peers (default: --host:--otlp-http-port).",
    ),
    export_to: str | None = typer.Option(
        None,
        "--export-to",
        envvar="SPANSCOPE_EXPORT_TO",
        help="OTLP/HTTP base URL of the storage node (a spanscope serve) that stores the "
        "traces this collector keeps, e.g. http://10.0.0.9:4318.",
    ),
    forward_queue_spans: int = typer.Option(
        100_000,
        "--forward-queue-spans",
        envvar="SPANSCOPE_FORWARD_QUEUE_SPANS",
        min=1,
        help="Spans waiting for peers before receivers answer 429 with Retry-After.",
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
        peers=_peers(peers),
        peer_self=_peer_self(peer_self),
        export_to=_export_to(export_to),
        forward_queue_spans=forward_queue_spans,
    )
    if not query_timeout >= 0:  # also NaN
        raise typer.BadParameter(
            f"{query_timeout}: expected seconds >= 0 (0 turns the limit off)",
            param_hint="--query-timeout",
        )
    run_server(settings)


def _peers(text: str | None) -> tuple[str, ...]:
    from spanscope.ingest.ring import PeerListError, parse_peers

    if text is None:
        return ()
    try:
        return parse_peers(text)
    except PeerListError as exc:
        raise typer.BadParameter(str(exc), param_hint="--peers") from None


def _peer_self(text: str | None) -> str | None:
    from spanscope.ingest.ring import PeerListError, parse_peer

    try:
        return None if text is None else parse_peer(text, "--peer-self")
    except PeerListError as exc:
        raise typer.BadParameter(str(exc), param_hint="--peer-self") from None


def _export_to(text: str | None) -> str | None:
    if text is None:
        return None
    if not text.startswith(("http://", "https://")) or len(text.split("://", 1)[1]) < 3:
        raise typer.BadParameter(
            f"{text!r}: expected the storage node's OTLP/HTTP base URL, e.g. http://127.0.0.1:4318",
            param_hint="--export-to",
        )
    return text.rstrip("/")

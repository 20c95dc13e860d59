"""The ``spanscope`` command.

``spanscope serve`` runs the collector, store and query API in one process. The other
commands are clients of the query API at ``--url`` (``SPANSCOPE_URL``, default
http://127.0.0.1:16686), and every one of them takes ``--json`` to print what the API said.
"""

from __future__ import annotations

from pathlib import Path

import typer

from spanscope.config import (
    DEFAULT_API_PORT,
    DEFAULT_OTLP_GRPC_PORT,
    DEFAULT_OTLP_HTTP_PORT,
    DEFAULT_ZIPKIN_PORT,
    Settings,
)

app = typer.Typer(
    name="spanscope",
    help="Spanscope: receive, store and explore distributed traces.",
    no_args_is_help=True,
    add_completion=False,
)


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
) -> None:
    """Receive OTLP (gRPC 4317, HTTP 4318) and Zipkin (9411); serve the API on 16686."""
    from spanscope.server import serve as run_server

    settings = Settings(
        data_dir=data_dir,
        host=host,
        api_port=port,
        otlp_grpc_port=otlp_grpc_port,
        otlp_http_port=otlp_http_port,
        zipkin_port=zipkin_port,
    )
    run_server(settings)


if __name__ == "__main__":
    app()

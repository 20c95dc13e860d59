"""What every client command shares: ``--url``, ``--json``, and the top-level
``spanscope --ca-file/--tenant/--token`` of the command being run.

A command module declares its flags with :data:`URL_OPTION` and :data:`JSON_OPTION`, makes
its request with :func:`fetch` (any failure is one line on stderr and exit status 1) and
prints with :func:`console`::

    @app.command()
    def services(url: str = URL_OPTION, as_json: bool = JSON_OPTION) -> None:
        payload = fetch(url, lambda api: api.services())

Every command and group of the app is a :class:`HelpCommand` / :class:`HelpGroup`, whose
``--help`` shows help text as written: ``[tail_sampling]`` stays itself (rich markup would
take it for a style tag, and an escaped ``\\[`` prints its backslash when rich is off), and a
flag gets no ``<bool>`` label, since it takes no value.

The top-level options are read once per invocation by :func:`client_options` (the app's
callback, in main.py) and kept here, so command modules read them without importing the
app (which imports them: that was the ``cli`` <-> ``cli_signals`` cycle).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from typer.core import HAS_RICH, TyperCommand, TyperGroup

from spanscope.config import DEFAULT_URL

URL_OPTION = typer.Option(DEFAULT_URL, "--url", envvar="SPANSCOPE_URL", help="Query API URL.")
JSON_OPTION = typer.Option(False, "--json", help="Print the API's JSON answer, nothing else.")


class _HelpAsWritten:
    """``--help`` of a command or group: help text shown literally, flags without types."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        from rich.markup import escape

        command: Any = self
        rich = HAS_RICH and getattr(command, "rich_markup_mode", None) == "rich"
        for param in command.get_params(ctx):
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""  # not "<bool>": a flag takes no value
            if rich and getattr(param, "help", None) and not getattr(param, "_as_written", 0):
                param.help, param._as_written = escape(param.help), 1
        if rich and command.help and not getattr(command, "_as_written", 0):
            command.help, command._as_written = escape(command.help), 1
        super().format_help(ctx, formatter)  # type: ignore[misc]


class HelpCommand(_HelpAsWritten, TyperCommand):
    """A command whose ``--help`` shows its text as written (``cls=HelpCommand``)."""


class HelpGroup(_HelpAsWritten, TyperGroup):
    """A group (``typer.Typer(cls=HelpGroup)``) whose ``--help`` shows text as written."""


_ca_file: list[str | None] = [None]
"""``--ca-file`` of the command being run: the callback sets it on every invocation."""
_tenant: list[str | None] = [None]
"""``--tenant`` of the command being run (None: the server's default tenant)."""
_token: list[str | None] = [None]
"""``--token`` of the command being run (never printed)."""


def client_options(
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


def fetch(url: str, call: Callable[[Any], Any]) -> Any:
    """Run one API call; any failure is one line on stderr and exit status 1."""
    from spanscope.cli.client import ApiClient, ApiError

    try:
        with ApiClient(url, ca_file=ca_file(), token=token(), headers=tenant_headers()) as api:
            return call(api)
    except ApiError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def console(width: int | None = None) -> Any:
    """A rich console for command output (no auto-highlighting of numbers and names)."""
    from rich.console import Console

    return Console(width=width, highlight=False)

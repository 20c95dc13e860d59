"""``spanscope sampling set|list|delete`` and ``spanscope retention``: clients of the API.

::

    spanscope sampling set checkout --default-rate 0.05 --rule '0.5:name=POST /checkout*'
    spanscope sampling set '*' --default-rate 0.1 --rule '0.001:route=/health*'
    spanscope sampling set orders --file rules.toml      # the SDK's rules-file format
    spanscope sampling list
    spanscope retention --dry-run                        # what retention would delete now
    spanscope retention                                  # delete it now

A ``--rule`` is ``RATE:MATCHER[;MATCHER...]`` with matchers ``name=GLOB``, ``route=GLOB``
or ``attr.KEY=GLOB`` (all must match), exactly the rules of
:class:`spanscope.sdk.sampling.PrioritySampler`. SDKs configured with
``remote_sampling=True`` pick changes up within their refresh interval.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import typer

from spanscope.cli.options import JSON_OPTION, URL_OPTION, HelpCommand, HelpGroup

sampling_app = typer.Typer(
    cls=HelpGroup, help="Head-sampling rules served to SDKs (docs/sampling.md)."
)


def parse_rule(text: str) -> dict[str, Any]:
    """``'0.5:name=POST /checkout*;attr.user.tier=gold'`` -> a rules-file rule."""
    rate_text, sep, matchers = text.partition(":")
    try:
        rate = float(rate_text)
    except ValueError:
        rate = -1.0
    if not sep or not 0 <= rate <= 1:
        raise typer.BadParameter(
            f"{text!r}: expected RATE:MATCHER, e.g. '0.5:name=POST /checkout*' (rate in [0, 1])",
            param_hint="--rule",
        )
    rule: dict[str, Any] = {"rate": rate}
    for part in filter(None, (m.strip() for m in matchers.split(";"))):
        key, eq, glob = part.partition("=")
        if not eq or not (key in ("name", "route") or key.startswith("attr.")):
            raise typer.BadParameter(
                f"{part!r} in {text!r}: expected name=GLOB, route=GLOB or attr.KEY=GLOB",
                param_hint="--rule",
            )
        if key.startswith("attr."):
            rule.setdefault("attributes", {})[key[5:]] = glob
        else:
            rule[key] = glob
    return rule


def _call(url: str, method: str, path: str, **kwargs: Any) -> Any:
    import httpx

    from spanscope.cli.client import auth_headers, error_text
    from spanscope.cli.options import ca_file, tenant_headers, token
    from spanscope.tls import TlsConfigError, client_verify

    try:
        verify = client_verify(ca_file())  # an https:// server with a private CA
    except TlsConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    try:
        # --tenant: retention reports and applies in that tenant only.
        headers = {**auth_headers(token()), **tenant_headers(), **kwargs.pop("headers", {})}
        response = httpx.request(
            method, url.rstrip("/") + path, timeout=30.0, verify=verify,
            headers=headers, **kwargs,
        )  # fmt: skip
    except httpx.HTTPError as exc:
        typer.echo(f"error: cannot reach the Spanscope API at {url} ({exc}); is `spanscope "
                   "serve` running? Point --url (SPANSCOPE_URL) at it", err=True)  # fmt: skip
        raise typer.Exit(1) from None
    if response.status_code >= 400:
        typer.echo(f"error: {error_text(response, token())}", err=True)
        raise typer.Exit(1)
    return response.json()


@sampling_app.command("set", cls=HelpCommand)
def set_rules(
    service: str = typer.Argument(..., help="Service name, or '*' for every other service."),
    default_rate: float | None = typer.Option(None, "--default-rate", help="e.g. 0.05."),
    rule: list[str] = typer.Option([], "--rule", help="RATE:name=GLOB;route=GLOB (repeat)."),
    file: Path | None = typer.Option(None, "--file", help="A rules file (TOML or JSON)."),
    url: str = URL_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Replace a service's head-sampling rules (ordered; the first match gives the rate)."""
    body: dict[str, Any] = {}
    if file is not None:
        text = file.read_text()
        body = json.loads(text) if file.suffix == ".json" else tomllib.loads(text)
    if default_rate is not None:
        body["default_rate"] = default_rate
    if rule:
        body["rules"] = [parse_rule(r) for r in rule]
    if not body:
        raise typer.BadParameter("give --default-rate, --rule or --file", param_hint="--rule")
    payload = _call(url, "PUT", "/api/v1/sampling/rules", params={"service": service}, json=body)
    _print_rules({service: payload}, as_json)


@sampling_app.command("list", cls=HelpCommand)
def list_rules(url: str = URL_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Every service's head-sampling rules."""
    payload = _call(url, "GET", "/api/v1/sampling/rules")
    if as_json:
        typer.echo(json.dumps(payload, indent=2))
        return
    if not payload["services"]:
        typer.echo("no rules: every SDK keeps everything (set some with `spanscope sampling set`)")
    _print_rules(payload["services"], False)


@sampling_app.command("delete", cls=HelpCommand)
def delete_rules(service: str, url: str = URL_OPTION) -> None:
    """Remove a service's own rules (it falls back to '*')."""
    _call(url, "DELETE", "/api/v1/sampling/rules", params={"service": service})
    typer.echo(f"deleted the rules of {service!r}")


def _print_rules(services: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(services, indent=2))
        return
    for service, rules in sorted(services.items()):
        typer.echo(f"{service}: default rate {rules['default_rate']:g}")
        for r in rules.get("rules", []):
            match = [f"{k}={r[k]}" for k in ("name", "route") if r.get(k)]
            match += [f"attr.{k}={v}" for k, v in (r.get("attributes") or {}).items()]
            typer.echo(f"  {r['rate']:g}  {' '.join(match) or '(every root span)'}")


def retention(
    dry_run: bool = typer.Option(False, "--dry-run", help="Only report what would be deleted."),
    url: str = URL_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Apply retention by trace class now (error 30 d, slow 14 d, normal 7 d by default)."""
    payload = _call(url, "GET" if dry_run else "POST", "/api/v1/retention")
    if as_json:
        typer.echo(json.dumps(payload, indent=2))
        return
    verb = "would delete" if dry_run else "deleted"
    for c in payload["classes"]:
        typer.echo(f"{c['class']:<7} kept {c['retention_days']:g} d: {verb} "
                   f"{c['traces']} traces ({c['spans']} spans)")  # fmt: skip


def register(app: typer.Typer) -> None:
    app.add_typer(sampling_app, name="sampling")
    app.command("retention", cls=HelpCommand)(retention)

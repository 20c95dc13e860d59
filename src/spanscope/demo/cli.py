"""``spanscope demo``: the incident lab's commands (registered on the main CLI).

::

    spanscope demo                                  # the shop, traffic, Spanscope; Ctrl-C stops all
    spanscope demo --incident missing-index --duration 120
    spanscope demo incident missing-index --on      # while it runs, from another terminal
    spanscope demo incident                         # which incidents are on
    spanscope demo incident cache-miss --on --data-dir /tmp/lab   # a lab in another dir

The ``incident`` client finds the running lab's control URL and token in
``<data-dir>/lab.json`` (written by the lab at start, readable by its user only).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from spanscope.cli.options import HelpCommand, HelpGroup
from spanscope.config import DEFAULT_URL

demo_app = typer.Typer(
    cls=HelpGroup,
    help="The incident lab: an 8-service shop under steady traffic, traced into Spanscope.",
    invoke_without_command=True,
    no_args_is_help=False,
)

DEFAULT_CONTROL_URL = "http://127.0.0.1:18090"
DEFAULT_DATA_DIR = Path("spanscope-demo")


@demo_app.callback()
def demo(
    ctx: typer.Context,
    incident: list[str] = typer.Option(
        [], "--incident", help="Switch this incident on after --baseline seconds (repeatable)."
    ),
    data_dir: Path = typer.Option(
        DEFAULT_DATA_DIR, "--data-dir", help="Databases, logs, Spanscope's data."
    ),
    duration: float | None = typer.Option(
        None, "--duration", help="Stop after this many seconds (default: run until Ctrl-C)."
    ),
    url: str = typer.Option(
        DEFAULT_URL, "--url", envvar="SPANSCOPE_URL", help="Spanscope to use or start."
    ),
    otlp_endpoint: str = typer.Option(
        "http://127.0.0.1:4318", "--otlp-endpoint", help="Where the services send OTLP/HTTP."
    ),
    base_port: int = typer.Option(
        18080,
        "--base-port",
        help="The gateway's port; the other services take the next 7 (0 = any).",
    ),
    control_port: int = typer.Option(18090, "--control-port", help="Incident switches (0 = any)."),
    rate: float = typer.Option(8.0, "--rate", help="Requests per second from the traffic."),
    baseline: float = typer.Option(
        20.0, "--baseline", help="Seconds of normal traffic before --incident goes on."
    ),
    tour_after: float = typer.Option(
        20.0, "--tour-after", help="Seconds after an incident goes on to print the tour."
    ),
    no_tracing: bool = typer.Option(
        False, "--no-tracing", help="Run the services without spanscope.sdk (to measure its cost)."
    ),
) -> None:
    """Run the incident lab until Ctrl-C (or --duration); Ctrl-C stops every process it started."""
    if ctx.invoked_subcommand is not None:
        return
    from spanscope.demo.incidents import INCIDENTS
    from spanscope.demo.supervisor import LabConfig, run_lab

    for name in incident:
        if name not in INCIDENTS:
            raise typer.BadParameter(
                f"unknown incident {name!r}: choose one of {', '.join(INCIDENTS)}",
                param_hint="--incident",
            )
    config = LabConfig(
        data_dir=data_dir,
        spanscope_url=url,
        otlp_endpoint=otlp_endpoint,
        base_port=base_port,
        control_port=control_port,
        rate=rate,
        tracing=not no_tracing,
        incidents=list(incident),
        duration_s=duration,
        baseline_s=baseline,
        tour_after_s=tour_after,
    )
    raise typer.Exit(run_lab(config, lambda line: typer.echo(line)))


@demo_app.command("incident", cls=HelpCommand)
def incident_switch(
    name: str | None = typer.Argument(None, help="missing-index, slow-payment-provider, ..."),
    on: bool | None = typer.Option(None, "--on/--off", help="Switch it on or off."),
    data_dir: Path = typer.Option(
        DEFAULT_DATA_DIR,
        "--data-dir",
        help="The running lab's --data-dir: its lab.json gives the control URL and token.",
    ),
    control_url: str | None = typer.Option(
        None,
        "--control-url",
        envvar="SPANSCOPE_DEMO_CONTROL_URL",
        help="The running lab's control endpoint [default: lab.json's, else "
        f"{DEFAULT_CONTROL_URL}].",
    ),
    token: str | None = typer.Option(
        None,
        "--token",
        envvar="SPANSCOPE_DEMO_TOKEN",
        help="The lab's control token [default: lab.json's]; printed when the lab starts.",
        show_default=False,
    ),
) -> None:
    """Switch an incident on or off in the running lab; without a name, list them."""
    import httpx

    if name is not None and on is None:
        raise typer.BadParameter(f"say --on or --off for {name!r}", param_hint="--on/--off")
    lab = _read_lab_json(data_dir)
    base = (control_url or lab.get("control") or DEFAULT_CONTROL_URL).rstrip("/")
    token = token or lab.get("control_token")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        if name is None:
            response = httpx.get(base + "/incidents", headers=headers, timeout=10)
        else:
            method = "POST" if on else "DELETE"
            response = httpx.request(
                method, f"{base}/incidents/{name}", headers=headers, timeout=10
            )
    except httpx.HTTPError as exc:
        typer.echo(
            f"error: no lab answers at {base} ({exc}); start one with `spanscope demo`, "
            "or pass the running lab's --data-dir (or --control-url)",
            err=True,
        )
        raise typer.Exit(1) from None
    payload = response.json()
    if response.status_code != 200:
        typer.echo(f"error: {payload.get('error', response.text)}", err=True)
        if response.status_code in (401, 403) and not lab:
            typer.echo(
                f"(no lab.json in {data_dir}: pass the running lab's --data-dir, "
                "or its token with --token / SPANSCOPE_DEMO_TOKEN)",
                err=True,
            )
        raise typer.Exit(1)
    for item in payload["incidents"]:
        mark = "ON " if item["active"] else "off"
        typer.echo(f"{mark}  {item['name']:<22} {item['summary']}")


def _read_lab_json(data_dir: Path) -> dict[str, Any]:
    """The running lab's lab.json ({} if there is none); a file that cannot be read is an
    error that names it."""
    path = data_dir / "lab.json"
    try:
        info = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        typer.echo(f"error: cannot read {path} ({exc}); pass --control-url and --token", err=True)
        raise typer.Exit(1) from None
    return info if isinstance(info, dict) else {}

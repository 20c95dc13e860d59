"""The ``spanscope`` command as a package: every way of starting it sees every command.

``python -m spanscope.cli logs`` once said "No such command 'logs'": the module ran
``app()`` before the signal commands were registered below it. The commands now register
when ``spanscope.cli`` is imported, whichever entry point imports it; the modules of the
package import each other in one direction (no cycle back to the app), and callers of the
HTTP client use its public ``get``.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from typer.testing import CliRunner

import spanscope.cli

CLI_DIR = Path(spanscope.cli.__file__).parent
SRC = CLI_DIR.parents[1]
COMMANDS = ("serve", "services", "operations", "search", "trace", "diff", "explain", "compare",
            "deps", "red", "logs", "metrics", "sampling", "retention", "demo")  # fmt: skip


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "COLUMNS": "120"}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=60, env=env
    )


@pytest.mark.parametrize("module", ["spanscope.cli", "spanscope"])
def test_python_dash_m_knows_the_logs_command(module: str) -> None:
    done = run("-m", module, "logs", "--help")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No such command" not in done.stdout + done.stderr
    assert "--trace" in done.stdout and "import" in done.stdout


def test_python_dash_m_lists_every_command() -> None:
    done = run("-m", "spanscope.cli", "--help")
    assert done.returncode == 0, done.stderr
    for command in COMMANDS:
        assert f" {command} " in done.stdout, command


def test_the_console_script_entry_point_is_the_whole_app() -> None:
    (script,) = entry_points(group="console_scripts", name="spanscope")
    assert script.value == "spanscope.cli:app"
    result = CliRunner().invoke(script.load(), ["metrics", "--help"])
    assert result.exit_code == 0, result.output
    assert "exemplars" in result.output


def _imports(path: Path) -> set[str]:
    """Every module or name ``path`` imports, fully qualified."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


@pytest.mark.parametrize(
    "path", sorted(p for p in CLI_DIR.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
)
def test_command_modules_do_not_import_the_app_back(path: Path) -> None:
    """Only the package's top (``__init__``, ``main``) assembles the app; a command module
    importing it would be the old ``cli`` <-> ``cli_signals`` cycle again."""
    if path.name == "main.py":
        return
    back = {n for n in _imports(path) if n in ("spanscope.cli", "spanscope.cli.app")}
    back |= {n for n in _imports(path) if n.startswith("spanscope.cli.main")}
    assert not back, f"{path.name} imports {back}"


def test_the_client_has_a_public_get_and_no_private_one() -> None:
    from spanscope.cli.client import ApiClient

    assert callable(ApiClient.get) and not hasattr(ApiClient, "_get")
    callers = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if "api._get(" in p.read_text()]
    assert callers == []


def test_docs_cli_md_shows_every_command_with_an_example() -> None:
    import typer

    docs = (SRC.parent / "docs" / "cli.md").read_text()
    group = typer.main.get_command(spanscope.cli.app)
    names = sorted(group.commands)  # type: ignore[attr-defined]
    assert set(COMMANDS) <= set(names)
    missing = [name for name in names if f"spanscope {name}" not in docs]
    assert missing == []

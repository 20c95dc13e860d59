"""``--help`` says what the source says: TOML table names such as ``[tail_sampling]`` are
shown as written (rich markup would take them for style tags), with no backslash in plain
mode either, and flags carry no ``<bool>`` type label (they take no value)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import spanscope.cli
from spanscope.cli import app

SRC = Path(spanscope.cli.__file__).parents[2]
TABLES = ("[tail_sampling]", "[retention]", "[[redaction]]", "[[tokens]]")


def plain_help(*args: str) -> str:
    """``--help`` as printed without rich (``TYPER_USE_RICH=0``: what a pipe to a pager
    gets when rich is off)."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "TYPER_USE_RICH": "0", "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "spanscope", *args, "--help"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def rich_help(*args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("render", [rich_help, plain_help], ids=["rich", "plain"])
def test_serve_help_shows_the_toml_table_names_literally(render: object) -> None:
    text = " ".join(render("serve").split())  # type: ignore[operator]
    for table in TABLES:
        assert table in text, table
    assert "\\[" not in text


@pytest.mark.parametrize(
    "command",
    [
        ("serve",),
        ("trace",),
        ("search",),
        ("explain",),
        ("logs",),
        ("sampling", "set"),
        ("retention",),
        ("demo", "incident"),
        (),
    ],  # fmt: skip
)
def test_flags_have_no_bool_label(command: tuple[str, ...]) -> None:
    text = rich_help(*command)
    assert "<bool>" not in text
    assert "--help" in text


def test_options_that_take_a_value_keep_their_type() -> None:
    text = rich_help("serve")
    assert "<path>" in text and "<int>" in text


def test_the_demo_switch_help_keeps_its_bracketed_defaults() -> None:
    text = " ".join(rich_help("demo", "incident").split())
    assert "[default: lab.json's, else http://127.0.0.1:18090]" in text
    assert "The lab's control token [default: lab.json's];" in text

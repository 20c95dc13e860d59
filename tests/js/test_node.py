"""The UI's pure JavaScript modules, unit-tested with Node's own runner, inside pytest.

``node --test tests/js`` runs every ``*.test.mjs`` here (units.js's duration format,
tracemodel.js's span tree, traceformat.js's Jaeger/OTLP conversions); this test runs it as
a subprocess so a failing JS test fails the Python suite and CI sees it. Node 20+ is
needed (``apt-get install -y nodejs``); nothing is installed from npm to run them.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def test_node_unit_tests_pass() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is missing: apt-get install -y nodejs (Node 20+) to run tests/js")
    files = sorted(str(p) for p in HERE.glob("*.test.mjs"))
    assert files, f"no *.test.mjs files in {HERE}"
    done = subprocess.run(
        [node, "--test", "--test-reporter=tap", *files],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=HERE.parents[1],
    )
    summary = "\n".join(line for line in done.stdout.splitlines() if line.startswith("# "))
    assert done.returncode == 0, (
        f"node --test failed:\n{done.stdout[-6000:]}\n{done.stderr[-2000:]}"
    )
    assert "# fail 0" in summary, summary

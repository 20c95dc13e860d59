"""One duration format: the UI's ``units.js`` and the CLI's ``units.py`` print the same text.

Both sides follow one rule (4 significant digits below a minute, rounded half up on whole
nanoseconds; the next unit when rounding reaches 1000; whole seconds from a minute on), and
two implementations of one rule drift: this feeds the same seeded values — every magnitude,
exact ties such as 12125 ns, the roll-over edges 999.95 ms and 59.9995 s — to both and
compares every answer.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from spanscope.units import format_duration

ROOT = Path(__file__).resolve().parents[2]
UNITS_JS = ROOT / "src" / "spanscope" / "ui" / "static" / "units.js"


def _values() -> list[int]:
    rng = random.Random(20261203)
    out = [0, 1, 999, 1000, 12_125, 999_950_000, 999_949_999, 59_999_500_000, 59_999_499_999]
    out += [60 * 10**9, 3_605 * 10**9, 7_200 * 10**9, 89_500_000_000]
    for _ in range(4000):
        out.append(int(10 ** rng.uniform(0, 13.5)))  # 1 ns .. ~9 h, log-uniform
    for digits in range(3, 11):  # exact ties at the 4th significant digit of each magnitude
        size = 10 ** (digits - 3)
        out += [rng.randrange(1000, 10_000) * size + size // 2 for _ in range(40)]
    return out


def test_the_ui_and_the_cli_print_every_duration_alike() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is missing: apt-get install -y nodejs (Node 20+) to run tests/js")
    values = _values()
    script = (
        f"import {{ formatDuration }} from {json.dumps(UNITS_JS.as_uri())};\n"
        f"const values = {json.dumps(values)};\n"
        "process.stdout.write(JSON.stringify(values.map(formatDuration)));\n"
    )
    done = subprocess.run(
        [node, "--input-type=module", "-e", script],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    js = json.loads(done.stdout)
    differ = [(v, p, j) for v, j in zip(values, js, strict=True) if (p := format_duration(v)) != j]
    assert not differ, f"{len(differ)} of {len(values)} differ (ns, python, js): {differ[:10]}"

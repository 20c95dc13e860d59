"""``benchmarks/soak.py`` runs end to end: a few seconds of load, its rows and its verdict.

A smoke test only (the real soak is ten minutes; docs/performance.md, "Soak"): the
benchmark starts its own server, offers a small fixed rate, prints a row per interval with
the server's RSS read from /proc, and stops the server cleanly. Nothing here asserts on a
figure — only that each is measured.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_soak_benchmark_prints_rows_and_a_verdict() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "soak.py")]
        + ["--seconds", "4", "--rate", "4000", "--interval", "2", "--clients", "2"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    rows = [line.split() for line in out.splitlines() if re.match(r"\s+\d+\.\d\d\s+\d", line)]
    assert len(rows) >= 2, out
    server_rss, worker_rss = float(rows[-1][1]), float(rows[-1][3])
    assert server_rss > 0 and worker_rss >= 0, out
    assert "server exit code 0 on SIGTERM" in out, out
    acked = int(re.search(r"acked ([\d,]+) spans", out)[1].replace(",", ""))  # type: ignore[index]
    assert acked > 0, out
    assert re.search(r"RSS slope over the last half: [+-]?(\d+\.\d|nan) MiB/min", out), out
    # The store's engine memory (from /metrics) is the row's last column, and RSS outside it
    # gets its own slope: a filling, capped pool is told apart from a leak.
    assert float(rows[-1][-1]) > 0, out
    assert re.search(r"RSS outside the store's buffer pool .*: slope over the last half", out), out
    verdicts = [
        line
        for line in out.splitlines()
        if line.startswith(("RSS levelled off", "RSS outside the store's capped", "RSS still"))
    ]
    assert len(verdicts) == 1, out

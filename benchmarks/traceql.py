"""TraceQL benchmark: the issue-13 queries on 1M (and 10M) stored spans, in-process.

    .venv/bin/python benchmarks/traceql.py --spans 1000000
    .venv/bin/python benchmarks/traceql.py --spans 10000000 --data-dir /tmp/tq10m

It fills a DuckDB file with benchmarks/workload.py's traces spread over the last 24 h (the
same fill as benchmarks/query.py; ``--data-dir`` keeps it for the next run), then times each
query 20 times through :mod:`spanscope.query.traceql` over the store, printing p50 / p95
and how many traces each read whole:

- ``{ resource.service.name = "checkout" && duration > 5ms }`` limit 20, 1 h   target ≤ 50 ms
- ``{ resource.service.name = "frontend" } >> { status = error }`` limit 20, 1 h  ≤ 500 ms
- ``{ } | rate() by (resource.service.name)`` over 1 h, step 1 m          ≤ 300 ms
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from query import fill  # noqa: E402

from spanscope.query.traceql import parse  # noqa: E402
from spanscope.query.traceql.metrics import run_metrics  # noqa: E402
from spanscope.query.traceql.planner import search  # noqa: E402
from spanscope.store.duckdb import DuckDBStore  # noqa: E402

HOUR = 3600 * 10**9
SEARCHES = [
    ('{ resource.service.name = "checkout" && duration > 5ms }', 50.0),
    ('{ resource.service.name = "frontend" } >> { status = error }', 500.0),
]
METRICS = [("{ } | rate() by (resource.service.name)", 300.0)]


def timed(fn: Callable[[], int], n: int = 20) -> tuple[list[float], int]:
    out = []
    read = 0
    for _ in range(n):
        t0 = time.perf_counter()
        read = fn()
        out.append((time.perf_counter() - t0) * 1e3)
    return out, read


def report(name: str, ms: list[float], target: float, read: int) -> None:
    p50 = statistics.median(ms)
    p95 = sorted(ms)[int(len(ms) * 0.95) - 1]
    verdict = "ok" if p50 <= target else "OVER"
    print(f"{name:70s} p50 {p50:8.1f} ms  p95 {p95:8.1f} ms  target {target:5.0f}  {verdict}  "
          f"({read} traces read)")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--spans", type=int, default=1_000_000)
    ap.add_argument("--data-dir", type=Path, help="reuse (or keep) this data directory")
    args = ap.parse_args()
    data = args.data_dir or Path(tempfile.mkdtemp(prefix="spanscope-traceql-"))
    data.mkdir(parents=True, exist_ok=True)
    path = data / "spans.duckdb"
    if not path.exists():
        t0 = time.perf_counter()
        fill(path, args.spans)
        print(f"filled {args.spans} spans in {time.perf_counter() - t0:.0f} s: {path}")
    store = DuckDBStore(path)
    end = time.time_ns()
    start = end - HOUR
    print(f"{store.span_count()} spans stored")
    for text, target in SEARCHES:
        q = parse(text)
        ms, read = timed(lambda q=q: search(store, q, start, end, 20).inspected_traces)
        report(text, ms, target, read)
    for text, target in METRICS:
        q = parse(text)
        ms, read = timed(
            lambda q=q: run_metrics(store, q, start, end, 60 * 10**9).inspected_traces, n=5
        )
        report(text, ms, target, read)


if __name__ == "__main__":
    main()

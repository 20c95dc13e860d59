"""Analysis benchmark: the issue's targets, printed as medians of several runs.

    .venv/bin/python benchmarks/analysis.py                 # 1M spans (a few minutes)
    .venv/bin/python benchmarks/analysis.py --spans 200000  # quicker, same shape
    .venv/bin/python benchmarks/analysis.py --spans 10000000 --data-dir /tmp/an10m
        # fills once (~minutes), and later runs with the same --data-dir reuse the file

What it times (targets from issue #3):

- critical path + breakdown of one 10,000-span trace           ≤ 100 ms
- slow-vs-normal compare over 1 h (requests, split, operation
  stats, attribute counts, ranking)                            ≤ 2 s at 1M spans
- service map over 24 h (``dependency_stats``)                 ≤ 2 s at 10M spans
- RED series + histogram for one service over 24 h             ≤ 500 ms

The store is a DuckDB file filled through ``DuckDBStore.write`` with checkout traces of 10
spans over 5 services spread over the last 24 h; 5 % of them are slow because their query
looks users up by email (so compare has something to find, and the benchmark checks it does).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from spanscope.analysis import compare as cmp
from spanscope.analysis.breakdown import breakdown
from spanscope.analysis.critical_path import critical_path
from spanscope.analysis.red import HISTOGRAM_BOUNDS_NS
from spanscope.model.spans import Span, SpanKind, StatusCode, Trace
from spanscope.store.duckdb import DuckDBStore

MS = 1_000_000
HOUR = 3600 * 1_000_000_000
SERVICES = ["frontend", "orders", "inventory", "payments", "users"]


def big_trace(n: int = 10_000) -> Trace:
    """A 10k-span trace: a fan-out of 100 calls, each with a chain of 99 nested spans."""
    rnd = random.Random(1)
    tid = rnd.randbytes(16)
    spans = [Span(tid, (1).to_bytes(8, "big"), "root", 0, 10_000 * MS, "frontend")]
    sid = 2
    for branch in range(100):
        start = branch * 50 * MS
        parent = (1).to_bytes(8, "big")
        for depth in range(n // 100 - (1 if branch == 0 else 0)):
            s = Span(tid, sid.to_bytes(8, "big"), f"op-{depth % 20}", start + depth * MS,
                     start + (400 - depth) * MS, SERVICES[depth % 5], parent)  # fmt: skip
            spans.append(s)
            parent = s.span_id
            sid += 1
    return Trace(tid, spans[:n])


def checkout(rnd: random.Random, start_ns: int) -> list[Span]:
    tid = rnd.randbytes(16)
    slow = rnd.random() < 0.05
    db = rnd.randint(600, 1500) if slow else rnd.randint(5, 40)
    by = "email" if slow else "id"
    ids = [rnd.randbytes(8) for _ in range(10)]
    res = [{"service.name": s, "host.name": f"{s}-{rnd.randint(1, 3)}"} for s in SERVICES]

    def sp(i: int, parent: int | None, svc: int, name: str, a: int, b: int, **kw) -> Span:
        up = ids[parent] if parent is not None else None
        return Span(tid, ids[i], name, start_ns + a * MS, start_ns + b * MS, SERVICES[svc],
                    up, resource=res[svc], **kw)  # fmt: skip

    total = 60 + db
    return [
        sp(0, None, 0, "GET /checkout", 0, total, kind=SpanKind.SERVER,
           attributes={"http.method": "GET", "user.id": str(rnd.randint(1, 10**6))}),
        sp(1, 0, 1, "POST /orders", 5, total - 5, kind=SpanKind.SERVER),
        sp(2, 1, 4, "GET /user", 6, 12, kind=SpanKind.SERVER),
        sp(3, 1, 2, "GET /stock", 14, 20 + db, kind=SpanKind.SERVER),
        sp(4, 3, 2, "SELECT inventory_items", 15, 15 + db, kind=SpanKind.CLIENT,
           attributes={"db.system": "postgresql",
                       "db.statement": f"SELECT * FROM items WHERE {by} = ?"}),
        sp(5, 1, 3, "POST /charge", 22 + db, 40 + db, kind=SpanKind.SERVER,
           status_code=StatusCode.ERROR if rnd.random() < 0.02 else StatusCode.UNSET),
        sp(6, 5, 3, "bank call", 23 + db, 39 + db, kind=SpanKind.CLIENT),
        sp(7, 1, 1, "INSERT orders", 41 + db, 50 + db, kind=SpanKind.CLIENT),
        sp(8, 0, 0, "render", total - 4, total - 1),
        sp(9, 1, 1, "publish", 51 + db, 52 + db, kind=SpanKind.PRODUCER),
    ]  # fmt: skip


def fill(store: DuckDBStore, spans: int, now: int) -> None:
    rnd = random.Random(7)
    batch: list[Span] = []
    t0 = time.perf_counter()
    for _ in range(spans // 10):
        batch += checkout(rnd, now - rnd.randint(0, 24 * HOUR - 10**10))
        if len(batch) >= 10_000:
            store.write(batch)
            batch = []
    if batch:
        store.write(batch)
    store.checkpoint()
    print(f"filled {store.span_count():,} spans in {time.perf_counter() - t0:.0f} s")


def timed(
    label: str, target_ms: float, fn: Callable[[], object], runs: int = 5, applies: bool = True
) -> object:
    """Print the median of ``runs`` timings; ``applies`` is False where the target is set at
    another store size (compare's at 1M, the service map's at 10M): shown, not judged."""
    result = fn()  # warm-up (and the answer)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    med = statistics.median(times)
    verdict = ("ok" if med <= target_ms else "OVER") if applies else "(not at target size)"
    print(f"{label:<58} {med:>9.1f} ms  (target ≤ {target_ms:.0f} ms) {verdict}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="keep the filled store here and reuse it when it already holds --spans spans "
        "(filling 10M spans takes minutes); default: a temporary directory",
    )
    args = parser.parse_args()

    trace = big_trace()
    timed("critical path + breakdown, 10,000-span trace", 100,
          lambda: breakdown(trace, critical_path(trace)), args.runs)  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        data_dir: Path = args.data_dir or Path(tmp)
        data_dir.mkdir(parents=True, exist_ok=True)
        store = DuckDBStore(data_dir / "spans.duckdb")
        # The windows are relative to the fill's "now", so a kept store keeps its "now" too.
        now_file = data_dir / "now_ns"
        if now_file.exists() and store.span_count() == args.spans // 10 * 10:
            now = int(now_file.read_text())
            print(f"reusing {store.span_count():,} spans in {data_dir}")
        else:
            if store.span_count():
                sys.exit(f"{data_dir} holds {store.span_count():,} spans, not {args.spans:,}: "
                         "pass an empty --data-dir or the --spans it was filled with")  # fmt: skip
            now = time.time_ns()
            fill(store, args.spans, now)
            now_file.write_text(str(now))

        def run_compare() -> cmp.Comparison:
            reqs = store.request_durations(now - HOUR, now, "frontend", "GET /checkout")
            split = cmp.split_requests(reqs, slower_than_ns=500 * MS)
            groups = split.groups()
            return cmp.compare(split, store.operation_stats(groups),
                               store.attribute_counts(groups, cmp.SLOW), "checkouts")  # fmt: skip

        result = timed(f"compare slow vs normal, 1 h of {args.spans:,} spans", 2000,
                       run_compare, args.runs, args.spans == 1_000_000)  # fmt: skip
        assert isinstance(result, cmp.Comparison)
        top = result.attributes[0]
        assert top.value == "SELECT * FROM items WHERE email = ?", top
        print(f"  -> {result.headline}")
        timed(f"service map, 24 h of {args.spans:,} spans (target is at 10M)", 2000,
              lambda: store.dependency_stats(now - 24 * HOUR, now), args.runs,
              args.spans >= 10_000_000)  # fmt: skip

        def run_red() -> object:
            store.red(now - 24 * HOUR, now, 5 * 60 * 10**9, ["orders"], group_by_operation=True)
            return store.latency_histogram(now - 24 * HOUR, now, HISTOGRAM_BOUNDS_NS, ["orders"])

        timed(f"RED + histogram, orders, 24 h of {args.spans:,} spans", 500, run_red, args.runs)
        store.close()


if __name__ == "__main__":
    main()

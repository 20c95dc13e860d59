"""Load N synthetic spans into a DuckDBStore and print write and query timings.

    .venv/bin/python benchmarks/store_load.py --spans 1000000 --path /tmp/bench.duckdb

Spans look like a realistic load: ~10 services, 8 attributes per span (mixed
types), an event on 10 % of spans, 12 spans per trace, spread in time order over 24 h.
``write()`` time includes the store's own encoding (spans -> Arrow), not span generation.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import threading
import time

from spanscope.model.spans import Event, Span, SpanKind, StatusCode
from spanscope.query.model import SearchQuery, parse_condition
from spanscope.store.duckdb import DuckDBStore

SERVICES = [f"svc-{i}" for i in range(10)]
OPS = [f"op-{i}" for i in range(20)]
RESOURCES = {s: {"service.name": s, "host.name": f"host-{i % 4}", "pid": 1000 + i}
             for i, s in enumerate(SERVICES)}  # fmt: skip
DAY_NS = 86_400 * 10**9
SPANS_PER_TRACE = 12


def make_batch(rng: random.Random, t_start: int, n_traces: int, step_ns: int) -> list[Span]:
    spans = []
    for t in range(n_traces):
        trace_id = rng.getrandbits(128).to_bytes(16, "big")
        start = t_start + t * step_ns
        parent = None
        for k in range(SPANS_PER_TRACE):
            svc = SERVICES[(k + t) % len(SERVICES)] if k else SERVICES[t % 3]
            span_id = rng.getrandbits(64).to_bytes(8, "big")
            dur = int(rng.expovariate(1 / 20e6)) + 1000
            s_start = start + k * 1_000_000
            err = rng.random() < 0.02
            spans.append(
                Span(
                    trace_id=trace_id,
                    span_id=span_id,
                    parent_span_id=parent,
                    name=OPS[rng.randrange(len(OPS))],
                    start_ns=s_start,
                    end_ns=s_start + dur,
                    service=svc,
                    kind=SpanKind.SERVER if k % 2 else SpanKind.CLIENT,
                    status_code=StatusCode.ERROR if err else StatusCode.UNSET,
                    attributes={
                        "http.method": "GET",
                        "http.route": f"/api/v1/items/{k}",
                        "http.status_code": 500 if err else 200,
                        "net.peer.port": 8080,
                        "user.id": str(rng.randrange(10000)),
                        "cache.hit": rng.random() < 0.5,
                        "db.rows": rng.randrange(100),
                        "ratio": round(rng.random(), 3),
                    },
                    resource=RESOURCES[svc],
                    scope_name="io.opentelemetry.bench",
                    events=[Event(s_start + 100, "log", {"msg": "retrying"})]
                    if rng.random() < 0.1
                    else [],
                )
            )
            parent = span_id
    return spans


def timed(fn, runs: int = 15) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spans", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--path", default="/tmp/spanscope-bench.duckdb")
    args = ap.parse_args()
    for suffix in ("", ".wal"):
        if os.path.exists(args.path + suffix):
            os.remove(args.path + suffix)
    store = DuckDBStore(args.path)
    rng = random.Random(7)
    n_traces = args.spans // SPANS_PER_TRACE
    per_batch = max(1, args.batch // SPANS_PER_TRACE)
    step = DAY_NS // n_traces
    t0 = time.time_ns() - DAY_NS
    write_s, batch_ms, written, sample_ids = 0.0, [], 0, []
    stop = threading.Event()

    def checkpointer() -> None:  # as the server does: checkpoints off the insert path
        while not stop.wait(5):
            store.checkpoint()

    threading.Thread(target=checkpointer, daemon=True).start()
    for b in range(0, n_traces, per_batch):
        batch = make_batch(rng, t0 + b * step, min(per_batch, n_traces - b), step)
        if b % (per_batch * 10) == 0:
            sample_ids.append(batch[0].trace_id)
        t = time.perf_counter()
        written += store.write(batch, wal_position=b)
        dt = time.perf_counter() - t
        write_s += dt
        batch_ms.append(dt * 1000)
    stop.set()
    store.checkpoint()
    size = os.path.getsize(args.path)
    batch_ms.sort()
    rate = written / write_s
    print(f"wrote {written:,} spans in {write_s:.1f} s of write(): {rate:,.0f} spans/s")
    print(f"batch of {args.batch}: p50 {batch_ms[len(batch_ms) // 2]:.0f} ms, "
          f"p99 {batch_ms[int(len(batch_ms) * 0.99)]:.0f} ms")  # fmt: skip
    print(f"file: {size / 1e6:.1f} MB = {size / written:.1f} bytes/span")

    now = t0 + DAY_NS
    hour = (now - 3600 * 10**9, now)
    day = (t0, now)
    it = iter(sample_ids * 20)
    checks = {
        "trace by id": lambda: store.trace(next(it)),
        "search svc+op+minDuration 1h, limit 20": lambda: store.search(
            SearchQuery(*hour, service="svc-1", operation="op-3", min_duration_ns=50_000_000)
        ),
        "search attribute http.status_code>=500 24h, limit 20": lambda: store.search(
            SearchQuery(*day, conditions=[parse_condition("http.status_code>=500")])
        ),
        "search attribute user.id=42 24h, limit 20": lambda: store.search(
            SearchQuery(*day, conditions=[parse_condition('user.id="42"')])
        ),
        "search resource host.name=host-1 1h slowest": lambda: store.search(
            SearchQuery(*hour, conditions=[parse_condition("host.name=host-1")], order="slowest")
        ),
        "services": store.services,
        "operations": lambda: store.operations("svc-1"),
        "dependencies 1h": lambda: store.dependencies(*hour),
        "span_count": store.span_count,
    }
    for label, fn in checks.items():
        ms, result = timed(fn)
        n = len(result) if isinstance(result, list) else getattr(result, "spans", result)
        n = len(n) if isinstance(n, list) else n
        print(f"{label:55s} p50 {ms:7.1f} ms  ({n} results)")
    store.close()


if __name__ == "__main__":
    main()

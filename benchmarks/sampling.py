"""Tail-sampler throughput, memory per buffered span, and the buffer bound under a burst.

    .venv/bin/python benchmarks/sampling.py [--requests 400] [--spans 512]

Batches are realistic OTLP requests (benchmarks/workload.py: ~20 spans per trace, 10
services, ~10 % error spans) decoded to Arrow ``SpanTable``s *before* timing: what is
measured is the sampler's own work between the WAL and the store — grouping each batch by
trace, evaluating the seed's priority table (errors, slow > 1 s, checkout 50 %, health
0.1 %, normal 5 %) and cutting the kept traces out of the buffered batches. One thread,
one core; a simulated clock moves 10 ms per batch so decisions happen as in production.

Prints:
- spans/s through ``add`` + ``collect`` (target >= 200,000);
- bytes per buffered span (Arrow buffers held + Python per-trace state, tracemalloc);
- a 10x burst (10 x the bound offered without time passing): the buffered spans and
  traces never exceed ``max_spans`` / ``max_traces``; the overflow is decided early.
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).parent))

from workload import make_request  # noqa: E402

from spanscope.batch import SpanTable, columns_table  # noqa: E402
from spanscope.ingest.otlp_columns import decode_otlp_columns  # noqa: E402
from spanscope.sampling.config import parse_tail_sampling  # noqa: E402
from spanscope.sampling.tail import TailSampler  # noqa: E402

SEED_TABLE = {
    "decision_wait": "2s",
    "policies": [
        {"name": "errors", "type": "status_code", "status_codes": ["ERROR"]},
        {"name": "slow", "type": "latency", "threshold": "1s"},
        {"name": "health", "type": "string_attribute", "key": "http.route",
         "values": ["/health*"], "rate": 0.001},
        {"name": "checkout", "type": "string_attribute", "key": "http.route",
         "values": ["/api/checkout*"], "rate": 0.5},
        {"name": "normal", "type": "probabilistic", "rate": 0.05},
    ],
}  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def batches(n_requests: int, n_spans: int) -> list[SpanTable]:
    return [
        columns_table(decode_otlp_columns(make_request(n_spans, seed=i).SerializeToString()).spans)
        for i in range(n_requests)
    ]


def throughput(tables: list[SpanTable]) -> tuple[float, dict[str, int]]:
    clock = Clock()
    sampler = TailSampler(parse_tail_sampling(SEED_TABLE), clock=clock)
    n = sum(len(t) for t in tables)
    kept = 0
    started = time.process_time()
    for position, table in enumerate(tables, start=1):
        sampler.add(position, table)
        clock.now += 0.01
        kept += sum(len(t) for t in sampler.collect().tables)
    clock.now += 60
    kept += sum(len(t) for t in sampler.collect().tables)
    elapsed = time.process_time() - started
    return n / elapsed, {"spans": n, "kept": kept, **sampler.metrics.kept_traces}


def memory_per_span(tables: list[SpanTable]) -> float:
    sampler = TailSampler(parse_tail_sampling({**SEED_TABLE, "decision_wait": "1h"}))
    arrow_before = pa.total_allocated_bytes()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for position, table in enumerate(tables, start=1):
        sampler.add(position, table)
    python_bytes = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    # The tables were decoded before: what the sampler holds is their Arrow buffers
    # (shared, not copied) plus the columns it adds, plus its Python state.
    held = sum(t.table.nbytes for t in tables) + pa.total_allocated_bytes() - arrow_before
    return (held + python_bytes) / sampler.buffered_spans


def burst(tables: list[SpanTable], bound_spans: int) -> dict[str, int]:
    config = {**SEED_TABLE, "decision_wait": "1h", "max_spans": bound_spans,
              "max_traces": bound_spans // 10}  # fmt: skip
    sampler = TailSampler(parse_tail_sampling(config), clock=Clock())
    peak_spans = peak_traces = offered = 0
    i = 0
    while offered < 10 * bound_spans:
        table = tables[i % len(tables)]
        sampler.add(i + 1, table)
        sampler.collect()
        offered += len(table)
        peak_spans = max(peak_spans, sampler.buffered_spans)
        peak_traces = max(peak_traces, sampler.buffered_traces)
        i += 1
    return {"offered": offered, "bound": bound_spans, "peak_spans": peak_spans,
            "peak_traces": peak_traces,
            "decided_early": sampler.metrics.decided_early_traces}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--spans", type=int, default=512)
    args = parser.parse_args()
    tables = batches(args.requests, args.spans)
    rates = []
    for _ in range(3):
        rate, counts = throughput(tables)
        rates.append(rate)
    rates.sort()
    by_policy = ", ".join(f"{k}={v}" for k, v in counts.items() if k not in ("spans", "kept"))
    print(
        f"tail sampler: {rates[1]:,.0f} spans/s (median of 3, one core); "
        f"kept {counts['kept']:,} of {counts['spans']:,} spans; traces kept: {by_policy}"
    )
    print(f"memory: {memory_per_span(tables[:100]):,.0f} bytes per buffered span")
    b = burst(tables, bound_spans=20_000)
    print(f"10x burst: offered {b['offered']:,} spans against a bound of {b['bound']:,}: "
          f"peak {b['peak_spans']:,} buffered spans, {b['peak_traces']:,} traces; "
          f"{b['decided_early']:,} traces decided early (counted, not lost)")  # fmt: skip
    if b["peak_spans"] > b["bound"]:
        raise SystemExit("the buffer exceeded its bound")


if __name__ == "__main__":
    main()

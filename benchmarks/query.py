"""Query benchmark: the searches users run, on 1M and 10M stored spans, idle and under ingest.

    .venv/bin/python benchmarks/query.py --spans 1000000
    .venv/bin/python benchmarks/query.py --spans 10000000 --ingest-rate 25000

It fills a DuckDB file through the store (spans spread over the last 24 h, the workload of
benchmarks/workload.py), starts a real `spanscope serve` on it, and times, through the HTTP
API, each query 50 times (p50 / p95):

- trace by id                                    target p50 ≤ 10 ms
- search service + operation + min duration, 1 h, limit 20    ≤ 50 ms
- attribute condition over 24 h, limit 20         ≤ 100 ms
- services; operations of a service               ≤ 20 ms

then runs the same set while OTLP/HTTP ingest goes on at --ingest-rate spans/s (half the
ingest benchmark's maximum) and prints the slowdown (target ≤ 2×).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import Bodies, start_server  # noqa: E402
from workload import make_request  # noqa: E402

from spanscope.ingest.otlp import decode_otlp_protobuf  # noqa: E402
from spanscope.store.duckdb import DuckDBStore  # noqa: E402

HOUR = 3600 * 10**9
DAY = 24 * HOUR


def fill(path: Path, n_spans: int) -> list[str]:
    """Write n_spans spread evenly over the last 24 h; return sample trace ids (hex)."""
    store = DuckDBStore(path)
    per_request = 512
    n_requests = max(1, n_spans // per_request)
    now = time.time_ns()
    base = [make_request(n_spans=per_request, seed=s).SerializeToString() for s in range(8)]
    rng = random.Random(1)
    samples: list[str] = []
    batch: list = []
    t0 = time.perf_counter()
    for i in range(n_requests):
        # Same shape, fresh ids, its own moment in the day.
        at = now - DAY + int(DAY * i / n_requests)
        spans = decode_otlp_protobuf(base[i % 8], now_ns=now).spans
        shift = at - spans[0].start_ns
        remap: dict[bytes, bytes] = {}
        for s in spans:
            tid = remap.get(s.trace_id)
            if tid is None:
                tid = remap[s.trace_id] = rng.randbytes(16)
            s.trace_id = tid
            s.start_ns += shift
            s.end_ns += shift
            for e in s.events:
                e.time_ns += shift
        if i % max(1, n_requests // 400) == 0:
            samples.append(spans[0].trace_id.hex())
        batch.extend(spans)
        if len(batch) >= 50_000:
            store.write(batch)
            batch = []
            done = (i + 1) * per_request
            if done % 500_000 < per_request * 100:
                rate = done / (time.perf_counter() - t0)
                print(f"  {done:>12,} spans  ({rate:,.0f}/s)", flush=True)
    if batch:
        store.write(batch)
    store.checkpoint()
    store.close()
    return samples


def timed(client: httpx.Client, url: str, params: object = None, n: int = 50) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get(url, params=params)  # type: ignore[arg-type]
        out.append((time.perf_counter() - t0) * 1e3)
        if r.status_code != 200:
            raise SystemExit(f"{url} {params} -> {r.status_code} {r.text[:200]}")
    return out


def run_queries(api: str, samples: list[str]) -> dict[str, list[float]]:
    res: dict[str, list[float]] = {}
    with httpx.Client(base_url=api, timeout=60) as c:
        services = c.get("/api/v1/services").json()["services"]
        svc = services[0]
        ops = c.get(f"/api/v1/services/{svc}/operations").json()["operations"]
        op = ops[0]["name"]
        # A different trace each time, none read before in this run: the server keeps recently
        # read traces (spanscope.api.trace_cache), and this measures the store's read.
        picked = [samples.pop() for _ in range(min(50, len(samples)))]
        res["trace by id"] = [timed(c, f"/api/v1/traces/{t}", n=1)[0] for t in picked]
        res["search svc+op+min_duration 1h"] = timed(
            c,
            "/api/v1/traces",
            {"service": svc, "operation": op, "min_duration": "5ms", "lookback": "1h"},
        )
        res["attribute condition 24h"] = timed(
            c, "/api/v1/traces", {"tag": "http.status_code>=500", "lookback": "24h"}
        )
        res["services"] = timed(c, "/api/v1/services")
        res["operations"] = timed(c, f"/api/v1/services/{svc}/operations")
    return res


def ingest_in_background(otlp: str, rate: float, stop: Any, accepted: Any) -> None:
    """Send at ``rate`` spans/s until ``stop`` is set; count acknowledged spans.

    Runs in its own process: in a thread of the querying process it held the GIL the
    query client needed, and the client's own wait was counted as the server's slowdown.
    """
    bodies = Bodies(n_base=4, spans=512)

    async def go() -> None:
        async with httpx.AsyncClient(timeout=60) as client:
            next_at = time.monotonic()
            while not stop.is_set():
                body, _ = bodies.next()
                r = await client.post(
                    otlp, content=body, headers={"Content-Type": "application/x-protobuf"}
                )
                if r.status_code == 200:
                    accepted.value += 512
                next_at += 512 / rate
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    asyncio.run(go())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--spans", type=int, default=1_000_000)
    ap.add_argument("--ingest-rate", type=float, default=25_000.0)
    ap.add_argument("--data-dir", type=Path, help="reuse (or keep) this data directory")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="spanscope-qbench-"))
    data_dir = args.data_dir or work / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    db = data_dir / "spanscope.duckdb"
    samples_file = data_dir / "query-bench-samples.json"
    if args.data_dir and samples_file.exists():
        # A kept data dir is reused as filled (its spans are hours older now: the 1 h search
        # then finds fewer; refill for figures to publish).
        samples = json.loads(samples_file.read_text())
        print(f"reusing {db} ({len(samples)} sample trace ids)", flush=True)
    else:
        print(f"filling {args.spans:,} spans over 24 h into {db}…", flush=True)
        t0 = time.perf_counter()
        samples = fill(db, args.spans)
        samples_file.write_text(json.dumps(samples))
        size = db.stat().st_size / args.spans
        print(f"  filled in {time.perf_counter() - t0:.0f} s; {size:.1f} B/span")

    proc, ports = start_server(data_dir)
    api = f"http://127.0.0.1:{ports['api']}"
    try:
        idle = run_queries(api, samples)
        ctx = mp.get_context("spawn")
        stop, accepted = ctx.Event(), ctx.Value("q", 0)
        sender = ctx.Process(
            target=ingest_in_background,
            args=(f"http://127.0.0.1:{ports['otlp_http']}/v1/traces", args.ingest_rate, stop,
                  accepted),
            daemon=True,
        )  # fmt: skip
        sender.start()
        time.sleep(3)  # the sender's start-up, then a steady stream
        before, t_busy = accepted.value, time.perf_counter()
        busy = run_queries(api, samples)
        achieved = (accepted.value - before) / (time.perf_counter() - t_busy)
        stop.set()
        sender.join(timeout=30)
        if sender.is_alive():
            sender.kill()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()

    print()
    print(f"Spanscope queries over the HTTP API — {args.spans:,} spans stored")
    print(f"  {'query':34} {'idle p50':>9} {'p95':>8} {'ingest p50':>11} {'p95':>8} {'ratio':>6}")
    for name, values in idle.items():
        b = busy[name]
        i50, b50 = statistics.median(values), statistics.median(b)
        i95 = sorted(values)[int(0.95 * len(values))]
        b95 = sorted(b)[int(0.95 * len(b))]
        print(f"  {name:34} {i50:8.1f}ms {i95:7.1f}ms {b50:10.1f}ms {b95:7.1f}ms {b50 / i50:5.1f}×")
    print(
        f"  (ingest offered at {args.ingest_rate:,.0f} spans/s, acknowledged {achieved:,.0f}/s,"
        " during the second column)"
    )
    if not args.data_dir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

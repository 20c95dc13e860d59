"""Soak benchmark: a steady offered load for minutes, and whether the server's memory levels off.

    .venv/bin/python benchmarks/soak.py                    # 10 min at half the measured capacity
    .venv/bin/python benchmarks/soak.py --minutes 1        # a quick look
    .venv/bin/python benchmarks/soak.py --rate 20000 --minutes 30
    MALLOC_ARENA_MAX=2 .venv/bin/python benchmarks/soak.py # the server inherits the environment

It starts a real ``spanscope serve`` on a fresh data dir (``benchmarks/ingest.py``'s
``start_server``), and, unless ``--rate`` is given, first measures the capacity the way
``ingest.py`` does (``--capacity-seconds`` of full load from ``--clients`` senders) and
then offers half of it: each sender posts a 512-span OTLP/HTTP protobuf request (the same
``Bodies`` as ingest.py: ~10 services, ~8 attributes per span, fresh trace ids, times that
move with the clock) on a fixed
schedule. A request answered 429/503 waits its Retry-After and is counted, not resent.

Every ``--interval`` seconds (default 60) it prints one row:

- RSS of the server process and, summed, of its children (the decode worker processes and
  multiprocessing's resource tracker), from ``/proc/<pid>/status``; and the server's
  anonymous RSS (``RssAnon``: heap, arenas, DuckDB's buffer pool — what a leak would grow;
  the rest is mapped files);
- p50 / p99 ack latency of the requests answered in the interval, and the acked spans/s;
- pending spans (``spanscope_pipeline_pending_spans`` from ``/metrics``, the last and
  the largest sample of the interval), 429/503 answers, and the data dir's size;
- with ``--queries-per-s Q``: the p99 of ``GET /api/v1/traces/{id}`` for traces acked at
  least ``QUERY_AFTER_S`` before, each picked at random among the last few thousand (the
  API's trace cache then fills to ``SPANSCOPE_TRACE_CACHE_SPANS`` and must stay there).

- the store's engine memory (``spanscope_store_memory_bytes`` from ``/metrics``: DuckDB's
  buffer pool, capped by ``SPANSCOPE_DUCKDB_MEMORY_LIMIT``), the last column.

At the end: the slope of the total RSS (server + workers) over the last half of the run
by least squares, in MiB/min, the same slope for RSS minus the store's engine memory, and
a verdict — "RSS levelled off" when the total's slope is at most ``--flat-mib-per-min``
(default 2); "RSS outside the store's capped buffer pool levelled off" when only the
pool still grows (toward its cap: a bounded cache); else "RSS still growing". DuckDB's
buffer pool is capped by ``SPANSCOPE_DUCKDB_MEMORY_LIMIT`` (default 1 GB): growth that
stops at the cap is a bound, not a leak, and a run long enough to reach it shows it
levelling off (measured: docs/performance.md, "Soak"; at 20k spans/s the default cap is
reached after ~12 min).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import (  # noqa: E402
    _PROTOBUF,
    Bodies,
    Connection,
    dir_bytes,
    load,
    pct,
    rss_mib,
    start_server,
)

QUERY_AFTER_S = 5.0
"""A queried trace was acked this long before (well past ack -> queryable at half load)."""

PENDING_METRICS = ("spanscope_pipeline_pending_spans", "spanscope_pending_spans")
STORE_MEMORY_METRIC = "spanscope_store_memory_bytes"
"""DuckDB's own memory (its buffer pool, capped by SPANSCOPE_DUCKDB_MEMORY_LIMIT)."""

HEADER = (
    "   min  srv RSS    anon workers   total    p50     p99  acked/s  pending      max"
    "   429  dir MiB  load  q p99  store\n"
    "        (MiB)    (MiB)   (MiB)   (MiB)   (ms)    (ms)           (spans)  (spans)"
    "                           (ms)  (MiB)"
)


def duckdb_limit_mib(text: str) -> float | None:
    """A DuckDB size ("1GB", "256MiB", "512 MB") in MiB; None if it does not parse."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?\s*", text, re.IGNORECASE)
    if m is None:
        return None
    unit = (m[2] or "b").lower()
    scale = 1 if unit == "b" else (1024 if "i" in unit else 1000) ** "bkmgt".index(unit[0])
    return float(m[1]) * scale / 2**20


def status_kib(pid: int, field_name: str) -> int:
    """One ``/proc/<pid>/status`` field in KiB (0 if the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def slope_per_minute(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MiB) points, in MiB per minute."""
    if len(points) < 2:
        return float("nan")
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return float("nan")
    cov = sum((t - mean_t) * (v - mean_v) for t, v in points)
    return cov / var * 60


@dataclass
class Interval:
    """What happened since the last printed row."""

    latencies: list[float] = field(default_factory=list)
    acked_spans: int = 0
    rejected: int = 0
    pending: list[int] = field(default_factory=list)
    query_latencies: list[float] = field(default_factory=list)
    query_misses: int = 0
    """Trace-by-id reads answered 404: acked more than QUERY_AFTER_S ago, not yet stored."""


@dataclass
class Soak:
    """Paced senders plus a once-a-second monitor that samples RSS and prints the rows."""

    otlp_url: str
    api_url: str
    pid: int
    bodies: Bodies
    rate: float
    clients: int
    seconds: float
    interval_s: float
    data_dir: Path
    queries_per_s: float = 0.0
    now: Interval = field(default_factory=Interval)
    rss: list[tuple[float, float]] = field(default_factory=list)  # (s, server+workers MiB)
    outside: list[tuple[float, float]] = field(default_factory=list)
    """(s, server+workers MiB minus the store's engine memory): RSS outside DuckDB's pool."""
    store_mib: float | None = None
    rows: list[str] = field(default_factory=list)
    total_acked: int = 0
    dir_mib: float = 0.0
    recent: deque[tuple[float, bytes]] = field(default_factory=lambda: deque(maxlen=4096))
    """(ack time, trace id) of recent requests' first traces, for the queries."""

    async def sender(self, stop_at: float) -> None:
        target = httpx.URL(self.otlp_url)
        assert target.host and target.port
        conn = Connection(target.host, target.port, target.path)
        every = self.bodies.spans * self.clients / self.rate
        next_at = time.monotonic()
        try:
            while time.monotonic() < stop_at:
                body, trace_id = self.bodies.next()
                t0 = time.monotonic()
                status, headers, payload = await conn.post(body, _PROTOBUF)
                if status == 200:
                    self.now.latencies.append(time.monotonic() - t0)
                    self.now.acked_spans += self.bodies.spans
                    self.total_acked += self.bodies.spans
                    self.recent.append((time.monotonic(), trace_id))
                elif status in (429, 503):
                    self.now.rejected += 1
                    await asyncio.sleep(float(headers.get("retry-after", "1") or 1))
                else:
                    raise SystemExit(f"unexpected answer {status}: {payload[:200]!r}")
                next_at += every
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        finally:
            await conn.close()

    async def sample_metrics(self, client: httpx.AsyncClient) -> tuple[int | None, float | None]:
        """(pending spans, store engine MiB) from ``/metrics``; None where absent."""
        try:
            text = (await client.get(self.api_url + "/metrics")).text
        except httpx.HTTPError:
            return None, None
        pending: int | None = None
        store: float | None = None
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name in PENDING_METRICS:
                pending = int(float(value))
            elif name == STORE_MEMORY_METRIC:
                store = float(value) / 2**20
        return pending, store

    async def monitor(self, t0: float, stop_at: float) -> None:
        next_row = t0 + self.interval_s
        async with httpx.AsyncClient(timeout=10) as client:
            while True:
                now = time.monotonic()
                total = rss_mib(self.pid) + sum(rss_mib(c) for c in children(self.pid))
                self.rss.append((now - t0, total))
                pending, store = await self.sample_metrics(client)
                if pending is not None:
                    self.now.pending.append(pending)
                if store is not None:
                    self.store_mib = store
                    self.outside.append((now - t0, total - store))
                if now >= next_row or now >= stop_at:
                    self.row(now - t0, now - (next_row - self.interval_s))
                    next_row += self.interval_s
                if now >= stop_at:
                    return
                await asyncio.sleep(min(1.0, max(0.05, stop_at - time.monotonic())))

    async def querier(self, stop_at: float) -> None:
        """Trace-by-id reads at ``queries_per_s``, as a UI user opening recent traces."""
        rng = random.Random(11)
        every = 1 / self.queries_per_s
        next_at = time.monotonic()
        async with httpx.AsyncClient(timeout=60) as client:
            while time.monotonic() < stop_at:
                old = [tid for at, tid in self.recent if at < time.monotonic() - QUERY_AFTER_S]
                if old:
                    tid = rng.choice(old)
                    t0 = time.monotonic()
                    answer = await client.get(f"{self.api_url}/api/v1/traces/{tid.hex()}")
                    if answer.status_code == 404:
                        # Acked but not stored yet: the writer lags under load (the
                        # pending column says by how much). Counted, not fatal.
                        self.now.query_misses += 1
                    elif answer.status_code != 200:
                        raise SystemExit(f"trace {tid.hex()}: {answer.status_code} {answer.text}")
                    else:
                        self.now.query_latencies.append(time.monotonic() - t0)
                next_at += every
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    def row(self, at: float, span_s: float) -> None:
        done, self.now = self.now, Interval()
        workers = children(self.pid)
        server = rss_mib(self.pid)
        worker_rss = sum(rss_mib(c) for c in workers)
        pending = f"{done.pending[-1]:>8,} {max(done.pending):>8,}" if done.pending else "     n/a"
        self.dir_mib = dir_bytes(self.data_dir) / 2**20
        q = done.query_latencies
        query_p99 = f"{pct(q, 0.99) * 1e3:6.1f}" if q else "   n/a"
        if done.query_misses:
            query_p99 += f" ({done.query_misses} not yet stored)"
        line = (
            f"{at / 60:6.2f} {server:8.0f} {status_kib(self.pid, 'RssAnon') / 1024:7.0f} "
            f"{worker_rss:7.0f} {server + worker_rss:7.0f} "
            f"{pct(done.latencies, 0.5) * 1e3:6.1f} {pct(done.latencies, 0.99) * 1e3:7.1f} "
            f"{done.acked_spans / max(span_s, 1e-9):8,.0f} {pending} {done.rejected:5} "
            f"{self.dir_mib:8.0f} {os.getloadavg()[0]:5.2f} {query_p99:>6} "
            f"{self.store_mib if self.store_mib is not None else float('nan'):6.0f}"
        )
        self.rows.append(line)
        print(line, flush=True)

    async def run(self) -> None:
        print(HEADER)
        t0 = time.monotonic()
        stop_at = t0 + self.seconds
        tasks = [self.monitor(t0, stop_at), *(self.sender(stop_at) for _ in range(self.clients))]
        if self.queries_per_s > 0:
            tasks.append(self.querier(stop_at))
        await asyncio.gather(*tasks)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0, help="how long to offer the load")
    ap.add_argument("--seconds", type=float, help="the same in seconds (overrides --minutes)")
    ap.add_argument("--rate", type=float, help="offered spans/s (default: half the capacity)")
    ap.add_argument("--capacity-seconds", type=float, default=10.0,
                    help="seconds of full load that measure the capacity")  # fmt: skip
    ap.add_argument("--clients", type=int, default=6, help="concurrent senders")
    ap.add_argument("--spans-per-request", type=int, default=512)
    ap.add_argument("--queries-per-s", type=float, default=0.0,
                    help="trace-by-id reads/s of recent traces (default 0)")  # fmt: skip
    ap.add_argument("--interval", type=float, default=60.0, help="seconds per printed row")
    ap.add_argument("--flat-mib-per-min", type=float, default=2.0,
                    help="largest last-half RSS slope called level")  # fmt: skip
    ap.add_argument("--keep", action="store_true", help="keep the data directory")
    args = ap.parse_args()
    seconds = args.seconds if args.seconds is not None else args.minutes * 60
    if seconds <= 0 or args.interval <= 0 or (args.rate is not None and args.rate <= 0):
        raise SystemExit("--minutes/--seconds, --interval and --rate must be positive")
    if args.queries_per_s < 0:
        raise SystemExit(f"--queries-per-s {args.queries_per_s}: expected 0 (none) or more")

    work = Path(tempfile.mkdtemp(prefix="spanscope-soak-"))
    data_dir = work / "data"
    print(f"building requests ({args.spans_per_request} spans each)…", flush=True)
    # Times follow the clock: a long run must store what a live system does (see Bodies).
    bodies = Bodies(n_base=16, spans=args.spans_per_request, follow_clock=True)
    proc, ports = start_server(data_dir)
    otlp = f"http://127.0.0.1:{ports['otlp_http']}/v1/traces"
    try:
        rate = args.rate
        if rate is None:
            print(f"capacity: {args.clients} clients at full load for "
                  f"{args.capacity_seconds:.0f} s…", flush=True)  # fmt: skip
            full = asyncio.run(load(otlp, bodies, args.capacity_seconds, args.clients, None))
            capacity = int(full["spans"]) / float(full["elapsed"])  # type: ignore[call-overload,arg-type]
            rate = capacity / 2
            print(f"capacity {capacity:,.0f} spans/s acked; offering half", flush=True)
        print(f"soak: {rate:,.0f} spans/s from {args.clients} clients for {seconds / 60:.1f} min "
              f"(server pid {proc.pid}, data {data_dir})", flush=True)  # fmt: skip
        soak = Soak(
            otlp, f"http://127.0.0.1:{ports['api']}", proc.pid, bodies, rate,
            args.clients, seconds, min(args.interval, seconds), data_dir, args.queries_per_s,
        )  # fmt: skip
        asyncio.run(soak.run())
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()

    second_half = [(t, v) for t, v in soak.rss if t >= seconds / 2]
    slope = slope_per_minute(second_half)
    first, last = soak.rss[0][1], soak.rss[-1][1]
    print()
    print(f"offered {rate:,.0f} spans/s for {seconds / 60:.1f} min; "
          f"acked {soak.total_acked:,} spans; server exit code {code} on SIGTERM")  # fmt: skip
    print(f"RSS server+workers MiB: first {first:.0f}, last {last:.0f}, "
          f"max {max(v for _, v in soak.rss):.0f}")  # fmt: skip
    print(f"RSS slope over the last half: {slope:+.1f} MiB/min")
    limit_text = os.environ.get("SPANSCOPE_DUCKDB_MEMORY_LIMIT", "1GB")
    limit = duckdb_limit_mib(limit_text)
    outside = slope_per_minute([(t, v) for t, v in soak.outside if t >= seconds / 2])
    if soak.outside:
        print(f"RSS outside the store's buffer pool (RSS minus {STORE_MEMORY_METRIC}): "
              f"slope over the last half {outside:+.1f} MiB/min; the pool at the end "
              f"{soak.store_mib:,.0f} MiB of its {limit_text} cap")  # fmt: skip
    if slope <= args.flat_mib_per_min:
        print("RSS levelled off")
    elif soak.outside and outside <= args.flat_mib_per_min:
        print("RSS outside the store's capped buffer pool levelled off; the pool is still "
              "filling toward its cap (a bounded cache, not a leak)")  # fmt: skip
    else:
        print("RSS still growing")
    if slope > args.flat_mib_per_min and limit is not None and soak.dir_mib < limit:
        print(
            f"  note: the data dir ({soak.dir_mib:,.0f} MiB) is still below DuckDB's buffer pool "
            f"cap (SPANSCOPE_DUCKDB_MEMORY_LIMIT={limit_text}, {limit:,.0f} MiB). DuckDB keeps\n"
            "  the blocks it writes cached until the pool is full, so RSS grows with the file "
            "until then;\n  run longer, or with a lower cap, to see where it levels "
            "(docs/performance.md, 'Soak')."
        )
    if args.keep:
        print(f"data kept in {data_dir}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

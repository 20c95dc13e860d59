"""Ingest benchmark: realistic OTLP/HTTP protobuf load against a real `spanscope serve`.

    .venv/bin/python benchmarks/ingest.py                 # 20 s at full load, 10 s at half
    .venv/bin/python benchmarks/ingest.py --duration 60 --clients 8

What it prints (and what the core issue targets on a 2-core machine):

- accepted spans/s at full load, p50/p99 ack latency, 429/503 answers;
- "acknowledged AND queryable" spans/s: spans sent / seconds until the last one is
  queryable by trace id (target >= 50,000);
- ack -> queryable latency at half the measured load (target <= 2 s);
- server RSS sampled through the run (target: flat under sustained load);
- bytes on disk per span after a clean shutdown (target <= 70);
- CPU µs per span of the server process, its decode worker processes and this client
  (steadier than spans/s on a shared machine), and the load average before and after;
- the decode floor: the single-core rate at which Python merely parses and walks the same
  requests with Spanscope's own decoder, and the ratio of the served rate to it.

The load: 512-span requests, ~10 services, ~8 attributes per span, 10 % of spans with an
event (benchmarks/workload.py). Every request gets fresh trace ids so nothing is
deduplicated away.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workload import make_request  # noqa: E402

from spanscope.ingest.otlp_columns import decode_otlp_columns  # noqa: E402

_PROTOBUF = "application/x-protobuf"


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User+system CPU of the server process and of its decode worker processes (less
    noisy than wall-clock rates on a shared machine)."""
    tick = os.sysconf("SC_CLK_TCK")

    def one(p: int) -> float:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / tick

    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return one(pid), sum(one(c) for c in children)


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class Bodies:
    """Serialized requests with fresh trace ids on every call.

    Each base request is split once, before any timing, at every place a trace id sits in
    its bytes; :meth:`next` joins the pieces around new random ids. That costs ~0.05 µs per
    span, so the client spends its CPU on HTTP, not on making requests (the previous
    ``bytes.replace`` per trace id cost ~1 µs/span of the same two cores as the server).

    With ``follow_clock`` every time in a body (span start/end, event times: OTLP's
    ``fixed64`` fields, found once by value) moves with the wall clock, in whole seconds,
    so a run of many minutes stores what a live system does: start times near "now", and
    row groups in time order. Without it every request of a run carries the times of the
    minute before the run began; a long run then stores tens of millions of spans in that
    one minute, and every read bounded by a time range (trace by id reads the trace's
    [first start, last end]) scans the whole store — what made trace-by-id p99 climb to
    1.2 s in a 38-minute soak (docs/performance.md, "Soak"). Re-cutting a base once a
    second costs ~0.5 ms, ~0.01 µs per span sent.
    """

    def __init__(self, n_base: int, spans: int, follow_clock: bool = False) -> None:
        self.base: list[tuple[bytes, list[bytes]]] = []
        self._pieces: list[list[bytes]] = []
        self._slots: list[list[int]] = []  # per id gap: which new trace id goes there
        self._cuts: list[list[int]] = []  # per base: where each trace id sits in its body
        self._times: list[list[tuple[int, int]]] = []  # per base: (offset, value) of each time
        self._shift_s: list[int] = []  # per base: the clock shift its pieces carry
        self.follow_clock = follow_clock
        self._t0 = time.time()
        for seed in range(n_base):
            req = make_request(n_spans=spans, seed=seed)
            tids = sorted(
                {s.trace_id for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans}
            )
            body = req.SerializeToString()
            self.base.append((body, tids))
            pieces, slots = _split_at_ids(body, tids)
            self._pieces.append(pieces)
            self._slots.append(slots)
            self._cuts.append(_id_offsets(body, tids))
            self._times.append(_time_offsets(body, req) if follow_clock else [])
            self._shift_s.append(0)
        self.spans = spans
        self.rng = random.Random(7)

    def _follow(self, k: int) -> None:
        """Re-cut base ``k`` with its times moved by the whole seconds since the start."""
        shift = int(time.time() - self._t0)
        if shift == self._shift_s[k]:
            return
        buf = bytearray(self.base[k][0])
        for at, value in self._times[k]:
            struct.pack_into("<Q", buf, at, value + shift * 1_000_000_000)
        body = bytes(buf)
        pieces, last = [], 0
        for at in self._cuts[k]:
            pieces.append(body[last:at])
            last = at + 16
        pieces.append(body[last:])
        self._pieces[k] = pieces
        self._shift_s[k] = shift

    def next(self) -> tuple[bytes, bytes]:
        k = self.rng.randrange(len(self.base))
        if self.follow_clock:
            self._follow(k)
        pieces, slots = self._pieces[k], self._slots[k]
        n_ids = len(self.base[k][1])
        fresh = self.rng.randbytes(16 * n_ids)
        ids = [fresh[16 * i : 16 * i + 16] for i in range(n_ids)]
        out = [pieces[0]]
        for slot, piece in zip(slots, pieces[1:], strict=True):
            out.append(ids[slot])
            out.append(piece)
        return b"".join(out), ids[0]

    def stream(self) -> Iterator[tuple[bytes, bytes]]:
        while True:
            yield self.next()


def _id_offsets(body: bytes, tids: list[bytes]) -> list[int]:
    """Where each occurrence of each trace id starts in ``body``, in order."""
    hits = []
    for tid in tids:
        at = body.find(tid)
        while at >= 0:
            hits.append(at)
            at = body.find(tid, at + 16)
    return sorted(hits)


def _time_offsets(body: bytes, req: ExportTraceServiceRequest) -> list[tuple[int, int]]:
    """(offset, value) of every span start/end and event time in ``body`` (``fixed64``
    fields: 8 little-endian bytes each, found by value; a 63-bit time's 8 bytes occurring
    anywhere else by chance is vanishingly unlikely)."""
    values: set[int] = set()
    for rs in req.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                values.update((span.start_time_unix_nano, span.end_time_unix_nano))
                values.update(e.time_unix_nano for e in span.events)
    out = []
    for value in values:
        needle = struct.pack("<Q", value)
        at = body.find(needle)
        while at >= 0:
            out.append((at, value))
            at = body.find(needle, at + 8)
    return out


def _split_at_ids(body: bytes, tids: list[bytes]) -> tuple[list[bytes], list[int]]:
    """``body`` cut around every occurrence of each trace id: (pieces, id index per cut)."""
    hits: list[tuple[int, int]] = []
    for ix, tid in enumerate(tids):
        at = body.find(tid)
        while at >= 0:
            hits.append((at, ix))
            at = body.find(tid, at + 16)
    hits.sort()
    pieces: list[bytes] = []
    last = 0
    for at, _ in hits:
        pieces.append(body[last:at])
        last = at + 16
    pieces.append(body[last:])
    return pieces, [ix for _, ix in hits]


class Connection:
    """A minimal keep-alive HTTP/1.1 client for ``POST`` (the load generator's hot loop).

    httpx cost the benchmark ~5–7 µs of CPU per span on the same two cores as the server;
    this writes one request and reads one ``Content-Length`` response per call, nothing
    else. The server sees the same bytes on the wire as from any HTTP/1.1 client."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self.host, self.port, self.path = host, port, path
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes, content_type: str) -> tuple[int, dict[str, str], bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._reader, self._writer
        assert reader is not None
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        writer.write(head.encode("ascii"))
        writer.write(body)
        await writer.drain()
        raw = await reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        payload = await reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, headers, payload

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            self._reader = None


def start_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    ports_file = data_dir / "ports.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "spanscope", "serve", "--data-dir", str(data_dir)]
        + ["--port", "0", "--otlp-grpc-port", "0", "--otlp-http-port", "0", "--zipkin-port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=open(data_dir.parent / "server.log", "wb"),  # noqa: SIM115
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if ports_file.exists():
            try:
                ports = json.loads(ports_file.read_text())
                if httpx.get(f"http://127.0.0.1:{ports['api']}/healthz").status_code == 200:
                    return proc, ports
            except (ValueError, httpx.HTTPError):
                pass
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}; see server.log")
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("server did not become healthy within 60 s")


async def load(
    url: str, bodies: Bodies, seconds: float, clients: int, rate: float | None
) -> dict[str, object]:
    """Send for `seconds` from `clients` concurrent senders (at most `rate` spans/s)."""
    latencies: list[float] = []
    rejected = 0
    sent_spans = 0
    last_tids: list[bytes] = []
    stop = time.monotonic() + seconds
    interval = (bodies.spans / rate) * clients if rate else 0.0
    target = httpx.URL(url)
    assert target.host and target.port

    async def sender() -> None:
        nonlocal rejected, sent_spans
        conn = Connection(target.host, target.port or 80, target.path)
        next_at = time.monotonic()
        try:
            while time.monotonic() < stop:
                body, tid = bodies.next()
                t0 = time.monotonic()
                status, headers, payload = await conn.post(body, _PROTOBUF)
                if status == 200:
                    latencies.append(time.monotonic() - t0)
                    sent_spans += bodies.spans
                    last_tids.append(tid)
                elif status in (429, 503):
                    rejected += 1
                    await asyncio.sleep(float(headers.get("retry-after", "0.1") or 0.1))
                else:
                    raise SystemExit(f"unexpected answer {status}: {payload[:200]!r}")
                if interval:
                    next_at += interval
                    await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        finally:
            await conn.close()

    t0 = time.monotonic()
    cpu0 = time.process_time()
    await asyncio.gather(*(sender() for _ in range(clients)))
    elapsed = time.monotonic() - t0
    return {
        "elapsed": elapsed,
        "client_cpu": time.process_time() - cpu0,
        "spans": sent_spans,
        "latencies": latencies,
        "rejected": rejected,
        "last_tids": last_tids[-clients * 2 :],
    }


def queryable(api: str, tid: bytes) -> bool:
    return httpx.get(f"{api}/api/v1/traces/{tid.hex()}", timeout=30).status_code == 200


async def ack_to_queryable(
    otlp_url: str, api: str, bodies: Bodies, seconds: float, rate: float
) -> list[float]:
    """At `rate` spans/s, probe one request in ten: seconds from its ack until queryable."""
    lags: list[float] = []
    stop = time.monotonic() + seconds
    n = 0
    target = httpx.URL(otlp_url)
    assert target.host and target.port
    conn = Connection(target.host, target.port, target.path)
    async with httpx.AsyncClient(timeout=60) as client:
        next_at = time.monotonic()
        probes: list[asyncio.Task[None]] = []

        async def probe(tid: bytes, acked: float) -> None:
            while True:
                r = await client.get(f"{api}/api/v1/traces/{tid.hex()}")
                if r.status_code == 200:
                    lags.append(time.monotonic() - acked)
                    return
                if time.monotonic() - acked > 30:
                    lags.append(float("inf"))
                    return
                await asyncio.sleep(0.02)

        while time.monotonic() < stop:
            body, tid = bodies.next()
            status, _, _ = await conn.post(body, _PROTOBUF)
            if status == 200 and n % 10 == 0:
                probes.append(asyncio.create_task(probe(tid, time.monotonic())))
            n += 1
            next_at += bodies.spans / rate
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        await asyncio.gather(*probes)
    await conn.close()
    return lags


def decode_floor(bodies: Bodies, seconds: float = 3.0) -> float:
    """Single-core spans/s of the receivers' decoder (decode_otlp_columns), same requests."""
    raw = [b for b, _ in bodies.base]
    now = time.time_ns()
    spans = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for body in raw:
            spans += len(decode_otlp_columns(body, now_ns=now).spans)
    return spans / (time.perf_counter() - t0)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--duration", type=float, default=20.0, help="seconds at full load")
    ap.add_argument("--half-duration", type=float, default=10.0, help="seconds at half load")
    ap.add_argument("--clients", type=int, default=6, help="concurrent senders")
    ap.add_argument("--spans-per-request", type=int, default=512)
    ap.add_argument("--keep", action="store_true", help="keep the data directory")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="spanscope-bench-"))
    data_dir = work / "data"
    print(f"building requests ({args.spans_per_request} spans each)…", flush=True)
    bodies = Bodies(n_base=16, spans=args.spans_per_request)
    floor = decode_floor(bodies)

    proc, ports = start_server(data_dir)
    api = f"http://127.0.0.1:{ports['api']}"
    otlp = f"http://127.0.0.1:{ports['otlp_http']}/v1/traces"
    rss: list[tuple[float, float]] = []
    stop_sampling = False

    async def sample_rss() -> None:
        t0 = time.monotonic()
        while not stop_sampling:
            rss.append((time.monotonic() - t0, rss_mib(proc.pid)))
            await asyncio.sleep(0.5)

    async def full_load() -> dict[str, object]:
        nonlocal stop_sampling
        sampler = asyncio.create_task(sample_rss())
        cpu0 = cpu_seconds(proc.pid)
        result = await load(otlp, bodies, args.duration, args.clients, None)
        cpu1 = cpu_seconds(proc.pid)
        result["cpu"] = (cpu1[0] - cpu0[0], cpu1[1] - cpu0[1])
        t_acked = time.monotonic()
        for tid in result["last_tids"]:  # type: ignore[attr-defined]
            while not queryable(api, tid):
                await asyncio.sleep(0.02)
        result["drain"] = time.monotonic() - t_acked
        stop_sampling = True
        await sampler
        return result

    try:
        print(f"full load: {args.clients} clients for {args.duration:.0f} s…", flush=True)
        load_before = os.getloadavg()[0]
        full = asyncio.run(full_load())
        load_after = os.getloadavg()[0]
        elapsed = float(full["elapsed"])  # type: ignore[arg-type]
        spans = int(full["spans"])  # type: ignore[call-overload]
        lat: list[float] = full["latencies"]  # type: ignore[assignment]
        acked_rate = spans / elapsed
        queryable_rate = spans / (elapsed + float(full["drain"]))  # type: ignore[arg-type]

        half = acked_rate / 2
        print(f"half load: {half:,.0f} spans/s for {args.half_duration:.0f} s…", flush=True)
        lags = asyncio.run(ack_to_queryable(otlp, api, bodies, args.half_duration, half))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()

    from spanscope.store.duckdb import DuckDBStore

    store = DuckDBStore(data_dir / "spanscope.duckdb")
    stored = store.span_count()
    store.close()
    disk = dir_bytes(data_dir)

    rss_values = [r for _, r in rss]
    third = max(1, len(rss_values) // 3)
    print()
    print("Spanscope ingest — OTLP/HTTP protobuf, 512-span requests")
    print(f"  clients                         {args.clients}")
    print(f"  accepted (acked) spans/s        {acked_rate:,.0f}")
    print(f"  acked AND queryable spans/s     {queryable_rate:,.0f}   (target ≥ 50,000)")
    print(f"  drain after load stopped        {float(full['drain']):.2f} s")  # type: ignore[arg-type]
    print(
        f"  ack latency p50 / p99           {pct(lat, 0.5) * 1e3:.1f} / "
        f"{pct(lat, 0.99) * 1e3:.1f} ms"
    )
    print(f"  429/503 answers                 {full['rejected']}")
    server_cpu, worker_cpu = full["cpu"]  # type: ignore[misc]
    per_span = 1e6 / max(spans, 1)
    print(
        f"  CPU µs/span: server {server_cpu * per_span:.1f} + decode procs "
        f"{worker_cpu * per_span:.1f} = {(server_cpu + worker_cpu) * per_span:.1f}; "
        f"client {float(full['client_cpu']) * per_span:.1f}"  # type: ignore[arg-type]
    )
    print(f"  load average before / after     {load_before:.2f} / {load_after:.2f}")
    print(
        f"  ack→queryable at half load      p50 {pct(lags, 0.5):.2f} s, "
        f"p99 {pct(lags, 0.99):.2f} s,"
        f" max {max(lags) if lags else float('nan'):.2f} s   (target ≤ 2 s)"
    )
    print(
        f"  server RSS MiB first/mid/last   {statistics.mean(rss_values[:third]):.0f} / "
        f"{statistics.mean(rss_values[third:-third] or rss_values):.0f} / "
        f"{statistics.mean(rss_values[-third:]):.0f}   (max {max(rss_values):.0f})"
    )
    print(f"  spans stored                    {stored:,}")
    print(f"  bytes on disk per span          {disk / max(stored, 1):.1f}   (target ≤ 70)")
    print(f"  decode floor (1 core)           {floor:,.0f} spans/s")
    print(f"  served rate / decode floor      {queryable_rate / floor:.2f}")
    if args.keep:
        print(f"  data kept in {data_dir}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()

"""The incident lab's request rate with tracing on vs off: what spanscope.sdk costs a service.

    .venv/bin/python benchmarks/lab.py [--seconds 30] [--concurrency 8] [--runs 1]

Runs the whole lab (8 services, their databases, a Spanscope server on free ports) twice:
with every service ``configure()``d by spanscope.sdk (FastAPI, httpx and sqlite3
instrumented, every trace sampled and exported to Spanscope) and with ``--no-tracing``. The
traffic sends back to back on ``--concurrency`` connections (its ``--rate 0``) and the figure
is answered requests per second over ``--seconds``, after 5 s of warm-up, with the median
client-side latency. The shop's mix is the lab's (checkouts touch all eight services).

All of it shares the machine's cores: the figure is the lab's throughput on this box, not a
per-span cost (benchmarks/sdk.py measures that). Shared machines are noisy.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import tempfile
import time
from pathlib import Path

from spanscope.demo import data
from spanscope.demo.supervisor import Lab, LabConfig

WARMUP_S = 5.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure(work: Path, db: Path, tracing: bool, seconds: float, concurrency: int) -> str:
    lab_dir = work / ("traced" if tracing else "untraced")
    shutil.copytree(db, lab_dir / "db")
    config = LabConfig(
        data_dir=lab_dir,
        spanscope_url=f"http://127.0.0.1:{free_port()}",
        otlp_endpoint=f"http://127.0.0.1:{free_port()}",
        base_port=0,
        control_port=0,
        rate=0,
        concurrency=concurrency,
        tracing=tracing,
    )
    lab = Lab(config, say=lambda line: None)
    try:
        lab.start()
        time.sleep(WARMUP_S)
        start = time.time_ns()
        time.sleep(seconds)
        end = time.time_ns()
    finally:
        lab.stop()
    lines = [json.loads(x) for x in (lab_dir / "traffic.jsonl").read_text().splitlines()]
    window = [r for r in lines if start <= r["time_unix_nano"] < end and r["status"] > 0]
    rate = len(window) / seconds
    p50 = statistics.median(r["duration_ms"] for r in window) if window else 0.0
    return (
        f"{'on' if tracing else 'off':<8} {rate:8.1f} req/s   p50 {p50:6.1f} ms   ({len(window)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="spanscope-lab-bench-") as tmp:
        work = Path(tmp)
        data.build_all(work / "db")
        print(f"lab throughput, {args.seconds:g} s per run, {args.concurrency} connections")
        print("tracing  requests/s         latency")
        for run in range(args.runs):
            for tracing in (True, False):
                print(
                    measure(
                        work / f"run{run}", work / "db", tracing, args.seconds, args.concurrency
                    )
                )


if __name__ == "__main__":
    main()

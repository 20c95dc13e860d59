"""Store-only writes as the store grows: does ``write_tables`` slow down, does memory level?

    .venv/bin/python benchmarks/store_growth.py                     # to 36M stored spans
    .venv/bin/python benchmarks/store_growth.py --spans 5000000     # a quicker look

The soak benchmark (``soak.py``) runs the whole server; when its writer fell behind as the
store grew, this separates the store from everything else (HTTP, decoding, the WAL): one
process writes batches straight into a fresh DuckDB file through ``write_tables``, the
path the server's writer takes, as fast as it can.

Each write is 48 decoded 512-span requests (``benchmarks/workload.py`` through the
receivers' columnar decoder, ~24.6k spans: what the writer gathers per flush under load),
decoded once before timing; every write gets fresh trace ids (the high half XORed with a
random salt) and start times moved to "now", so row groups keep a live store's time order.
Every ``--every`` stored spans it prints one row: the median and p90 write time and the
spans/s that median means, DuckDB's own memory (``duckdb_memory()``, the buffer pool that
``SPANSCOPE_DUCKDB_MEMORY_LIMIT`` caps), the process RSS, and the mean time per write of
each SQL statement of the write (the duplicate check's extent look-up over
``trace_fragments`` among them), so a statement whose cost grows with the store shows up.

Times are wall-clock on a shared machine: compare rows of one run, and read the statement
split (its shares) rather than the absolute figures.
"""

from __future__ import annotations

import argparse
import collections
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
from ingest import Bodies  # noqa: E402

from spanscope.batch import SpanTable, columns_table  # noqa: E402
from spanscope.ingest.otlp_columns import decode_otlp_columns  # noqa: E402
from spanscope.store.duckdb import DuckDBStore  # noqa: E402


class TimedConnection:
    """The store's writer connection, timing each ``execute`` by its statement's start."""

    def __init__(self, con: Any, split: dict[str, float]) -> None:
        self._con = con
        self._split = split

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        result = self._con.execute(sql, *args, **kwargs)
        key = " ".join(sql.split())[:32]
        self._split[key] = self._split.get(key, 0.0) + time.perf_counter() - t0
        return result


def rss_mib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) // 1024
    return 0


def fresh(base: list[SpanTable], rng: random.Random) -> list[SpanTable]:
    salt = pa.scalar(rng.getrandbits(63), pa.uint64())
    now = time.time_ns()
    out = []
    for t in base:
        tab = t.table
        hi = tab.schema.get_field_index("trace_hi")
        tab = tab.set_column(hi, "trace_hi", pc.bit_wise_xor(tab["trace_hi"], salt))
        st = tab.schema.get_field_index("start_ns")
        shift = pa.scalar(now - pc.max(tab["start_ns"]).as_py(), pa.int64())
        tab = tab.set_column(st, "start_ns", pc.add(tab["start_ns"], shift))
        out.append(SpanTable(tab, t.resources, t.operations))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=36_000_000, help="stop after this many")
    parser.add_argument("--every", type=int, default=2_000_000, help="spans between rows")
    parser.add_argument("--requests-per-write", type=int, default=48, help="512 spans each")
    args = parser.parse_args()

    bodies = Bodies(8, 512)
    base = [
        columns_table(decode_otlp_columns(bodies.next()[0]).spans)
        for _ in range(args.requests_per_write)
    ]
    rng = random.Random(1)
    split: collections.defaultdict[str, float] = collections.defaultdict(float)
    with tempfile.TemporaryDirectory(prefix="spanscope-growth-") as tmp:
        store = DuckDBStore(Path(tmp) / "spanscope.duckdb")
        raw = store._writer
        store._writer = TimedConnection(raw, split)  # type: ignore[assignment]
        stored, shown, times = 0, 0, []
        started = time.monotonic()
        while stored < args.spans:
            tables = fresh(base, rng)
            t0 = time.perf_counter()
            stored += store.write_tables(tables)
            times.append(time.perf_counter() - t0)
            if stored - shown < args.every:
                continue
            shown = stored
            mem = raw.execute(
                "SELECT sum(memory_usage_bytes) // 1048576 FROM duckdb_memory()"
            ).fetchall()[0][0]
            median = statistics.median(times)
            p90 = sorted(times)[int(len(times) * 0.9)]
            per_write = "  ".join(
                f"{k!r} {v / len(times) * 1e3:.0f}"
                for k, v in sorted(split.items(), key=lambda kv: -kv[1])[:6]
            )
            print(
                f"{stored:>11,} spans  write median {median * 1e3:5.0f} ms, "
                f"p90 {p90 * 1e3:5.0f} ms "
                f"({sum(len(t) for t in tables) / median:>7,.0f} spans/s)  duckdb {mem:>4} MiB  "
                f"rss {rss_mib():>5} MiB  t={time.monotonic() - started:.0f}s\n"
                f"    ms per write: {per_write}",
                flush=True,
            )
            split.clear()
            times = []
        store._writer = raw
        store.close()


if __name__ == "__main__":
    main()

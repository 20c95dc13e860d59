"""The tail sampler: hold each trace until it is complete, then keep it or drop it whole.

It sits between the write-ahead log and the store (:mod:`spanscope.ingest.pipeline`)::

    sampler = TailSampler(load_config("spanscope.toml").tail_sampling)
    sampler.add(wal_position, span_table)          # as batches arrive
    out = sampler.collect()                        # every tick: decided traces' spans
    store.write_tables(out.tables, wal_position=sampler.safe_position(contiguous))

**A trace is complete** ``decision_wait`` after its last span arrived, or
``decision_wait_after_root`` after its root span arrived (whichever comes first), and
never later than ``max_decision_wait`` after its first span. Then the ordered policies
(:mod:`spanscope.sampling.policies`) decide it, and every buffered span of the trace goes
to the store or is dropped together: no trace is kept partially.

**Batches stay Arrow tables.** A batch is grouped by trace in C (``group_by``) into one row
per trace with its span count, first start, last end and the policies' predicate bits;
Python then touches each *trace* once per batch and once at its decision, never each span.
The kept rows are cut out of the buffered batches with one ``is_in`` filter per batch.
Traces are keyed by a 64-bit mix of the trace id's halves (a collision between two live
traces, odds ~n²/2**65, would only decide them together).

**Memory is bounded**: above ``max_traces`` buffered traces or ``max_spans`` buffered
spans, the oldest traces are decided early — by the same policies, counted in
``decided_early_traces`` — never dropped unseen.

**Late spans** of a decided trace follow its cached decision (the cache keeps the last
``decision_cache_size`` trace ids): kept ones go straight to the store, dropped ones are
dropped and counted.

**Crash safety**: :meth:`safe_position` is the highest WAL position below the first record
holding a span of an undecided trace; the pipeline records only that as the checkpoint, so
a restart replays every record whose traces were not decided yet.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from spanscope.model.spans import Attributes
from spanscope.sampling.config import TailSamplingConfig
from spanscope.sampling.policies import _MIX, Policies, Policy, randomness
from spanscope.store.duckdb_schema import SpanTable

NO_MATCH = "no_match"
"""The policy label of traces no policy matched (they are dropped)."""

LATENCY_BUCKETS_S = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0)
_SAMPLING_SCHEMA = pa.schema(
    [
        ("trace_hi", pa.uint64()),
        ("trace_lo", pa.uint64()),
        ("policy", pa.string()),
        ("weight", pa.float64()),
        ("decided_ns", pa.int64()),
    ]
)


class _Trace:
    __slots__ = ("hi", "lo", "first_seen", "deadline", "count", "min_start", "max_end",
                 "mask", "first_pos", "chunks")  # fmt: skip

    def __init__(self, hi: int, lo: int, now: float, first_pos: int) -> None:
        self.hi = hi
        self.lo = lo
        self.first_seen = now
        self.deadline = now
        self.count = 0
        self.min_start = 1 << 63
        self.max_end = -(1 << 63)
        self.mask = 0
        self.first_pos = first_pos
        self.chunks: list[int] = []


@dataclass(slots=True)
class _Chunk:
    table: pa.Table  # the batch's rows (those not decided on arrival), with a "tkey" column
    resources: list[Attributes]
    operations: set[tuple[str, str, int]]
    undecided: int
    kept: set[int] = field(default_factory=set)


@dataclass(slots=True)
class Decisions:
    """What :meth:`TailSampler.collect` hands the store writer."""

    tables: list[SpanTable]
    """Spans to store: every buffered span of the traces kept since the last collect, and
    late spans of traces kept earlier. The first carries the ``sampling`` rows."""
    span_count: int
    """Spans that left the buffer (kept or dropped) since the last collect."""


@dataclass
class SamplerMetrics:
    """Counters for ``/metrics`` (Prometheus names in :mod:`spanscope.sampling.metrics`)."""

    received_spans: int = 0
    kept_spans: dict[str, int] = field(default_factory=dict)
    dropped_spans: dict[str, int] = field(default_factory=dict)
    kept_traces: dict[str, int] = field(default_factory=dict)
    dropped_traces: dict[str, int] = field(default_factory=dict)
    decided_early_traces: int = 0
    late_spans_kept: int = 0
    late_spans_dropped: int = 0
    decision_latency_buckets: list[int] = field(
        default_factory=lambda: [0] * (len(LATENCY_BUCKETS_S) + 1)
    )
    decision_latency_sum_s: float = 0.0
    decision_latency_count: int = 0


def trace_keys(table: pa.Table) -> pa.Array:
    """The 64-bit key of each row's trace (see the module docstring)."""
    lo = pc.multiply(table["trace_lo"], pa.scalar(_MIX, pa.uint64()))
    return pc.bit_wise_xor(table["trace_hi"], lo)


class TailSampler:
    """Buffers traces and decides them by ordered policies (see the module docstring).

    Not thread-safe: the pipeline's store writer thread is its only caller. ``clock`` is
    monotonic seconds (decision waits); ``wall_ns`` stamps decisions in the store.
    """

    def __init__(
        self,
        config: TailSamplingConfig,
        clock: Callable[[], float] = time.monotonic,
        wall_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.config = config
        self.policies = Policies(config.policies)
        self.clock = clock
        self.wall_ns = wall_ns
        self.metrics = SamplerMetrics()
        self._wait = config.decision_wait_ns / 1e9
        self._after_root = (
            None if config.decision_wait_after_root_ns is None
            else config.decision_wait_after_root_ns / 1e9
        )  # fmt: skip
        self._max_wait = config.max_decision_wait_ns / 1e9
        self._traces: dict[int, _Trace] = {}  # insertion order = first seen (oldest first)
        self._heap: list[tuple[float, int]] = []
        self._chunks: dict[int, _Chunk] = {}
        self._next_chunk = 0
        self._open_first: dict[int, int] = {}  # first WAL position -> undecided traces
        self._buffered_spans = 0
        self._cache: dict[int, tuple[bool, str, float]] = {}
        self._late: list[SpanTable] = []
        self._decided: list[tuple[int, int, str, float]] = []
        self._released = 0
        self._tokens: dict[str, tuple[float, float]] = {}  # policy -> (tokens, at)

    # -- state ---------------------------------------------------------------------------

    @property
    def buffered_traces(self) -> int:
        return len(self._traces)

    @property
    def buffered_spans(self) -> int:
        return self._buffered_spans

    def safe_position(self, contiguous: int) -> int:
        """The WAL checkpoint that loses nothing undecided: below the first record holding
        a span of an undecided trace, and at most ``contiguous`` (all before it received)."""
        if not self._open_first:
            return contiguous
        return min(contiguous, min(self._open_first) - 1)

    # -- arrival ---------------------------------------------------------------------------

    def add(self, position: int, batch: SpanTable) -> None:
        """Buffer a batch from WAL record ``position`` (late spans follow their decision)."""
        n = len(batch)
        if not n:
            return
        self.metrics.received_spans += n
        now = self.clock()
        table = batch.table
        table = table.append_column("tkey", trace_keys(table))
        bits = self.policies.span_bits(table)
        work = table.select(["tkey", "trace_hi", "trace_lo", "start_ns", "duration_ns"])
        work = work.append_column("end_ns", pc.add(table["start_ns"], table["duration_ns"]))
        work = work.append_column("is_root", pc.is_null(table["parent_span_id"]))
        for i, b in enumerate(bits):
            work = work.append_column(f"p{i}", b)
        aggs = [("trace_hi", "min"), ("trace_lo", "min"), ("start_ns", "count"),
                ("start_ns", "min"), ("end_ns", "max"), ("is_root", "any")]  # fmt: skip
        aggs += [(f"p{i}", "any") for i in range(len(bits))]
        g = work.group_by("tkey", use_threads=False).aggregate(aggs)
        keys = g["tkey"].to_pylist()
        masks = Policies.fold_masks([g[f"p{i}_any"] for i in range(len(bits))])
        late_keys = [k for k in keys if k in self._cache] if self._cache else []
        if late_keys:
            table = self._follow_decisions(table, batch, late_keys)
        chunk_id = self._next_chunk
        self._next_chunk += 1
        traces = self._traces
        his, los = g["trace_hi_min"].to_pylist(), g["trace_lo_min"].to_pylist()
        counts, mins = g["start_ns_count"].to_pylist(), g["start_ns_min"].to_pylist()
        maxes, roots = g["end_ns_max"].to_pylist(), g["is_root_any"].to_pylist()
        late = set(late_keys)
        undecided = 0
        for i, key in enumerate(keys):
            if key in late:
                continue
            t = traces.get(key)
            if t is None:
                t = traces[key] = _Trace(his[i], los[i], now, position)
                self._open_first[position] = self._open_first.get(position, 0) + 1
            undecided += 1
            t.count += counts[i]
            self._buffered_spans += counts[i]
            t.min_start = min(t.min_start, mins[i])
            t.max_end = max(t.max_end, maxes[i])
            if masks is not None:
                t.mask |= masks[i]
            t.chunks.append(chunk_id)
            deadline = min(now + self._wait, t.first_seen + self._max_wait)
            if roots[i] and self._after_root is not None:
                deadline = min(deadline, now + self._after_root)
            if deadline != t.deadline:
                t.deadline = deadline
                heapq.heappush(self._heap, (deadline, key))
        if undecided:
            self._chunks[chunk_id] = _Chunk(table, batch.resources, batch.operations, undecided)
        self._enforce_bounds()

    def _follow_decisions(self, table: pa.Table, batch: SpanTable, late: list[int]) -> pa.Table:
        """Late spans of decided traces: keep or drop them now; return the other rows."""
        late_rows = pc.is_in(table["tkey"], value_set=pa.array(late, pa.uint64()))
        late_count = pc.sum(pc.cast(late_rows, pa.int64())).as_py() or 0
        keep = [k for k in late if self._cache[k][0]]
        kept_count = 0
        if keep:
            kept = table.filter(pc.is_in(table["tkey"], value_set=pa.array(keep, pa.uint64())))
            kept_count = kept.num_rows
            self._late.append(
                SpanTable(kept.drop_columns(["tkey"]), batch.resources, batch.operations)
            )
        self.metrics.late_spans_kept += kept_count
        self.metrics.late_spans_dropped += late_count - kept_count
        return table.filter(pc.invert(late_rows))

    def _enforce_bounds(self) -> None:
        cfg = self.config
        while self._traces and (
            len(self._traces) > cfg.max_traces or self._buffered_spans > cfg.max_spans
        ):
            key = next(iter(self._traces))
            self.metrics.decided_early_traces += 1
            self._decide(key, self.clock())

    # -- decisions ---------------------------------------------------------------------

    def collect(self, flush: bool = False) -> Decisions:
        """Decide every trace whose wait is over (every buffered trace with ``flush``), and
        return the spans to store since the last collect."""
        now = self.clock()
        if flush:
            for key in list(self._traces):
                self._decide(key, now)
            self._heap.clear()
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, key = heapq.heappop(heap)
            t = self._traces.get(key)
            if t is not None and t.deadline <= now:
                self._decide(key, now)
        return self._drain()

    def _decide(self, key: int, now: float) -> None:
        t = self._traces.pop(key)
        policy = self.policies.first_match(t.count, t.max_end - t.min_start, t.mask)
        keep, weight = self._verdict(policy, key, t.count, now)
        name = policy.name if policy is not None else NO_MATCH
        m = self.metrics
        spans, traces = (
            (m.kept_spans, m.kept_traces) if keep else (m.dropped_spans, m.dropped_traces)
        )
        spans[name] = spans.get(name, 0) + t.count
        traces[name] = traces.get(name, 0) + 1
        waited = now - t.first_seen
        m.decision_latency_sum_s += waited
        m.decision_latency_count += 1
        m.decision_latency_buckets[_bucket(waited)] += 1
        self._cache[key] = (keep, name, weight)
        if len(self._cache) > self.config.decision_cache_size:
            del self._cache[next(iter(self._cache))]
        if keep:
            self._decided.append((t.hi, t.lo, name, weight))
        self._buffered_spans -= t.count
        self._released += t.count
        left = self._open_first[t.first_pos] - 1
        if left:
            self._open_first[t.first_pos] = left
        else:
            del self._open_first[t.first_pos]
        for chunk_id in dict.fromkeys(t.chunks):
            chunk = self._chunks[chunk_id]
            chunk.undecided -= 1
            if keep:
                chunk.kept.add(key)

    def _verdict(
        self, policy: Policy | None, key: int, count: int, now: float
    ) -> tuple[bool, float]:
        if policy is None or policy.drop:
            return False, 0.0
        if policy.threshold and randomness(key) < policy.threshold:
            return False, 0.0
        limit = policy.spans_per_second
        if limit is None:
            return True, policy.weight
        tokens, at = self._tokens.get(policy.name, (limit, now))
        tokens = min(limit, tokens + (now - at) * limit)
        if tokens < count and tokens < limit:  # a trace bigger than the budget passes alone
            self._tokens[policy.name] = (tokens, now)
            return False, 0.0
        self._tokens[policy.name] = (tokens - count, now)
        return True, 1.0

    def _drain(self) -> Decisions:
        tables = self._late
        self._late = []
        done = [cid for cid, c in self._chunks.items() if c.kept or not c.undecided]
        for cid in done:
            chunk = self._chunks[cid]
            if chunk.kept:
                keys = pa.array(list(chunk.kept), pa.uint64())
                rows = chunk.table.filter(pc.is_in(chunk.table["tkey"], value_set=keys))
                tables.append(
                    SpanTable(rows.drop_columns(["tkey"]), chunk.resources, chunk.operations)
                )
                chunk.kept = set()
            if not chunk.undecided:
                del self._chunks[cid]
        if self._decided:
            his, los, names, weights = zip(*self._decided, strict=True)
            now_ns = self.wall_ns()
            rows = pa.table(
                [pa.array(his, pa.uint64()), pa.array(los, pa.uint64()), pa.array(names),
                 pa.array(weights, pa.float64()), pa.array([now_ns] * len(his), pa.int64())],
                schema=_SAMPLING_SCHEMA,
            )  # fmt: skip
            self._decided = []
            if tables:
                tables[0].sampling = rows
        released, self._released = self._released, 0
        return Decisions(tables, released)


def _bucket(seconds: float) -> int:
    for i, bound in enumerate(LATENCY_BUCKETS_S):
        if seconds <= bound:
            return i
    return len(LATENCY_BUCKETS_S)

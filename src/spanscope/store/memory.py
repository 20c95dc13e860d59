"""MemoryStore: the Store contract kept in Python dicts — the reference semantics, in a page.

It exists so the API can be tested without a database, and so a backend's answers can be
checked against the plainest possible reading of ``store/base.py`` and ``query/model.py``:
a trace matches when ONE of its spans started inside the window and matches every filter
together. It passes the same conformance suite as DuckDB (``tests/store/``), but keeps
nothing across a close (``capabilities.durable`` is False)::

    store = MemoryStore()
    store.write([span])
    store.search(SearchQuery(start_ns=0, end_ns=2**62))   # -> [TraceSummary(...)]

Arrow batches (:mod:`spanscope.batch`) are turned back into Span objects on write: slow,
and the point is that it is obviously right, not fast. One lock serialises writes and
retention; reads work on a snapshot of the stored traces.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from spanscope.analysis.breakdown import self_times
from spanscope.analysis.red import adjusted_count, bucket_index, quantile_cont
from spanscope.batch import SpanTable, batch_to_spans
from spanscope.model.aggregates import (
    AttributeCount,
    DependencyStats,
    LatencyBucket,
    OperationStat,
    RedPoint,
)
from spanscope.model.signals import LogRecord, MetricPoint, SignalBatch
from spanscope.model.spans import Span, SpanKind, StatusCode, Trace
from spanscope.model.summaries import DependencyEdge, Operation, ServiceCount, TraceSummary
from spanscope.query.model import Condition, LogQuery, SearchQuery
from spanscope.store.base import (
    TRACE_CLASSES,
    Capabilities,
    ClassReport,
    Store,
    StoreRefusedError,
    TraceStamp,
)

_STATUS = {"error": StatusCode.ERROR, "ok": StatusCode.OK, "unset": StatusCode.UNSET}
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class MemoryStore:
    """Every Store role over dicts: {trace id: {span id: Span}} plus lists of signals."""

    capabilities = Capabilities(backend="memory")
    last_checkpoint: float | None = None
    """Never checkpoints by itself (nothing to fold): the server's interval calls a no-op."""

    def __init__(self) -> None:
        self._spans: dict[bytes, dict[bytes, Span]] = {}
        self._batches: dict[bytes, int] = {}
        """Per trace, how many writes stored spans of it (the first part of its stamp)."""
        self._sampling: dict[bytes, tuple[int, str, float]] = {}
        """Per trace, the latest tail-sampling decision: (decided_ns, policy, weight)."""
        self._wal: int | None = None
        self._logs: list[LogRecord] = []
        self._points: list[MetricPoint] = []
        self._lock = threading.RLock()

    # --- writing ----------------------------------------------------------------------

    def write(self, spans: Sequence[Span], wal_position: int | None = None) -> int:
        return self._write(spans, (), (), wal_position)

    def write_tables(
        self,
        tables: Sequence[SpanTable],
        wal_position: int | None = None,
        *,
        signals: Sequence[SignalBatch] = (),
    ) -> int:
        spans = [s for t in tables for s in batch_to_spans(t)]
        decisions = [t.sampling for t in tables if t.sampling is not None]
        rows = [
            (((hi << 64) | lo).to_bytes(16, "big"), policy, weight, decided)
            for d in decisions
            for hi, lo, policy, weight, decided in zip(
                *(d.column(c).to_pylist() for c in ("trace_hi", "trace_lo", "policy", "weight",
                                                     "decided_ns")),
                strict=True,
            )
        ]  # fmt: skip
        with self._lock:  # one transaction: a refused span (write raises) keeps nothing
            stored = self.write(spans, wal_position)
            self._write((), rows, signals, None)
        return stored

    def _write(
        self,
        spans: Sequence[Span],
        decisions: Sequence[tuple[bytes, str, float, int]],
        signals: Sequence[SignalBatch],
        wal_position: int | None,
    ) -> int:
        for s in spans:  # all refused before anything is stored: writes are atomic
            _check_times(s)
        new = 0
        with self._lock:
            touched: set[bytes] = set()
            for s in spans:
                by_id = self._spans.setdefault(s.trace_id, {})
                if s.span_id not in by_id:
                    by_id[s.span_id] = s
                    touched.add(s.trace_id)
                    new += 1
            for tid in touched:
                self._batches[tid] = self._batches.get(tid, 0) + 1
            for tid, policy, weight, decided in decisions:
                known = self._sampling.get(tid)
                if known is None or decided >= known[0]:
                    self._sampling[tid] = (decided, policy, weight)
            for b in signals:
                self._logs.extend(b.logs)
                self._points.extend(b.points)
            if wal_position is not None:
                self._wal = wal_position
        return new

    def wal_position(self) -> int | None:
        return self._wal

    def checkpoint(self) -> None:
        """Nothing to fold: every write is in place when it returns."""

    # --- reading ----------------------------------------------------------------------

    def _traces(self) -> list[tuple[bytes, dict[bytes, Span]]]:
        """A snapshot of the stored traces (a write may run meanwhile)."""
        with self._lock:
            return [(tid, dict(by_id)) for tid, by_id in self._spans.items()]

    def trace(
        self, trace_id: bytes, start_ns: int | None = None, end_ns: int | None = None
    ) -> Trace | None:
        with self._lock:
            by_id = dict(self._spans.get(trace_id) or {})
        if not by_id:
            return None
        spans = sorted(by_id.values(), key=lambda s: (s.start_ns, s.span_id))
        if start_ns is not None and max(s.end_ns for s in spans) < start_ns:
            return None
        if end_ns is not None and spans[0].start_ns > end_ns:
            return None
        return Trace(trace_id=trace_id, spans=spans)

    def trace_stamp(self, trace_id: bytes) -> TraceStamp | None:
        with self._lock:
            by_id = self._spans.get(trace_id)
            if not by_id:
                return None
            spans = list(by_id.values())
            batches = self._batches[trace_id]
        return batches, min(s.start_ns for s in spans), max(s.end_ns for s in spans)

    def trace_read(self, trace_id: bytes, stamp: TraceStamp) -> Trace | None:
        return self.trace(trace_id)

    def trace_stamps(self, trace_ids: Sequence[bytes]) -> dict[bytes, TraceStamp]:
        found = {tid: self.trace_stamp(tid) for tid in dict.fromkeys(trace_ids)}
        return {tid: stamp for tid, stamp in found.items() if stamp is not None}

    def traces_read(self, stamps: Mapping[bytes, TraceStamp]) -> dict[bytes, Trace]:
        found = {tid: self.trace(tid) for tid in stamps}
        return {tid: trace for tid, trace in found.items() if trace is not None}

    def search(self, query: SearchQuery) -> list[TraceSummary]:
        found = [
            self._summary(tid)
            for tid, by_id in self._traces()
            if any(_span_matches(s, query) for s in by_id.values())
        ]
        if query.order == "slowest":
            found.sort(key=lambda t: (-t.duration_ns, t.trace_id))
        else:
            found.sort(key=lambda t: (-t.start_ns, t.trace_id))
        return found[: query.limit]

    def _summary(self, trace_id: bytes) -> TraceSummary:
        trace = self.trace(trace_id)
        assert trace is not None
        root = trace.root()
        ids = {s.span_id for s in trace.spans}
        per_service: dict[str, list[int]] = {}
        for s in trace.spans:
            counts = per_service.setdefault(s.service, [0, 0])
            counts[0] += 1
            counts[1] += s.is_error
        return TraceSummary(
            trace_id=trace_id,
            root_service=root.service if root else "",
            root_operation=root.name if root else "",
            start_ns=trace.start_ns,
            duration_ns=trace.duration_ns,
            span_count=len(trace.spans),
            error_count=sum(s.is_error for s in trace.spans),
            services=[ServiceCount(n, c[0], c[1]) for n, c in sorted(per_service.items())],
            orphan_count=sum(
                1 for s in trace.spans if s.parent_span_id and s.parent_span_id not in ids
            ),
        )

    def services(self) -> list[str]:
        return sorted({s.service for s in self._all_spans()})

    def operations(self, service: str, kind: SpanKind | None = None) -> list[Operation]:
        ops = {
            Operation(s.name, s.kind)
            for s in self._all_spans()
            if s.service == service and (kind is None or s.kind == kind)
        }
        return sorted(ops, key=lambda o: (o.name, o.kind))

    def dependencies(
        self, start_ns: int, end_ns: int, service: str | None = None
    ) -> list[DependencyEdge]:
        edges: dict[tuple[str, str], list[int]] = {}
        for _, by_id in self._traces():
            for child in by_id.values():
                parent = by_id.get(child.parent_span_id) if child.parent_span_id else None
                if parent is None or parent.service == child.service:
                    continue
                if not start_ns <= child.start_ns <= end_ns:
                    continue
                if service is not None and service not in (parent.service, child.service):
                    continue
                counts = edges.setdefault((parent.service, child.service), [0, 0])
                counts[0] += 1
                counts[1] += child.is_error
        return [DependencyEdge(p, c, n[0], n[1]) for (p, c), n in sorted(edges.items())]

    def span_count(self) -> int:
        with self._lock:
            return sum(len(by_id) for by_id in self._spans.values())

    # --- cross-trace aggregates (the plainest reading of store/base.py) ----------------

    def _all_spans(self) -> list[Span]:
        return [s for _, by_id in self._traces() for s in by_id.values()]

    def request_durations(
        self,
        start_ns: int,
        end_ns: int,
        service: str | None = None,
        operation: str | None = None,
    ) -> list[tuple[bytes, int]]:
        out: dict[bytes, int] = {}
        for s in self._all_spans():
            if not start_ns <= s.start_ns <= end_ns:
                continue
            if service is None and operation is None and s.parent_span_id is not None:
                continue
            if (service is not None and s.service != service) or (
                operation is not None and s.name != operation
            ):
                continue
            out[s.trace_id] = max(out.get(s.trace_id, 0), s.duration_ns)
        return list(out.items())

    def operation_stats(self, groups: Mapping[str, Sequence[bytes]]) -> list[OperationStat]:
        acc: dict[tuple[str, str, str], list] = {}
        for group, trace_ids in groups.items():
            for tid in set(trace_ids):
                trace = self.trace(tid)
                if trace is None:
                    continue
                own = self_times(trace, stored_children_only=True)
                for s in trace.spans:
                    a = acc.setdefault((group, s.service, s.name), [set(), 0, 0, 0])
                    a[0].add(tid)
                    a[1] += 1
                    a[2] += s.duration_ns
                    a[3] += own[s.span_id]
        return [
            OperationStat(g, svc, n, len(a[0]), a[1], a[2], a[3]) for (g, svc, n), a in acc.items()
        ]

    def attribute_counts(
        self, groups: Mapping[str, Sequence[bytes]], focus: str, min_traces: int = 2
    ) -> list[AttributeCount]:
        counts: dict[tuple[str, str, str], int] = {}
        for group, trace_ids in groups.items():
            for tid in set(trace_ids):
                trace = self.trace(tid)
                pairs = {
                    (k, _text(v))
                    for s in (trace.spans if trace else [])
                    for attrs in (s.attributes, s.resource)
                    for k, v in attrs.items()
                    if isinstance(v, str | int | bool) and not isinstance(v, float)
                }
                for k, v in pairs:
                    counts[(group, k, v)] = counts.get((group, k, v), 0) + 1
        keep = {(k, v) for (g, k, v), n in counts.items() if g == focus and n >= min_traces}
        return [AttributeCount(g, k, v, n) for (g, k, v), n in counts.items() if (k, v) in keep]

    def _red_spans(
        self, start_ns: int, end_ns: int, services: Sequence[str], operation: str | None,
        kinds: Sequence[SpanKind] | None,
    ) -> list[Span]:  # fmt: skip
        return [
            s
            for s in self._all_spans()
            if start_ns <= s.start_ns <= end_ns
            and s.service in services
            and (operation is None or s.name == operation)
            and (kinds is None or s.kind in kinds)
        ]

    def red(
        self,
        start_ns: int,
        end_ns: int,
        step_ns: int,
        services: Sequence[str],
        operation: str | None = None,
        kinds: Sequence[SpanKind] | None = None,
        group_by_operation: bool = False,
        quantiles: Sequence[float] = (0.5, 0.95, 0.99),
    ) -> list[RedPoint]:
        groups: dict[tuple[str, str | None, int | None], list[Span]] = {}
        for s in self._red_spans(start_ns, end_ns, services, operation, kinds):
            op = s.name if group_by_operation else None
            step = start_ns + (s.start_ns - start_ns) // step_ns * step_ns
            groups.setdefault((s.service, op, step), []).append(s)
            groups.setdefault((s.service, op, None), []).append(s)
        out = []
        for (svc, op, bucket), spans in groups.items():
            durations = sorted(s.duration_ns for s in spans)
            out.append(
                RedPoint(
                    svc, op, bucket, len(spans),
                    sum(adjusted_count(s.trace_state) for s in spans),
                    sum(adjusted_count(s.trace_state) for s in spans if s.is_error),
                    tuple(quantile_cont(durations, q) for q in quantiles),
                )
            )  # fmt: skip
        return out

    def latency_histogram(
        self,
        start_ns: int,
        end_ns: int,
        bounds_ns: Sequence[int],
        services: Sequence[str],
        operation: str | None = None,
        kinds: Sequence[SpanKind] | None = None,
        group_by_operation: bool = False,
    ) -> list[LatencyBucket]:
        groups: dict[tuple[str, str | None, int], list[Span]] = {}
        for s in self._red_spans(start_ns, end_ns, services, operation, kinds):
            op = s.name if group_by_operation else None
            groups.setdefault((s.service, op, bucket_index(s.duration_ns, bounds_ns)), []).append(s)
        out = []
        for (svc, op, i), spans in groups.items():
            slowest = sorted(spans, key=lambda s: -s.duration_ns)[:3]
            out.append(LatencyBucket(svc, op, i, len(spans), tuple(s.trace_id for s in slowest)))
        return out

    def dependency_stats(
        self, start_ns: int, end_ns: int, service: str | None = None
    ) -> list[DependencyStats]:
        by_span = {(s.trace_id, s.span_id): s for s in self._all_spans()}
        edges: dict[tuple[str, str], list[Span]] = {}
        for child in by_span.values():
            if not start_ns <= child.start_ns <= end_ns:
                continue
            callers = []
            if child.parent_span_id:
                callers.append(by_span.get((child.trace_id, child.parent_span_id)))
            if child.kind == SpanKind.CONSUMER:
                linked = (by_span.get((lk.trace_id, lk.span_id)) for lk in child.links)
                callers += [p for p in linked if p is not None and p.kind == SpanKind.PRODUCER]
            for parent in {id(p): p for p in callers if p is not None}.values():
                if parent.service == child.service:
                    continue
                if service is not None and service not in (parent.service, child.service):
                    continue
                edges.setdefault((parent.service, child.service), []).append(child)
        out = []
        for (p, c), spans in sorted(edges.items()):
            durations = sorted(s.duration_ns for s in spans)
            out.append(
                DependencyStats(
                    p, c, len(spans), sum(s.is_error for s in spans),
                    tuple(quantile_cont(durations, q) for q in (0.5, 0.95, 0.99)),
                )
            )  # fmt: skip
        return out

    # --- logs and metric points ------------------------------------------------------

    def write_signals(self, batches: Sequence[SignalBatch], wal_position: int | None = None) -> int:
        self._write((), (), batches, wal_position)
        return sum(len(b) for b in batches)

    def logs(self, query: LogQuery) -> list[LogRecord]:
        with self._lock:
            records = list(self._logs)
        found = [r for r in records if _log_matches(r, query)]
        found.sort(key=lambda r: r.time_ns, reverse=query.order == "newest")
        return found[: query.limit]

    def metric_points(
        self,
        name: str,
        start_ns: int,
        end_ns: int,
        service: str | None = None,
        labels: Sequence[tuple[str, str]] = (),
    ) -> list[MetricPoint]:
        with self._lock:
            points = list(self._points)
        found = [
            p
            for p in points
            if p.name == name
            and start_ns <= p.time_ns <= end_ns
            and (service is None or p.service == service)
            and all(_as_text(p.attributes.get(k)) == v for k, v in labels)
        ]
        return sorted(found, key=lambda p: p.time_ns)

    def metric_names(self, service: str | None = None) -> list[str]:
        with self._lock:
            return sorted({p.name for p in self._points if service in (None, p.service)})

    # --- tail-sampling records and retention by class ----------------------------------

    def sampling(self, trace_ids: Sequence[bytes]) -> dict[bytes, tuple[str, float]]:
        with self._lock:
            found = {t: self._sampling[t] for t in trace_ids if t in self._sampling}
        return {t: (policy, weight) for t, (_, policy, weight) in found.items()}

    def expire(
        self,
        now_ns: int,
        retention_ns: dict[str, int],
        slow_threshold_ns: int,
        dry_run: bool = False,
    ) -> list[ClassReport]:
        with self._lock:
            expired: dict[str, list[tuple[bytes, int, int]]] = {c: [] for c in TRACE_CLASSES}
            for tid, by_id in self._spans.items():
                spans = by_id.values()
                first, last = min(s.start_ns for s in spans), max(s.end_ns for s in spans)
                if any(s.is_error for s in spans):
                    trace_class = "error"
                elif last - first >= slow_threshold_ns:
                    trace_class = "slow"
                else:
                    trace_class = "normal"
                if last < now_ns - retention_ns[trace_class]:
                    expired[trace_class].append((tid, len(by_id), last))
            if not dry_run:
                for tid, _, _ in (t for found in expired.values() for t in found):
                    del self._spans[tid]
                    self._batches.pop(tid, None)
                    self._sampling.pop(tid, None)
        return [
            ClassReport(
                c,
                retention_ns[c],
                len(expired[c]),
                sum(n for _, n, _ in expired[c]),
                min((e for _, _, e in expired[c]), default=None),
            )
            for c in TRACE_CLASSES
        ]

    # --- connection and engine memory: nothing to recover or to measure ----------------

    def reopen(self) -> None:
        """Nothing to reconnect: the dicts are the store."""

    def memory_bytes(self) -> int:
        return 0

    def set_memory_limit(self, limit_bytes: int) -> None:
        """No buffer pool to cap (``capabilities.engine_memory`` is False)."""

    def close(self) -> None:
        """Nothing to release; what was stored is gone with the object."""


def _check_times(s: Span) -> None:
    """Refuse a span whose times do not fit the int64 nanoseconds every backend keeps."""
    for field, value in (("start_ns", s.start_ns), ("end_ns", s.end_ns)):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise StoreRefusedError(
                f"span {s.span_id.hex()} of trace {s.trace_id.hex()}: {field} {value} "
                "overflows int64 nanoseconds (Overflow): times must be unix nanoseconds "
                "before 2262-04-11"
            )


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _log_matches(r: LogRecord, q: LogQuery) -> bool:
    body = r.body if isinstance(r.body, str) else str(r.body)
    return (
        q.start_ns <= r.time_ns <= q.end_ns
        and (q.service is None or r.service == q.service)
        and (q.min_severity is None or r.severity_number >= q.min_severity)
        and (not q.text or q.text.lower() in body.lower())
        and (q.trace_id is None or r.trace_id == q.trace_id)
        and (q.span_id is None or r.span_id == q.span_id)
        and all(
            v in (_as_text(r.attributes.get(k)), _as_text(r.resource.get(k)))
            for k, v in q.attributes
        )
    )


def _span_matches(s: Span, q: SearchQuery) -> bool:
    if not q.start_ns <= s.start_ns <= q.end_ns:
        return False
    if q.service is not None and s.service != q.service:
        return False
    if q.operation is not None and s.name != q.operation:
        return False
    if q.min_duration_ns is not None and s.duration_ns < q.min_duration_ns:
        return False
    if q.max_duration_ns is not None and s.duration_ns > q.max_duration_ns:
        return False
    if q.status is not None and s.status_code != _STATUS[q.status]:
        return False
    return all(_condition_matches(s, c) for c in q.conditions)


def _condition_matches(s: Span, c: Condition) -> bool:
    for attrs in (s.attributes, s.resource):
        if c.key in attrs and _compare(attrs[c.key], c):
            return True
    if c.key == "service.name":
        return _compare(s.service, c)
    return False


def _compare(value: object, c: Condition) -> bool:
    want = c.value
    if isinstance(want, bool) or isinstance(value, bool):
        if not (isinstance(want, bool) and isinstance(value, bool)):
            return False
        return (value == want) if c.op == "=" else (value != want if c.op == "!=" else False)
    if isinstance(want, int | float):
        if isinstance(value, int | float):
            have: float | str = value
        elif isinstance(value, str) and c.op in ("=", "!="):
            return (value == _number_text(want)) == (c.op == "=")
        else:
            return False
    elif isinstance(value, str):
        have = value
    else:
        return False
    ops = {
        "=": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
    }
    return bool(ops[c.op](have, want))


def _text(v: str | int | bool) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _number_text(v: int | float) -> str:
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


if TYPE_CHECKING:  # mypy checks that the class plays every role of the contract
    _conforms: type[Store] = MemoryStore

"""Name the cause first: where a request's time went, split into working and waiting.

A span's time is three things, and only one of them is the span's own doing:

- **own work** — time in which none of its synchronous children ran (its code, or, for a
  CLIENT call nobody traced on the other side, the callee's time);
- **waiting** — time covered by its synchronous children (they explain it, not it);
- **gap** — for a CLIENT call with a traced SERVER child: the client's duration minus the
  server's (the wire, the callee's accept queue, a blocked event loop). Both durations
  come from one clock each, so the gap is free of clock skew; where in the call it fell is
  not, and ``clock_offset_bounds`` says how far the server's clock may be off.

What is *synchronous*: a request's span and the descendants it waited for. A CONSUMER under
a PRODUCER, a span reached through a link, or a parentless span hanging in the same trace
is *async*: it ran after (or beside) the request and is never blamed for its latency; it
gets its own critical path (``Explanation.async_paths``). Clock skew is adjusted first
(:mod:`spanscope.analysis.skew`), so a server span that started before its caller is
placed inside it before anything is ranked.

The ranking is by each operation's time **on the critical path** (Jaeger's, over the
request's synchronous spans), own work first: a gap counts half, since what the wire took
is rarely what to fix. Retries are folded into the operation retried: its failed
attempts and the backoff between them (its parent's idle time between attempts) are
charged to it, and it is named ``psp · POST → … retried 3× — 420ms of backoff``::

    reqs = [(t, r) for t in traces for r in requests_in(t)[:1]]
    compare_slow(reqs).causes[0].label      # slowest 10 % vs the rest, per operation
    compare_errors(reqs).causes[0].label    # erroring vs healthy: where errors start
    explain(trace).headline                 # one request
    account_loop_blocking(reqs, others)     # first: time spent waiting for a blocked loop

A blocked event loop is waiting too: while one request computes without awaiting, every
other request in that process stands still, and their spans' "own work" is the blocker's.
:func:`loop_blocks` finds such stretches across the traces of a window (see its doc for
the signal) and :func:`account_loop_blocking` charges the stalled time to the request that
held the loop.

Across traces (CRISP-style aggregation): per operation, the mean critical-path time per
request in the slow and the normal group, and the share of slow requests in which it is on
the critical path at all — parallel siblings off the path are never blamed. Attribute
values are ranked by lift (smoothed) with a minimum support, and id-like keys (one value per few
traces: ports, user ids, session URLs) are demoted unless one value covers most slow
requests.

(One module past the usual ~400 lines, on purpose: one request's accounting and the
across-request ranking share :class:`Cause` and the own-work-first rule, and each half
alone would be read only with the other open. ``baseline`` at the end is the benchmark's
yardstick, not an analysis.)
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from spanscope.analysis import compare as cmp
from spanscope.analysis.critical_path import CriticalPath, critical_path
from spanscope.analysis.names import operation_names
from spanscope.analysis.skew import adjust_clock_skew
from spanscope.analysis.tree import format_ns, percent, span_tree
from spanscope.model.spans import Span, SpanKind, Trace

GAP_WEIGHT = 0.5
"""A gap ranks as this much own work: own work first."""
MIN_SUPPORT = 0.2
"""An attribute value must be on at least this share of the focus group's requests."""
ID_LIKE_CARDINALITY = 0.3
"""A key with more distinct values than this share of the requests is id-like."""
MIN_BLOCK_NS = 20_000_000
"""A stretch of own work shorter than this is not looked at as holding an event loop."""


@dataclass(slots=True)
class SpanTime:
    span: Span
    name: str
    """The operation's display name (CLIENT calls named by their target)."""
    own_ns: int
    waiting_ns: int
    gap_ns: int
    critical_own_ns: int = 0
    critical_gap_ns: int = 0
    clock_offset_bounds: tuple[int, int] | None = None
    """CLIENT with a SERVER child: the range of the server clock's offset (ns, + is ahead)
    under which the server fits inside the call."""
    blocked_ns: int = 0
    """Of its own work (or gap), the time its process's event loop ran another request
    (:func:`account_loop_blocking`); no longer in ``own_ns`` / ``gap_ns``."""
    critical_blocked: dict[tuple[str, str], int] = field(default_factory=dict)
    """(service, operation) of the request that held the loop -> ns taken off this span's
    critical-path time."""


@dataclass(slots=True)
class Request:
    """One request of a trace: the span whose latency is judged, and what it waited for."""

    trace: Trace
    """The trace after clock-skew adjustment."""
    span: Span
    spans: list[SpanTime]
    """The request's synchronous spans (the request span first)."""
    path: CriticalPath
    retries: dict[bytes, Retry] = field(default_factory=dict)
    """span id of the last attempt -> the retry it closes."""
    async_roots: list[Span] = field(default_factory=list)
    """Spans of this request's trace that ran async (consumers, linked or parentless)."""
    loop_accounted: bool = False
    """:func:`account_loop_blocking` ran on it (it runs once per request)."""

    @property
    def is_error(self) -> bool:
        return any(t.span.is_error for t in self.spans)


@dataclass(slots=True)
class Retry:
    service: str
    name: str
    attempts: int
    failed_ns: int
    backoff_ns: int
    parent: Span


@dataclass(slots=True)
class Cause:
    """One operation, ranked: its time per request (critical path, own work, waiting, gap)."""

    service: str
    name: str
    kind: str
    """``work``, ``gap`` (the wire/queue around a call) or ``errors``."""
    score: float
    critical_ns: float = 0.0
    own_ns: float = 0.0
    waiting_ns: float = 0.0
    gap_ns: float = 0.0
    normal_critical_ns: float = 0.0
    normal_own_ns: float = 0.0
    normal_waiting_ns: float = 0.0
    normal_gap_ns: float = 0.0
    on_path_share: float = 0.0
    """Share of the (slow) requests in which it is on the critical path."""
    calls: float = 0.0
    normal_calls: float = 0.0
    error_share: float = 0.0
    normal_error_share: float = 0.0
    retry: Retry | None = None

    @property
    def label(self) -> str:
        return f"{self.service} · {self.name}"

    @property
    def delta_ns(self) -> float:
        return self.critical_ns - self.normal_critical_ns


@dataclass(slots=True)
class AttributeLift:
    key: str
    value: str
    focus_traces: int
    other_traces: int
    focus_share: float
    other_share: float
    lift: float
    cardinality: int
    """Distinct values of ``key`` over both groups."""
    id_like: bool


@dataclass(slots=True)
class Ranking:
    headline: str
    causes: list[Cause]
    attributes: list[AttributeLift] = field(default_factory=list)
    focus_count: int = 0
    other_count: int = 0
    mode: str = "slow"


@dataclass(slots=True)
class Explanation:
    headline: str
    request: Request
    causes: list[Cause]
    async_paths: list[tuple[Span, CriticalPath]]
    retries: list[Retry]


# --- one request -----------------------------------------------------------------------


def requests_in(
    trace: Trace,
    subject: tuple[str | None, str | None] | None = None,
    adjust_skew: bool = True,
) -> list[Request]:
    """The requests of ``trace``: its root, or every span of ``subject`` = (service, span
    name; either may be None for any), slowest first — each with its synchronous spans
    accounted. ``adjust_skew=False`` keeps the stored times (the API's ``raw``)."""
    adjusted = adjust_clock_skew(trace) if adjust_skew else trace
    if subject is None or subject == (None, None):
        root = adjusted.root()
        spans = [root] if root is not None else []
    else:
        service, name = subject
        spans = [
            s
            for s in adjusted.spans
            if (service is None or s.service == service) and (name is None or s.name == name)
        ]
        spans.sort(key=lambda s: (-s.duration_ns, s.start_ns))
    if not spans:
        return []
    names = operation_names(adjusted)
    raw = {s.span_id: s for s in trace.spans}
    return [_request(adjusted, s, names, raw) for s in spans]


def is_async(span: Span, parent: Span | None) -> bool:
    """Did ``span`` run outside its parent's latency (a consumer, or a linked follower)?"""
    if parent is None:
        return True
    if span.kind == SpanKind.CONSUMER or parent.kind == SpanKind.PRODUCER:
        return True
    return bool(span.links) and span.start_ns >= parent.end_ns


def _is_orphan(span: Span) -> bool:
    """A span whose parent was lost (not stored): counted under the root, as the critical
    path does, unless it looks async (a consumer, or it follows a link)."""
    return span.parent_span_id is not None and not span.links and span.kind != SpanKind.CONSUMER


def _request(trace: Trace, top: Span, names: dict[bytes, str], raw: dict[bytes, Span]) -> Request:
    tree = span_tree(trace)
    kids: dict[bytes, list[Span]] = {}
    sync: list[Span] = [top]
    stack = [top]
    seen = {top.span_id}
    while stack:
        s = stack.pop()
        for c in tree.children.get(s.span_id, ()):
            if c.span_id in seen:
                continue
            if c.parent_span_id == s.span_id:
                if is_async(c, s):
                    continue
            elif not (s is tree.top and _is_orphan(c)):
                continue
            seen.add(c.span_id)
            kids.setdefault(s.span_id, []).append(c)
            sync.append(c)
            stack.append(c)
    # Async work hangs off a synchronous span; a trace's parentless spans (linked
    # followers, orphans) belong to the request only when it is the trace's root.
    async_roots = [
        s
        for s in trace.spans
        if s.span_id not in seen
        and (
            tree.parent[s.span_id].span_id in seen if s.span_id in tree.parent else top is tree.top
        )
    ]
    sub = Trace(trace.trace_id, [_as_root(top)] + [s for s in sync if s is not top])
    path = critical_path(sub)
    times = {s.span_id: _times(s, kids.get(s.span_id, []), names, raw) for s in sync}
    retries = _retries(kids, names, {s.span_id: s for s in sync})
    _charge_path(path, times)
    spans = [times[s.span_id] for s in sync]
    return Request(trace, top, spans, path, retries, async_roots)


def _as_root(span: Span) -> Span:
    if span.parent_span_id is None:
        return span
    return Span(
        trace_id=span.trace_id, span_id=span.span_id, name=span.name, start_ns=span.start_ns,
        end_ns=span.end_ns, service=span.service, kind=span.kind,
        status_code=span.status_code, attributes=span.attributes, resource=span.resource,
    )  # fmt: skip


def _times(
    s: Span, children: list[Span], names: dict[bytes, str], raw: dict[bytes, Span]
) -> SpanTime:
    start, end = s.start_ns, max(s.start_ns, s.end_ns)
    covered, reach = 0, start
    for c in sorted(children, key=lambda c: c.start_ns):
        cs, ce = max(c.start_ns, reach), min(c.end_ns, end)
        if ce > cs:
            covered += ce - cs
            reach = max(reach, ce)
    uncovered = (end - start) - covered
    servers = [c for c in children if c.kind == SpanKind.SERVER]
    gap, bounds = 0, None
    if s.kind == SpanKind.CLIENT and servers:
        gap = uncovered
        server = max(servers, key=lambda c: c.duration_ns)
        rs, rc = raw.get(server.span_id, server), raw.get(s.span_id, s)
        bounds = (rs.start_ns - (rc.end_ns - rs.duration_ns), rs.start_ns - rc.start_ns)
    own = uncovered - gap
    return SpanTime(s, names.get(s.span_id, s.name), own, covered, gap, clock_offset_bounds=bounds)


def _retries(
    kids: dict[bytes, list[Span]], names: dict[bytes, str], by_id: dict[bytes, Span]
) -> dict[bytes, Retry]:
    """Under each parent: a run of calls to one operation in which every attempt but the
    last failed, one after another."""
    out: dict[bytes, Retry] = {}
    for parent_id, children in kids.items():
        ordered = sorted(children, key=lambda c: c.start_ns)
        by_op: dict[tuple[str, str], list[Span]] = {}
        for c in ordered:
            by_op.setdefault((c.service, names.get(c.span_id, c.name)), []).append(c)
        for (service, name), calls in by_op.items():
            if len(calls) < 2 or not all(c.is_error for c in calls[:-1]):
                continue
            if any(b.start_ns < a.end_ns for a, b in zip(calls, calls[1:], strict=False)):
                continue
            window = (calls[0].end_ns, calls[-1].start_ns)
            busy = _covered(ordered, window, exclude={c.span_id for c in calls})
            backoff = max(0, window[1] - window[0] - busy - _covered(calls, window))
            failed = sum(c.duration_ns for c in calls[:-1])
            out[calls[-1].span_id] = Retry(
                service, name, len(calls), failed, backoff, by_id[parent_id]
            )
    return out


def _covered(spans: Sequence[Span], window: tuple[int, int], exclude: set[bytes] = set()) -> int:  # noqa: B006
    total, reach = 0, window[0]
    for c in sorted(spans, key=lambda c: c.start_ns):
        if c.span_id in exclude:
            continue
        cs, ce = max(c.start_ns, reach), min(c.end_ns, window[1])
        if ce > cs:
            total += ce - cs
            reach = ce
    return total


def _charge_path(path: CriticalPath, times: dict[bytes, SpanTime]) -> None:
    for seg in path.segments:
        t = times.get(seg.span.span_id)
        if t is None:
            continue
        if t.gap_ns and seg.span.kind == SpanKind.CLIENT:
            t.critical_gap_ns += seg.duration_ns
        else:
            t.critical_own_ns += seg.duration_ns


# --- a blocked event loop ------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class LoopBlock:
    """A stretch of one span's own work during which its process did nothing else."""

    instance: tuple[str, ...]
    start_ns: int
    end_ns: int
    span: Span
    name: str
    """The blocking span's operation (display name)."""
    stalled: int
    """Spans of other requests open across the whole stretch (they had to wait)."""


def instance_of(span: Span) -> tuple[str, ...] | None:
    """The process a span ran in: ``service.instance.id``, else service + host (+ pid).
    Two processes read as one only make :func:`loop_blocks` find less, never more."""
    r = span.resource
    iid = r.get("service.instance.id")
    if isinstance(iid, str) and iid:
        return (span.service, iid)
    host = r.get("host.name")
    if isinstance(host, str) and host:
        return (span.service, host, str(r.get("process.pid", "")))
    return None


def loop_blocks(traces: Iterable[Trace], min_ns: int = MIN_BLOCK_NS) -> list[LoopBlock]:
    """Stretches in which one request held its process's event loop.

    An event loop runs one task at a time, and a task that computes without awaiting
    keeps every other one from running — from starting or ending a span, too. So a
    stretch [A, B] of a span's own work (no child running, at least ``min_ns``) is a
    *block* when, in the same process (:func:`instance_of`), spans of other traces are
    open across all of it and not one span of another trace starts or ends inside it:
    the process made no progress on anything else. A threaded or multi-process server
    running two requests at once starts and ends their spans meanwhile, and is left
    alone; a stretch with nobody waiting is just work."""
    by_instance: dict[tuple[str, ...], list[Span]] = {}
    seen: set[bytes] = set()
    children: dict[bytes, list[Span]] = {}
    names: dict[bytes, str] = {}
    for trace in traces:
        if trace.trace_id in seen:
            continue
        seen.add(trace.trace_id)
        for sp in trace.spans:
            key = instance_of(sp)
            if key is not None:
                by_instance.setdefault(key, []).append(sp)
            if sp.parent_span_id is not None:
                children.setdefault(sp.parent_span_id, []).append(sp)
        names.update((trace.trace_id + k, v) for k, v in operation_names(trace).items())
    out = []
    for key, spans in by_instance.items():
        if len({sp.trace_id for sp in spans}) < 2:
            continue
        events = sorted((t, sp.trace_id) for sp in spans for t in (sp.start_ns, sp.end_ns))
        times = [t for t, _ in events]
        for sp in spans:
            if sp.kind == SpanKind.CLIENT or sp.kind == SpanKind.PRODUCER:
                continue  # its time is the callee's or the broker's, not this process's
            kids = [c for c in children.get(sp.span_id, ()) if c.trace_id == sp.trace_id]
            for a, b in _uncovered(sp, kids):
                if b - a < min_ns:
                    continue
                inside = events[bisect_right(times, a) : bisect_left(times, b)]
                if any(tid != sp.trace_id for _, tid in inside):
                    continue
                stalled = sum(
                    1 for o in spans
                    if o.trace_id != sp.trace_id and o.start_ns <= a and o.end_ns >= b
                )  # fmt: skip
                if stalled:
                    name = names.get(sp.trace_id + sp.span_id, sp.name)
                    out.append(LoopBlock(key, a, b, sp, name, stalled))
    return out


def _uncovered(span: Span, children: Sequence[Span]) -> list[tuple[int, int]]:
    """The stretches of ``span`` in which none of ``children`` ran."""
    out, reach = [], span.start_ns
    for c in sorted(children, key=lambda c: c.start_ns):
        if c.start_ns > reach:
            out.append((reach, min(c.start_ns, span.end_ns)))
        reach = max(reach, c.end_ns)
    if span.end_ns > reach:
        out.append((reach, span.end_ns))
    return [(a, b) for a, b in out if b > a]


def account_loop_blocking(
    reqs: Sequence[tuple[Trace, Request]] | Sequence[Request],
    context: Iterable[Trace] = (),
    blocks: Sequence[LoopBlock] | None = None,
) -> list[LoopBlock]:
    """Move the time the requests' spans waited for a blocked event loop out of their own
    work (or, for a call into that process, its gap) and charge it, on the critical path,
    to the request that held the loop. ``context``: other traces of the same window (the
    blocking request is in its own trace, rarely among the compared ones). Returns the
    blocks found; ranking afterwards names the blocker."""
    rs = _reqs(reqs)
    if blocks is None:
        blocks = loop_blocks([*context, *(r.trace for r in rs)])
    by_instance: dict[tuple[str, ...], list[LoopBlock]] = {}
    for b in blocks:
        by_instance.setdefault(b.instance, []).append(b)
    for req in rs:
        if req.loop_accounted:
            continue
        req.loop_accounted = True
        kids: dict[bytes, list[Span]] = {}
        for t in req.spans:
            if t.span.parent_span_id is not None:
                kids.setdefault(t.span.parent_span_id, []).append(t.span)
        segments: dict[bytes, list[tuple[int, int]]] = {}
        for seg in req.path.segments:
            segments.setdefault(seg.span.span_id, []).append((seg.start_ns, seg.end_ns))
        for t in req.spans:
            mine = kids.get(t.span.span_id, [])
            if t.gap_ns:  # a call into a blocked process: its accept queue stood still
                servers = [c for c in mine if c.kind == SpanKind.SERVER]
                key = instance_of(servers[0]) if servers else None
            else:
                key = instance_of(t.span)
            if key is None:
                continue
            windows = [
                b for b in by_instance.get(key, [])
                if b.span.trace_id != req.trace.trace_id
                and b.start_ns < t.span.end_ns and b.end_ns > t.span.start_ns
            ]  # fmt: skip
            if not windows:
                continue
            stretches = _uncovered(t.span, mine)
            for b in windows:
                waited = sum(_overlap(x, (b.start_ns, b.end_ns)) for x in stretches)
                on_path = sum(
                    _overlap(x, (b.start_ns, b.end_ns)) for x in segments.get(t.span.span_id, [])
                )
                if t.gap_ns:
                    waited = min(waited, t.gap_ns)
                    on_path = min(on_path, t.critical_gap_ns)
                    t.gap_ns -= waited
                    t.critical_gap_ns -= on_path
                else:
                    waited = min(waited, t.own_ns)
                    on_path = min(on_path, t.critical_own_ns)
                    t.own_ns -= waited
                    t.critical_own_ns -= on_path
                t.blocked_ns += waited
                t.waiting_ns += waited
                if on_path:
                    k = (b.span.service, b.name)
                    t.critical_blocked[k] = t.critical_blocked.get(k, 0) + on_path
    return list(blocks)


def _overlap(x: tuple[int, int], y: tuple[int, int]) -> int:
    return max(0, min(x[1], y[1]) - max(x[0], y[0]))


# --- per operation, per request ----------------------------------------------------------


@dataclass(slots=True)
class _Op:
    critical: float = 0.0
    critical_gap: float = 0.0
    own: float = 0.0
    waiting: float = 0.0
    gap: float = 0.0
    calls: int = 0
    errors: int = 0
    origins: int = 0
    on_path: bool = False
    retry: Retry | None = None
    blocking: float = 0.0
    """Critical-path time of other spans that waited for this one's event loop."""


def per_operation(req: Request) -> dict[tuple[str, str], _Op]:
    """(service, display name) -> its time in this request; a retried call carries its
    failed attempts and the backoff (taken from its parent's own work)."""
    ops: dict[tuple[str, str], _Op] = {}
    by_id = {t.span.span_id: t for t in req.spans}
    erroring_children: set[bytes] = {
        t.span.parent_span_id for t in req.spans if t.span.is_error and t.span.parent_span_id
    }
    for t in req.spans:
        op = ops.setdefault((t.span.service, t.name), _Op())
        op.critical += t.critical_own_ns
        op.critical_gap += t.critical_gap_ns
        op.own += t.own_ns
        op.waiting += t.waiting_ns
        op.gap += t.gap_ns
        op.calls += 1
        op.errors += t.span.is_error
        op.origins += t.span.is_error and t.span.span_id not in erroring_children
        op.on_path = op.on_path or bool(t.critical_own_ns or t.critical_gap_ns)
    for t in req.spans:
        for key, ns in t.critical_blocked.items():
            blocker = ops.setdefault(key, _Op())
            blocker.critical += ns
            blocker.blocking += ns
            blocker.on_path = True
    for last_id, retry in req.retries.items():
        op = ops[(retry.service, retry.name)]
        op.retry = retry
        parent = by_id.get(retry.parent.span_id)
        if parent is None:
            continue
        pop = ops[(parent.span.service, parent.name)]
        moved = min(retry.backoff_ns, parent.critical_own_ns)
        pop.critical -= moved
        pop.own -= min(retry.backoff_ns, parent.own_ns)
        op.critical += moved
        op.own += retry.backoff_ns
        op.on_path = op.on_path or moved > 0 or by_id[last_id].critical_own_ns > 0
    return ops


def _kind(critical: float, critical_gap: float, blocking: float) -> str:
    if critical_gap > critical:
        return "gap"
    return "blocking" if blocking > critical / 2 else "work"


def _score(critical: float, critical_gap: float) -> float:
    return critical + GAP_WEIGHT * critical_gap


def causes_of(req: Request) -> list[Cause]:
    """The request's operations ranked by time on its critical path, own work first (a gap
    counts :data:`GAP_WEIGHT`): :func:`explain`'s order before a failed request puts its
    error origins first, and the guided tour's "where its time went"."""
    out = []
    for (service, name), op in per_operation(req).items():
        out.append(
            Cause(
                service, name, _kind(op.critical, op.critical_gap, op.blocking),
                _score(op.critical, op.critical_gap), op.critical + op.critical_gap,
                op.own, op.waiting, op.gap, on_path_share=float(op.on_path), calls=op.calls,
                error_share=float(op.origins > 0), retry=op.retry,
            )
        )  # fmt: skip
    out.sort(key=lambda c: (-c.score, -c.own_ns, c.service, c.name))
    return out


def explain(trace: Trace, request: Request | None = None) -> Explanation:
    """Rank one request's operations by their time on its critical path, own work first."""
    req = request
    if req is None:
        found = requests_in(trace)
        req = found[0] if found else None
    if req is None:
        empty = Request(trace, Span(trace.trace_id, b"\0" * 8, "", 0, 0), [], critical_path(trace))
        return Explanation("this trace has no spans", empty, [], [], [])
    causes = causes_of(req)
    if req.span.is_error:
        # A failed request: where its errors start comes before where its time went.
        causes.sort(key=lambda c: -c.error_share)
    async_paths = [(s, _async_path(req.trace, s)) for s in req.async_roots]
    return Explanation(
        _explain_headline(req, causes), req, causes, async_paths, list(req.retries.values())
    )


def _async_path(trace: Trace, top: Span) -> CriticalPath:
    tree = span_tree(trace)
    spans, stack = [_as_root(top)], [top]
    while stack:
        s = stack.pop()
        for c in tree.children.get(s.span_id, ()):
            if c.parent_span_id == s.span_id:
                spans.append(c)
                stack.append(c)
    return critical_path(Trace(trace.trace_id, spans))


def describe(cause: Cause) -> str:
    """``orders · SELECT stock`` or ``psp · POST → … retried 3× — 420ms of backoff``."""
    if cause.retry is not None:
        r = cause.retry
        return f"{cause.label} retried {r.attempts}× — {format_ns(r.backoff_ns)} of backoff"
    return cause.label


def _explain_headline(req: Request, causes: list[Cause]) -> str:
    total = req.path.duration_ns
    if not causes or total <= 0:
        return f"this trace took {format_ns(max(0, total))}; its root is {req.span.service}"
    top = causes[0]
    if req.span.is_error and top.error_share:
        return f"this request failed: its errors start at {describe(top)}"
    where = describe(top)
    if top.kind == "gap":
        where += ", waiting on the wire or in the callee's queue"
    elif top.kind == "blocking":
        where += f" — another request holding {top.service}'s event loop while this one waited"
    elif (top.service, top.name) == (req.span.service, req.span.name):
        where += " itself"
    return (
        f"{percent(top.critical_ns / total)} of this trace ({format_ns(top.critical_ns)} of "
        f"{format_ns(total)}) is {where}, on the critical path"
    )


# --- across requests -----------------------------------------------------------------------


def compare_slow(
    reqs: Sequence[tuple[Trace, Request]] | Sequence[Request],
    slower_than_ns: int | None = None,
    slowest_percent: float | None = None,
    subject: str = "requests",
) -> Ranking:
    """Slow vs normal requests: which operations' critical-path time grew (own work
    first), and which attribute values the slow ones share."""
    rs = _reqs(reqs)
    split = cmp.split_requests(
        [(_key(i, r), r.span.duration_ns) for i, r in enumerate(rs)], slower_than_ns,
        slowest_percent,
    )  # fmt: skip
    slow_ids = {k for k, _ in split.slow}
    slow = [r for i, r in enumerate(rs) if _key(i, r) in slow_ids]
    normal = [r for i, r in enumerate(rs) if _key(i, r) not in slow_ids]
    return compare_groups(split, slow, normal, subject)


def compare_groups(
    split: cmp.Split, slow: list[Request], normal: list[Request], subject: str = "requests"
) -> Ranking:
    """:func:`compare_slow` for a split made elsewhere (the API splits every request in
    the window and reads a bounded sample of each group's traces)."""
    causes = _rank(slow, normal, errors=False)
    attrs = rank_attributes(slow, normal)
    return Ranking(
        _slow_headline(subject, split, causes, attrs), causes, attrs, len(slow), len(normal)
    )


def compare_errors(
    reqs: Sequence[tuple[Trace, Request]] | Sequence[Request], subject: str = "requests"
) -> Ranking:
    """Erroring vs healthy requests: where errors start (the deepest erroring span, not
    the ancestors that pass it on), which operation's error rate rose, and attributes."""
    rs = _reqs(reqs)
    bad = [r for r in rs if r.span.is_error] or [r for r in rs if r.is_error]
    bad_ids = {id(r) for r in bad}
    good = [r for r in rs if id(r) not in bad_ids]
    causes = _rank(bad, good, errors=True)
    attrs = rank_attributes(bad, good)
    if not bad:
        headline = f"no erroring {subject} among {len(rs)}"
    elif causes and causes[0].error_share > causes[0].normal_error_share:
        c = causes[0]
        headline = (
            f"{len(bad)} of {len(rs)} {subject} failed: errors start at {describe(c)} "
            f"in {percent(c.error_share)} of them ({percent(c.normal_error_share)} of "
            "healthy ones)"
        )
    else:
        headline = f"{len(bad)} of {len(rs)} {subject} failed; no operation stands out"
    return Ranking(headline, causes, attrs, len(bad), len(good), "errors")


def _reqs(reqs: Sequence[tuple[Trace, Request]] | Sequence[Request]) -> list[Request]:
    return [r[1] if isinstance(r, tuple) else r for r in reqs]


def _key(i: int, r: Request) -> bytes:
    return r.trace.trace_id + r.span.span_id + i.to_bytes(4, "big")


def _rank(focus: list[Request], other: list[Request], errors: bool) -> list[Cause]:
    def mean(reqs: list[Request]) -> dict[tuple[str, str], list[float]]:
        acc: dict[tuple[str, str], list[float]] = {}
        for r in reqs:
            for key, op in per_operation(r).items():
                a = acc.setdefault(key, [0.0] * 10)
                for i, v in enumerate((op.critical, op.critical_gap, op.own, op.waiting,
                                       op.gap, op.calls, op.on_path, op.origins > 0,
                                       op.errors > 0, op.blocking)):  # fmt: skip
                    a[i] += v
        n = max(1, len(reqs))
        return {k: [v / n for v in a] for k, a in acc.items()}

    f, o = mean(focus), mean(other)
    retries: dict[tuple[str, str], Retry] = {}
    for r in focus:
        for retry in r.retries.values():
            retries.setdefault((retry.service, retry.name), retry)
    out = []
    zero = [0.0] * 10
    for key in f.keys() | o.keys():
        a, b = f.get(key, zero), o.get(key, zero)
        if errors:
            score = a[7] - b[7]
        else:
            score = _score(a[0] - b[0], a[1] - b[1])
        kind = "errors" if errors else _kind(a[0] - b[0], a[1] - b[1], a[9] - b[9])
        out.append(
            Cause(
                key[0], key[1], kind, score, a[0] + a[1], a[2], a[3], a[4],
                b[0] + b[1], b[2], b[3], b[4], a[6], a[5], b[5],
                a[7] if errors else a[8], b[7] if errors else b[8], retries.get(key),
            )
        )  # fmt: skip
    out.sort(key=lambda c: (-c.score, -(c.own_ns - c.normal_own_ns), c.service, c.name))
    return out


def _slow_headline(
    subject: str, split: cmp.Split, causes: list[Cause], attrs: list[AttributeLift]
) -> str:
    if not split.slow:
        return f"no slow {subject} in the window (threshold {format_ns(split.threshold_ns)})"
    lead = (
        f"{len(split.slow)} slow {subject} (> {format_ns(split.threshold_ns)}, mean "
        f"{format_ns(split.mean_ns(cmp.SLOW))} vs {format_ns(split.mean_ns(cmp.NORMAL))})"
    )
    if not causes or causes[0].score <= 0:
        return f"{lead}: no operation stands out"
    c = causes[0]
    gap = split.mean_ns(cmp.SLOW) - split.mean_ns(cmp.NORMAL)
    what = {
        "gap": "waiting on the wire or in a queue",
        "blocking": f"on the critical path, holding {c.service}'s event loop while other "
        "requests waited",
    }.get(c.kind, "on the critical path")
    text = (
        f"{lead}: {describe(c)} took +{format_ns(c.delta_ns)} per request {what} "
        f"({percent(max(0.0, c.delta_ns / gap) if gap > 0 else 0.0)} of the gap; on the "
        f"critical path in {percent(c.on_path_share)} of slow requests)"
    )
    if attrs and attrs[0].focus_share >= 0.5 and attrs[0].lift >= 4 and not attrs[0].id_like:
        a = attrs[0]
        text += (
            f"; {a.key} = {a.value} in {percent(a.focus_share)} of slow requests, "
            f"{percent(a.other_share)} of normal ones"
        )
    return text


def rank_attributes(
    focus: list[Request], other: list[Request], min_support: float = MIN_SUPPORT
) -> list[AttributeLift]:
    """Attribute values of the focus group's requests by lift (focus share over other
    share), at least ``min_support`` of the focus group; id-like keys demoted."""
    if not focus:
        return []

    def count(reqs: list[Request]) -> dict[tuple[str, str], int]:
        acc: dict[tuple[str, str], int] = {}
        for r in reqs:
            seen: set[tuple[str, str]] = set()
            for t in r.spans:
                for attrs in (t.span.attributes, t.span.resource):
                    for k, v in attrs.items():
                        if isinstance(v, bool):
                            seen.add((k, "true" if v else "false"))
                        elif isinstance(v, (str, int)):
                            seen.add((k, str(v)))
            for kv in seen:
                acc[kv] = acc.get(kv, 0) + 1
        return acc

    f, o = count(focus), count(other)
    values: dict[str, set[str]] = {}
    for k, v in f.keys() | o.keys():
        values.setdefault(k, set()).add(v)
    n_all = len(focus) + len(other)
    nf, no = len(focus), max(1, len(other))
    out = []
    for (k, v), fc in f.items():
        fs, os_ = fc / nf, o.get((k, v), 0) / no
        if fs < min_support or fs <= os_:
            continue
        card = len(values[k])
        id_like = card > ID_LIKE_CARDINALITY * n_all and fs < 0.5
        lift = fs / ((o.get((k, v), 0) + 1) / (no + 1))  # smoothed: never divides by 0
        out.append(AttributeLift(k, v, fc, o.get((k, v), 0), fs, os_, lift, card, id_like))
    out.sort(key=lambda a: (a.id_like, -a.lift, -a.focus_share, a.key, a.value))
    return out


def baseline(
    reqs: Sequence[tuple[Trace, Request]] | Sequence[Request], errors: bool = False
) -> list[str]:
    """The simple method to beat: the operation whose mean span duration grew most between
    the slow and the normal requests (its error rate, when ``errors``), over every span."""
    rs = _reqs(reqs)
    if errors:
        focus = [r for r in rs if r.span.is_error]
        other = [r for r in rs if not r.span.is_error]
    else:
        split = cmp.split_requests([(_key(i, r), r.span.duration_ns) for i, r in enumerate(rs)])
        ids = {k for k, _ in split.slow}
        focus = [r for i, r in enumerate(rs) if _key(i, r) in ids]
        other = [r for i, r in enumerate(rs) if _key(i, r) not in ids]

    def means(group: list[Request]) -> dict[str, float]:
        acc: dict[str, list[float]] = {}
        for r in group:
            names = operation_names(r.trace)
            for s in r.trace.spans:
                a = acc.setdefault(f"{s.service} · {names[s.span_id]}", [0.0, 0.0])
                a[0] += 1
                a[1] += float(s.is_error) if errors else s.duration_ns
        return {k: v[1] / v[0] for k, v in acc.items()}

    mf, mo = means(focus), means(other)
    return sorted(mf, key=lambda k: (-(mf[k] - mo.get(k, 0.0)), k))

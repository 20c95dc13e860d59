"""Trace quality: is the instrumentation good enough for traces to be trusted?

A trace is only as useful as its spans are connected and honest. Each check below judges
spans one at a time — pass, fail, or exempt (not judged) — and is tallied per service,
so a team sees what share of ITS spans break traces:

================  ========  ==============================================================
check             category  a span fails when
================  ========  ==============================================================
Orphan spans      coverage  it names a parent span that is not in the trace (lost, not
                            sent, or dropped by a sampler that decided differently)
Context           coverage  it is a CLIENT (PRODUCER) with no SERVER (CONSUMER) span under
propagation                 it or linking to it: the callee got no context, or is not
                            traced. Database clients (``db.system``) are exempt
Clock skew        quality   it starts before its parent, or ends after it, on another host
                            (:func:`spanscope.analysis.skew.skew_ns`); roots are exempt
service.version   quality   its resource has no ``service.version``: a regression cannot
                            be tied to a deploy
Span kind         quality   its kind is unspecified, so it cannot be read as a call or an
                            answer
================  ========  ==============================================================

The idea and the categories (coverage, quality) are Jaeger's trace-quality metrics
(jaegertracing/jaeger-analytics-java, served as the Jaeger UI's *Trace Quality* page);
the answer's JSON shape is :mod:`spanscope.api.jaeger_ui_api`'s job. Pure: traces in,
counts out::

    report = assess(traces, service="orders")
    [(c.check.name, c.passed, c.failed) for c in report.checks]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from spanscope.analysis.skew import host_key, skew_ns
from spanscope.model.spans import Span, SpanKind, Trace

Verdict = Literal["pass", "fail", "exempt"] | None
"""None: the check does not apply to this span (a SERVER span for propagation)."""

MAX_EXAMPLES = 3
DATABASE_KEYS = ("db.system", "db.system.name")


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    category: Literal["coverage", "quality"]
    description: str
    weight: float


@dataclass(slots=True)
class Tally:
    passed: int = 0
    failed: int = 0
    exempt: int = 0

    def add(self, verdict: Verdict) -> None:
        if verdict == "pass":
            self.passed += 1
        elif verdict == "fail":
            self.failed += 1
        elif verdict == "exempt":
            self.exempt += 1


@dataclass(slots=True)
class CheckResult:
    check: Check
    total: Tally = field(default_factory=Tally)
    by_service: dict[str, Tally] = field(default_factory=dict)
    examples: dict[str, list[tuple[bytes, bytes]]] = field(
        default_factory=lambda: {"pass": [], "fail": [], "exempt": []}
    )
    """(trace id, span id) of a few spans per verdict."""

    @property
    def passed(self) -> int:
        return self.total.passed

    @property
    def failed(self) -> int:
        return self.total.failed

    @property
    def exempt(self) -> int:
        return self.total.exempt


@dataclass(slots=True)
class QualityReport:
    trace_count: int
    span_count: int
    checks: list[CheckResult]

    def score(self, category: str) -> int:
        """0-100: the weighted mean pass share of the category's judged checks (0 if none)."""
        parts = [
            (c.check.weight, c.passed / (c.passed + c.failed))
            for c in self.checks
            if c.check.category == category and c.passed + c.failed
        ]
        weight = sum(w for w, _ in parts)
        return round(100 * sum(w * share for w, share in parts) / weight) if weight else 0


class _TraceView:
    """One trace's parent and child lookups, built once for every check."""

    def __init__(self, trace: Trace) -> None:
        self.by_id = {s.span_id: s for s in trace.spans}
        self.children: dict[bytes, list[Span]] = {}
        self.linked: set[bytes] = set()
        for s in trace.spans:
            if s.parent_span_id is not None:
                self.children.setdefault(s.parent_span_id, []).append(s)
            self.linked.update(link.span_id for link in s.links)

    def parent(self, span: Span) -> Span | None:
        p = self.by_id.get(span.parent_span_id) if span.parent_span_id else None
        return None if p is span else p


def _orphan(span: Span, view: _TraceView) -> Verdict:
    if span.parent_span_id is None:
        return "pass"
    return "pass" if view.parent(span) is not None else "fail"


_ANSWERED_BY = {SpanKind.CLIENT: SpanKind.SERVER, SpanKind.PRODUCER: SpanKind.CONSUMER}


def _propagation(span: Span, view: _TraceView) -> Verdict:
    answer = _ANSWERED_BY.get(span.kind)
    if answer is None:
        return None
    if any(k.kind == answer for k in view.children.get(span.span_id, ())):
        return "pass"
    if answer == SpanKind.CONSUMER and span.span_id in view.linked:
        return "pass"
    if any(key in span.attributes for key in DATABASE_KEYS):
        return "exempt"  # nothing traces inside the database
    return "fail"


def _skew(span: Span, view: _TraceView) -> Verdict:
    parent = view.parent(span)
    if parent is None:
        return "exempt"
    if host_key(parent) == host_key(span):
        return "pass"  # one clock: what it says is what happened
    return "fail" if skew_ns(span, parent) else "pass"


def _version(span: Span, view: _TraceView) -> Verdict:
    version = span.resource.get("service.version")
    return "pass" if isinstance(version, str) and version else "fail"


def _kind(span: Span, view: _TraceView) -> Verdict:
    return "fail" if span.kind == SpanKind.UNSPECIFIED else "pass"


CHECKS: tuple[tuple[Check, Callable[[Span, _TraceView], Verdict]], ...] = (
    (Check("Orphan spans", "coverage", "Spans whose parent span is in the trace: an orphan's "
           "parent was lost, never sent, or sampled away.", 0.6), _orphan),
    (Check("Context propagation", "coverage", "CLIENT and PRODUCER spans answered by a SERVER "
           "or CONSUMER span in the same trace; database calls are exempt.", 0.4), _propagation),
    (Check("Clock skew", "quality", "Spans that start and end inside their parent when timed "
           "on another host; a skewed clock misplaces them on the timeline.", 0.4), _skew),
    (Check("service.version", "quality", "Spans whose resource says service.version, so a "
           "change in behaviour can be tied to a deploy.", 0.4), _version),
    (Check("Span kind", "quality", "Spans with a kind (server, client, producer, consumer, "
           "internal) rather than unspecified.", 0.2), _kind),
)  # fmt: skip


def assess(traces: Iterable[Trace], service: str | None = None) -> QualityReport:
    """Run every check on the spans of ``service`` (all services when None)."""
    results = [CheckResult(check) for check, _ in CHECKS]
    trace_count = span_count = 0
    for trace in traces:
        view = _TraceView(trace)
        spans = [s for s in trace.spans if service is None or s.service == service]
        if not spans:
            continue
        trace_count += 1
        span_count += len(spans)
        for span in spans:
            for result, (_, judge) in zip(results, CHECKS, strict=True):
                verdict = judge(span, view)
                if verdict is None:
                    continue
                result.total.add(verdict)
                result.by_service.setdefault(span.service, Tally()).add(verdict)
                examples = result.examples[verdict]
                if len(examples) < MAX_EXAMPLES:
                    examples.append((trace.trace_id, span.span_id))
    return QualityReport(trace_count, span_count, results)

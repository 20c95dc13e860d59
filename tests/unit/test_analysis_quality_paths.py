"""analysis/quality.py and analysis/paths.py on hand-built traces whose answers are known."""

from __future__ import annotations

import pytest

from spanscope.analysis.paths import dependency_paths
from spanscope.analysis.quality import assess
from spanscope.model.spans import Link, SpanKind, Trace
from tests.support.traces import build, sid

S, C, P, K = SpanKind.SERVER, SpanKind.CLIENT, SpanKind.PRODUCER, SpanKind.CONSUMER


def tally(trace: Trace, check: str, service: str | None = None) -> tuple[int, int, int]:
    result = next(c for c in assess([trace], service).checks if c.check.name == check)
    return result.passed, result.failed, result.exempt


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        # a CLIENT answered by a SERVER of another service
        ([("a", None, 0, 9, {"kind": S}), ("b", "a", 1, 8, {"kind": C}),
          ("c", "b", 2, 7, {"kind": S, "service": "x"})], (1, 0, 0)),
        # a CLIENT nobody answered; an INTERNAL child is not an answer
        ([("a", None, 0, 9, {"kind": C}), ("b", "a", 1, 8, {})], (0, 1, 0)),
        # a database client: exempt
        ([("a", None, 0, 9, {"kind": C, "attributes": {"db.system.name": "mysql"}})], (0, 0, 1)),
        # a PRODUCER whose CONSUMER is its child
        ([("a", None, 0, 9, {"kind": P}), ("b", "a", 20, 30, {"kind": K})], (1, 0, 0)),
    ],
)  # fmt: skip
def test_context_propagation(rows: list[tuple], expected: tuple[int, int, int]) -> None:
    assert tally(build(*rows), "Context propagation") == expected


def test_a_consumer_linking_to_its_producer_answers_it() -> None:
    t = build(("p", None, 0, 5, {"kind": P}), ("k", None, 50, 60, {"kind": K}))
    next(s for s in t.spans if s.kind == K).links.append(Link(t.trace_id, sid(t, "p")))
    assert tally(t, "Context propagation") == (1, 0, 0)


def test_skew_only_across_hosts() -> None:
    t = build(
        ("a", None, 10, 20, {"host": "h1"}),
        ("same", "a", 5, 15, {"host": "h1"}),  # one clock: reported as it is
        ("other", "a", 5, 15, {"host": "h2"}),  # starts before its parent on another clock
    )
    assert tally(t, "Clock skew") == (1, 1, 1)  # the root has no parent to compare


def test_only_the_asked_service_is_judged() -> None:
    unspecified = {"service": "db", "kind": SpanKind.UNSPECIFIED}
    t = build(("a", None, 0, 9, {"service": "web"}), ("b", "a", 1, 8, unspecified))
    report = assess([t], "db")
    assert (report.trace_count, report.span_count) == (1, 1)
    assert tally(t, "Span kind", "db") == (0, 1, 0)
    assert assess([t], "nobody").trace_count == 0


def test_scores_weigh_the_judged_checks() -> None:
    t = build(("a", None, 0, 9, {"kind": S}))
    report = assess([t])
    assert report.score("coverage") == 100  # no orphan; propagation judged nothing
    # quality: clock skew judged nothing, service.version fails, span kind passes (0.4/0.2)
    assert report.score("quality") == round(100 * 0.2 / 0.6)
    assert assess([]).score("quality") == 0


def test_paths_keep_server_hops_and_service_changes() -> None:
    t = build(
        ("a", None, 0, 100, {"service": "web", "op": "GET /", "kind": S}),
        ("b", "a", 1, 50, {"service": "web", "op": "render"}),  # same service: folded
        ("c", "b", 2, 40, {"service": "web", "op": "GET /inner", "kind": S}),  # a new request
        ("d", "c", 3, 30, {"service": "db", "op": "SELECT"}),
        ("e", "a", 60, 90, {"service": "cache", "op": "GET"}),
    )
    paths = dependency_paths([t], "web", "GET /inner")
    assert [p.entries for p in paths] == [
        (("web", "GET /"), ("web", "GET /inner"), ("db", "SELECT"))
    ]
    assert [len(p.entries) for p in dependency_paths([t], "web")] == [2, 3]  # sorted


def test_paths_dedupe_and_cap_exemplars() -> None:
    traces = [
        build(("a", None, 0, 9, {"service": "web"}), ("b", "a", 1, 8, {"service": "db"}),
              trace_id=bytes([n + 1]) * 16)
        for n in range(5)
    ]  # fmt: skip
    [path] = dependency_paths(traces, "db", max_exemplars=3)
    assert path.trace_ids == [bytes([n + 1]) * 16 for n in range(3)]

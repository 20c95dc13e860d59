"""TraceQL evaluated over the hand-built shop trace (tests/traceql/conftest.py): each query
with the span ids it must keep, per spanset."""

from __future__ import annotations

import pytest
from traceql_shop import SHOP_ID, span

from spanscope.model.spans import Trace
from spanscope.query.traceql import parse
from spanscope.query.traceql.engine import evaluate


def ids(query: str, trace: Trace) -> list[list[int]]:
    return [
        [int.from_bytes(s.span_id, "big") for s in ss.spans] for ss in evaluate(parse(query), trace)
    ]


CASES = [
    # intrinsics
    ('{ name = "db.query" }', [[4, 5, 6]]),
    ("{ status = error }", [[3]]),
    ("{ status != error && kind = server }", [[1]]),
    ('{ statusMessage = "card declined" }', [[3]]),
    ("{ duration > 700ms }", [[1, 2, 3]]),
    ("{ duration >= 60ms && duration <= 70ms }", [[5, 6]]),
    ("{ kind = client }", [[2, 4, 5, 6]]),
    ("{ span:kind = internal }", [[7]]),
    ('{ span:id = "0000000000000003" }', [[3]]),
    ('{ span:parentID = "0000000000000003" }', [[4, 5, 6]]),
    ("{ span:parentID = nil }", [[1]]),
    ("{ span:childCount = 3 }", [[3]]),
    ("{ trace:duration = 1s && span:childCount > 1 }", [[1, 3]]),
    ('{ trace:rootName = "GET /checkout" && name = "render" }', [[7]]),
    ('{ trace:rootService = "frontend" && resource.service.name = "checkout" }', [[3]]),
    ('{ trace:id = "01010101010101010101010101010101" && span:childCount = 2 }', [[1]]),
    ('{ event:name = "exception" }', [[3]]),
    ('{ link:traceID = "02020202020202020202020202020202" }', [[7]]),
    ('{ instrumentation:name = "otel.http" }', [[1]]),
    # attributes, scopes and types
    ("{ span.http.status_code = 500 }", [[3]]),  # the string "500" on render is not 500
    ('{ span.http.status_code = "500" }', [[7]]),
    ("{ span.http.status_code >= 200 }", [[1, 3]]),
    ('{ .http.method = "POST" }', [[2]]),
    ('{ resource.host.name = "web-1" }', [[1]]),
    ('{ .deployment.environment = "prod" }', [[3]]),  # unscoped: resource too
    ('{ span.deployment.environment = "prod" }', []),
    ('{ event.exception.type = "CardError" }', [[3]]),
    ('{ link.link.kind = "follows" }', [[7]]),
    ("{ span.retry = true }", [[3]]),
    ("{ span.ratio < 0.5 }", [[3]]),
    ('{ .http.method != "GET" }', [[2]]),  # != never matches a missing attribute
    ("{ .http.method = nil && kind = client }", [[4, 5, 6]]),
    ("{ .db.system != nil }", [[4, 5, 6]]),
    ('{ parent.resource.service.name = "checkout" }', [[4, 5, 6]]),
    ("{ duration - 50ms = 10ms }", [[5]]),
    ("{ .nope = 1 }", []),
    # regexes, anchored
    ('{ name =~ "db.*" }', [[4, 5, 6]]),
    ('{ name =~ "query" }', []),
    ('{ name !~ ".*/.*" }', [[2, 4, 5, 6, 7]]),
    ('{ resource.service.name =~ "check|pay.*" }', [[4, 5, 6]]),  # "checkout" is not "check"
    # logic
    ('{ name = "render" || status = error }', [[3, 7]]),
    ("{ }", [[1, 2, 3, 4, 5, 6, 7]]),
    # between spansets
    ("{ status = error } && { kind = internal }", [[3, 7]]),
    ('{ status = error } && { name = "nope" }', []),
    ('{ status = error } || { name = "nope" }', [[3]]),
    # structural
    ('{ name = "POST /pay" } > { }', [[4, 5, 6]]),
    ('{ name = "db.query" } < { }', [[3]]),
    (
        '{ kind = server && resource.service.name = "frontend" } >> { kind = client }',
        [[2, 4, 5, 6]],
    ),
    ('{ name = "db.query" } << { }', [[1, 2, 3]]),
    ('{ name = "render" } ~ { }', [[2]]),
    ('{ name = "HTTP POST" } !> { kind = client }', [[2, 4, 5, 6]]),
    ('{ name = "POST /pay" } !>> { }', [[1, 2, 3, 7]]),
    ('{ name = "db.query" } !< { kind = client }', [[2, 4, 5, 6]]),
    ('{ name = "db.query" } !<< { }', [[4, 5, 6, 7]]),
    ('{ name = "render" } !~ { kind != internal }', [[1, 3, 4, 5, 6]]),
    ('{ name = "POST /pay" } &> { name = "db.query" }', [[3, 4, 5, 6]]),
    ('{ name = "db.query" } &< { }', [[3, 4, 5, 6]]),
    ('{ name = "GET /checkout" } &>> { status = error }', [[1, 3]]),
    ("{ status = error } &<< { kind = server }", [[1, 3]]),
    ('{ name = "render" } &~ { }', [[2, 7]]),
    # pipelines
    ('{ name = "db.query" } | count() > 2', [[4, 5, 6]]),
    ('{ name = "db.query" } | count() > 3', []),
    ('{ name = "db.query" } | avg(duration) = 60ms', [[4, 5, 6]]),
    ('{ name = "db.query" } | min(duration) > 50ms', []),
    ('{ name = "db.query" } | max(duration) = 70ms', [[4, 5, 6]]),
    ('{ name = "db.query" } | sum(duration) >= 180ms', [[4, 5, 6]]),
    ("{ } | by(resource.service.name) | count() >= 3", [[1, 2, 7], [4, 5, 6]]),
    ("{ kind = client } | by(resource.service.name) | coalesce()", [[2, 4, 5, 6]]),
    ("{ } | { status = error }", [[3]]),
    ("({ kind = client } | count() > 3) && { status = error }", [[2, 3, 4, 5, 6]]),
]


@pytest.mark.parametrize(("query", "expected"), CASES)
def test_queries(query: str, expected: list[list[int]], shop: Trace) -> None:
    assert ids(query, shop) == expected


def test_by_labels_its_spansets(shop: Trace) -> None:
    sets = evaluate(parse("{ kind = client } | by(resource.service.name)"), shop)
    assert [s.attributes for s in sets] == [
        {"by(resource.service.name)": "frontend"},
        {"by(resource.service.name)": "payments"},
    ]


def test_select_records_fields(shop: Trace) -> None:
    (only,) = evaluate(
        parse("{ status = error } | select(span.http.status_code, statusMessage)"), shop
    )
    assert [str(f) for f in only.selected] == ["span.http.status_code", "span:statusMessage"]


def test_a_catastrophic_regex_runs_in_linear_time(shop: Trace) -> None:
    shop.spans[0].attributes["payload"] = "a" * 4000
    assert ids('{ span.payload =~ "(a+)+b" }', shop) == []
    assert ids('{ span.payload =~ ".*.*.*a" }', shop) == [[1]]


def test_the_longest_chains_accepted_evaluate(shop: Trace) -> None:
    terms = " || ".join(['name = "nope"'] * 50 + ["status = error"])
    assert ids("{ " + terms + " } && " + " && ".join(["{ kind = server }"] * 70), shop) == [[1, 3]]


def test_structural_operators_on_a_flat_trace_of_20000_spans() -> None:
    """Linear, not pairwise: 20,000 siblings under one root would be 4e8 pairs."""
    root = span(1, None, "root", 0, 1000)
    children = [span(n, 1, "child", 1 + n % 900, 1) for n in range(2, 20_002)]
    flat = Trace(SHOP_ID, [root, *children])
    assert len(evaluate(parse("{ } ~ { }"), flat)[0].spans) == 20_000
    assert len(evaluate(parse("{ } &~ { }"), flat)[0].spans) == 20_000
    assert len(evaluate(parse('{ name = "root" } > { }'), flat)[0].spans) == 20_000
    assert [s.name for s in evaluate(parse("{ } < { }"), flat)[0].spans] == ["root"]
    assert [s.name for s in evaluate(parse("{ } << { }"), flat)[0].spans] == ["root"]
    assert evaluate(parse('{ name = "root" } !~ { name = "root" }'), flat)[0].spans == [root]
    assert evaluate(parse('{ name = "nope" } ~ { }'), flat) == []

"""The TraceQL parser: every construct parses to the tree Tempo's grammar gives it, and
every error names the line, the column and what was expected."""

from __future__ import annotations

import pytest

from spanscope.query.traceql import TraceQLError, parse
from spanscope.query.traceql.ast import (
    Aggregate,
    Attribute,
    Binary,
    Coalesce,
    GroupBy,
    Intrinsic,
    MetricsAggregate,
    Pipeline,
    ScalarFilter,
    Select,
    SpansetFilter,
    SpansetOp,
    Static,
    Unary,
)
from spanscope.query.traceql.lexer import tokenize


def only_filter(q: str) -> object:
    stages = parse(q).pipeline.stages
    assert len(stages) == 1 and isinstance(stages[0], SpansetFilter)
    return stages[0].expr


@pytest.mark.parametrize(
    ("text", "scope", "name", "parent"),
    [
        (".http.url", None, "http.url", False),
        ("span.http.status_code", "span", "http.status_code", False),
        ("resource.service.name", "resource", "service.name", False),
        ("event.exception.type", "event", "exception.type", False),
        ("link.link.kind", "link", "link.kind", False),
        ("instrumentation.lib", "instrumentation", "lib", False),
        ("parent.span.x", "span", "x", True),
        ("parent.resource.y", "resource", "y", True),
        ("parent.z", None, "z", True),
        ('span."with space"', "span", "with space", False),
        ("span.k8s.pod-name", "span", "k8s.pod-name", False),
    ],
)
def test_attributes(text: str, scope: str | None, name: str, parent: bool) -> None:
    expr = only_filter(f"{{ {text} = 1 }}")
    assert expr == Binary("=", Attribute(scope, name, parent), Static("int", 1))


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("name", "span:name"), ("status", "span:status"), ("statusMessage", "span:statusMessage"),
        ("duration", "span:duration"), ("kind", "span:kind"), ("span:name", "span:name"),
        ("span:duration", "span:duration"), ("span:id", "span:id"),
        ("span:parentID", "span:parentID"), ("span:childCount", "span:childCount"),
        ("trace:duration", "trace:duration"), ("trace:rootName", "trace:rootName"),
        ("trace:rootService", "trace:rootService"), ("trace:id", "trace:id"),
        ("event:name", "event:name"), ("link:traceID", "link:traceID"),
        ("instrumentation:name", "instrumentation:name"), ("rootServiceName", "trace:rootService"),
        ("traceDuration", "trace:duration"),
    ],
)  # fmt: skip
def test_intrinsics(text: str, canonical: str) -> None:
    expr = only_filter(f"{{ {text} != nil }}")
    assert expr == Unary("exists", Intrinsic(canonical))


@pytest.mark.parametrize(
    ("literal", "static"),
    [
        ('"a\\"b"', Static("string", 'a"b')),
        ("`raw\\n`", Static("string", "raw\\n")),
        ("42", Static("int", 42)),
        ("-3", Static("int", -3)),
        ("2.5", Static("float", 2.5)),
        (".5", Static("float", 0.5)),
        ("true", Static("bool", True)),
        ("false", Static("bool", False)),
        ("10ns", Static("duration", 10)),
        ("3us", Static("duration", 3_000)),
        ("250ms", Static("duration", 250_000_000)),
        ("1.5s", Static("duration", 1_500_000_000)),
        ("2m", Static("duration", 120_000_000_000)),
        ("1h", Static("duration", 3_600_000_000_000)),
        ("1m30s", Static("duration", 90_000_000_000)),
    ],
)
def test_literals(literal: str, static: Static) -> None:
    assert only_filter(f"{{ .x = {literal} }}") == Binary("=", Attribute(None, "x"), static)


def test_status_and_kind_keywords() -> None:
    assert only_filter("{ status = error }") == Binary(
        "=", Intrinsic("span:status"), Static("status", "error")
    )
    assert only_filter("{ kind = server }") == Binary(
        "=", Intrinsic("span:kind"), Static("kind", "server")
    )
    for word in ("ok", "unset"):
        parse(f"{{ status = {word} }}")
    for word in ("unspecified", "internal", "client", "producer", "consumer"):
        parse(f"{{ kind != {word} }}")


@pytest.mark.parametrize("op", ["=", "!=", ">", ">=", "<", "<="])
def test_comparisons(op: str) -> None:
    assert only_filter(f"{{ duration {op} 1s }}") == Binary(
        op, Intrinsic("span:duration"), Static("duration", 10**9)
    )


@pytest.mark.parametrize("op", ["=~", "!~"])
def test_regex_operators(op: str) -> None:
    assert only_filter(f'{{ name {op} "GET.*" }}') == Binary(
        op, Intrinsic("span:name"), Static("string", "GET.*")
    )


def test_nil_is_presence() -> None:
    assert only_filter("{ .a = nil }") == Unary("missing", Attribute(None, "a"))
    assert only_filter("{ nil != span.b }") == Unary("exists", Attribute("span", "b"))


def test_logic_inside_a_spanset_is_left_to_right_at_one_level() -> None:
    x, y, z = (Binary("=", Attribute(None, n), Static("int", 1)) for n in "xyz")
    assert only_filter("{ .x = 1 || .y = 1 && .z = 1 }") == Binary("&&", Binary("||", x, y), z)
    assert only_filter("{ .x = 1 || (.y = 1 && .z = 1) }") == Binary("||", x, Binary("&&", y, z))


def test_arithmetic_precedence() -> None:
    one, two, three = Static("int", 1), Static("int", 2), Static("int", 3)
    expr = only_filter("{ .a + 1 * 2 ^ 3 > 0 }")
    assert expr == Binary(
        ">",
        Binary("+", Attribute(None, "a"), Binary("*", one, Binary("^", two, three))),
        Static("int", 0),
    )


@pytest.mark.parametrize(
    "op",
    [
        "&&",
        "||",
        ">",
        "<",
        ">>",
        "<<",
        "~",
        "!>",
        "!<",
        "!>>",
        "!<<",
        "!~",
        "&>",
        "&<",
        "&>>",
        "&<<",
        "&~",
    ],
)
def test_spanset_operators(op: str) -> None:
    stage = parse(f"{{ .a = 1 }} {op} {{ .b = 2 }}").pipeline.stages[0]
    assert isinstance(stage, SpansetOp) and stage.op == op


def test_structural_binds_tighter_than_spanset_logic() -> None:
    stage = parse("{ .a = 1 } && { .b = 1 } > { .c = 1 }").pipeline.stages[0]
    assert isinstance(stage, SpansetOp) and stage.op == "&&"
    assert isinstance(stage.rhs, SpansetOp) and stage.rhs.op == ">"


def test_empty_spanset_is_true() -> None:
    assert only_filter("{ }") == Static("bool", True)


def test_pipelines() -> None:
    q = parse(
        "{ } | by(resource.service.name) | count() > 2 | avg(duration) >= 20ms"
        " | select(span.a, status) | coalesce()"
    )
    stages = q.pipeline.stages
    assert stages[1] == GroupBy(Attribute("resource", "service.name"))
    assert stages[2] == ScalarFilter(">", Aggregate("count"), Static("int", 2))
    assert stages[3] == ScalarFilter(
        ">=", Aggregate("avg", Intrinsic("span:duration")), Static("duration", 20_000_000)
    )
    assert stages[4] == Select((Attribute("span", "a"), Intrinsic("span:status")))
    assert stages[5] == Coalesce()
    for fn in ("min", "max", "sum"):
        parse(f"{{ }} | {fn}(span.bytes) < 10")


def test_parenthesised_pipelines_combine() -> None:
    stage = parse("({ .a = 1 } | count() > 1) && { .b = 2 }").pipeline.stages[0]
    assert isinstance(stage, SpansetOp) and isinstance(stage.lhs, Pipeline)


def test_metrics_and_hints() -> None:
    q = parse("{ status = error } | rate() by (resource.service.name) with (most_recent=true)")
    assert q.metrics == MetricsAggregate("rate", by=(Attribute("resource", "service.name"),))
    assert q.hints == {"most_recent": True}
    q = parse("{ } | quantile_over_time(duration, .5, 0.99)")
    assert q.metrics == MetricsAggregate(
        "quantile_over_time", Intrinsic("span:duration"), (0.5, 0.99)
    )


def test_metrics_second_stage() -> None:
    q = parse("{ } | rate() by (resource.service.name) > 1.5 | topk(3) | bottomk(1) <= 2s")
    assert q.metrics is not None
    assert q.metrics.second_stage == (
        ("filter", ">", 1.5),
        ("topk", 3),
        ("bottomk", 1),
        ("filter", "<=", 2.0),
    )
    with pytest.raises(TraceQLError, match="topk\\(0\\): expected at least 1"):
        parse("{ } | rate() | topk(0)")
    with pytest.raises(TraceQLError, match="a whole number of series"):
        parse("{ } | rate() | topk(x)")


def test_positions_are_lines_and_columns() -> None:
    toks = tokenize('{\n  name = "x" }')
    assert [(t.kind, t.line, t.col) for t in toks[:3]] == [
        ("{", 1, 1),
        ("IDENT", 2, 3),
        ("=", 2, 8),
    ]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("{ span.http.status_code = }", "line 1, col 27: expected a value after '=', found '}'"),
        ("", "empty query"),
        ("{ .a = 1", "col 9: expected '}' or an operator after '1', found the end of the query"),
        ("{ .a = 1 } &&", "expected a spanset '{ ... }' after '&&'"),
        ("{ foo = 1 }", "unknown identifier 'foo'"),
        ('{ .a = "x }', 'unterminated string: expected a closing "'),
        ("{ .a = 5xs }", "'5xs' is not a number or a duration"),
        ("{ span: = 1 }", "expected one of span:name"),
        ("{ . = 1 }", "expected an attribute name after '.'"),
        ("{ .a > nil }", "nil can only be compared with = or !="),
        ("{ } | count()", "expected a comparison (= != > >= < <=) after ')'"),
        ("{ } | 1 > 2", "needs an aggregate"),
        ("{ } | avg() > 1", "avg() needs a field"),
        ("{ } |", "after '|', found the end of the query"),
        ("{ } }", "unexpected '}' after a complete query"),
        ("{ .a = 1 } #", "unexpected character '#'"),
        ('{ .a = "\\q" }', "invalid escape sequence"),
        ('{ duration = "slow" }', "cannot compare a duration with a string"),
        ("{ status = server }", "cannot compare a status"),
        ("{ name > true }", "cannot compare a string with a boolean"),
        ("{ 1 + 2 }", "a spanset filter must be a condition"),
        ('{ name =~ "(a" }', "invalid regular expression '(a': missing )"),
        ('{ name =~ "(?=a)b" }', "invalid perl operator"),
        ("{ } | avg(name) > 1", "avg() needs a number or a duration, not a string"),
        ("{ } | rate() | count() > 1", "unexpected '|' after a complete query"),
        (
            "{ } | quantile_over_time(duration, 2)",
            "quantile 2.0: expected a number between 0 and 1",
        ),
    ],
)
def test_errors(query: str, message: str) -> None:
    with pytest.raises(TraceQLError) as err:
        parse(query)
    assert message in str(err.value)


def test_hostile_input_is_refused_quickly() -> None:
    with pytest.raises(TraceQLError, match="nests deeper than 64 levels"):
        parse("{ " + "(" * 5000 + ".a = 1" + ")" * 5000 + " }")
    with pytest.raises(TraceQLError, match="nests deeper"):
        parse("{ " + "!" * 5000 + "true }")
    with pytest.raises(TraceQLError, match="nests deeper"):
        parse("{ .a = " + "2 ^ " * 2000 + "2 }")
    with pytest.raises(TraceQLError, match="at most 16384 are accepted"):
        parse("{ .a = " + "1" * 1_000_000 + " }")
    with pytest.raises(TraceQLError, match="at most 1024"):
        parse('{ name =~ "' + "a" * 2000 + '" }')
    with pytest.raises(TraceQLError, match="more than 256 operators"):
        parse("{ " + " && ".join([".a = 1"] * 300) + " }")
    with pytest.raises(TraceQLError, match="more than 256 operators"):
        parse(" && ".join(["{ }"] * 300))
    with pytest.raises(TraceQLError, match="nests deeper"):
        parse("{ } && " * 10 + "(" * 100 + "{ }" + ")" * 100)

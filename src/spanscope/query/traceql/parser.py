"""TraceQL tokens -> a :class:`~.ast.Query`: a hand-written recursive-descent parser.

It follows Tempo's grammar (``pkg/traceql/expr.y``) and its precedence, lowest first:

- between spansets: ``&&`` and ``||`` (one level, left to right, as in Tempo), then the
  structural operators ``> < >> << ~`` and their ``!``/``&`` variants;
- inside ``{ }``: ``&&``/``||``, then comparisons ``= != > >= < <= =~ !~``, then ``+ -``,
  then ``* / %``, then ``^`` (right to left), then unary ``-`` and ``!``.

So ``{ a } && { b } > { c }`` is ``{ a } && ({ b } > { c })``, and
``{ .x = 1 || .y = 2 && .z = 3 }`` is ``{ (.x = 1 || .y = 2) && .z = 3 }``.

Every error says where and what was expected::

    >>> try:
    ...     parse("{ span.http.status_code = }")
    ... except TraceQLError as e:
    ...     print(e.line, e.col, e.message)
    1 27 expected a value after '=', found '}'

Hand-written, not generated: the grammar is small, errors can say what was expected in
the user's words, and nesting is bounded (:data:`MAX_DEPTH`) so a hostile query is
refused in microseconds instead of exhausting the stack.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from spanscope.query.traceql.ast import (
    INTRINSICS,
    METRICS_FUNCTIONS,
    SCOPED_INTRINSICS,
    Aggregate,
    Attribute,
    Binary,
    Coalesce,
    Field,
    GroupBy,
    Intrinsic,
    MetricsAggregate,
    Pipeline,
    Query,
    Scalar,
    ScalarFilter,
    ScalarOp,
    Select,
    SpansetExpr,
    SpansetFilter,
    SpansetOp,
    Stage,
    Static,
    Unary,
)
from spanscope.query.traceql.lexer import Token, TraceQLError, describe, tokenize

MAX_DEPTH = 64
"""Deepest nesting of parentheses, braces and unary operators accepted."""
MAX_OPERATORS = 256
"""Most binary operators in one query: each chain of them nests the tree, and every later
stage (validation, evaluation) walks it recursively."""

SPANSET_LOGIC = ("&&", "||")
STRUCTURAL = (
    ">", "<", ">>", "<<", "~", "!>", "!<", "!>>", "!<<", "!~", "&>", "&<", "&>>", "&<<", "&~",
)  # fmt: skip
COMPARISONS = ("=", "!=", ">", ">=", "<", "<=", "=~", "!~")
SCALAR_COMPARISONS = ("=", "!=", ">", ">=", "<", "<=")
AGGREGATES = ("count", "avg", "min", "max", "sum")
STATUS_WORDS = ("ok", "error", "unset")
KIND_WORDS = ("unspecified", "internal", "server", "client", "producer", "consumer")
T = TypeVar("T")


def parse(text: str) -> Query:
    """Parse and validate ``text``; :class:`TraceQLError` (a ValueError) if it is not TraceQL
    that Spanscope runs."""
    from spanscope.query.traceql.validate import validate

    query = _Parser(tokenize(text)).query()
    validate(query)
    return query


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0
        self.operators = 0

    # --- helpers -------------------------------------------------------------------------

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, n: int = 1) -> Token:
        return self.tokens[min(self.i + n, len(self.tokens) - 1)]

    @property
    def prev(self) -> Token:
        return self.tokens[self.i - 1]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "EOF":
            self.i += 1
        return tok

    def at(self, *kinds: str) -> bool:
        return self.tok.kind in kinds

    def at_word(self, *words: str) -> bool:
        return self.tok.kind == "IDENT" and self.tok.value in words

    def error(self, message: str, tok: Token | None = None) -> TraceQLError:
        t = tok or self.tok
        return TraceQLError(message, t.line, t.col)

    def expect(self, kind: str, what: str) -> Token:
        if self.tok.kind != kind:
            raise self.error(f"expected {what}, found {describe(self.tok)}")
        return self.advance()

    def operator(self) -> str:
        """Consume a binary operator, counting it: a chain of them nests the tree as deeply
        as parentheses do (``a && b && c`` is ``(a && b) && c``)."""
        self.operators += 1
        if self.operators > MAX_OPERATORS:
            raise self.error(f"the query has more than {MAX_OPERATORS} operators")
        return self.advance().kind

    def nested(self, parse: Callable[[], T]) -> T:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"the query nests deeper than {MAX_DEPTH} levels")
        try:
            return parse()
        finally:
            self.depth -= 1

    # --- the query -----------------------------------------------------------------------

    def query(self) -> Query:
        if self.at("EOF"):
            raise self.error("empty query: expected a spanset such as { } or { status = error }")
        pipeline = self.pipeline(top=True)
        metrics = None
        if self.at("|"):
            self.advance()
            metrics = self.metrics()
            stages = self.metrics_second_stage()
            if stages:
                metrics = replace(metrics, second_stage=stages)
        hints = self.hints() if self.at_word("with") else {}
        if not self.at("EOF"):
            raise self.error(f"unexpected {describe(self.tok)} after a complete query")
        return Query(pipeline, metrics, hints)

    def pipeline(self, top: bool = False) -> Pipeline:
        stages: list[Stage] = [self.stage(first=True)]
        while self.at("|"):
            nxt = self.peek()
            if top and nxt.kind == "IDENT" and nxt.value in METRICS_FUNCTIONS:
                break  # "| rate()": the metrics stage, read by query()
            self.advance()
            stages.append(self.stage(first=False))
        return Pipeline(tuple(stages))

    def stage(self, first: bool) -> Stage:
        tok = self.tok
        if self.at("{"):
            return self.spanset_expr()
        if self.at_word("by"):
            self.advance()
            self.expect("(", "'(' after by")
            expr = self.nested(self.field)
            self.expect(")", "')' to close by(")
            return GroupBy(expr)
        if self.at_word("select"):
            self.advance()
            self.expect("(", "'(' after select")
            fields = [self.attribute_ref("select(")]
            while self.at(","):
                self.advance()
                fields.append(self.attribute_ref("select("))
            self.expect(")", "')' to close select(")
            return Select(tuple(fields))
        if self.at_word("coalesce"):
            self.advance()
            self.expect("(", "'(' after coalesce")
            self.expect(")", "')': coalesce() takes no arguments")
            return Coalesce()
        if self.at_word(*AGGREGATES) or self.at("INT", "FLOAT", "DURATION", "-"):
            return self.scalar_filter()
        if self.at("("):
            start = self.i
            try:
                return self.spanset_expr()
            except TraceQLError as spanset_error:
                self.i = start
                try:
                    return self.scalar_filter()
                except TraceQLError:
                    raise spanset_error from None
        if tok.kind == "IDENT" and tok.value in METRICS_FUNCTIONS:
            raise self.error(f"{tok.value}() must be the last stage of the query")
        after = "" if first else " after '|'"
        raise self.error(
            f"expected a spanset such as {{ status = error }}, an aggregate such as count() > 2, "
            f"by(), select() or coalesce(){after}, found {describe(tok)}"
        )

    # --- spanset expressions ---------------------------------------------------------------

    def spanset_expr(self) -> SpansetExpr:
        lhs = self.spanset_structural()
        while self.at(*SPANSET_LOGIC):
            op = self.operator()
            lhs = SpansetOp(op, lhs, self.spanset_structural())
        return lhs

    def spanset_structural(self) -> SpansetExpr:
        lhs = self.spanset_primary()
        while self.at(*STRUCTURAL):
            op = self.operator()
            lhs = SpansetOp(op, lhs, self.spanset_primary())
        return lhs

    def spanset_primary(self) -> SpansetExpr:
        if self.at("{"):
            return self.nested(self.spanset_filter)
        if self.at("("):
            return self.nested(self.parenthesized_pipeline)
        after = f" after {describe(self.prev)}" if self.i else ""
        raise self.error(f"expected a spanset '{{ ... }}'{after}, found {describe(self.tok)}")

    def parenthesized_pipeline(self) -> SpansetExpr:
        self.advance()
        inner = self.pipeline()
        self.expect(")", "')'")
        if len(inner.stages) == 1 and isinstance(inner.stages[0], SpansetFilter | SpansetOp):
            return inner.stages[0]
        return inner

    def spanset_filter(self) -> SpansetFilter:
        self.advance()
        if self.at("}"):
            self.advance()
            return SpansetFilter(Static("bool", True))
        expr = self.field()
        if not self.at("}"):
            raise self.error(
                f"expected '}}' or an operator after {describe(self.prev)}, "
                f"found {describe(self.tok)}"
            )
        self.advance()
        return SpansetFilter(expr)

    # --- field expressions ---------------------------------------------------------------

    def field(self) -> Field:
        lhs = self.comparison()
        while self.at("&&", "||"):
            op = self.operator()
            lhs = Binary(op, lhs, self.comparison())
        return lhs

    def comparison(self) -> Field:
        lhs = self.additive()
        while self.at(*COMPARISONS):
            self.operator()
            op_tok = self.prev
            rhs = self.additive()
            lhs = self.compare(op_tok, lhs, rhs)
        return lhs

    def compare(self, op_tok: Token, lhs: Field, rhs: Field) -> Field:
        op = op_tok.kind
        lnil = isinstance(lhs, Static) and lhs.type == "nil"
        rnil = isinstance(rhs, Static) and rhs.type == "nil"
        if lnil or rnil:
            if op not in ("=", "!="):
                raise self.error(f"nil can only be compared with = or !=, not {op!r}", op_tok)
            if lnil and rnil:
                return Static("bool", False)
            other = rhs if lnil else lhs
            return Unary("exists" if op == "!=" else "missing", other)
        return Binary(op, lhs, rhs)

    def additive(self) -> Field:
        lhs = self.multiplicative()
        while self.at("+", "-"):
            op = self.operator()
            lhs = Binary(op, lhs, self.multiplicative())
        return lhs

    def multiplicative(self) -> Field:
        lhs = self.power()
        while self.at("*", "/", "%"):
            op = self.operator()
            lhs = Binary(op, lhs, self.power())
        return lhs

    def power(self) -> Field:
        lhs = self.unary()
        if self.at("^"):
            self.advance()
            return Binary("^", lhs, self.nested(self.power))
        return lhs

    def unary(self) -> Field:
        if self.at("-", "!"):
            op = self.advance().kind
            operand = self.nested(self.unary)
            if (
                op == "-"
                and isinstance(operand, Static)
                and operand.type in ("int", "float", "duration")
            ):
                return Static(operand.type, -operand.value)
            return Unary(op, operand)
        return self.primary()

    def primary(self) -> Field:
        tok = self.tok
        if tok.kind == "(":
            self.advance()
            inner = self.nested(self.field)
            self.expect(")", "')' to close '('")
            return inner
        if tok.kind in ("STRING", "INT", "FLOAT", "DURATION"):
            self.advance()
            kind = {"STRING": "string", "INT": "int", "FLOAT": "float", "DURATION": "duration"}
            return Static(kind[tok.kind], tok.value)  # type: ignore[arg-type]
        if tok.kind == "ATTR":
            self.advance()
            scope, parent, name = tok.value
            return Attribute(scope, name, parent)
        if tok.kind == "SCOPE:":
            return self.scoped_intrinsic()
        if tok.kind == "IDENT":
            word = tok.value
            static = _word_static(word)
            if static is not None:
                self.advance()
                return static
            if word in INTRINSICS:
                self.advance()
                return Intrinsic(INTRINSICS[word])
            raise self.error(
                f"unknown identifier {word!r}: attributes start with a scope or a dot "
                f'(.{word}, span.{word}, resource.{word}), strings are quoted ("{word}")'
            )
        if self.i and self.prev.kind in COMPARISONS + (
            "&&",
            "||",
            "+",
            "-",
            "*",
            "/",
            "%",
            "^",
            "!",
        ):
            raise self.error(f"expected a value after {describe(self.prev)}, found {describe(tok)}")
        raise self.error(
            f"expected a value (an attribute, an intrinsic such as duration, or a literal), "
            f"found {describe(tok)}"
        )

    def scoped_intrinsic(self) -> Intrinsic:
        scope_tok = self.advance()
        scope = scope_tok.value
        names = SCOPED_INTRINSICS[scope]
        if not self.at("IDENT") or self.tok.value not in names:
            choices = ", ".join(f"{scope}:{n}" for n in names)
            raise self.error(
                f"expected one of {choices} after '{scope}:', found {describe(self.tok)}"
            )
        name = self.advance().value
        return Intrinsic(f"{scope}:{name}")

    def attribute_ref(self, where: str) -> Attribute | Intrinsic:
        field = self.primary()
        if not isinstance(field, Attribute | Intrinsic):
            raise self.error(f"expected an attribute or intrinsic in {where}", self.prev)
        return field

    # --- pipelines: scalar filters ---------------------------------------------------------

    def scalar_filter(self) -> ScalarFilter:
        lhs = self.scalar()
        if not self.at(*SCALAR_COMPARISONS):
            raise self.error(
                f"expected a comparison (= != > >= < <=) after {describe(self.prev)}, "
                f"found {describe(self.tok)} (e.g. count() > 2)"
            )
        op = self.advance().kind
        rhs = self.scalar()
        if not (_has_aggregate(lhs) or _has_aggregate(rhs)):
            raise self.error(
                "a pipeline comparison needs an aggregate such as count() or avg(duration)"
            )
        return ScalarFilter(op, lhs, rhs)

    def scalar(self) -> Scalar:
        lhs = self.scalar_term()
        while self.at("+", "-"):
            op = self.operator()
            lhs = ScalarOp(op, lhs, self.scalar_term())
        return lhs

    def scalar_term(self) -> Scalar:
        lhs = self.scalar_primary()
        while self.at("*", "/", "%", "^"):
            op = self.operator()
            lhs = ScalarOp(op, lhs, self.scalar_primary())
        return lhs

    def scalar_primary(self) -> Scalar:
        tok = self.tok
        if self.at("("):
            self.advance()
            inner = self.nested(self.scalar)
            self.expect(")", "')'")
            return inner
        if self.at("-"):
            self.advance()
            inner = self.nested(self.scalar_primary)
            if isinstance(inner, Static):
                return Static(inner.type, -inner.value)
            return ScalarOp("-", Static("int", 0), inner)
        if tok.kind in ("INT", "FLOAT", "DURATION"):
            self.advance()
            kinds: dict[str, Any] = {"INT": "int", "FLOAT": "float", "DURATION": "duration"}
            return Static(kinds[tok.kind], tok.value)
        if self.at_word(*AGGREGATES):
            fn = self.advance().value
            self.expect("(", f"'(' after {fn}")
            if fn == "count":
                self.expect(")", "')': count() takes no arguments")
                return Aggregate("count")
            if self.at(")"):
                raise self.error(f"{fn}() needs a field, e.g. {fn}(duration)")
            expr = self.nested(self.field)
            self.expect(")", f"')' to close {fn}(")
            return Aggregate(fn, expr)
        raise self.error(
            "expected an aggregate (count() avg() min() max() sum()) or a number, "
            f"found {describe(tok)}"
        )

    # --- metrics and hints ---------------------------------------------------------------

    def metrics(self) -> MetricsAggregate:
        fn = self.expect("IDENT", "a metrics function such as rate()").value
        self.expect("(", f"'(' after {fn}")
        attr: Attribute | Intrinsic | None = None
        quantiles: list[float] = []
        if fn == "compare":
            return self.compare_args()
        if fn in ("rate", "count_over_time"):
            self.expect(")", f"')': {fn}() takes no arguments")
        else:
            attr = self.attribute_ref(f"{fn}(")
            if fn == "quantile_over_time":
                if not self.at(","):
                    raise self.error(
                        "quantile_over_time needs quantiles, "
                        "e.g. quantile_over_time(duration, .5, .99)"
                    )
                while self.at(","):
                    self.advance()
                    q = self.expect_number("a quantile between 0 and 1")
                    if not 0 <= q <= 1:
                        raise self.error(
                            f"quantile {q}: expected a number between 0 and 1", self.prev
                        )
                    quantiles.append(q)
            self.expect(")", f"')' to close {fn}(")
        by: list[Attribute | Intrinsic] = []
        if self.at_word("by"):
            self.advance()
            self.expect("(", "'(' after by")
            by.append(self.attribute_ref("by("))
            while self.at(","):
                self.advance()
                by.append(self.attribute_ref("by("))
            self.expect(")", "')' to close by(")
        return MetricsAggregate(fn, attr, tuple(quantiles), tuple(by))

    def compare_args(self) -> MetricsAggregate:
        """``compare({ status = error }[, topN[, start, end]])`` (after its '(')."""
        if not self.at("{"):
            raise self.error(
                f"compare needs a spanset filter first, e.g. compare({{ status = error }}), "
                f"found {describe(self.tok)}"
            )
        selection = self.spanset_filter()
        ints: list[int] = []
        while self.at(",") and len(ints) < 3:
            self.advance()
            ints.append(self.expect("INT", "a whole number (top N, or start/end unix ns)").value)
        self.expect(")", "')' to close compare(")
        top_n = ints[0] if ints else 10
        if top_n < 1:
            raise self.error("compare() top number of values must be an integer above 0", self.prev)
        window = None
        if len(ints) == 2:
            raise self.error("compare(): give both start and end timestamps, or neither", self.prev)
        if len(ints) == 3:
            window = (ints[1], ints[2])
            if window[0] <= 0 or window[1] <= window[0]:
                raise self.error(
                    "compare(): start and end must be unix nanoseconds with end after start",
                    self.prev,
                )
        return MetricsAggregate("compare", selection=selection, top_n=top_n, window=window)

    def metrics_second_stage(self) -> tuple[tuple[Any, ...], ...]:
        """``| topk(5)``, ``| bottomk(3)`` and ``> 10`` after a metrics function, chained."""
        stages: list[tuple[Any, ...]] = []
        while True:
            if (
                self.at("|")
                and self.peek().kind == "IDENT"
                and self.peek().value in ("topk", "bottomk")
            ):
                self.advance()
                fn = self.advance().value
                self.expect("(", f"'(' after {fn}")
                k = self.expect("INT", f"a whole number of series, e.g. {fn}(5)").value
                if k < 1:
                    raise self.error(f"{fn}({k}): expected at least 1", self.prev)
                self.expect(")", f"')' to close {fn}(")
                stages.append((fn, k))
            elif self.at(*SCALAR_COMPARISONS):
                op = self.operator()
                value = self.scalar_primary()
                if not isinstance(value, Static):
                    raise self.error(
                        "a metrics filter compares with a number, e.g. > 10", self.prev
                    )
                number = value.value / 1e9 if value.type == "duration" else float(value.value)
                stages.append(("filter", op, number))
            else:
                return tuple(stages)

    def expect_number(self, what: str) -> float:
        if not self.at("INT", "FLOAT"):
            raise self.error(f"expected {what}, found {describe(self.tok)}")
        return float(self.advance().value)

    def hints(self) -> dict[str, Any]:
        self.advance()
        self.expect("(", "'(' after with")
        hints: dict[str, Any] = {}
        while True:
            name = self.expect("IDENT", "a hint name such as most_recent").value
            self.expect("=", f"'=' after hint {name}")
            value = self.unary()
            if not isinstance(value, Static):
                raise self.error(f"hint {name}: expected a literal value", self.prev)
            hints[name] = value.value
            if not self.at(","):
                break
            self.advance()
        self.expect(")", "')' to close with(")
        return hints


def _word_static(word: str) -> Static | None:
    if word in ("true", "false"):
        return Static("bool", word == "true")
    if word == "nil":
        return Static("nil", None)
    if word in STATUS_WORDS:
        return Static("status", word)
    if word in KIND_WORDS:
        return Static("kind", word)
    if word == "minInt":
        return Static("int", -(2**63))
    if word == "maxInt":
        return Static("int", 2**63 - 1)
    return None


def _has_aggregate(s: Scalar) -> bool:
    if isinstance(s, Aggregate):
        return True
    if isinstance(s, ScalarOp):
        return _has_aggregate(s.lhs) or _has_aggregate(s.rhs)
    return False

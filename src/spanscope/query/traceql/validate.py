"""Static checks on a parsed query: types that can never compare, regexes RE2 refuses.

A query that parses may still be meaningless — ``{ duration = "slow" }`` compares a
duration with a string, ``{ status = server }`` a status with a kind — and Tempo refuses
those with a 400 rather than answering nothing. Attributes have no static type (a span's
``http.status_code`` may be an int in one SDK and a string in another), so anything
compares with an attribute; at run time a value of another type simply does not match.

Every regular expression is compiled here, once per query (:mod:`.regex`).
"""

from __future__ import annotations

from spanscope.query.traceql.ast import (
    Aggregate,
    Attribute,
    Binary,
    Field,
    GroupBy,
    Intrinsic,
    Pipeline,
    Query,
    Scalar,
    ScalarFilter,
    ScalarOp,
    SpansetFilter,
    SpansetOp,
    Static,
    Unary,
)
from spanscope.query.traceql.lexer import TraceQLError
from spanscope.query.traceql.regex import RegexError, compile_regex

INTRINSIC_TYPES = {
    "span:name": "string",
    "span:status": "status",
    "span:statusMessage": "string",
    "span:duration": "duration",
    "span:kind": "kind",
    "span:id": "string",
    "span:parentID": "string",
    "span:childCount": "int",
    "trace:duration": "duration",
    "trace:rootName": "string",
    "trace:rootService": "string",
    "trace:id": "string",
    "event:name": "string",
    "event:timeSinceStart": "duration",
    "link:traceID": "string",
    "link:spanID": "string",
    "instrumentation:name": "string",
    "instrumentation:version": "string",
}
NUMERIC = {"int", "float", "duration", "number"}
_NAMES = {
    "string": "a string",
    "int": "an integer",
    "float": "a number",
    "number": "a number",
    "duration": "a duration",
    "bool": "a boolean",
    "status": "a status (ok, error, unset)",
    "kind": "a kind (server, client, producer, consumer, internal, unspecified)",
    "nil": "nil",
}


def validate(query: Query) -> None:
    """Raise :class:`TraceQLError` naming the first meaningless part of ``query``."""
    _pipeline(query.pipeline)
    m = query.metrics
    if m is not None and m.selection is not None:
        _pipeline(Pipeline((m.selection,)))  # compare({selection}): checked like any filter
    if m is not None and m.attr is not None and m.fn != "histogram_over_time":
        t = type_of(m.attr)
        if t not in NUMERIC and t != "any":
            raise TraceQLError(f"{m.fn}({m.attr}): {m.attr} is {_NAMES[t]}, not a number")


def _pipeline(p: Pipeline) -> None:
    for stage in p.stages:
        if isinstance(stage, SpansetFilter):
            t = type_of(stage.expr)
            if t not in ("bool", "any"):
                raise TraceQLError(
                    f"a spanset filter must be a condition (true or false), not {_NAMES[t]}: "
                    "e.g. { span.http.status_code >= 500 }"
                )
        elif isinstance(stage, SpansetOp):
            _pipeline(Pipeline((stage.lhs, stage.rhs)))
        elif isinstance(stage, Pipeline):
            _pipeline(stage)
        elif isinstance(stage, ScalarFilter):
            _scalar(stage.lhs)
            _scalar(stage.rhs)
        elif isinstance(stage, GroupBy):
            type_of(stage.expr)


def _scalar(s: Scalar) -> None:
    if isinstance(s, Aggregate) and s.expr is not None:
        t = type_of(s.expr)
        if t not in NUMERIC and t != "any":
            raise TraceQLError(f"{s.fn}() needs a number or a duration, not {_NAMES[t]}")
    elif isinstance(s, ScalarOp):
        _scalar(s.lhs)
        _scalar(s.rhs)


def type_of(f: Field) -> str:
    """The static type of a field expression ("any" for attributes), checking operands."""
    if isinstance(f, Static):
        return f.type
    if isinstance(f, Attribute):
        return "any"
    if isinstance(f, Intrinsic):
        return INTRINSIC_TYPES[f.name]
    if isinstance(f, Unary):
        t = type_of(f.operand)
        if f.op in ("exists", "missing"):
            return "bool"
        if f.op == "!" and t not in ("bool", "any"):
            raise TraceQLError(f"'!' needs a condition, not {_NAMES[t]}")
        if f.op == "-" and t not in NUMERIC and t != "any":
            raise TraceQLError(f"'-' needs a number, not {_NAMES[t]}")
        return t
    assert isinstance(f, Binary)
    lt, rt = type_of(f.lhs), type_of(f.rhs)
    if f.op in ("&&", "||"):
        for t in (lt, rt):
            if t not in ("bool", "any"):
                raise TraceQLError(f"{f.op!r} joins conditions, not {_NAMES[t]}")
        return "bool"
    if f.op in ("=~", "!~"):
        if not (isinstance(f.rhs, Static) and f.rhs.type == "string"):
            raise TraceQLError(f"{f.op!r} needs a quoted regular expression on its right")
        if lt not in ("string", "any"):
            raise TraceQLError(f"{f.op!r} matches strings, not {_NAMES[lt]}")
        try:
            compile_regex(f.rhs.value)
        except RegexError as exc:
            raise TraceQLError(str(exc)) from None
        return "bool"
    if f.op in ("=", "!=", ">", ">=", "<", "<="):
        if not _comparable(lt, rt):
            raise TraceQLError(f"cannot compare {_NAMES[lt]} with {_NAMES[rt]} using {f.op!r}")
        if (
            f.op not in ("=", "!=")
            and "bool" in (lt, rt)
            or (f.op not in ("=", "!=") and ({lt, rt} & {"status", "kind"}))
        ):
            raise TraceQLError(f"{f.op!r} orders numbers and strings; use = or != here")
        return "bool"
    # arithmetic
    for t in (lt, rt):
        if t not in NUMERIC and t != "any":
            raise TraceQLError(f"{f.op!r} needs numbers, not {_NAMES[t]}")
    return "duration" if "duration" in (lt, rt) else "number"


def _comparable(a: str, b: str) -> bool:
    if "any" in (a, b) or a == b:
        return True
    return a in NUMERIC and b in NUMERIC

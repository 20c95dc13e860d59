"""TraceQL text -> tokens, each with its line and column (1-based, in characters).

The token set is Tempo's (``pkg/traceql/lexer.go``): punctuation and operators matched
longest first (``!>>`` before ``!>`` before ``!``), Go-style strings (``"..."`` with
escapes, or raw `` `...` ``), integers, floats, durations (a number with units, no space:
``500ms``, ``1m30s``), identifiers. An attribute is read whole as ONE token the moment
its scope is seen, exactly as Tempo's lexer switches into attribute mode::

    >>> [t.kind for t in tokenize('{ span.http.status_code >= 500 }')]
    ['{', 'ATTR', '>=', 'INT', '}', 'EOF']
    >>> tokenize('span.http.status_code')[0].value
    ('span', False, 'http.status_code')

An attribute name runs until whitespace or one of ``{ } ( ) = ~ ! < > & | ^ ,`` — so
``.http.url`` and ``span.k8s.pod-name`` need no quotes — and may hold quoted parts for
anything else: ``span."name with spaces"``.

Errors are :class:`TraceQLError` naming the line and column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from spanscope.query.durations import parse_duration

MAX_QUERY_CHARS = 16_384
"""Longest query accepted: Tempo's own default is 128 KiB, but no real query is near
16 KiB, and the API's guard already refuses any parameter over 4096 characters."""


class TraceQLError(ValueError):
    """A query that cannot be parsed or run, with where (1-based line and column)."""

    def __init__(self, message: str, line: int = 0, col: int = 0) -> None:
        self.message = message
        self.line = line
        self.col = col
        where = f"parse error at line {line}, col {col}: " if line else ""
        super().__init__(where + message)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    """An operator's own text (``&&``, ``{``), or STRING INT FLOAT DURATION IDENT ATTR EOF."""
    value: Any
    line: int
    col: int
    text: str
    """As written, for error messages."""


OPERATORS = sorted(
    [
        "{", "}", "(", ")", ",", "=", "!=", "=~", "!~", ">", ">=", "<", "<=", "+", "-", "*",
        "/", "%", "^", "&&", "||", "!", "|", ">>", "<<", "~", "!>", "!<", "!>>", "!<<",
        "&>", "&<", "&>>", "&<<", "&~",
    ],
    key=len,
    reverse=True,
)  # fmt: skip
ATTRIBUTE_SCOPES = ("resource", "span", "event", "link", "instrumentation", "parent")
_NOT_ATTRIBUTE = set(" \t\r\n\f\v{}()=~!<>&|^,")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?")
_DURATION = re.compile(r"(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|ms|s|m|h|d))+")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0"}


def describe(tok: Token) -> str:
    """How a token is named in an error: ``'}'``, ``end of query``, ``string "x"``."""
    if tok.kind == "EOF":
        return "the end of the query"
    text = tok.text if len(tok.text) <= 40 else tok.text[:40] + "..."
    return repr(text)


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.line_start = 0
        self.tokens: list[Token] = []

    def error(self, message: str, pos: int | None = None) -> TraceQLError:
        p = self.pos if pos is None else pos
        line = self.text.count("\n", 0, p) + 1
        col = p - (self.text.rfind("\n", 0, p) + 1) + 1
        return TraceQLError(message, line, col)

    def emit(self, kind: str, value: Any, start: int) -> None:
        line = self.text.count("\n", 0, start) + 1
        col = start - (self.text.rfind("\n", 0, start) + 1) + 1
        self.tokens.append(Token(kind, value, line, col, self.text[start : self.pos]))

    def run(self) -> list[Token]:
        text = self.text
        n = len(text)
        while True:
            while self.pos < n and text[self.pos].isspace():
                self.pos += 1
            if self.pos >= n:
                self.emit("EOF", "", self.pos)
                return self.tokens
            start = self.pos
            ch = text[start]
            if ch == '"' or ch == "`":
                self.emit("STRING", self.string(), start)
            elif ch.isdigit() or (ch == "." and start + 1 < n and text[start + 1].isdigit()):
                self.number(start)
            elif ch == ".":
                self.pos += 1
                self.emit("ATTR", (None, False, self.attribute_name(start)), start)
            elif m := _IDENT.match(text, start):
                word = m.group()
                self.pos = m.end()
                if word in ATTRIBUTE_SCOPES and self.peek() == ".":
                    self.pos += 1
                    self.scoped_attribute(word, start)
                elif self.peek() == ":" and word in (
                    "span", "trace", "event", "link", "instrumentation"
                ):  # fmt: skip
                    self.pos += 1
                    self.emit("SCOPE:", word, start)
                else:
                    self.emit("IDENT", word, start)
            else:
                op = next((o for o in OPERATORS if text.startswith(o, start)), None)
                if op is None:
                    raise self.error(f"unexpected character {ch!r}")
                self.pos += len(op)
                self.emit(op, op, start)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def scoped_attribute(self, scope: str, start: int) -> None:
        parent = scope == "parent"
        if parent:  # parent.span.x / parent.resource.x / parent.x
            for inner in ("span.", "resource."):
                if self.text.startswith(inner, self.pos):
                    self.pos += len(inner)
                    scope = inner[:-1]
                    break
            else:
                scope = ""
        name = self.attribute_name(start)
        self.emit("ATTR", (scope or None, parent, name), start)

    def attribute_name(self, start: int) -> str:
        text = self.text
        out: list[str] = []
        while self.pos < len(text):
            ch = text[self.pos]
            if ch == '"':
                out.append(self.string())
            elif ch in _NOT_ATTRIBUTE:
                break
            else:
                out.append(ch)
                self.pos += 1
        name = "".join(out)
        if not name:
            raise self.error(
                f"expected an attribute name after {text[start : self.pos]!r}"
                " (e.g. span.http.method)"
            )
        return name

    def string(self) -> str:
        text = self.text
        quote = text[self.pos]
        start = self.pos
        self.pos += 1
        if quote == "`":
            end = text.find("`", self.pos)
            if end < 0:
                raise self.error("unterminated raw string: expected a closing `", start)
            self.pos = end + 1
            return text[start + 1 : end]
        out: list[str] = []
        while self.pos < len(text):
            ch = text[self.pos]
            if ch == '"':
                self.pos += 1
                return "".join(out)
            if ch == "\n":
                break
            if ch == "\\":
                esc = text[self.pos + 1 : self.pos + 2]
                if esc in _ESCAPES:
                    out.append(_ESCAPES[esc])
                    self.pos += 2
                    continue
                if esc == "u" and re.fullmatch(
                    r"[0-9a-fA-F]{4}", text[self.pos + 2 : self.pos + 6]
                ):
                    out.append(chr(int(text[self.pos + 2 : self.pos + 6], 16)))
                    self.pos += 6
                    continue
                raise self.error(f"invalid escape sequence \\{esc} in a string", self.pos)
            out.append(ch)
            self.pos += 1
        raise self.error('unterminated string: expected a closing "', start)

    def number(self, start: int) -> None:
        text = self.text
        d = _DURATION.match(text, start)
        if d and (d.end() >= len(text) or not (text[d.end()].isalnum() or text[d.end()] == "µ")):
            self.pos = d.end()
            try:
                ns = parse_duration(d.group())
            except ValueError as exc:
                raise self.error(f"duration {d.group()!r}: {exc}", start) from None
            self.emit("DURATION", ns, start)
            return
        m = _NUMBER.match(text, start)
        assert m is not None  # a digit or ".digit" starts here
        self.pos = m.end()
        if self.pos < len(text) and (text[self.pos].isalpha() or text[self.pos] == "_"):
            while self.pos < len(text) and (text[self.pos].isalnum() or text[self.pos] == "µ"):
                self.pos += 1
            raise self.error(
                f"{text[start : self.pos]!r} is not a number or a duration "
                "(durations: a number with ns, us, ms, s, m or h, e.g. 250ms)",
                start,
            )
        raw = m.group()
        if re.fullmatch(r"\d+", raw):
            value = int(raw)
            if value > 2**63 - 1:
                raise self.error(f"integer {raw[:40]} is larger than int64", start)
            self.emit("INT", value, start)
        else:
            self.emit("FLOAT", float(raw), start)


def tokenize(text: str) -> list[Token]:
    """Every token of ``text``, ending with an EOF token; TraceQLError on bad input."""
    if len(text) > MAX_QUERY_CHARS:
        raise TraceQLError(
            f"query of {len(text)} characters: at most {MAX_QUERY_CHARS} are accepted"
        )
    return _Lexer(text).run()

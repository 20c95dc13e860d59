"""Jaeger's synthetic search attributes: tags that are really span fields.

Jaeger's model shows a span's status and kind as tags (``error=true``,
``otel.status_code``, ``otel.status_description``, ``span.kind``, ``otel.scope.name``:
see :func:`spanscope.api.serialize.span_to_jaeger`), so its users search by them — in v1's
``tags`` and in v3's ``query.attributes``::

    /api/v3/trace-summaries?query.attributes={"error":"true","span.kind":"server"}&...

They are not attributes, so an attribute condition would find nothing. This module reads
them out of a search's key/value pairs, as Jaeger v2's own storage does
(jaegertracing/jaeger ``internal/storage/v2/memory/tenant.go``, ``validSpan``: ``error``
true or false, ``span.status``, ``span.kind``, ``scope.name``, ``scope.version``), plus
the v1 tag names our serializer writes for the same fields:

============================  =============================================================
``error`` = true | false       status is ERROR | is not ERROR (OK or unset, as Jaeger's)
``otel.status_code``,          status OK, ERROR or UNSET
``span.status``
``span.kind``                  server, client, producer, consumer, internal (``SPAN_KIND_*``)
``otel.status_description``    the status message, exactly
``otel.scope.name``,           the instrumentation scope, exactly
``scope.name`` (+ ``version``)
============================  =============================================================

An ERROR/OK status is pushed down to the store (``SearchQuery.status``). The rest is a
:class:`SpanFields` filter the store cannot say: :func:`search_traces` then asks the store
for candidate traces and keeps those where ONE span holds every filter (Jaeger's rule),
stopping at the query's limit. Each candidate is a whole-trace read (~5 ms on DuckDB), so
it looks at the newest :func:`candidates` of them — 10 per trace asked for, 200 to 1000 —
which bounds a search that finds nothing to about a second for the Jaeger UI's default
of 20. (Pushing kind and status message into ``SearchQuery`` and the stores would lift
this; they are one column each.)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from spanscope.api.errors import bad_request
from spanscope.model.spans import Span, SpanKind, StatusCode, Trace
from spanscope.model.summaries import TraceSummary
from spanscope.query.durations import shown
from spanscope.query.model import MAX_LIMIT, Condition, SearchQuery, TraceStatus
from spanscope.store.base import Store

Pair = tuple[str, str | int | float | bool]

MIN_CANDIDATES = 200
_STATUS_KEYS = ("otel.status_code", "span.status")
_SCOPE_KEYS = {
    "otel.scope.name": "scope_name",
    "scope.name": "scope_name",
    "otel.scope.version": "scope_version",
    "scope.version": "scope_version",
}
_STATUS_NAMES = {"error": StatusCode.ERROR, "ok": StatusCode.OK, "unset": StatusCode.UNSET}


@dataclass(slots=True)
class SpanFields:
    """Span fields a search filters on that SearchQuery cannot carry to the store."""

    kind: SpanKind | None = None
    not_error: bool = False
    unset: bool = False
    status_message: str | None = None
    scope_name: str | None = None
    scope_version: str | None = None

    def __bool__(self) -> bool:
        return (
            self.kind is not None
            or self.not_error
            or self.unset
            or self.status_message is not None
            or self.scope_name is not None
            or self.scope_version is not None
        )

    def holds(self, span: Span) -> bool:
        return (
            (self.kind is None or span.kind == self.kind)
            and not (self.not_error and span.status_code == StatusCode.ERROR)
            and not (self.unset and span.status_code != StatusCode.UNSET)
            and (self.status_message is None or span.status_message == self.status_message)
            and (self.scope_name is None or span.scope_name == self.scope_name)
            and (self.scope_version is None or span.scope_version == self.scope_version)
        )


@dataclass(slots=True)
class Synthetic:
    """A search's pairs, split: the status for the store, the span fields, the rest."""

    status: TraceStatus | None
    fields: SpanFields
    attributes: list[Pair]


def _text(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def split_synthetic(pairs: list[Pair], param: str) -> Synthetic:
    """Take Jaeger's synthetic tags out of ``pairs``; a 400 naming ``param`` for a value
    the field cannot have (``span.kind=sideways``, ``error=maybe``)."""
    fields = SpanFields()
    status: TraceStatus | None = None
    attributes: list[Pair] = []

    def set_status(key: str, value: TraceStatus) -> None:
        nonlocal status
        if status is not None and status != value:
            raise bad_request(
                f"parameter {param}: {key} asks for status {value.upper()} but another filter "
                f"asks for {status.upper()}; a span has one status"
            )
        status = value

    for key, raw in pairs:
        value = _text(raw).strip()
        if key == "error":
            if value.lower() not in ("true", "false"):
                raise bad_request(
                    f"parameter {param}: error={shown(value)}: expected true or false"
                )
            if value.lower() == "true":
                set_status(key, "error")
            else:
                fields.not_error = True
        elif key in _STATUS_KEYS:
            code = _STATUS_NAMES.get(value.lower().removeprefix("status_code_"))
            if code is None:
                raise bad_request(
                    f"parameter {param}: {key}={shown(value)}: expected OK, ERROR or UNSET"
                )
            if code == StatusCode.UNSET:
                fields.unset = True  # the store's status filter covers ERROR and OK
            else:
                set_status(key, "ok" if code == StatusCode.OK else "error")
        elif key == "span.kind":
            try:
                fields.kind = SpanKind.from_label(value)
            except ValueError:
                choices = ", ".join(k.label for k in SpanKind if k != SpanKind.UNSPECIFIED)
                raise bad_request(
                    f"parameter {param}: span.kind={shown(value)}: expected one of {choices}"
                ) from None
        elif key == "otel.status_description":
            fields.status_message = _text(raw)
        elif key in _SCOPE_KEYS:
            setattr(fields, _SCOPE_KEYS[key], _text(raw))
        else:
            attributes.append((key, raw))
    if fields.not_error and status == "error":
        raise bad_request(f"parameter {param}: error=false contradicts an ERROR status filter")
    return Synthetic(status, fields, attributes)


# --- the residual filter, span by span ----------------------------------------------


def condition_holds(span: Span, cond: Condition) -> bool:
    """``cond`` on a span attribute or its resource, as the stores compare (typed; a number
    also matches a string holding its text with ``=``/``!=``)."""
    for attrs in (span.attributes, span.resource):
        if cond.key in attrs and _compare(attrs[cond.key], cond):
            return True
    return False


def _compare(value: object, cond: Condition) -> bool:
    want = cond.value
    if isinstance(want, bool) or isinstance(value, bool):
        if not (isinstance(want, bool) and isinstance(value, bool)):
            return False
        return value == want if cond.op == "=" else (value != want and cond.op == "!=")
    have: float | str
    if isinstance(want, int | float):
        if isinstance(value, str) and cond.op in ("=", "!="):
            return (value == str(want)) == (cond.op == "=")
        if not isinstance(value, int | float):
            return False
        have = value
    elif isinstance(value, str):
        have = value
    else:
        return False
    ops = {
        "=": have == want,
        "!=": have != want,
    }
    if cond.op in ops:
        return ops[cond.op]
    if isinstance(have, str) or isinstance(want, str):
        return False
    return {">": have > want, ">=": have >= want, "<": have < want, "<=": have <= want}[cond.op]


def span_holds(span: Span, query: SearchQuery, fields: SpanFields) -> bool:
    """Every filter of ``query`` and ``fields`` on this one span."""
    if not query.start_ns <= span.start_ns <= query.end_ns:
        return False
    if query.service is not None and span.service != query.service:
        return False
    if query.operation is not None and span.name != query.operation:
        return False
    d = span.duration_ns
    if query.min_duration_ns is not None and d < query.min_duration_ns:
        return False
    if query.max_duration_ns is not None and d > query.max_duration_ns:
        return False
    if query.status is not None and span.status_code != _STATUS_NAMES[query.status]:
        return False
    return fields.holds(span) and all(condition_holds(span, c) for c in query.conditions)


def candidates(limit: int) -> int:
    """How many traces a search with span fields reads to find ``limit`` matches."""
    return max(MIN_CANDIDATES, min(MAX_LIMIT, 10 * limit))


def search_traces(
    store: Store, query: SearchQuery, fields: SpanFields
) -> Iterator[tuple[TraceSummary, Trace | None]]:
    """The store's search, plus ``fields`` checked on each candidate's spans.

    Without span fields this is ``store.search`` (traces read lazily, None if gone since).
    With them, up to :func:`candidates` traces are read and those with one span holding
    every filter are yielded, up to ``query.limit``."""
    if not fields:
        for summary in store.search(query):
            yield summary, None
        return
    found = 0
    for summary in store.search(replace(query, limit=candidates(query.limit))):
        trace = store.trace(summary.trace_id)
        if trace is not None and any(span_holds(s, query, fields) for s in trace.spans):
            yield summary, trace
            found += 1
            if found >= query.limit:
                return

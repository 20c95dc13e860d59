"""W3C Trace Context, Level 2: ``traceparent`` and ``tracestate`` without losing vendors' state.

:class:`W3CTraceContextPropagator` is an OpenTelemetry ``TextMapPropagator`` (a subclass of
OTel's own ``TraceContextTextMapPropagator``). :func:`spanscope.sdk.configure` installs it for
``tracecontext``; any OTel Python app can use it by name through its entry point::

    OTEL_PROPAGATORS=spanscope_tracecontext,baggage python app.py

or in code::

    from opentelemetry.propagate import set_global_textmap
    from spanscope.sdk.propagation import W3CTraceContextPropagator
    set_global_textmap(W3CTraceContextPropagator())

What it does differently from OTel's parser, each from the spec (https://www.w3.org/TR/
trace-context-2/, and the w3c/trace-context test harness in strict mode):

- **Level 2 keys.** A ``tracestate`` key is ``(lcalpha / DIGIT) 0*255(keychar)`` with ``@``
  a keychar: ``foo@``, ``a@b@c``, ``t@`` + 15 characters are valid. OTel still checks Level
  1's ``tenant@system`` form (at most 241 + 14) and drops the *whole* tracestate when one key
  fails it, so every other vendor's entry is lost with it.
- **Duplicated keys** keep the first member (the spec lets a vendor discard duplicates it
  did not write); OTel drops the whole tracestate.
- **Invalid members** (``@foo=1``, a 257-character key, ``foo=bar=baz``) and more than 32
  members discard the whole ``tracestate``, as the harness requires; a ``traceparent`` that
  fails to parse discards it too ("MUST NOT attempt to parse tracestate").
- **Length.** Any well-formed tracestate is read (up to 64 KiB, padding included: 32
  full-size members are 16,447 characters); what we *send* is at most
  ``max_tracestate_length`` characters (512, the spec's "propagate at least 512"), truncated
  by whole members: those over 128 characters first, then from the right.
- **traceparent.** Exactly one header field; version ``00`` is exactly 55 characters; a
  future version is read by its first 55 characters, which must be followed by ``-`` or the
  end; ``ff``, all-zero ids and upper-case hex are invalid. Only the flags this version
  defines survive: ``sampled`` (0x01) and ``random-trace-id`` (0x02); "Vendors MUST set
  [other flags] to zero".

The random flag itself is set by the OpenTelemetry SDK (opentelemetry-sdk 1.42.1 and later;
1.42.0 set it on every span, older releases never): on a root span because its
``RandomIdGenerator`` draws the trace id at random, and on a child from its parent. This
propagator keeps the flag from the incoming header and writes it out.

:class:`W3CTraceState` is an OTel ``TraceState`` that accepts Level 2 keys (OTel's own
constructor would silently drop them again) and whose ``add``/``update``/``delete`` return
one too. It keeps OTel's ``_dict`` storage, so the SDK, exporters and samplers read it as any
``TraceState``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators import textmap
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_log = logging.getLogger(__name__)

KEY = r"[a-z0-9][a-z0-9_\-*/@]{0,255}"
VALUE = r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
_KEY_RE = re.compile(KEY)
_VALUE_RE = re.compile(VALUE)
_MEMBER_RE = re.compile(f"({KEY})=({VALUE})")
_OWS = " \t"

MAX_MEMBERS = 32
MAX_TRACESTATE_LENGTH = 512
# What we read: 32 members of 256 + 1 + 256 characters are 16,447; OWS and empty members
# may pad that, but a combined header past this many characters is not parsed at all.
MAX_TRACESTATE_INPUT = 65_536
LONG_MEMBER = 128  # truncation removes members longer than this first
KNOWN_FLAGS = TraceFlags.SAMPLED | 0x02  # 0x02: random-trace-id (Level 2)

# version-format of 00 (55 characters); a higher version starts the same way.
_TRACEPARENT_RE = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_TRACEPARENT_LENGTH = 55


def is_valid_member(key: str, value: str) -> bool:
    """``key=value`` follows the Level 2 grammar."""
    return (
        isinstance(key, str)
        and isinstance(value, str)
        and _KEY_RE.fullmatch(key) is not None
        and _VALUE_RE.fullmatch(value) is not None
    )


class W3CTraceState(TraceState):
    """A ``TraceState`` with the Level 2 key grammar (see the module docs).

    Built from pairs, it skips invalid ones and later duplicates, and keeps the first 32
    (the spec removes the right-most). ``add`` and ``update`` put the member first, removing
    the right-most one if that makes 33.
    """

    def __init__(self, entries: Sequence[tuple[str, str]] | None = None) -> None:
        super().__init__()
        for key, value in entries or ():
            if not is_valid_member(key, value):
                _log.warning(
                    "tracestate member %.80r=%.80r: not valid W3C syntax; dropped", key, value
                )
            elif key not in self._dict and len(self._dict) < MAX_MEMBERS:
                self._dict[key] = value

    def add(self, key: str, value: str) -> W3CTraceState:
        if key in self._dict or not is_valid_member(key, value):
            _log.warning(
                "tracestate add(%.80r, %.80r): key exists or is invalid; unchanged", key, value
            )
            return self
        return W3CTraceState([(key, value), *self._dict.items()])

    def update(self, key: str, value: str) -> W3CTraceState:
        if not is_valid_member(key, value):
            _log.warning("tracestate update(%.80r, %.80r): invalid; unchanged", key, value)
            return self
        rest = [(k, v) for k, v in self._dict.items() if k != key]
        return W3CTraceState([(key, value), *rest])

    def delete(self, key: str) -> W3CTraceState:
        if key not in self._dict:
            return self
        return W3CTraceState([(k, v) for k, v in self._dict.items() if k != key])


def parse_tracestate(fields: Iterable[str]) -> W3CTraceState | None:
    """Every ``tracestate`` header field, combined in order -> a state, or ``None`` when it
    must be discarded (an invalid member, more than 32 distinct keys, or over 64 KiB)."""
    combined = ",".join(fields)
    if len(combined) > MAX_TRACESTATE_INPUT:
        _log.debug("tracestate of %d characters; discarded unread", len(combined))
        return None
    members: dict[str, str] = {}
    for raw in combined.split(","):
        member = raw.strip(_OWS)
        if not member:
            continue  # empty and whitespace-only members are allowed
        match = _MEMBER_RE.fullmatch(member)
        if match is None:
            _log.debug("tracestate member %r is not valid; tracestate discarded", member[:300])
            return None
        key, value = match.groups()
        if key in members:
            continue  # a duplicate: keep the first
        members[key] = value
        if len(members) > MAX_MEMBERS:
            _log.debug("tracestate has more than %d members; discarded", MAX_MEMBERS)
            return None
    return W3CTraceState(list(members.items()))


def parse_traceparent(value: str) -> tuple[int, int, int] | None:
    """A ``traceparent`` value -> ``(trace_id, span_id, flags)``, or ``None`` if invalid.

    Flags are reduced to the ones version 00 defines (sampled, random-trace-id).
    """
    value = value.strip(_OWS)
    match = _TRACEPARENT_RE.fullmatch(value[:_TRACEPARENT_LENGTH])
    if match is None:
        return None
    version, trace_id, span_id, flags = match.groups()
    if version == "ff":
        return None
    if version == "00" and len(value) != _TRACEPARENT_LENGTH:
        return None  # version 00 has nothing after the flags
    if len(value) > _TRACEPARENT_LENGTH and value[_TRACEPARENT_LENGTH] != "-":
        return None  # a future version's flags end at a dash or the end
    if trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    return int(trace_id, 16), int(span_id, 16), int(flags, 16) & KNOWN_FLAGS


def tracestate_header(state: TraceState | None, max_length: int) -> str | None:
    """The ``tracestate`` value to send: whole members, at most ``max_length`` characters
    (members over 128 characters removed first, then from the right); ``None`` if empty."""
    if not state:
        return None
    members = [f"{k}={v}" for k, v in state.items()]
    size = sum(map(len, members)) + len(members) - 1
    for i in range(len(members) - 1, -1, -1):
        if size <= max_length:
            break
        if len(members[i]) > LONG_MEMBER:
            size -= len(members.pop(i)) + (1 if members else 0)
    while members and size > max_length:
        size -= len(members.pop()) + (1 if members else 0)
    return ",".join(members) or None


class W3CTraceContextPropagator(TraceContextTextMapPropagator):
    """``traceparent``/``tracestate`` per W3C Trace Context Level 2 (see the module docs)."""

    def __init__(self, max_tracestate_length: int = MAX_TRACESTATE_LENGTH) -> None:
        if max_tracestate_length < 1:
            raise ValueError(
                f"max_tracestate_length={max_tracestate_length}: must be a positive number of "
                f"characters (the spec asks to propagate at least {MAX_TRACESTATE_LENGTH})"
            )
        self.max_tracestate_length = max_tracestate_length

    def extract(
        self,
        carrier: textmap.CarrierT,
        context: Context | None = None,
        getter: textmap.Getter[textmap.CarrierT] = textmap.default_getter,
    ) -> Context:
        if context is None:
            context = Context()
        fields = getter.get(carrier, self._TRACEPARENT_HEADER_NAME)
        if not fields or len(fields) != 1:
            return context  # none, or several traceparent fields: start a new trace
        parsed = parse_traceparent(fields[0])
        if parsed is None:
            return context
        trace_id, span_id, flags = parsed
        states = getter.get(carrier, self._TRACESTATE_HEADER_NAME)
        span_context = SpanContext(
            trace_id=trace_id,
            span_id=span_id,
            is_remote=True,
            trace_flags=TraceFlags(flags),
            trace_state=parse_tracestate(states) if states else None,
        )
        return trace.set_span_in_context(NonRecordingSpan(span_context), context)

    def inject(
        self,
        carrier: textmap.CarrierT,
        context: Context | None = None,
        setter: textmap.Setter[textmap.CarrierT] = textmap.default_setter,
    ) -> None:
        span_context = trace.get_current_span(context).get_span_context()
        if not span_context.is_valid:
            return
        flags = span_context.trace_flags & KNOWN_FLAGS
        setter.set(
            carrier,
            self._TRACEPARENT_HEADER_NAME,
            f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-{flags:02x}",
        )
        header = tracestate_header(span_context.trace_state, self.max_tracestate_length)
        if header is not None:
            setter.set(carrier, self._TRACESTATE_HEADER_NAME, header)

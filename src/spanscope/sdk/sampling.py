"""Priority head sampling: ordered rules, consistent probabilities, whole traces.

A :class:`PrioritySampler` is a real OpenTelemetry ``Sampler``. At the root of a trace it
walks its :class:`Rule` list in order; the first rule that matches the span (name glob,
route glob, attribute globs) gives the sampling rate, else ``default_rate`` does. Every
other span follows its parent's decision (parent-based), so a trace is kept or dropped
whole — also across services, because the decision travels in ``traceparent``::

    from spanscope.sdk import PrioritySampler, Rule, configure

    sampler = PrioritySampler(
        [Rule(0.001, route="/health*"), Rule(0.5, name="POST /checkout*")],
        default_rate=0.05,
    )
    configure("shop", sampler=sampler)

or with no code: ``OTEL_TRACES_SAMPLER=spanscope_priority`` and ``OTEL_TRACES_SAMPLER_ARG``
set to a number (the default rate) or the path of a rules file (TOML or JSON)::

    default_rate = 0.05
    [[rules]]
    route = "/health*"
    rate = 0.001
    [[rules]]
    name = "POST /checkout*"
    rate = 0.5
    [[rules]]
    attributes = { "user.tier" = "gold" }
    rate = 1.0

**Consistent probability sampling** (OpenTelemetry's OTEP 235): a rate ``p`` becomes a
56-bit rejection threshold ``th = (1 - p) * 2**56``; a trace is kept when its randomness —
``rv`` from the ``ot`` tracestate entry if present, else the low 56 bits of the trace id —
is ``>= th``. Two samplers with the same rate therefore make the same decision for the same
trace, and a lower rate keeps a subset of what a higher rate keeps. A kept root records
``ot=th:<hex>`` in its tracestate, so the backend knows each span's adjusted count
(``2**56 / (2**56 - th)``, e.g. 20 for 5 %). The arithmetic of thresholds lives in
:mod:`spanscope.sampling.threshold`.
"""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, get_current_span
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from spanscope.sampling.threshold import (
    MAX_THRESHOLD,
    RANDOMNESS_MASK,
    encode_threshold,
    rate_to_threshold,
)

# Span attributes a route rule looks at, in order: the templated route when the
# instrumentation knows it at start, else the raw path (without the query string).
ROUTE_ATTRIBUTES = ("http.route", "url.path", "http.target")


def parse_ot(value: str | None) -> dict[str, str]:
    """The ``ot`` tracestate value (``th:c;rv:...``) -> its sub-keys; junk parts are ignored."""
    if not value:
        return {}
    out: dict[str, str] = {}
    for part in value.split(";"):
        key, sep, val = part.partition(":")
        if sep and key:
            out[key] = val
    return out


def format_ot(fields: Mapping[str, str]) -> str:
    return ";".join(f"{k}:{v}" for k, v in fields.items())


def randomness(trace_id: int, ot: Mapping[str, str]) -> int:
    """The 56 random bits a decision compares: explicit ``rv`` if valid, else the trace id's."""
    rv = ot.get("rv")
    if rv is not None and len(rv) == 14:
        try:
            return int(rv, 16)
        except ValueError:
            pass
    return trace_id & RANDOMNESS_MASK


def _glob(pattern: str | None) -> Callable[[str], bool] | None:
    """A glob as the cheapest test that decides it: equality, prefix, or a regex."""
    if pattern is None:
        return None
    if not any(c in pattern for c in "*?["):
        return pattern.__eq__
    head = pattern[:-1]
    if pattern.endswith("*") and not any(c in head for c in "*?["):
        return lambda text: text.startswith(head)
    return re.compile(fnmatch.translate(pattern)).match  # type: ignore[return-value]


@dataclass(frozen=True)
class Rule:
    """One sampling rule: every given matcher must match; ``None``/empty matches anything.

    ``name`` and ``route`` are shell globs (``*``, ``?``, ``[ab]``) on the span name and the
    route (``http.route``, else ``url.path``/``http.target``); ``attributes`` maps attribute
    keys to globs matched against the value's text.
    """

    rate: float
    name: str | None = None
    route: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        rate_to_threshold(self.rate)  # validates with a clear message
        object.__setattr__(self, "_name_re", _glob(self.name))
        object.__setattr__(self, "_route_re", _glob(self.route))
        object.__setattr__(
            self,
            "_attr_res",
            tuple((k, _glob(str(v))) for k, v in self.attributes.items()),
        )
        object.__setattr__(self, "_match", self._compile())

    def _compile(self) -> Callable[[str, Attributes], bool]:
        """The cheapest callable deciding :meth:`matches`: only the matchers this rule has."""
        name_ok = self._name_re  # type: ignore[attr-defined]
        route_ok = self._route_re  # type: ignore[attr-defined]
        if not self._attr_res:  # type: ignore[attr-defined]
            if route_ok is None:
                if name_ok is None:
                    return lambda name, attributes: True
                return lambda name, attributes: name_ok(name)
            if name_ok is None:

                def route_only(name: str, attributes: Attributes) -> bool:
                    route = _route_of(attributes)
                    return route is not None and route_ok(route)

                return route_only
        return self.matches

    def matches(self, name: str, attributes: Attributes) -> bool:
        name_ok: Callable[[str], bool] | None = self._name_re  # type: ignore[attr-defined]
        if name_ok is not None and not name_ok(name):
            return False
        route_ok: Callable[[str], bool] | None = self._route_re  # type: ignore[attr-defined]
        if route_ok is not None:
            route = _route_of(attributes)
            if route is None or not route_ok(route):
                return False
        for key, value_ok in self._attr_res:  # type: ignore[attr-defined]
            value = attributes.get(key) if attributes else None
            if value is None or not value_ok(str(value)):
                return False
        return True

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], where: str = "rule") -> Rule:
        """A rule from a rules-file table; errors name the bad key and say what fits."""
        unknown = set(raw) - {"rate", "name", "route", "attributes"}
        if unknown:
            raise ValueError(
                f"{where}: unknown key(s) {sorted(unknown)}; "
                "a rule has rate and optionally name, route, attributes"
            )
        if "rate" not in raw:
            raise ValueError(f"{where}: missing 'rate' (a number in [0, 1], e.g. rate = 0.05)")
        rate = raw["rate"]
        if isinstance(rate, bool) or not isinstance(rate, int | float):
            raise ValueError(f"{where}: rate {rate!r} is not a number in [0, 1]")
        attributes = raw.get("attributes", {})
        if not isinstance(attributes, Mapping):
            raise ValueError(f"{where}: attributes {attributes!r}: expected a table of globs")
        for key in ("name", "route"):
            if raw.get(key) is not None and not isinstance(raw[key], str):
                raise ValueError(f"{where}: {key} {raw[key]!r}: expected a glob string")
        try:
            return cls(
                float(rate),
                raw.get("name"),
                raw.get("route"),
                {str(k): str(v) for k, v in attributes.items()},
            )
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None


def _route_of(attributes: Attributes) -> str | None:
    if not attributes:
        return None
    for key in ROUTE_ATTRIBUTES:
        value = attributes.get(key)
        if isinstance(value, str):
            return value.split("?", 1)[0]
    return None


class PrioritySampler(Sampler):
    """Rule-driven, parent-based, consistent probability sampler (see the module docs)."""

    def __init__(self, rules: Sequence[Rule] = (), default_rate: float = 1.0) -> None:
        self.rules = tuple(rules)
        self.default_rate = default_rate
        self._default_th = rate_to_threshold(default_rate)
        self._default_th_text = encode_threshold(self._default_th)
        self._rule_ths = tuple(
            (rule._match, th, encode_threshold(th))  # type: ignore[attr-defined]
            for rule, th in ((r, rate_to_threshold(r.rate)) for r in self.rules)
        )
        # TraceState is immutable and validated on construction: build each kind once.
        self._states = {
            text: TraceState([("ot", "th:" + text)])
            for text in {self._default_th_text, *(t for _, _, t in self._rule_ths)}
        }

    @classmethod
    def from_file(cls, path: str | Path) -> PrioritySampler:
        """Rules from a ``.toml`` or ``.json`` file: ``default_rate`` and a ``rules`` list."""
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as e:
            raise ValueError(f"sampling rules file {str(path)!r}: {e.strerror}") from None
        try:
            raw = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
        except (ValueError, tomllib.TOMLDecodeError) as e:
            kind = "JSON" if path.suffix == ".json" else "TOML"
            raise ValueError(f"sampling rules file {str(path)!r}: not valid {kind}: {e}") from None
        return cls.from_mapping(raw, where=str(path))

    @classmethod
    def from_mapping(cls, raw: Any, where: str = "sampling rules") -> PrioritySampler:
        if not isinstance(raw, Mapping):
            raise ValueError(f"{where}: expected a table with default_rate and rules")
        unknown = set(raw) - {"default_rate", "rules"}
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; use default_rate, rules")
        default_rate = raw.get("default_rate", 1.0)
        if isinstance(default_rate, bool) or not isinstance(default_rate, int | float):
            raise ValueError(f"{where}: default_rate {default_rate!r} is not a number in [0, 1]")
        rules_raw = raw.get("rules", [])
        if not isinstance(rules_raw, list):
            raise ValueError(f"{where}: rules must be a list of tables ([[rules]] in TOML)")
        rules = [
            Rule.from_mapping(r if isinstance(r, Mapping) else {"?": r}, f"{where}: rules[{i}]")
            for i, r in enumerate(rules_raw)
        ]
        try:
            return cls(rules, float(default_rate))
        except ValueError as e:
            raise ValueError(f"{where}: default_rate: {e}") from None

    def rate_for(self, name: str, attributes: Attributes = None) -> float:
        """The rate a new root span with this name and these attributes would get."""
        for rule in self.rules:
            if rule.matches(name, attributes):
                return rule.rate
        return self.default_rate

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        parent = get_current_span(parent_context).get_span_context()
        if parent.is_valid:
            # Parent-based: follow the decision made at the root, forward tracestate untouched.
            if parent.trace_flags.sampled:
                return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, parent.trace_state)
            return SamplingResult(Decision.DROP, None, parent.trace_state)

        th, th_text = self._default_th, self._default_th_text
        for match, rule_th, rule_th_text in self._rule_ths:
            if match(name, attributes):
                th, th_text = rule_th, rule_th_text
                break
        if trace_state is None or "ot" not in trace_state:
            # The common root: randomness from the trace id, no tracestate to merge.
            if th >= MAX_THRESHOLD or (trace_id & RANDOMNESS_MASK) < th:
                return SamplingResult(Decision.DROP, None, trace_state)
            value = "th:" + th_text
            state = (
                TraceState([("ot", value)]) if trace_state is None else trace_state.add("ot", value)
            )
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, state)
        ot = parse_ot(trace_state.get("ot"))
        if th >= MAX_THRESHOLD or randomness(trace_id, ot) < th:
            return SamplingResult(Decision.DROP, None, trace_state)
        ot["th"] = th_text
        state = trace_state.update("ot", format_ot(ot))
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, state)

    def get_description(self) -> str:
        return f"PrioritySampler{{rules={len(self.rules)},default_rate={self.default_rate}}}"


def sampler_from_arg(arg: str | float | None) -> PrioritySampler:
    """The ``spanscope_priority`` entry point: ``OTEL_TRACES_SAMPLER_ARG`` -> a sampler.

    A number is the default rate with no rules; anything else is a rules file path;
    unset means keep everything (rate 1.0).
    """
    if arg is None or (isinstance(arg, str) and not arg.strip()):
        return PrioritySampler([], 1.0)
    if isinstance(arg, int | float):
        return PrioritySampler([], float(arg))
    try:
        rate = float(arg)
    except ValueError:
        return PrioritySampler.from_file(arg.strip())
    return PrioritySampler([], rate)

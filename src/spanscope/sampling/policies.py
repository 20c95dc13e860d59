"""Tail-sampling policies compiled into two cheap parts: span predicates and trace checks.

A policy asks a question of a whole trace ("has an error span", "lasted over 1 s", "has a
span with ``http.route`` matching ``/checkout*``"). Asking it span by span in Python would
cost microseconds per span, so each question is split:

- **span predicates** run on a batch's Arrow columns as it arrives (one vectorised pass per
  predicate, e.g. ``status_code == 2``), and are folded per trace into one bit of a mask;
- **trace checks** run once per trace at decision time, on its span count, duration
  (last end - first start) and that mask.

The compiled :class:`Policy` list is ordered: :meth:`Policies.decide` returns the first
policy whose condition holds. That policy keeps the trace with probability ``rate``,
consistently (the same trace id always gets the same answer), within its
``spans_per_second`` budget if it has one; a ``drop`` policy drops it. A kept trace's
**weight** is its adjusted count, ``2**56 / (2**56 - th)`` with ``th`` the OTEP 235 threshold
of ``rate`` — i.e. ``1 / rate`` — so counts over kept traces extrapolate to all traces.
Rate-limited keeps have weight 1: how many were turned away is not a fixed probability.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from spanscope.sampling.config import Condition, PolicyConfig
from spanscope.sampling.threshold import adjusted_count, rate_to_threshold

_MASK64 = (1 << 64) - 1
_MIX = 0x9E3779B97F4A7C15  # Fibonacci hashing: spreads any trace id over 64 bits

SpanPredicate = Callable[[pa.Table], pa.Array]
TraceCheck = Callable[[int, int, int], bool]
"""(span count, duration ns, predicate mask) -> does the condition hold."""


def randomness(trace_key: int) -> int:
    """56 random-looking bits from a trace key, independent of the low 56 bits of the trace
    id that head sampling (OTEP 235) already used — so tail weights multiply head weights."""
    return ((trace_key * _MIX) & _MASK64) >> 8


def _glob_regex(pattern: str) -> str:
    return "^" + re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".") + "$"


def _lookup(table: pa.Table, key: str, kind: str) -> pa.Array:
    if kind == "str" and key == "service.name":
        return table["service"]
    if kind == "str" and key in ("span.name", "name"):
        return table["name"]
    return pc.map_lookup(table[f"attr_{kind}"], key, "first")


def _false_if_null(values: pa.Array) -> pa.Array:
    return pc.fill_null(values, False)


@dataclass(frozen=True)
class Policy:
    name: str
    check: TraceCheck
    threshold: int
    weight: float
    spans_per_second: float | None
    drop: bool


class _Compiler:
    def __init__(self) -> None:
        self.predicates: list[SpanPredicate] = []

    def bit(self, predicate: SpanPredicate) -> int:
        self.predicates.append(predicate)
        return 1 << (len(self.predicates) - 1)

    def any_bit(self, predicate: SpanPredicate, invert: bool = False) -> TraceCheck:
        bit = self.bit(predicate)
        if invert:
            return lambda count, duration, mask: not mask & bit
        return lambda count, duration, mask: bool(mask & bit)

    def condition(self, c: Condition) -> TraceCheck:  # noqa: C901 - one branch per type
        p = c.params
        if c.type in ("always_sample", "probabilistic", "rate_limiting"):
            return lambda count, duration, mask: True
        if c.type == "status_code":
            codes = pa.array(p["status_codes"], pa.uint8())
            return self.any_bit(lambda t: pc.is_in(t["status_code"], value_set=codes))
        if c.type == "latency":
            return self._latency(p)
        if c.type == "string_attribute":
            key, values = p["key"], p["values"]
            if any(ch in v for v in values for ch in "*?"):
                regex = "|".join(f"(?:{_glob_regex(v)})" for v in values)

                def match(t: pa.Table) -> pa.Array:
                    return _false_if_null(pc.match_substring_regex(_lookup(t, key, "str"), regex))
            else:
                exact = pa.array(values, pa.string())

                def match(t: pa.Table) -> pa.Array:
                    return pc.is_in(_lookup(t, key, "str"), value_set=exact)

            return self.any_bit(match, p["invert"])
        if c.type == "numeric_attribute":
            key, lo, hi = p["key"], p["min"], p["max"]

            def numeric(t: pa.Table) -> pa.Array:
                ints = pc.cast(_lookup(t, key, "int"), pa.float64())
                values = pc.coalesce(ints, _lookup(t, key, "dbl"))
                ok = pa.array([True] * len(t)) if len(t) else pa.array([], pa.bool_())
                if lo is not None:
                    ok = pc.and_(ok, pc.greater_equal(values, float(lo)))
                if hi is not None:
                    ok = pc.and_(ok, pc.less_equal(values, float(hi)))
                return _false_if_null(ok)

            return self.any_bit(numeric, p["invert"])
        if c.type == "boolean_attribute":
            key, value = p["key"], p["value"]
            return self.any_bit(
                lambda t: _false_if_null(pc.equal(_lookup(t, key, "bool"), value)), p["invert"]
            )
        if c.type == "span_count":
            lo, hi = p["min"], p["max"]
            return lambda count, duration, mask: count >= lo and (hi is None or count <= hi)
        if c.type in ("and", "drop"):
            checks = [self.condition(sub) for sub in p["conditions"]]
            return lambda count, duration, mask: all(f(count, duration, mask) for f in checks)
        raise ValueError(f"condition type {c.type!r}: not compilable (a bug: config accepted it)")

    def _latency(self, params: Mapping[str, Any]) -> TraceCheck:
        lo: int | None = params.get("threshold")
        hi: int | None = params.get("upper_threshold")
        ops: dict[str, int] = params.get("operations") or {}
        op_bit = 0
        if ops:

            def slow_operation(t: pa.Table) -> pa.Array:
                hit = None
                for name, limit in ops.items():
                    one = pc.and_(
                        pc.equal(t["name"], name), pc.greater_equal(t["duration_ns"], limit)
                    )
                    hit = one if hit is None else pc.or_(hit, one)
                return _false_if_null(hit)

            op_bit = self.bit(slow_operation)

        def check(count: int, duration: int, mask: int) -> bool:
            if mask & op_bit:
                return True
            if lo is None:
                return False
            return duration >= lo and (hi is None or duration <= hi)

        return check


class Policies:
    """Ordered, compiled policies (see the module docstring)."""

    def __init__(self, configs: tuple[PolicyConfig, ...]) -> None:
        compiler = _Compiler()
        self.policies: list[Policy] = []
        for config in configs:
            self._add(compiler, config, config.name)
        self.predicates = compiler.predicates

    def _add(self, compiler: _Compiler, config: PolicyConfig, name: str) -> None:
        c = config.condition
        if c.type == "composite":
            total = float(c.params["max_total_spans_per_second"])
            for sub in c.params["policies"]:
                share = sub.spans_per_second or 0.0  # the config put the share here
                scaled = PolicyConfig(sub.name, sub.condition, sub.rate, total * share / 100)
                self._add(compiler, scaled, f"{name}/{sub.name}")
            return
        th = rate_to_threshold(config.rate)
        weight = adjusted_count(th)
        self.policies.append(
            Policy(
                name=name,
                check=compiler.condition(c),
                threshold=th,
                weight=weight,
                spans_per_second=config.spans_per_second,
                drop=c.type == "drop",
            )
        )

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.policies]

    def span_bits(self, table: pa.Table) -> list[pa.Array]:
        """One boolean column per span predicate (fold per trace with ``any``)."""
        return [predicate(table) for predicate in self.predicates]

    @staticmethod
    def fold_masks(per_trace_bits: list[pa.Array]) -> list[int] | None:
        """Per trace, the mask with bit i set when predicate i held for any of its spans."""
        if not per_trace_bits:
            return None
        mask = None
        for i, bits in enumerate(per_trace_bits):
            bit = pc.multiply(pc.cast(bits, pa.uint64()), pa.scalar(1 << i, pa.uint64()))
            mask = bit if mask is None else pc.bit_wise_or(mask, bit)
        return mask.to_pylist()  # type: ignore[union-attr]

    def first_match(self, count: int, duration: int, mask: int) -> Policy | None:
        for policy in self.policies:
            if policy.check(count, duration, mask):
                return policy
        return None

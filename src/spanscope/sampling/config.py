"""The server's TOML configuration file: tail sampling, retention and redaction, validated
at start.

``spanscope serve --config spanscope.toml`` (or ``SPANSCOPE_CONFIG``) reads these tables;
all are optional, and without ``[tail_sampling]`` every span is kept, as before::

    redaction_defaults = true        # top-level; false turns the built-in redaction off

    [[redaction]]                    # ingest/redaction.py: key or value -> drop/mask/hash
    key = "user.email"
    action = "hash"

    [tail_sampling]
    decision_wait = "5s"             # decide a trace this long after its last span ...
    decision_wait_after_root = "1s"  # ... or this long after its root span arrived
    max_decision_wait = "60s"        # never buffer a trace longer than this
    max_traces = 50000               # buffer bound: when full, the oldest are decided early
    max_spans = 1000000
    decision_cache_size = 200000     # decided trace ids remembered for late spans

    [[tail_sampling.policies]]       # ordered: the first policy that matches decides
    name = "errors"
    type = "status_code"
    status_codes = ["ERROR"]

    [[tail_sampling.policies]]
    name = "normal"
    type = "probabilistic"
    rate = 0.05

    [retention]
    error = "30d"
    slow = "14d"
    normal = "7d"
    slow_threshold = "1s"
    interval = "1h"

Every mistake is reported as ``ConfigError`` naming the key path, the value and what fits
(``tail_sampling.policies[2].rate = 5: expected a number in [0, 1], e.g. 0.05``).
docs/sampling.md lists every policy type and its keys.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spanscope.ingest.redaction import DEFAULT_RULES, RedactionRule, parse_redaction
from spanscope.units import UNITS, parse_duration

_SPACE_BEFORE_UNIT = re.compile(r"(\d)\s+(?=[a-zµ])")

STATUS_CODES = {"UNSET": 0, "OK": 1, "ERROR": 2}

# Condition types and the keys each takes (besides "type"); required keys first.
CONDITION_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "always_sample": ((), ()),
    "probabilistic": ((), ()),
    "rate_limiting": ((), ()),
    "status_code": (("status_codes",), ()),
    "latency": ((), ("threshold", "upper_threshold", "operations")),
    "string_attribute": (("key", "values"), ("invert",)),
    "numeric_attribute": (("key",), ("min", "max", "invert")),
    "boolean_attribute": (("key", "value"), ("invert",)),
    "span_count": (("min",), ("max",)),
    "and": (("conditions",), ()),
    "drop": (("conditions",), ()),
    "composite": (("max_total_spans_per_second", "policies"), ()),
}
POLICY_KEYS = ("name", "type", "rate", "spans_per_second", "share")


class ConfigError(ValueError):
    """A configuration file value is wrong; the message names the key and the fix."""


def parse_duration_ns(value: Any, where: str) -> int:
    """``"250ms"``, ``"5s"``, ``"30d"``, ``"1h30m"`` (or a number of seconds) -> nanoseconds,
    through the query API's one duration parser (``"5 s"`` with a space is read as ``5s``)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 2**63 / 1e9:
        return int(value * 1_000_000_000)
    if isinstance(value, str):
        try:
            return parse_duration(_SPACE_BEFORE_UNIT.sub(r"\1", value))
        except ValueError:
            pass
    raise ConfigError(f'{where} = {value!r}: expected a duration such as "250ms", "5s", "14d"')


def _rate(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ConfigError(f"{where} = {value!r}: expected a number in [0, 1], e.g. 0.05 for 5 %")
    return float(value)


def _positive(value: Any, where: str, kind: type = float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{where} = {value!r}: expected a positive {kind.__name__}")
    if kind is int and not isinstance(value, int):
        raise ConfigError(f"{where} = {value!r}: expected a whole number")
    return value


@dataclass(frozen=True)
class Condition:
    """One validated condition: its type and its keys, durations already in ns."""

    type: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PolicyConfig:
    """A named, ordered policy: if ``condition`` holds, keep the trace with probability
    ``rate`` (consistently, by trace id) within ``spans_per_second`` if set; a ``drop``
    policy drops it instead."""

    name: str
    condition: Condition
    rate: float = 1.0
    spans_per_second: float | None = None


@dataclass(frozen=True)
class TailSamplingConfig:
    policies: tuple[PolicyConfig, ...]
    decision_wait_ns: int = 5_000_000_000
    decision_wait_after_root_ns: int | None = None
    max_decision_wait_ns: int = 60_000_000_000
    max_traces: int = 50_000
    max_spans: int = 1_000_000
    decision_cache_size: int = 200_000


@dataclass(frozen=True)
class RetentionConfig:
    """Days each trace class is kept; a trace with an error span is ``error``, one whose
    duration reaches ``slow_threshold_ns`` is ``slow``, anything else ``normal``."""

    error_ns: int = 30 * UNITS["d"]
    slow_ns: int = 14 * UNITS["d"]
    normal_ns: int = 7 * UNITS["d"]
    slow_threshold_ns: int = 1_000_000_000
    interval_ns: int = 3_600_000_000_000


@dataclass(frozen=True)
class ServerConfig:
    tail_sampling: TailSamplingConfig | None = None
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    redaction: tuple[RedactionRule, ...] = DEFAULT_RULES
    """The user's ``[[redaction]]`` rules, then the built-in ones unless turned off."""


def _check_keys(raw: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; expected one of {list(allowed)}")


def parse_condition(raw: Any, where: str) -> Condition:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} = {raw!r}: expected a table with a 'type' key")
    kind = raw.get("type")
    if kind not in CONDITION_KEYS:
        raise ConfigError(f"{where}.type = {kind!r}: expected one of {sorted(CONDITION_KEYS)}")
    required, optional = CONDITION_KEYS[kind]
    extra = POLICY_KEYS if where.endswith("]") and ".conditions[" not in where else ()
    _check_keys(raw, ("type", *required, *optional, *extra), where)
    for key in required:
        if key not in raw:
            raise ConfigError(f"{where}: type {kind!r} needs key {key!r} (see docs/sampling.md)")
    p: dict[str, Any] = {}
    if kind == "status_code":
        codes = raw["status_codes"]
        if not isinstance(codes, list) or not all(c in STATUS_CODES for c in codes) or not codes:
            raise ConfigError(
                f"{where}.status_codes = {codes!r}: expected a list of ERROR, OK, UNSET"
            )
        p["status_codes"] = [STATUS_CODES[c] for c in codes]
    elif kind == "latency":
        if "threshold" not in raw and "operations" not in raw:
            raise ConfigError(f"{where}: type 'latency' needs 'threshold' or 'operations'")
        if "threshold" in raw:
            p["threshold"] = parse_duration_ns(raw["threshold"], f"{where}.threshold")
        if "upper_threshold" in raw:
            p["upper_threshold"] = parse_duration_ns(
                raw["upper_threshold"], f"{where}.upper_threshold"
            )
        ops = raw.get("operations", {})
        if not isinstance(ops, Mapping):
            raise ConfigError(f'{where}.operations = {ops!r}: expected {{"GET /x" = "300ms"}}')
        p["operations"] = {
            str(k): parse_duration_ns(v, f"{where}.operations.{k!r}") for k, v in ops.items()
        }
    elif kind == "string_attribute":
        values = raw["values"]
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(v, str) for v in values)
        ):
            raise ConfigError(f"{where}.values = {values!r}: expected a list of strings (globs)")
        p["values"] = list(values)
    elif kind == "numeric_attribute":
        for key in ("min", "max"):
            v = raw.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)):
                raise ConfigError(f"{where}.{key} = {v!r}: expected a number")
            p[key] = v
        if p["min"] is None and p["max"] is None:
            raise ConfigError(f"{where}: type 'numeric_attribute' needs 'min' or 'max'")
    elif kind == "boolean_attribute":
        if not isinstance(raw["value"], bool):
            raise ConfigError(f"{where}.value = {raw['value']!r}: expected true or false")
        p["value"] = raw["value"]
    elif kind == "span_count":
        p["min"] = int(_positive(raw["min"], f"{where}.min", int))
        p["max"] = int(_positive(raw["max"], f"{where}.max", int)) if "max" in raw else None
    elif kind in ("and", "drop"):
        subs = raw["conditions"]
        if not isinstance(subs, list) or not subs:
            raise ConfigError(f"{where}.conditions: expected a non-empty list of conditions")
        p["conditions"] = [
            parse_condition(s, f"{where}.conditions[{i}]") for i, s in enumerate(subs)
        ]
    elif kind == "composite":
        p["max_total_spans_per_second"] = _positive(
            raw["max_total_spans_per_second"], f"{where}.max_total_spans_per_second"
        )
        p["policies"] = _parse_policies(raw["policies"], f"{where}.policies", composite=True)
    if kind in ("string_attribute", "numeric_attribute", "boolean_attribute"):
        if not isinstance(raw["key"], str) or not raw["key"]:
            raise ConfigError(f"{where}.key = {raw['key']!r}: expected an attribute name")
        p["key"] = raw["key"]
        invert = raw.get("invert", False)
        if not isinstance(invert, bool):
            raise ConfigError(f"{where}.invert = {invert!r}: expected true or false")
        p["invert"] = invert
    return Condition(kind, p)


def _parse_policies(raw: Any, where: str, composite: bool = False) -> tuple[PolicyConfig, ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError(
            f"{where}: expected a non-empty list of policies ([[{where}]] tables in TOML)"
        )
    out: list[PolicyConfig] = []
    names: set[str] = set()
    for i, item in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{at} = {item!r}: expected a table with name and type")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{at}.name: missing; every policy needs a name (it is recorded)")
        if name in names:
            raise ConfigError(f"{at}.name = {name!r}: used twice; names must be unique")
        names.add(name)
        condition = parse_condition(item, at)
        rate = _rate(item.get("rate", 1.0), f"{at}.rate")
        sps = item.get("spans_per_second")
        if sps is not None:
            sps = float(_positive(sps, f"{at}.spans_per_second"))
        if composite:
            share = item.get("share")
            if share is None:
                raise ConfigError(f"{at}: a composite's policy needs 'share' (percent of the max)")
            share = float(_positive(share, f"{at}.share"))
            if share > 100:
                raise ConfigError(f"{at}.share = {share!r}: expected a percentage up to 100")
            sps = share  # scaled by the composite's max when compiled
        elif "share" in item:
            raise ConfigError(f"{at}.share: only policies inside a composite take a share")
        if condition.type == "rate_limiting" and sps is None:
            raise ConfigError(f"{at}: type 'rate_limiting' needs 'spans_per_second'")
        out.append(PolicyConfig(name, condition, rate, sps))
    return tuple(out)


def parse_tail_sampling(raw: Any, where: str = "tail_sampling") -> TailSamplingConfig:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a table")
    keys = ("decision_wait", "decision_wait_after_root", "max_decision_wait", "max_traces",
            "max_spans", "decision_cache_size", "policies")  # fmt: skip
    _check_keys(raw, keys, where)
    kwargs: dict[str, Any] = {}
    for key in ("decision_wait", "decision_wait_after_root", "max_decision_wait"):
        if key in raw:
            kwargs[key + "_ns"] = parse_duration_ns(raw[key], f"{where}.{key}")
    for key in ("max_traces", "max_spans", "decision_cache_size"):
        if key in raw:
            kwargs[key] = int(_positive(raw[key], f"{where}.{key}", int))
    if "policies" not in raw:
        raise ConfigError(f"{where}.policies: missing; add [[{where}.policies]] tables")
    kwargs["policies"] = _parse_policies(raw["policies"], f"{where}.policies")
    return TailSamplingConfig(**kwargs)


def parse_retention(raw: Any, where: str = "retention") -> RetentionConfig:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a table")
    keys = ("error", "slow", "normal", "slow_threshold", "interval")
    _check_keys(raw, keys, where)
    kwargs = {
        ("interval_ns" if k == "interval" else k + "_ns"): parse_duration_ns(v, f"{where}.{k}")
        for k, v in raw.items()
    }
    if kwargs.get("interval_ns", 1) <= 0:
        raise ConfigError(f"{where}.interval = {raw['interval']!r}: expected more than 0")
    return RetentionConfig(**kwargs)


def parse_config(raw: Mapping[str, Any], where: str = "config") -> ServerConfig:
    """A validated :class:`ServerConfig` from the parsed TOML document."""
    _check_keys(raw, ("tail_sampling", "retention", "redaction", "redaction_defaults"), where)
    tail = parse_tail_sampling(raw["tail_sampling"]) if "tail_sampling" in raw else None
    retention = parse_retention(raw["retention"]) if "retention" in raw else RetentionConfig()
    redaction = parse_redaction(
        raw.get("redaction"), raw.get("redaction_defaults", True), ConfigError
    )
    return ServerConfig(tail, retention, redaction)


def load_config(path: str | Path | None) -> ServerConfig:
    """Read and validate a config file; ``None`` gives the defaults (keep everything)."""
    if path is None:
        return ServerConfig()
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"config file {str(path)!r}: {e.strerror}; check --config") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {str(path)!r}: not valid TOML: {e}") from None
    try:
        return parse_config(raw)
    except ConfigError as e:
        raise ConfigError(f"config file {str(path)!r}: {e}") from None

"""Head-sampling rules per service, kept in the data dir and served to SDKs.

The rules are the ones :class:`spanscope.sdk.sampling.PrioritySampler` reads from a file
(``default_rate`` and an ordered ``rules`` list); here they are stored per service in
``<data-dir>/sampling-rules.json`` so they change without redeploying anything::

    spanscope sampling set checkout --default-rate 0.05 --rule 'name=POST /checkout*:0.5'
    spanscope sampling list

Service ``*`` holds the rules for every service that has none of its own. SDKs fetch
``GET /api/v1/sampling/rules?service=checkout`` (:mod:`spanscope.sdk.remote`); Jaeger
SDKs and agents fetch the same rules in Jaeger's shape from ``GET /api/sampling``.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from spanscope.sdk.sampling import PrioritySampler

RULES_FILE = "sampling-rules.json"
DEFAULT_SERVICE = "*"
KEEP_ALL: dict[str, Any] = {"default_rate": 1.0, "rules": []}


def validate(raw: Any, where: str) -> dict[str, Any]:
    """The rules as stored, after checking them exactly as the SDK will (ValueError)."""
    PrioritySampler.from_mapping(raw, where)
    return {
        "default_rate": float(raw.get("default_rate", 1.0)),
        "rules": list(raw.get("rules", [])),
    }


class RulesStore:
    """Rules per service in one JSON file, replaced atomically on every change."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / RULES_FILE
        self._lock = threading.Lock()

    def all(self) -> dict[str, dict[str, Any]]:
        try:
            data: dict[str, dict[str, Any]] = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        return data

    def get(self, service: str) -> tuple[str, dict[str, Any]]:
        """(the service whose rules apply, the rules): own, else ``*``, else keep all."""
        rules = self.all()
        if service in rules:
            return service, rules[service]
        if DEFAULT_SERVICE in rules:
            return DEFAULT_SERVICE, rules[DEFAULT_SERVICE]
        return DEFAULT_SERVICE, dict(KEEP_ALL)

    def set(self, service: str, raw: Any) -> dict[str, Any]:
        if not service:
            raise ValueError("service '': name a service, or '*' for every other service")
        rules = validate(raw, f"sampling rules for {service!r}")
        with self._lock:
            data = self.all()
            data[service] = rules
            self._write(data)
        return rules

    def delete(self, service: str) -> bool:
        with self._lock:
            data = self.all()
            found = data.pop(service, None) is not None
            if found:
                self._write(data)
        return found

    def _write(self, data: dict[str, Any]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
        os.replace(tmp, self.path)


def jaeger_strategy(rules: dict[str, Any]) -> dict[str, Any]:
    """The rules in Jaeger's remote sampling shape (``sampling.proto``'s
    SamplingStrategyResponse as JSON). Jaeger strategies can only name operations, so a
    rule with an exact ``name`` (no glob, no route or attributes) becomes a per-operation
    strategy; other rules have no Jaeger equivalent and are left out."""
    default = float(rules.get("default_rate", 1.0))
    per_op = [
        {"operation": r["name"], "probabilisticSampling": {"samplingRate": float(r["rate"])}}
        for r in rules.get("rules", [])
        if isinstance(r.get("name"), str)
        and not any(c in r["name"] for c in "*?[")
        and not r.get("route")
        and not r.get("attributes")
    ]
    response: dict[str, Any] = {
        "strategyType": "PROBABILISTIC",
        "probabilisticSampling": {"samplingRate": default},
    }
    if per_op:
        response["operationSampling"] = {
            "defaultSamplingProbability": default,
            "defaultLowerBoundTracesPerSecond": 0.0,
            "perOperationStrategies": per_op,
        }
    return response

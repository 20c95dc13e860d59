"""The lab's incidents: what each one breaks, and how every process learns it is on.

Six incidents, each a real fault in a real code path (no span is faked)::

    missing-index          orders loses idx_orders_ref: each of checkout's ~17 order lookups
                           scans ~50,000 rows
    slow-payment-provider  the external provider answers in 1.5-3 s instead of ~5 ms
    retry-storm            the provider fails 60 % of charges with 503; payments retries
    error-burst            shipping's carrier API fails 40 % of quotes; checkout answers 502
    cache-miss             inventory's catalog cache is bypassed: every page runs the query
    n-plus-one             orders fetches each line item from inventory one HTTP call at a time

The switchboard is one small JSON file, ``<lab-dir>/incidents.json``
(``{"active": ["missing-index"]}``), written atomically by the supervisor when the CLI or the
control endpoint asks. Each service re-reads it when its modification time changes (a
``stat`` per request, at most every 200 ms), so no process needs a control channel of its
own and an incident takes effect everywhere within a fraction of a second::

    spanscope demo incident missing-index --on
    curl -X POST -H "Authorization: Bearer $TOKEN" \\
         localhost:18090/incidents/missing-index              # the same, over HTTP
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

STATE_FILE = "incidents.json"


@dataclass(frozen=True, slots=True)
class Incident:
    name: str
    summary: str
    service: str
    """The service whose code path the incident breaks."""
    route: str
    """The gateway operation whose latency or errors show it first (what the tour measures)."""
    look_for: str
    """What a user should look for in the slow trace."""
    errors: bool = False
    """The incident shows as errors: the tour opens the slowest failed trace."""


INCIDENTS: dict[str, Incident] = {
    i.name: i
    for i in (
        Incident(
            "missing-index",
            "orders' lookup by order reference loses its index: each of checkout's ~17"
            " lookups scans ~50,000 rows",
            "orders",
            "POST /orders",
            "one SELECT statement in orders dominates, ~17 times per checkout: a full table"
            " scan where an index lookup was",
        ),
        Incident(
            "slow-payment-provider",
            "the external payment provider's latency jumps from ~5 ms to 1.5-3 s",
            "payment-provider",
            "POST /orders",
            "payments' call to the provider takes almost the whole checkout",
        ),
        Incident(
            "retry-storm",
            "the payment provider fails 60 % of charges with 503 and payments retries",
            "payments",
            "POST /orders",
            "several POST calls from payments to the provider in one trace, most of them errors",
        ),
        Incident(
            "error-burst",
            "shipping's carrier quotes fail 40 % of the time; checkout answers 502",
            "shipping",
            "POST /orders",
            "error spans in shipping propagate up to the gateway's POST /orders",
            errors=True,
        ),
        Incident(
            "cache-miss",
            "inventory's catalog cache is bypassed: every page runs the catalog query",
            "inventory",
            "GET /products",
            "a SELECT under inventory in every browse trace, where a cache hit was",
        ),
        Incident(
            "n-plus-one",
            "orders fetches each line item from inventory with its own HTTP call",
            "orders",
            "GET /orders/{order_ref}",
            "a row of identical GET calls from orders to inventory, one per line item",
        ),
    )
}


def check_name(name: str) -> str:
    """Return ``name`` if it is an incident, else fail with the list to choose from."""
    if name not in INCIDENTS:
        raise ValueError(f"unknown incident {name!r}: choose one of {', '.join(INCIDENTS)}")
    return name


def write_active(lab_dir: Path, active: set[str]) -> None:
    """Replace the switchboard atomically, so a reader never sees half a file."""
    for name in active:
        check_name(name)
    tmp = lab_dir / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps({"active": sorted(active)}))
    os.replace(tmp, lab_dir / STATE_FILE)


def read_active(lab_dir: Path) -> set[str]:
    try:
        data = json.loads((lab_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return set()
    return {n for n in data.get("active", []) if n in INCIDENTS}


class IncidentSwitch:
    """What one service process asks on every request: ``switch.on("missing-index")``.

    Reads the switchboard again only when its mtime changed, and stats it at most every
    ``recheck_s``: a request pays a clock read, not a file read.
    """

    def __init__(self, lab_dir: Path, recheck_s: float = 0.2) -> None:
        self._path = lab_dir / STATE_FILE
        self._lab_dir = lab_dir
        self._recheck_s = recheck_s
        self._lock = threading.Lock()
        self._checked = 0.0
        self._mtime = -1
        self._active: frozenset[str] = frozenset()

    def active(self) -> frozenset[str]:
        now = time.monotonic()
        if now - self._checked >= self._recheck_s:
            with self._lock:
                self._checked = now
                try:
                    mtime = self._path.stat().st_mtime_ns
                except OSError:
                    mtime = 0
                if mtime != self._mtime:
                    self._mtime = mtime
                    self._active = frozenset(read_active(self._lab_dir))
        return self._active

    def on(self, name: str) -> bool:
        return name in self.active()

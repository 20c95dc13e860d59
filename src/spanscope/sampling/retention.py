"""Retention by trace class: error traces 30 days, slow 14, normal 7 (configurable).

A trace's class comes from the store's per-trace index: **error** if any span has status
ERROR, **slow** if it lasted at least ``slow_threshold`` (first start to last end), else
**normal**. ``spanscope serve`` runs :class:`RetentionJob` every ``interval`` (1 h); it
deletes traces whose last span ended longer ago than their class keeps them.
``spanscope retention --dry-run`` asks the running server what would go
(``GET /api/v1/retention?dry_run=true``) without deleting anything.

The clock is injectable (``now_ns``) so tests move time instead of waiting for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from spanscope.sampling.config import RetentionConfig
from spanscope.store.base import SamplingRecords

log = logging.getLogger(__name__)


def run_retention(
    store: SamplingRecords, config: RetentionConfig, now_ns: int, dry_run: bool = False
) -> dict[str, Any]:
    """Apply (or with ``dry_run`` only report) retention once; returns the report as JSON."""
    retention = {"error": config.error_ns, "slow": config.slow_ns, "normal": config.normal_ns}
    reports = store.expire(now_ns, retention, config.slow_threshold_ns, dry_run)
    return {
        "dry_run": dry_run,
        "now_ns": now_ns,
        "slow_threshold_ns": config.slow_threshold_ns,
        "classes": [
            {
                "class": r.trace_class,
                "retention_days": r.retention_ns / 86_400e9,
                "traces": r.traces,
                "spans": r.spans,
                "oldest_end_ns": r.oldest_end_ns,
            }
            for r in reports
        ],
    }


class RetentionJob:
    """A daemon thread applying retention every ``config.interval_ns`` (first run at start)."""

    def __init__(
        self,
        store: SamplingRecords,
        config: RetentionConfig,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.store = store
        self.config = config
        self.clock_ns = clock_ns
        self.last_report: dict[str, Any] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> dict[str, Any]:
        report = run_retention(self.store, self.config, self.clock_ns())
        self.last_report = report
        gone = [c for c in report["classes"] if c["traces"]]
        if gone:
            log.info(
                "retention deleted %s",
                ", ".join(f"{c['traces']} {c['class']} traces ({c['spans']} spans)" for c in gone),
            )
        return report

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="retention", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while True:
            try:
                self.run_once()
            except Exception:
                log.exception("retention run failed (will try again next interval)")
            if self._stop.wait(self.config.interval_ns / 1e9):
                return

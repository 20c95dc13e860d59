"""Counters and latency histograms of the ingest path, read by ``GET /metrics``.

The pipeline owns one :class:`PipelineStats`; receivers add the spans they refused, the
store writer what it stored, failed and quarantined, and :class:`TimedFsync` (passed to
``WriteAheadLog(fsync=...)``) times every WAL fsync. Increments are plain ``+=`` on ints
from the few threads that own each counter: a reader may see a value one update old,
never a torn one (the GIL makes the single store atomic).

:mod:`spanscope.sampling.metrics` renders them in the Prometheus text format.
"""

from __future__ import annotations

import bisect
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds (seconds) of the store-write and fsync histograms; one more bucket is +Inf."""


class Histogram:
    """A Prometheus-style histogram: per-bucket counts (not cumulative), sum and count."""

    def __init__(self, bounds: tuple[float, ...] = LATENCY_BUCKETS_S) -> None:
        self.bounds = bounds
        self.buckets = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.count = 0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        with self._lock:
            self.buckets[bisect.bisect_left(self.bounds, value)] += 1
            self.sum += value
            self.count += 1


@dataclass
class PipelineStats:
    stored_spans: int = 0
    """Spans (and log records and metric points) the store newly took."""
    store_write_failures: int = 0
    """Store writes that raised (each retry counts)."""
    quarantined_spans: int = 0
    """Spans the store refused and that were moved to ``<data-dir>/quarantine/``."""
    rejected_spans: int = 0
    """Spans the receivers refused at decode time (``partial_success.rejected_spans``)."""
    store_write_seconds: Histogram = field(default_factory=Histogram)
    wal_fsync_seconds: Histogram | None = None
    """Set when the WAL's fsync is a :class:`TimedFsync` (``spanscope serve`` does)."""


class TimedFsync:
    """``os.fsync`` that records how long each call took (for ``WriteAheadLog(fsync=)``)."""

    def __init__(self, fsync: Callable[[int], None] = os.fsync) -> None:
        self._fsync = fsync
        self.seconds = Histogram()

    def __call__(self, fd: int) -> None:
        start = time.perf_counter()
        try:
            self._fsync(fd)
        finally:
            self.seconds.observe(time.perf_counter() - start)

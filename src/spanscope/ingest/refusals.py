"""Why a request was not accepted, said the same way over HTTP and gRPC.

A receiver that could not make a request durable must not answer OK; it answers with a
status the OpenTelemetry exporters retry on, a ``Retry-After`` / ``google.rpc.RetryInfo``
hint, and a sentence saying what happened. :func:`refusal` is the one mapping both
receivers use:

================================  ====  ==================  ===========  ===================
exception                         HTTP  gRPC                retry after  meaning
================================  ====  ==================  ===========  ===================
``OverloadedError``               429   RESOURCE_EXHAUSTED  its own      the store lags
``WalClosedError``                503   UNAVAILABLE         1 s          server stopping
``WalFullError`` (ENOSPC/EDQUOT)  503   UNAVAILABLE         10 s         disk full
``WalWriteError``, other OSError  503   UNAVAILABLE         5 s          disk error
``BrokenProcessPool``             503   UNAVAILABLE         5 s          decode workers died
``TenantError`` with status 503   503   UNAVAILABLE         5 s          tenants stopping
================================  ====  ==================  ===========  ===================

Nothing from a refused request was stored, so the client's retry is what keeps the spans.
HTTP sends the hint as ``Retry-After`` and ``rpc_code`` in its ``google.rpc.Status`` body;
gRPC sends ``grpc_code`` with a ``google.rpc.RetryInfo``. Errors that retrying cannot fix
(a bad body, a bad tenant id, too many tenants) are not refusals: each receiver answers
those with its own 4xx / INVALID_ARGUMENT.

:class:`RefusalLog` says in the server log how many requests and spans the write-ahead log
refused, and why, at most once per ``interval_s`` while it lasts and once when writes
succeed again::

    refused 41 requests (20,992 spans) since 2026-12-03T10:02:11Z: the write-ahead log
    could not be written (No space left on device) in data/wal: ...
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import BrokenExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from spanscope.ingest.wal import WalClosedError, WalFullError, WalWriteError
from spanscope.tenancy import TenantError

log = logging.getLogger(__name__)

DISK_FULL_RETRY_S = 10
"""A full disk needs someone (retention, an operator) to free space: back off longer."""
DISK_ERROR_RETRY_S = 5
STOPPING_RETRY_S = 1
WORKERS_GONE_RETRY_S = 5
"""The server restarts its decode workers only when it restarts: a retry may find the
successor process."""
TENANTS_STOPPING_RETRY_S = 5
PROBLEM_STALE_S = 30.0
"""A disk error other than "full" stops counting against readiness after this long."""
MIN_FREE_BYTES = 1024 * 1024
"""Free space under which a disk that was full still counts as full."""

# google.rpc.Code numbers, as gRPC uses them.
RESOURCE_EXHAUSTED = 8
UNAVAILABLE = 14


@dataclass(frozen=True, slots=True)
class Refusal:
    """The answer to a request that was not accepted."""

    http_status: int
    grpc_code: str
    """The ``grpc.StatusCode`` member's name (this module does not import grpc)."""
    rpc_code: int
    """The same code as a ``google.rpc.Code`` number, for ``google.rpc.Status`` bodies."""
    retry_after_s: int
    message: str


DECODE_WORKERS_GONE = Refusal(
    503, "UNAVAILABLE", UNAVAILABLE, WORKERS_GONE_RETRY_S, "decode workers are unavailable; retry"
)
"""The answer while the decode pool is broken (``BrokenProcessPool``)."""


def refusal(exc: BaseException) -> Refusal | None:
    """The answer for an exception from ``IngestPipeline.accept``, the decode pool or the
    tenant registry; None if it is not a refusal (a bug, or a client error the receiver
    answers itself)."""
    from spanscope.ingest.pipeline import OverloadedError  # pipeline imports this module

    if isinstance(exc, OverloadedError):
        return Refusal(429, "RESOURCE_EXHAUSTED", RESOURCE_EXHAUSTED, exc.retry_after_s, str(exc))
    if isinstance(exc, WalClosedError):
        return Refusal(503, "UNAVAILABLE", UNAVAILABLE, STOPPING_RETRY_S, str(exc))
    if isinstance(exc, WalWriteError):
        retry = DISK_FULL_RETRY_S if isinstance(exc, WalFullError) else DISK_ERROR_RETRY_S
        verb = "written" if exc.action == "write" else "flushed to disk"
        message = (
            f"the write-ahead log could not be {verb} ({exc.strerror}) in {exc.directory}; "
            f"nothing from this request was stored; retry after {retry} s"
        )
        return Refusal(503, "UNAVAILABLE", UNAVAILABLE, retry, message)
    if isinstance(exc, BrokenExecutor):  # a decode worker process died
        return DECODE_WORKERS_GONE
    if isinstance(exc, TenantError) and exc.status == 503:
        return Refusal(503, "UNAVAILABLE", UNAVAILABLE, TENANTS_STOPPING_RETRY_S, exc.message)
    if isinstance(exc, OSError):
        message = (
            f"could not make the request durable ({exc}); nothing from this request was "
            f"stored; retry after {DISK_ERROR_RETRY_S} s"
        )
        return Refusal(503, "UNAVAILABLE", UNAVAILABLE, DISK_ERROR_RETRY_S, message)
    return None


class RefusalLog:
    """Counts requests the write-ahead log could not take (disk errors; not overload or
    shutdown, which clients see and retry as a matter of course) and logs them, rate
    limited. ``requests`` / ``spans`` are totals since start, for metrics."""

    def __init__(
        self,
        interval_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._logged_at: float | None = None
        self._since = ""
        self._open_requests = 0
        self._open_spans = 0
        self._reason = ""
        self._last_error: OSError | None = None
        self._last_at = 0.0
        self.requests = 0
        """Requests refused since start because the WAL could not be written."""
        self.spans = 0
        """Spans (log records, data points) in those requests."""

    def refused(self, span_count: int, exc: BaseException) -> None:
        """Note a refused request; log if the last line is ``interval_s`` old."""
        if not isinstance(exc, OSError):
            return
        with self._lock:
            if not self._open_requests:
                stamp = datetime.fromtimestamp(self._wall_clock(), UTC)
                self._since = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
            self._open_requests += 1
            self._open_spans += span_count
            self.requests += 1
            self.spans += span_count
            self._reason = str(exc)
            now = self._clock()
            self._last_error, self._last_at = exc, now
            if self._logged_at is not None and now - self._logged_at < self.interval_s:
                return
            self._logged_at = now
            requests, spans, since, reason = (
                self._open_requests,
                self._open_spans,
                self._since,
                self._reason,
            )
        log.error(
            "refused %d requests (%d spans) since %s, not stored: %s",
            requests,
            spans,
            since,
            reason,
        )

    def accepted(self) -> None:
        """Note a request made durable; ends (and logs) a run of refusals."""
        if not self._open_requests:  # the hot path: no lock
            return
        with self._lock:
            requests, spans, since, reason = (
                self._open_requests,
                self._open_spans,
                self._since,
                self._reason,
            )
            self._open_requests = self._open_spans = 0
            self._logged_at = None
            self._last_error = None
        if requests:
            log.warning(
                "the write-ahead log takes requests again; %d requests (%d spans) were "
                "refused since %s and not stored (last reason: %s)",
                requests,
                spans,
                since,
                reason,
            )

    def problem(self, directory: Path) -> str | None:
        """Why the WAL cannot take requests now (for readiness), or None.

        A run of refusals ends with the next request made durable, but a load balancer
        that trusts readiness may send none: so a full disk counts as fixed as soon as
        ``directory``'s filesystem has room for the refused record again, and another
        disk error once ``PROBLEM_STALE_S`` passed without a new refusal.
        """
        with self._lock:
            exc, at = self._last_error, self._last_at
        if exc is None:
            return None
        if isinstance(exc, WalFullError):
            try:
                stat = os.statvfs(directory)
            except OSError:
                return str(exc)
            free = stat.f_bavail * stat.f_frsize
            return str(exc) if free < max(exc.needed, MIN_FREE_BYTES) else None
        return str(exc) if self._clock() - at < PROBLEM_STALE_S else None

"""Per-request time limits for store reads, whatever the backend.

The query API runs each request inside :func:`deadline`; a backend registers the
connection a read is about to use with :func:`claim`, and when the deadline passes, every
connection claimed under it is interrupted (DuckDB: ``cursor.interrupt()``) and what
escapes the block is :class:`QueryTimeout`::

    with deadline(30.0):              # spanscope serve --query-timeout 30
        store.search(query)           # runs in a worker thread: the context is copied there

    # inside a backend, before each read on this thread's connection:
    claim(self._local, cursor)        # cursor has .interrupt()

The deadline travels in a ``contextvars.ContextVar``, so it follows the request into
FastAPI's thread pool (anyio copies the context) and never leaks to another request. One
watchdog thread serves every deadline (a timer thread per request would cost more than
many of the reads it guards).

Why claims are per thread-local ``holder``: a reading thread's connection serves request
after request. When a thread picks up a new request, its claim moves to that request's
deadline, so an old request that expires late can only interrupt a connection that is idle
(harmless in DuckDB: an idle connection ignores it), never the next request's query.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any, Protocol

log = logging.getLogger(__name__)


class QueryTimeout(Exception):
    """A read ran past its request's time limit and was cancelled."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the query ran past its {seconds:g} s time limit and was cancelled")
        self.seconds = seconds


class Interruptible(Protocol):
    def interrupt(self) -> None: ...


class Deadline:
    """One request's time limit and the connections reading for it."""

    __slots__ = ("seconds", "at", "expired", "done", "_lock", "_claimed")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self.done = False
        self._lock = threading.Lock()
        self._claimed: dict[int, Interruptible] = {}

    def _claim(self, connection: Interruptible) -> None:
        with self._lock:
            if self.expired:
                raise QueryTimeout(self.seconds)
            self._claimed[id(connection)] = connection

    def _release(self, connection: Interruptible) -> None:
        with self._lock:
            self._claimed.pop(id(connection), None)

    def expire(self) -> None:
        """Interrupt every connection reading for this request (the watchdog calls it)."""
        with self._lock:
            if self.done or self.expired:
                return
            self.expired = True
            for connection in self._claimed.values():
                try:
                    connection.interrupt()
                except Exception:  # a closed connection: nothing left to stop
                    log.debug("interrupt failed", exc_info=True)


_current: ContextVar[Deadline | None] = ContextVar("spanscope_deadline", default=None)


class _Watchdog:
    """One daemon thread that expires deadlines in time order."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, d: Deadline) -> None:
        with self._wake:
            # Requests mostly finish in the order they came: drop the finished ones here, so
            # the heap holds the requests in flight, not every one of the last 30 s.
            while self._heap and self._heap[0][2].done:
                heapq.heappop(self._heap)
            heapq.heappush(self._heap, (d.at, next(self._order), d))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="spanscope-deadlines", daemon=True
                )
                self._thread.start()
            if self._heap[0][2] is d:
                self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)  # finished in time: drop it
                if not self._heap:
                    self._wake.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._wake.wait(wait)
                    continue
                _, _, due = heapq.heappop(self._heap)
            due.expire()


_watchdog = _Watchdog()


@contextlib.contextmanager
def deadline(seconds: float | None) -> Iterator[Deadline | None]:
    """Reads claimed inside this block are interrupted ``seconds`` from now; an error that
    escapes the block after that is raised as :class:`QueryTimeout`. None or 0: no limit."""
    if not seconds or seconds <= 0:
        yield None
        return
    d = Deadline(seconds)
    token = _current.set(d)
    _watchdog.add(d)
    try:
        yield d
    except QueryTimeout:
        raise
    except Exception as exc:
        if d.expired:
            raise QueryTimeout(seconds) from exc
        raise
    finally:
        with d._lock:
            d.done = True
        _current.reset(token)


def current() -> Deadline | None:
    """The deadline of the request this code runs for, if any."""
    return _current.get()


def claim(holder: Any, connection: Interruptible) -> None:
    """Put ``connection`` (the calling thread's, kept in thread-local ``holder``) under the
    current request's deadline before a read; raise :class:`QueryTimeout` if it passed."""
    now = _current.get()
    before: Deadline | None = getattr(holder, "deadline", None)
    if before is not now:
        if before is not None:
            before._release(connection)
        holder.deadline = now
        if now is not None:
            now._claim(connection)
    elif now is not None and now.expired:
        raise QueryTimeout(now.seconds)

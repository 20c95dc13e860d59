"""A small cache of recently read traces, so one trace page costs one store read.

Opening a trace in the web UI asks the API for the trace, its critical path and often its
breakdown: two to four requests for the same trace within a second. Each used to read the
trace from the store, adjust its clock skew and render it again (~0.5 s apiece for 10,000
spans). The cache keeps the last few traces read — as stored, as adjusted, and the native
JSON — and serves the next request for one of them from memory::

    cache = TraceCache(max_spans=200_000)
    entry = cache.entry(store, trace_id)        # None: no such trace
    entry.trace(raw=False)                      # clock-skew adjusted, computed once
    entry.native_json(raw=False)                # the /api/v1/traces/{id} body, bytes

It is never stale: every request first reads the trace's *stamp* from the store's per-trace
index (:meth:`~spanscope.store.base.TraceReader.trace_stamp`: write batches, first start,
last end — about a millisecond on DuckDB), and an entry is reused only while the stamp is
unchanged (on a miss, ``trace_read`` reads the trace within the stamp's time range). A span
arriving late for a cached trace changes the stamp, and the next request reads the trace
again. ``SPANSCOPE_TRACE_CACHE_SPANS`` bounds the spans kept (default 50,000, ~120 MB; 0
turns the cache off: every request reads the store).

Concurrent requests for one trace (the UI fetches the trace and its critical path in
parallel) wait for the first read instead of repeating it. Cached objects are shared
between requests: callers must treat them as read-only.

Building 10,000 spans allocates ~100,000 Python objects, enough to trigger several full
garbage collections of the server's heap (3-4× the build time; measured): reads and renders
run with the collector paused (:func:`gc_paused`), since they create no reference cycles.
"""

from __future__ import annotations

import gc
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson

from spanscope.analysis.skew import adjust_clock_skew
from spanscope.api.serialize import trace_to_native
from spanscope.model.spans import Trace
from spanscope.store.base import TraceReader, TraceStamp

DEFAULT_MAX_SPANS = 50_000
"""Spans kept across all cached traces: ~2.4 KB each with the adjusted copy and the JSON
(a 10,000-span trace is ~24 MB; measured with tracemalloc), so at most ~120 MB."""
ENV_MAX_SPANS = "SPANSCOPE_TRACE_CACHE_SPANS"

_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_state: dict[str, bool] = {"was_enabled": True}


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many acyclic objects.

    Reference-counted across threads: the collector resumes when the last pauser leaves, and
    only if it was enabled when the first one came (a plain disable/enable pair in two
    threads could leave it off for good)."""
    global _gc_pausers
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_state["was_enabled"] = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_state["was_enabled"]:
                gc.enable()


class CachedTrace:
    """One trace as stored, plus what requests derived from it (computed once, on demand)."""

    __slots__ = ("stamp", "stored", "_derived", "_lock")

    def __init__(self, stamp: object, stored: Trace) -> None:
        self.stamp = stamp
        self.stored = stored
        self._derived: dict[tuple[str, bool], Any] = {}
        # Reentrant: the JSON of the adjusted trace asks for the adjusted trace inside.
        self._lock = threading.RLock()

    def _get(self, key: tuple[str, bool], make: Callable[[], Any]) -> Any:
        with self._lock:  # one computation per entry at a time; others wait for it
            if key not in self._derived:
                with gc_paused():
                    self._derived[key] = make()
            return self._derived[key]

    def trace(self, raw: bool = False) -> Trace:
        """The trace as stored (``raw``) or with clock skew adjusted."""
        if raw:
            return self.stored
        return self._get(("trace", False), lambda: adjust_clock_skew(self.stored))  # type: ignore[no-any-return]

    def native_json(self, raw: bool = False) -> bytes:
        """The native API's JSON of the trace (``/api/v1/traces/{id}``)."""
        return self._get(  # type: ignore[no-any-return]
            ("native", raw),
            lambda: orjson.dumps(trace_to_native(self.trace(raw)), option=orjson.OPT_NON_STR_KEYS),
        )

    def derived(self, name: str, raw: bool, make: Callable[[Trace], Any]) -> Any:
        """Any other result computed from the (adjusted unless ``raw``) trace, cached by name."""
        trace = self.trace(raw)
        return self._get((name, raw), lambda: make(trace))


class TraceCache:
    """LRU of recently read traces, bounded by their total span count."""

    def __init__(self, max_spans: int = DEFAULT_MAX_SPANS) -> None:
        if max_spans < 0:
            raise ValueError(f"max_spans {max_spans}: expected 0 (no cache) or more")
        self.max_spans = max_spans
        self._entries: OrderedDict[tuple[str, bytes], CachedTrace] = OrderedDict()
        self._spans = 0
        self._lock = threading.Lock()
        self._loading: dict[tuple[str, bytes], threading.Lock] = {}

    def entry(self, store: TraceReader, trace_id: bytes, tenant: str = "") -> CachedTrace | None:
        """The trace from the cache while its stamp is current, else read from ``store``.
        Entries are keyed by ``tenant`` and trace id: two tenants' stores may hold the same
        trace id with the same stamp (same batches, same times), and must not share it."""
        if self.max_spans == 0:
            return self._read(store, trace_id, None)
        stamp = store.trace_stamp(trace_id)
        if stamp is None:
            return None
        key = (tenant, trace_id)
        found = self._lookup(key, stamp)
        if found is not None:
            return found
        with self._lock:
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            found = self._lookup(key, stamp)
            if found is None:
                found = self._read(store, trace_id, stamp)
                if found is not None:
                    self._put(key, found)
        with self._lock:
            self._loading.pop(key, None)
        return found

    def entries(
        self, store: TraceReader, trace_ids: Sequence[bytes], tenant: str = ""
    ) -> dict[bytes, CachedTrace]:
        """:meth:`entry` for many traces: ONE stamp look-up and one read of those not
        cached (or grown since), instead of two queries per trace — what a TraceQL search
        over 20 candidates costs. Unknown traces are left out. (Two searches missing on
        the same trace at once may both read it; only :meth:`entry` waits for the other.)"""
        stamps = store.trace_stamps(trace_ids)
        found: dict[bytes, CachedTrace] = {}
        missing: dict[bytes, TraceStamp] = {}
        for trace_id, stamp in stamps.items():
            hit = self._lookup((tenant, trace_id), stamp) if self.max_spans else None
            if hit is None:
                missing[trace_id] = stamp
            else:
                found[trace_id] = hit
        if missing:
            with gc_paused():
                read = store.traces_read(missing)
            for trace_id, stored in read.items():
                entry = CachedTrace(missing[trace_id], stored)
                if self.max_spans:
                    self._put((tenant, trace_id), entry)
                found[trace_id] = entry
        return {t: found[t] for t in trace_ids if t in found}

    def _lookup(self, key: tuple[str, bytes], stamp: object) -> CachedTrace | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None or found.stamp != stamp:
                return None
            self._entries.move_to_end(key)
            return found

    @staticmethod
    def _read(store: TraceReader, trace_id: bytes, stamp: TraceStamp | None) -> CachedTrace | None:
        # trace_read: the store's read for a stamp in hand (no second index look-up).
        with gc_paused():
            if stamp is not None:
                stored = store.trace_read(trace_id, stamp)
            else:
                stored = store.trace(trace_id)
        return None if stored is None else CachedTrace(stamp, stored)

    def _put(self, key: tuple[str, bytes], entry: CachedTrace) -> None:
        size = len(entry.stored.spans)
        if size > self.max_spans:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._spans -= len(old.stored.spans)
            self._entries[key] = entry
            self._spans += size
            while self._spans > self.max_spans:
                _, evicted = self._entries.popitem(last=False)
                self._spans -= len(evicted.stored.spans)


_cache_lock = threading.Lock()


def max_spans_from_env() -> int:
    """``SPANSCOPE_TRACE_CACHE_SPANS`` (spans kept; 0 turns the cache off), else the default."""
    text = os.environ.get(ENV_MAX_SPANS, "").strip()
    if not text:
        return DEFAULT_MAX_SPANS
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(
            f"{ENV_MAX_SPANS}={text!r}: expected a whole number of spans, 0 to turn the cache "
            f"off (default {DEFAULT_MAX_SPANS})"
        )
    return value


def app_trace_cache(state: Any) -> TraceCache:
    """The app's cache (``app.state.trace_cache``), made on first use."""
    cache = getattr(state, "trace_cache", None)
    if cache is None:
        with _cache_lock:
            cache = getattr(state, "trace_cache", None)
            if cache is None:
                cache = state.trace_cache = TraceCache(max_spans_from_env())
    return cache  # type: ignore[no-any-return]

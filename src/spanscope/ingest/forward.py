"""Trace-affine collectors: forward each span to the collector that owns its trace id.

``spanscope serve --peers a:4318,b:4318,c:4318 --peer-self a:4318 --export-to
http://store:4318`` runs one of N collectors (docs/scaling.md). Each span the collector
accepts is first made durable in its own WAL and acknowledged; the store writer thread then
splits every batch by owner (:class:`spanscope.ingest.ring.Ring`): its own traces go to its
tail sampler, the others to a bounded per-peer queue that a sender thread posts as OTLP
protobuf (:mod:`spanscope.ingest.forward_wire`, marker ``peer``) to the owner.

- **Nothing acknowledged is lost.** The WAL checkpoint never passes a record whose spans a
  peer has not acknowledged (:meth:`Forwarder.safe_position`); while a peer is down its
  spans wait in this collector's WAL and a restart replays and forwards them again (the
  store de-duplicates spans by trace and span id).
- **Bounded.** At most ``queue_spans`` spans wait for peers; beyond that receivers answer
  429 with ``Retry-After`` (the pipeline's ``OverloadedError``, ``ingest/refusals.py``).
  Each post has a timeout; failures are retried with exponential backoff up to
  ``max_backoff_s`` (and a peer's ``Retry-After``), for as long as the peer is down.
- **No loops.** A forwarded request is sampled where it lands, never forwarded again.
- A peer that refuses a batch as bad data (400) gets it no more: the spans go to
  ``<data-dir>/quarantine/`` with the reason, and are counted.

:class:`ExportStore` is the store of such a collector: the traces its tail sampler keeps
are posted to the storage node (marker ``decided``, with the decisions) and the WAL
checkpoint is recorded only after the storage node acknowledged them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pyarrow.compute as pc

from spanscope.batch import SpanTable
from spanscope.ingest.forward_wire import (
    DECIDED,
    HEADER,
    PEER,
    decisions_of,
    encode_table,
)
from spanscope.ingest.ring import Ring
from spanscope.store.base import StoreRefusedError, StoreUnavailableError

log = logging.getLogger(__name__)

BATCH_SPANS = 2_000
"""Spans per forwarded request (a few hundred KB of protobuf)."""
RETRYABLE = frozenset({401, 403, 408, 429, 500, 502, 503, 504})
"""Answers that a later try may change (auth is a configuration being fixed)."""


@dataclass(slots=True)
class _Entry:
    position: int
    spans: SpanTable
    body: bytes | None = None


class _Peer:
    """One peer's queue, sender thread and counters."""

    def __init__(self, name: str, forwarder: Forwarder) -> None:
        self.name = name
        self.url = f"{forwarder.scheme}://{name}/v1/traces"
        self.queue: deque[_Entry] = deque()
        self.forwarded_spans = 0
        self.failures = 0
        self.refused_spans = 0
        self.last_error: str | None = None
        self._f = forwarder
        self.thread = threading.Thread(target=self._run, name=f"forward-{name}", daemon=True)

    @property
    def queued_spans(self) -> int:
        return sum(len(e.spans) for e in list(self.queue))

    def _run(self) -> None:
        f = self._f
        backoff = f.min_backoff_s
        with httpx.Client(timeout=f.timeout_s) as client:
            while True:
                with f.cond:
                    while not self.queue and not f.stopping:
                        f.cond.wait(1.0)
                    if not self.queue or f.stopped:
                        return
                    entry = self.queue[0]
                wait = self._send(client, entry)
                if wait is None:
                    with f.cond:
                        self.queue.popleft()
                        f.acked(entry)
                    backoff = f.min_backoff_s
                    continue
                delay = min(max(backoff, wait), f.max_backoff_s)
                backoff = min(backoff * 2, f.max_backoff_s)
                if f.stop_event.wait(delay) and f.stopped:
                    return

    def _send(self, client: httpx.Client, entry: _Entry) -> float | None:
        """Post ``entry``; None when it is done with (acknowledged or set aside), else the
        seconds to wait before the next try."""
        f = self._f
        if entry.body is None:
            entry.body = encode_table(entry.spans)
        headers = {"content-type": "application/x-protobuf", HEADER: PEER, **f.headers}
        try:
            answer = client.post(self.url, content=entry.body, headers=headers)
        except httpx.HTTPError as exc:
            return self._failed(f"{type(exc).__name__}: {exc}", 0.0)
        if answer.status_code == 200:
            self.forwarded_spans += len(entry.spans)
            if self.last_error is not None:
                log.info("forwarding to peer %s works again", self.name)
            self.last_error = None
            return None
        reason = f"HTTP {answer.status_code}: {answer.text[:300]}"
        if answer.status_code in RETRYABLE or answer.status_code >= 500:
            retry = answer.headers.get("retry-after", "")
            return self._failed(reason, float(retry) if retry.isdigit() else 0.0)
        self.refused_spans += len(entry.spans)
        self.failures += 1
        try:
            path = f.quarantine.add(entry.position, [(entry.spans, f"peer {self.name}: {reason}")])
        except OSError:
            log.exception("cannot quarantine spans peer %s refused; retrying them", self.name)
            return f.max_backoff_s
        log.error("peer %s refused %d spans (%s): set aside in %s",
                  self.name, len(entry.spans), reason, path)  # fmt: skip
        return None

    def _failed(self, reason: str, wait: float) -> float:
        self.failures += 1
        if self.last_error is None:
            log.warning("forwarding to peer %s failed (%s); the spans wait in the WAL and "
                        "are retried", self.name, reason)  # fmt: skip
        self.last_error = reason
        return wait


class Forwarder:
    """Routes span batches by trace owner and sends the other peers' share (see module)."""

    def __init__(
        self,
        ring: Ring,
        self_peer: str,
        quarantine: Any,
        *,
        queue_spans: int = 100_000,
        timeout_s: float = 5.0,
        min_backoff_s: float = 0.1,
        max_backoff_s: float = 5.0,
        token: str | None = None,
        scheme: str = "http",
    ) -> None:
        if self_peer not in ring.peers:
            raise ValueError(f"--peer-self {self_peer!r} is not in --peers {','.join(ring.peers)}")
        self.ring = ring
        self.self_peer = self_peer
        self._self_index = ring.peers.index(self_peer)
        self.quarantine = quarantine
        self.queue_spans = queue_spans
        self.timeout_s = timeout_s
        self.min_backoff_s = min_backoff_s
        self.max_backoff_s = max_backoff_s
        self.scheme = scheme
        self.headers = {"authorization": f"Bearer {token}"} if token else {}
        self.cond = threading.Condition()
        self.stop_event = threading.Event()
        self.stopping = False
        self.stopped = False
        self._inflight: dict[int, int] = {}  # WAL position -> entries not acknowledged
        self._queued = 0
        self.peers = {p: _Peer(p, self) for p in ring.peers if p != self_peer}

    # -- the pipeline's side -----------------------------------------------------------

    @property
    def queued_spans(self) -> int:
        """Spans waiting for a peer's acknowledgement."""
        return self._queued

    def full(self) -> bool:
        return self._queued >= self.queue_spans

    def route(self, position: int, batch: SpanTable) -> SpanTable:
        """Queue the rows other peers own; return the rows this collector owns."""
        table = batch.table
        if not table.num_rows:
            return batch
        owners = self.ring.owners(table["trace_hi"], table["trace_lo"])
        for i, peer in enumerate(self.ring.peers):
            if i == self._self_index:
                continue
            rows = table.filter(pc.equal(owners, i))
            for start in range(0, rows.num_rows, BATCH_SPANS):
                part = SpanTable(rows.slice(start, BATCH_SPANS), batch.resources, batch.operations)
                self._enqueue(peer, _Entry(position, part))
        own = table.filter(pc.equal(owners, self._self_index))
        return SpanTable(own, batch.resources, batch.operations, batch.sampling)

    def _enqueue(self, peer: str, entry: _Entry) -> None:
        with self.cond:
            self.peers[peer].queue.append(entry)
            self._inflight[entry.position] = self._inflight.get(entry.position, 0) + 1
            self._queued += len(entry.spans)
            self.cond.notify_all()

    def acked(self, entry: _Entry) -> None:
        """Caller holds ``cond``."""
        left = self._inflight[entry.position] - 1
        if left:
            self._inflight[entry.position] = left
        else:
            del self._inflight[entry.position]
        self._queued -= len(entry.spans)
        self.cond.notify_all()

    def safe_position(self, contiguous: int) -> int:
        """The WAL checkpoint that passes no span a peer has not acknowledged."""
        with self.cond:
            if not self._inflight:
                return contiguous
            return min(contiguous, min(self._inflight) - 1)

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        for peer in self.peers.values():
            peer.thread.start()

    def stop(self, timeout_s: float | None) -> bool:
        """Send what is queued for up to ``timeout_s``, then stop; True if all was sent
        (what was not stays in the WAL for the next start)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self.cond:
            self.stopping = True
            self.cond.notify_all()
            while self._queued:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self.cond.wait(left if left is not None else 1.0)
            self.stopped = True
            self.cond.notify_all()
        self.stop_event.set()
        for peer in self.peers.values():
            if peer.thread.is_alive():
                peer.thread.join(1.0)
        return not self._queued

    def metrics(self) -> dict[str, dict[str, float]]:
        """Per peer: forwarded spans, queued spans, failures, refused spans."""
        return {
            name: {"forwarded": p.forwarded_spans, "queued": p.queued_spans,
                   "failures": p.failures, "refused": p.refused_spans}
            for name, p in self.peers.items()
        }  # fmt: skip


class ExportStore:
    """The store of a collector with ``--export-to``: kept traces go to the storage node
    over OTLP/HTTP (marker ``decided``); the local store (``inner``) keeps only the WAL
    checkpoint, logs and metrics, and answers the collector's own API. Every other
    attribute is the inner store's."""

    def __init__(self, inner: Any, url: str, timeout_s: float = 10.0, token: str | None = None):
        self.inner = inner
        self.url = url.rstrip("/") + "/v1/traces"
        self.headers = {"content-type": "application/x-protobuf", HEADER: DECIDED}
        if token:
            self.headers["authorization"] = f"Bearer {token}"
        self._client = httpx.Client(timeout=timeout_s)
        self.exported_spans = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def write_tables(
        self,
        tables: Sequence[SpanTable],
        wal_position: int | None = None,
        *,
        signals: Sequence[Any] = (),
    ) -> int:
        decisions = decisions_of(tables)
        sent = 0
        for t in tables:
            for start in range(0, len(t), BATCH_SPANS):
                part = SpanTable(t.table.slice(start, BATCH_SPANS), t.resources, t.operations)
                self._post(encode_table(part, decisions))
                decisions = []
                sent += len(part)
        if decisions:
            self._post(encode_table(SpanTable(tables[0].table.slice(0, 0), [], set()), decisions))
        self.exported_spans += sent
        self.inner.write_tables([], wal_position, signals=signals)
        return sent

    def write(self, spans: Sequence[Any], wal_position: int | None = None) -> int:
        from spanscope.batch import spans_table

        return self.write_tables([spans_table(spans)], wal_position)

    def _post(self, body: bytes) -> None:
        try:
            answer = self._client.post(self.url, content=body, headers=self.headers)
        except httpx.HTTPError as exc:
            raise StoreUnavailableError(
                f"the storage node {self.url} is unreachable ({type(exc).__name__}: {exc})"
            ) from exc
        if answer.status_code == 200:
            return
        reason = f"the storage node {self.url} answered {answer.status_code}: {answer.text[:300]}"
        if answer.status_code in RETRYABLE or answer.status_code >= 500:
            raise StoreUnavailableError(reason)
        raise StoreRefusedError(reason)

    def close(self) -> None:
        self._client.close()
        self.inner.close()

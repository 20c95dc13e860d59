"""Small pieces every lab service uses: its SQLite database, calls to peers, a TTL cache.

- :class:`Database` gives each worker thread its own ``sqlite3`` connection (FastAPI runs
  the services' plain ``def`` handlers on a thread pool, and a connection is not for
  sharing); queries go through a cursor so the sqlite3 instrumentation sees each one as a
  ``db.*`` span with its statement;
- :func:`call` makes one HTTP call to a peer and turns its failure into the caller's
  answer: a peer's 4xx is passed on, a 5xx or a timeout becomes 502 — so an error span in
  shipping shows up as errors all the way to the gateway, as in a real outage;
- :class:`TtlCache` is the lab's cache: an in-process dict with expiry. A cache service
  would be a ninth process on a two-core machine and the story it tells (``cache-miss``: a
  query appears in every trace where there was none) is the same.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import httpx
from fastapi import HTTPException

from spanscope.demo import data


class Database:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    def connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = data.connect(self.path)
            conn.execute("PRAGMA busy_timeout=5000")  # writers from other threads wait
            self._local.conn = conn
        return conn

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        cursor = self.connection().cursor()
        try:
            cursor.execute(sql, params)
            return cursor.fetchall()
        finally:
            cursor.close()

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        """Run a write; returns the number of rows it changed."""
        cursor = self.connection().cursor()
        try:
            cursor.execute(sql, params)
            return cursor.rowcount
        finally:
            cursor.close()


def call(
    client: httpx.Client,
    method: str,
    path: str,
    *,
    json: Any = None,
    params: Any = None,
    headers: dict[str, str] | None = None,
) -> Any:
    """One call to a peer; its JSON answer, or an HTTPException a FastAPI handler re-raises."""
    peer = str(client.base_url)
    try:
        response = client.request(method, path, json=json, params=params, headers=headers)
    except httpx.HTTPError as exc:
        raise HTTPException(502, f"{method} {peer}{path} failed: {exc!r}") from None
    if response.status_code >= 500:
        raise HTTPException(502, f"{method} {peer}{path} answered {response.status_code}")
    if response.status_code >= 400:
        detail = response.json().get("detail", response.text) if _is_json(response) else ""
        raise HTTPException(response.status_code, detail or response.text)
    return response.json()


def _is_json(response: httpx.Response) -> bool:
    return response.headers.get("content-type", "").startswith("application/json")


class TtlCache:
    """A dict whose entries expire after ``ttl_s``; ``get_or_load`` fills misses."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_load(self, key: Hashable, load: Callable[[], Any], bypass: bool = False) -> Any:
        now = time.monotonic()
        if not bypass:
            with self._lock:
                entry = self._entries.get(key)
            if entry is not None and entry[0] > now:
                self.hits += 1
                return entry[1]
        self.misses += 1
        value = load()
        with self._lock:
            self._entries[key] = (now + self.ttl_s, value)
        return value

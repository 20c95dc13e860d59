"""The server's tenants: one complete storage stack each, opened on first write.

:mod:`spanscope.tenancy` says which tenant a request belongs to; this module holds the
tenants ``spanscope serve`` runs. Each :class:`Tenant` is the machinery Spanscope always
had — a DuckDB store, a write-ahead log, a quarantine, an :class:`IngestPipeline` with its
store writer, a tail sampler built from the same ``[tail_sampling]`` config (a sampler
buffers by trace id: one shared between tenants would mix a trace id known to both), and
a retention job. Nothing is shared between tenants but the decode workers, the redaction
rules and the head-sampling rules (``rules.json``: SDK configuration, not data).

How the server uses :class:`Tenants`::

    tenants = Tenants(data_dir, settings, config, decode_pool, max_tenants=32)
    tenants.add(default)               # the default tenant, opened by serve() as always
    tenants.open_stored()              # replay every <data-dir>/tenants/<id>/ at start
    pipeline = tenants.pipeline("acme")      # receivers: opens acme on its first write
    store = tenants.store("acme")            # the API: an empty store until acme writes

- **Writes open, reads never do.** A tenant that never wrote has no directory; reading it
  answers empty results from one shared, empty in-memory store (reads create nothing, so
  ``X-Scope-OrgID`` values a client makes up cost nothing).
- **A bound**: ``--max-tenants`` (``SPANSCOPE_MAX_TENANTS``, default 32) tenants besides
  the default. ``X-Scope-OrgID`` is chosen by the client when auth is off; a write for one
  more is refused 400 naming the limit (never retried: retrying cannot succeed). Nothing
  already accepted is affected.
- **Memory**: DuckDB's buffer pool limit is per database. The open databases share
  ``SPANSCOPE_DUCKDB_MEMORY_LIMIT`` (default 1 GB): each gets an equal part, at least
  :data:`MIN_POOL_BYTES`, re-divided whenever a tenant opens.
- **Health** aggregates: any tenant's reasons make ``/healthz`` / ``/readyz`` 503, each
  reason prefixed with the tenant it is about.
- **Shutdown** stops every pipeline at once within the one ``--shutdown-timeout``
  (:meth:`Tenants.stop_pipelines`); ``serve`` then releases each WAL the store covers.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spanscope.config import DEFAULT_MAX_TENANTS, Settings
from spanscope.ingest.decode_worker import DecodePool
from spanscope.ingest.pipeline import Health, IngestPipeline
from spanscope.ingest.stats import TimedFsync
from spanscope.ingest.wal import WriteAheadLog
from spanscope.sampling.config import ServerConfig
from spanscope.sampling.retention import RetentionJob
from spanscope.sampling.tail import TailSampler
from spanscope.store.base import Store
from spanscope.tenancy import (
    DEFAULT_TENANT,
    TenantError,
    TooManyTenantsError,
    empty_store,
    stored_tenants,
    tenant_dir,
)

log = logging.getLogger(__name__)

MIN_POOL_BYTES = 64 * 1024 * 1024
"""The smallest DuckDB buffer pool a tenant's database gets however many are open."""
DB_FILE = "spanscope.duckdb"


@dataclass
class Tenant:
    """One tenant's storage stack (see the module docs)."""

    id: str
    directory: Path
    store: Store
    wal: WriteAheadLog
    pipeline: IngestPipeline
    sampler: TailSampler | None = None
    retention: RetentionJob | None = None


def open_duckdb(path: Path) -> Store:
    from spanscope.store.duckdb import DuckDBStore

    return DuckDBStore(path)


class Tenants:
    """Every tenant of one server, by id; the default tenant is added by the server."""

    def __init__(
        self,
        data_dir: Path,
        settings: Settings,
        config: ServerConfig,
        decode_pool: DecodePool | None = None,
        max_tenants: int = DEFAULT_MAX_TENANTS,
        open_store: Callable[[Path], Store] = open_duckdb,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.settings = settings
        self.config = config
        self.decode_pool = decode_pool
        self.max_tenants = max_tenants
        self._open_store = open_store
        self._tenants: dict[str, Tenant] = {}
        self._pipelines: dict[str, IngestPipeline] = {}
        """Tenant id -> pipeline: the receivers' one dict look-up per request."""
        self._lock = threading.Lock()
        self._closed = False

    # -- the registry --------------------------------------------------------------

    def add(self, tenant: Tenant) -> None:
        """Register a tenant opened elsewhere (the server's default tenant)."""
        with self._lock:
            self._tenants[tenant.id] = tenant
            self._pipelines[tenant.id] = tenant.pipeline

    def all(self) -> list[Tenant]:
        """Every open tenant, the default first, then by id."""
        with self._lock:
            found = list(self._tenants.values())
        return sorted(found, key=lambda t: (t.id != DEFAULT_TENANT, t.id))

    def get(self, tenant_id: str) -> Tenant | None:
        return self._tenants.get(tenant_id)

    def opened(self, tenant_id: str) -> IngestPipeline | None:
        """The pipeline of an open tenant, None if it is not open (one dict look-up)."""
        return self._pipelines.get(tenant_id)

    def pipeline(self, tenant_id: str) -> IngestPipeline:
        """The pipeline writing ``tenant_id``'s data, opening the tenant on its first write
        (:class:`TenantError` 400 past ``max_tenants``)."""
        found = self._pipelines.get(tenant_id)
        if found is not None:
            return found
        return self.open(tenant_id).pipeline

    def store(self, tenant_id: str) -> Store:
        """The store ``tenant_id`` reads: its own, or an empty one if it never wrote."""
        found = self._tenants.get(tenant_id)
        if found is not None:
            return found.store
        return empty_store()

    # -- opening -------------------------------------------------------------------

    def open_stored(self) -> list[str]:
        """Open (and replay) every tenant that has a directory; returns their ids. Runs at
        start, before the listeners: the bound does not apply to data already kept."""
        opened = stored_tenants(self.data_dir)
        for tenant_id in opened:
            try:
                self.open(tenant_id, at_start=True)
            except Exception as exc:
                # A DuckDB error (a lock held by another process, a file that is not a
                # database), a WAL it cannot read: name the tenant, its directory, the cause.
                directory = tenant_dir(self.data_dir, tenant_id)
                raise SystemExit(
                    f"cannot open tenant {tenant_id!r} in {directory}: {exc} (move the "
                    "directory away to start without it; its data stays there)"
                ) from None
        if opened:
            log.info("tenants opened besides the default: %s", ", ".join(opened))
        return opened

    def open(self, tenant_id: str, at_start: bool = False) -> Tenant:
        """Open ``tenant_id``'s stack (creating its directory), replay its WAL, start its
        writer and retention job."""
        with self._lock:
            found = self._tenants.get(tenant_id)
            if found is not None:
                return found
            if self._closed:
                raise TenantError(503, "the server is stopping: retry against its successor")
            others = sum(1 for t in self._tenants if t != DEFAULT_TENANT)
            if not at_start and others >= self.max_tenants:
                raise TooManyTenantsError(
                    f"tenant {tenant_id!r} would be tenant {others + 1} besides the default, "
                    f"over the limit of {self.max_tenants} (--max-tenants, "
                    "SPANSCOPE_MAX_TENANTS): write to an existing tenant or raise the limit",
                )
            tenant = self._build(tenant_id)
            self._tenants[tenant_id] = tenant
            self._pipelines[tenant_id] = tenant.pipeline
        self.share_memory()
        return tenant

    def _build(self, tenant_id: str) -> Tenant:
        directory = tenant_dir(self.data_dir, tenant_id)
        directory.mkdir(parents=True, exist_ok=True)
        store = self._open_store(directory / DB_FILE)
        fsync = TimedFsync()
        wal = WriteAheadLog(directory / "wal", start_after=store.wal_position() or 0, fsync=fsync)
        config = self.config.tail_sampling
        sampler = TailSampler(config) if config else None
        settings = dataclasses.replace(self.settings, data_dir=directory)  # its quarantine/
        pipeline = IngestPipeline(
            store, wal, settings, decode_pool=self.decode_pool, tail_sampler=sampler
        )
        pipeline.stats.wal_fsync_seconds = fsync.seconds
        replayed = pipeline.replay()
        pipeline.start()
        retention = RetentionJob(store, self.config.retention)
        retention.start()
        log.info("tenant %r open in %s (%d WAL records replayed)", tenant_id, directory, replayed)
        return Tenant(tenant_id, directory, store, wal, pipeline, sampler, retention)

    def share_memory(self) -> None:
        """Divide the DuckDB buffer pool budget between the open databases."""
        from spanscope.store.duckdb import MEMORY_LIMIT, size_bytes

        total = size_bytes(MEMORY_LIMIT)
        tenants = self.all()
        if total is None or len(tenants) < 2:
            return
        share = max(MIN_POOL_BYTES, total // len(tenants))
        for tenant in tenants:
            if not tenant.store.capabilities.engine_memory:
                continue
            try:
                tenant.store.set_memory_limit(share)
            except Exception as exc:  # a failing store says so through its pipeline
                log.warning("tenant %r: cannot set its DuckDB memory limit: %s", tenant.id, exc)

    # -- health, metrics and shutdown --------------------------------------------------

    def health(self) -> Health:
        """Every tenant's reasons, the other tenants' prefixed with their id."""
        live: list[str] = []
        ready: list[str] = []
        for tenant in self.all():
            found = tenant.pipeline.health()
            prefix = "" if tenant.id == DEFAULT_TENANT else f"tenant {tenant.id!r}: "
            live.extend(prefix + reason for reason in found.live)
            ready.extend(prefix + reason for reason in found.ready)
        return Health(live, ready)

    def stop_retention(self) -> None:
        """Stop the other tenants' retention jobs (the default's is the server's)."""
        with self._lock:
            self._closed = True  # no tenant opens from here on
        for tenant in self.all():
            if tenant.retention is not None:
                tenant.retention.stop()

    def stop_pipelines(self, timeout_s: float) -> dict[str, bool]:
        """Stop every tenant's pipeline within one ``timeout_s``: all at once (one hung
        store must not use up the others' time). Tenant id -> whether its store holds
        everything acknowledged (``IngestPipeline.stop``)."""
        with self._lock:
            self._closed = True
        tenants = self.all()
        if len(tenants) == 1:  # the single-tenant server: exactly as before tenants
            return {tenants[0].id: tenants[0].pipeline.stop(timeout_s=timeout_s)}
        results: dict[str, bool] = {}

        def stop(tenant: Tenant) -> None:
            results[tenant.id] = tenant.pipeline.stop(timeout_s=timeout_s)

        threads = [
            threading.Thread(target=stop, args=(t,), name=f"stop-{t.id}", daemon=True)
            for t in tenants
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout_s + 1.0)
        return {t.id: results.get(t.id, False) for t in tenants}

    def metrics_sources(self) -> list[tuple[str | None, Any, TailSampler | None]]:
        """(tenant label, pipeline, sampler) for ``/metrics``: the default tenant unlabelled,
        as before tenants, the others with their id."""
        return [
            (None if t.id == DEFAULT_TENANT else t.id, t.pipeline, t.sampler) for t in self.all()
        ]

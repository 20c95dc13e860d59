"""Tenants: whose data a request writes or reads, and where that data lives.

Spanscope keeps tenants apart the way Grafana Tempo does: by construction. Each tenant is
its own instance of the storage machinery — its own DuckDB file, write-ahead log,
quarantine, ingest pipeline, tail sampler and retention job — so no query can see another
tenant's rows, because they are not in its database (:mod:`spanscope.tenants` opens them).

Who picks the tenant (the rules of :mod:`spanscope.principal`):

- a token confined to a tenant (``Principal.tenant``) reads and writes that tenant only; a
  request of it whose ``X-Scope-OrgID`` names another tenant is refused **403**, naming both;
- a token without a tenant, or no auth at all, uses the tenant named by Tempo's
  ``X-Scope-OrgID`` header (HTTP) or ``x-scope-orgid`` metadata (gRPC);
- with neither, the **default tenant**, ``single-tenant`` (Tempo's name for it when
  multitenancy is off). ``X-Scope-OrgID: single-tenant`` names it too.

Try it::

    curl -s -H 'X-Scope-OrgID: acme' localhost:16686/api/v1/services

Tenant ids follow Tempo's rules (https://grafana.com/docs/tempo/latest/configuration/tenant-ids):
at most 150 bytes of ``0-9 a-z A-Z ! - _ . * ' ( )``, case-sensitive, not empty, not ``.``
or ``..`` (they would name a directory that is not the tenant's). Anything else is a
**400** naming the header and the value. Tempo's cross-tenant queries (``a|b``) are not
supported: ``|`` is refused like any other character outside the set.

Where the data lives::

    <data-dir>/spanscope.duckdb, wal/, quarantine/     the default tenant (as before tenants)
    <data-dir>/tenants/<id>/spanscope.duckdb, wal/, quarantine/    tenant <id>
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spanscope.principal import Principal, principal_of

if TYPE_CHECKING:
    from spanscope.store.base import Store

DEFAULT_TENANT = "single-tenant"
"""The tenant of a request that names none (Tempo's name with multitenancy off); its data
is at the data dir's root, where Spanscope kept everything before tenants."""

HEADER = "X-Scope-OrgID"
"""The HTTP header naming the tenant (Tempo, Loki, Mimir, and Grafana's data sources)."""
GRPC_METADATA = "x-scope-orgid"
"""The same as gRPC metadata (gRPC metadata keys are lower-case)."""

MAX_TENANT_ID_BYTES = 150
TENANTS_DIR = "tenants"
"""``<data-dir>/tenants/<id>/``: one directory per tenant other than the default."""

_ALLOWED = re.compile(r"[0-9A-Za-z!\-_.*'()]+")
_SCOPE_KEY = "spanscope.tenant"
"""ASGI scope key where :func:`tenant_of_scope` keeps its answer for the request."""


class TenantError(ValueError):
    """A request's tenant cannot be used: ``status`` 400 (bad id), 403 (a token confined to
    another tenant) or 400 (too many tenants), with a message naming the value."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class TooManyTenantsError(TenantError):
    """A write for a new tenant past ``--max-tenants`` (a 400: retrying cannot succeed)."""

    def __init__(self, message: str) -> None:
        super().__init__(400, message)


def _shown(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:60] + "...")


def tenant_id_problem(value: str) -> str | None:
    """What makes ``value`` not a tenant id (Tempo's rules, see the module docs), or None."""
    size = len(value.encode("utf-8", "surrogatepass"))
    if not value:
        return "is empty: name a tenant, or send no header for the default tenant"
    if size > MAX_TENANT_ID_BYTES:
        return f"is {size} bytes long: a tenant id has at most {MAX_TENANT_ID_BYTES}"
    if value in (".", ".."):
        return "is not a tenant id ('.' and '..' are refused)"
    if not _ALLOWED.fullmatch(value):
        bad = sorted({c for c in value if not _ALLOWED.fullmatch(c)})
        return (
            f"has {', '.join(repr(c) for c in bad)}: a tenant id may only use "
            "0-9 a-z A-Z ! - _ . * ' ( )"
        )
    return None


def validate_tenant_id(value: str) -> str:
    """``value`` if it is a valid tenant id, else a :class:`TenantError` 400 naming the
    header and the value."""
    problem = tenant_id_problem(value)
    if problem is not None:
        raise TenantError(400, f"{HEADER} {_shown(value)} {problem}")
    return value


def resolve_tenant(principal: Principal | None, requested: str | None) -> str:
    """The tenant of a request by :mod:`spanscope.principal`'s rules: ``requested`` is the
    ``X-Scope-OrgID`` value sent (None: no header)."""
    if requested is not None:
        validate_tenant_id(requested)
    confined = principal.tenant if principal is not None else None
    if confined is not None:
        if requested is not None and requested != confined:
            raise TenantError(
                403,
                f"{HEADER} {_shown(requested)}: the token {principal.name!r} "  # type: ignore[union-attr]
                f"is confined to tenant {confined!r}; send {HEADER}: {confined} or none",
            )
        return confined
    return requested if requested is not None else DEFAULT_TENANT


def tenant_of_scope(scope: Mapping[str, Any]) -> str:
    """The tenant of an ASGI HTTP request (its principal and ``X-Scope-OrgID``), worked out
    once per request and kept in the scope."""
    found = scope.get(_SCOPE_KEY)
    if found is not None:
        return str(found)
    requested: str | None = None
    for key, value in scope.get("headers", ()):
        if key.lower() == b"x-scope-orgid":
            requested = value.decode("latin-1")
            break
    tenant = resolve_tenant(principal_of(scope), requested)
    if isinstance(scope, dict):
        scope[_SCOPE_KEY] = tenant
    return tenant


def tenant_of_metadata(
    metadata: Iterable[tuple[str, Any]] | None, principal: Principal | None = None
) -> str:
    """The tenant of a gRPC call from its invocation metadata (``x-scope-orgid``) and the
    principal its auth check found (None: auth is off)."""
    requested: str | None = None
    for key, value in metadata or ():
        if key.lower() == GRPC_METADATA:
            requested = value.decode("latin-1") if isinstance(value, bytes) else str(value)
            break
    return resolve_tenant(principal, requested)


def tenant_dir(data_dir: Path, tenant: str) -> Path:
    """Where ``tenant``'s database, WAL and quarantine live (the default: the root)."""
    if tenant == DEFAULT_TENANT:
        return Path(data_dir)
    return Path(data_dir) / TENANTS_DIR / validate_tenant_id(tenant)


def stored_tenants(data_dir: Path) -> list[str]:
    """The tenants with a directory under ``<data-dir>/tenants/`` (sorted); a directory
    whose name is not a tenant id is not one (it is left alone)."""
    root = Path(data_dir) / TENANTS_DIR
    if not root.is_dir():
        return []
    found = []
    for child in sorted(root.iterdir()):
        try:
            if child.is_dir() and validate_tenant_id(child.name) != DEFAULT_TENANT:
                found.append(child.name)
        except TenantError:
            continue
    return found


_empty: list[Store] = []
_empty_lock = threading.Lock()


def empty_store() -> Store:
    """The store every tenant that never wrote reads: one per process, in memory, empty and
    never written (a read of a made-up ``X-Scope-OrgID`` creates nothing)."""
    if not _empty:
        with _empty_lock:
            if not _empty:
                from spanscope.store.duckdb import DuckDBStore

                _empty.append(DuckDBStore(":memory:", memory_limit="64MB"))
    return _empty[0]

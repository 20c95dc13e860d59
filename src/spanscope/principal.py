"""Who is asking: the contract between authentication (tokens) and tenancy.

Authentication (``spanscope serve --auth-file``, :mod:`spanscope.auth`) decides *who* a
request comes from and what it may do; tenancy (:mod:`spanscope.tenancy`) decides *whose
data* it reads or writes. They meet here, and nowhere else:

- an authenticated HTTP request carries its :class:`Principal` in the ASGI scope under
  :data:`PRINCIPAL_KEY` (set by the auth check, before any app code runs);
- an authenticated gRPC call gets its :class:`Principal` from the auth check the servicer
  runs first;
- with no ``--auth-file`` there is no principal (``None``): the server is open, and a
  tenant comes from Tempo's ``X-Scope-OrgID`` header alone.

A token's ``tenant`` confines it: it reads and writes that tenant only. A token without a
``tenant`` (an operator's) acts on the tenant its request names with ``X-Scope-OrgID``, or
on the default tenant.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PRINCIPAL_KEY = "spanscope.principal"
"""ASGI scope key of the authenticated :class:`Principal` of an HTTP request."""

SCOPES = ("ingest", "query", "admin")
"""Token scopes: ``ingest`` writes spans/logs/metrics to the receivers, ``query`` reads the
query API and UI, ``admin`` changes settings (sampling rules, retention, anything that
deletes)."""


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    """A label for logs and metrics (the token's ``name`` in the auth file, or a short
    fingerprint); never the token itself."""
    scopes: frozenset[str]
    tenant: str | None = None
    """The tenant this token is confined to; None: any (``X-Scope-OrgID``) or default."""


def principal_of(scope: Mapping[str, Any]) -> Principal | None:
    """The authenticated principal of an ASGI request, None when auth is off."""
    found = scope.get(PRINCIPAL_KEY)
    return found if isinstance(found, Principal) else None

"""Tenant ids (Tempo's rules) and who picks the tenant (principal.py's rules), as units."""

from __future__ import annotations

import pytest

from spanscope.principal import PRINCIPAL_KEY, Principal
from spanscope.tenancy import (
    DEFAULT_TENANT,
    HEADER,
    MAX_TENANT_ID_BYTES,
    TenantError,
    resolve_tenant,
    tenant_dir,
    tenant_of_metadata,
    tenant_of_scope,
    validate_tenant_id,
)

ANYONE = Principal("operator", frozenset({"ingest", "query"}))
ACME = Principal("acme-ci", frozenset({"ingest", "query"}), tenant="acme")


@pytest.mark.parametrize("good", ["acme", "Tenant-123", "a.b_c!*'()", "x" * MAX_TENANT_ID_BYTES])
def test_tempo_tenant_ids_are_accepted(good: str) -> None:
    assert validate_tenant_id(good) == good


@pytest.mark.parametrize(
    "bad",
    [".", "..", "../x", "a/b", "a\\b", "with space", "", "x" * (MAX_TENANT_ID_BYTES + 1),
     "tenant|other", "é", "a\nb"],
)  # fmt: skip
def test_other_tenant_ids_are_refused_400_naming_the_header_and_value(bad: str) -> None:
    with pytest.raises(TenantError) as caught:
        validate_tenant_id(bad)
    assert caught.value.status == 400
    assert HEADER in caught.value.message
    if bad and len(bad) < 20 and bad.isprintable():
        assert repr(bad) in caught.value.message


def test_no_header_no_principal_is_the_default_tenant() -> None:
    assert resolve_tenant(None, None) == DEFAULT_TENANT
    assert resolve_tenant(ANYONE, None) == DEFAULT_TENANT


def test_the_header_picks_the_tenant_without_a_confining_token() -> None:
    assert resolve_tenant(None, "acme") == "acme"
    assert resolve_tenant(ANYONE, "acme") == "acme"


def test_a_token_with_a_tenant_is_confined_to_it() -> None:
    assert resolve_tenant(ACME, None) == "acme"
    assert resolve_tenant(ACME, "acme") == "acme"
    with pytest.raises(TenantError) as caught:
        resolve_tenant(ACME, "globex")
    assert caught.value.status == 403
    assert "'acme'" in caught.value.message and "'globex'" in caught.value.message


def test_a_bad_header_is_400_even_for_a_confined_token() -> None:
    with pytest.raises(TenantError) as caught:
        resolve_tenant(ACME, "../acme")
    assert caught.value.status == 400


def _scope(headers: list[tuple[bytes, bytes]], principal: Principal | None = None) -> dict:
    scope: dict = {"type": "http", "headers": headers}
    if principal is not None:
        scope[PRINCIPAL_KEY] = principal
    return scope


def test_asgi_scope_reads_the_header_case_insensitively_and_the_principal() -> None:
    assert tenant_of_scope(_scope([])) == DEFAULT_TENANT
    assert tenant_of_scope(_scope([(b"x-scope-orgid", b"acme")])) == "acme"
    assert tenant_of_scope(_scope([], ACME)) == "acme"
    with pytest.raises(TenantError) as caught:
        tenant_of_scope(_scope([(b"x-scope-orgid", b"globex")], ACME))
    assert caught.value.status == 403


def test_grpc_metadata_reads_x_scope_orgid() -> None:
    assert tenant_of_metadata((("user-agent", "otel"),)) == DEFAULT_TENANT
    assert tenant_of_metadata((("x-scope-orgid", "acme"),)) == "acme"
    assert tenant_of_metadata((), ACME) == "acme"
    with pytest.raises(TenantError):
        tenant_of_metadata((("x-scope-orgid", "globex"),), ACME)
    with pytest.raises(TenantError):
        tenant_of_metadata((("x-scope-orgid", ".."),))


def test_the_default_tenant_lives_at_the_data_dir_root(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert tenant_dir(tmp_path, DEFAULT_TENANT) == tmp_path
    assert tenant_dir(tmp_path, "acme") == tmp_path / "tenants" / "acme"

"""The tenant registry and the tenant rules at the edges, without a server process: health
aggregation, the one shutdown bound, the shared DuckDB memory budget, lazy opening, and a
token confined to a tenant (a :class:`Principal` in the ASGI scope, as auth will put it)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from spanscope.api.app import create_app
from spanscope.config import Settings
from spanscope.ingest.http import OtlpHttpReceiver
from spanscope.ingest.pipeline import Health
from spanscope.principal import PRINCIPAL_KEY, Principal
from spanscope.sampling.config import ServerConfig
from spanscope.store.duckdb import DuckDBStore, size_bytes
from spanscope.tenancy import DEFAULT_TENANT, TenantError, TooManyTenantsError
from spanscope.tenants import MIN_POOL_BYTES, Tenant, Tenants

ACME = Principal("acme-ci", frozenset({"ingest", "query"}), tenant="acme")


class FakePipeline:
    """What the registry asks of a pipeline: health, stop, writer_busy."""

    def __init__(self, health: Health | None = None, hang: threading.Event | None = None):
        self._health = health or Health()
        self.hang = hang
        self.stopped_with: float | None = None

    def health(self) -> Health:
        return self._health

    def stop(self, timeout_s: float | None = None) -> bool:
        self.stopped_with = timeout_s
        if self.hang is not None:  # a store that hangs: stop() gives up at its bound
            self.hang.wait(timeout_s)
            return False
        return True

    @property
    def writer_busy(self) -> bool:
        return self.hang is not None


def registry(tmp_path: Path, **kwargs: Any) -> Tenants:
    return Tenants(tmp_path, Settings(data_dir=tmp_path), ServerConfig(), **kwargs)


def fake_tenant(tenant_id: str, pipeline: FakePipeline, tmp_path: Path) -> Tenant:
    return Tenant(tenant_id, tmp_path, None, None, pipeline)  # type: ignore[arg-type]


def test_health_names_the_failing_tenant(tmp_path: Path) -> None:
    tenants = registry(tmp_path)
    tenants.add(fake_tenant(DEFAULT_TENANT, FakePipeline(), tmp_path))
    tenants.add(fake_tenant("acme", FakePipeline(Health([], ["the store is unavailable"])),
                            tmp_path))  # fmt: skip
    health = tenants.health()
    assert health.live == []
    assert health.ready == ["tenant 'acme': the store is unavailable"]


def test_one_hung_tenant_does_not_use_up_the_others_shutdown_time(tmp_path: Path) -> None:
    tenants = registry(tmp_path)
    hang = threading.Event()
    pipelines = {"acme": FakePipeline(hang=hang), "globex": FakePipeline()}
    tenants.add(fake_tenant(DEFAULT_TENANT, FakePipeline(), tmp_path))
    for tenant_id, pipeline in pipelines.items():
        tenants.add(fake_tenant(tenant_id, pipeline, tmp_path))
    stopped = tenants.stop_pipelines(timeout_s=0.5)
    assert stopped == {DEFAULT_TENANT: True, "acme": False, "globex": True}
    # Every pipeline got the whole bound, not what the hung one left of it.
    assert pipelines["globex"].stopped_with == 0.5


def test_reads_open_nothing_writes_open_the_tenant(tmp_path: Path) -> None:
    tenants = registry(tmp_path, max_tenants=1)
    assert tenants.store("acme").services() == []
    assert not (tmp_path / "tenants").exists()
    pipeline = tenants.pipeline("acme")
    try:
        assert tenants.pipeline("acme") is pipeline
        assert (tmp_path / "tenants" / "acme" / "spanscope.duckdb").is_file()
        with pytest.raises(TooManyTenantsError) as caught:
            tenants.pipeline("globex")
        assert "limit of 1" in caught.value.message
        assert not (tmp_path / "tenants" / "globex").exists()
    finally:
        tenants.stop_pipelines(timeout_s=5)
        for tenant in tenants.all():
            tenant.wal.close()
            tenant.store.close()


def _pool_bytes(store: DuckDBStore) -> int:
    text = store._writer.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    number, unit = text.split()
    return int(float(number) * {"MiB": 2**20, "GiB": 2**30, "KiB": 2**10}[unit])


def test_open_databases_share_one_memory_budget(tmp_path: Path) -> None:
    from spanscope.store.duckdb import MEMORY_LIMIT

    total = size_bytes(MEMORY_LIMIT)
    assert total is not None
    tenants = registry(tmp_path)
    default = DuckDBStore(tmp_path / "spanscope.duckdb")
    tenants.add(Tenant(DEFAULT_TENANT, tmp_path, default, None, FakePipeline()))  # type: ignore[arg-type]
    try:
        for tenant_id in ("acme", "globex", "initech"):
            tenants.pipeline(tenant_id)
        share = max(MIN_POOL_BYTES, total // 4)
        for tenant in tenants.all():
            assert abs(_pool_bytes(tenant.store) - share) < 2**20, tenant.id  # type: ignore[arg-type]
    finally:
        tenants.stop_pipelines(timeout_s=5)
        for tenant in tenants.all():
            if tenant.wal is not None:
                tenant.wal.close()
            tenant.store.close()


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1GB", 10**9), ("256MiB", 256 * 2**20), ("500 MB", 500 * 10**6), ("80%", None)],
)
def test_duckdb_sizes(text: str, expected: int | None) -> None:
    assert size_bytes(text) == expected


def as_principal(app: Any, principal: Principal) -> Any:
    """The ASGI app behind an auth check that found ``principal`` (what auth will do)."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope[PRINCIPAL_KEY] = principal
        await app(scope, receive, send)

    return wrapped


def test_a_token_confined_to_a_tenant_gets_403_for_another_on_the_api(tmp_path: Path) -> None:
    store = DuckDBStore(":memory:")
    client = TestClient(as_principal(create_app(store), ACME))
    refused = client.get("/api/v1/services", headers={"X-Scope-OrgID": "globex"})
    assert refused.status_code == 403
    message = refused.json()["error"]["message"]
    assert "'acme'" in message and "'globex'" in message
    assert client.get("/api/v1/services", headers={"X-Scope-OrgID": "acme"}).status_code == 200
    assert client.get("/api/v1/services").status_code == 200  # its own tenant


def test_a_token_confined_to_a_tenant_gets_403_for_another_on_otlp_http() -> None:
    receiver = OtlpHttpReceiver(None, Settings().limits)  # type: ignore[arg-type]
    client = TestClient(as_principal(receiver, ACME))
    refused = client.post(
        "/v1/traces",
        content=b"{}",
        headers={"Content-Type": "application/json", "X-Scope-OrgID": "globex"},
    )
    assert refused.status_code == 403
    assert "'acme'" in refused.json()["message"] and "'globex'" in refused.json()["message"]


def test_stop_pipelines_leaves_no_tenant_open_afterwards(tmp_path: Path) -> None:
    tenants = registry(tmp_path)
    tenants.add(fake_tenant(DEFAULT_TENANT, FakePipeline(), tmp_path))
    tenants.stop_pipelines(timeout_s=1)
    with pytest.raises(TenantError) as caught:
        tenants.pipeline("late")
    assert caught.value.status == 503
    assert not (tmp_path / "tenants").exists()


class TwoTenantMetrics:
    """The part of the registry /metrics reads: the default tenant and acme."""

    def store(self, tenant: str) -> Any:
        return DuckDBStore(":memory:")

    def metrics_sources(self) -> list[Any]:
        return [(None, None, None), ("acme", None, None)]


def test_a_confined_token_sees_its_own_metrics_and_cannot_change_server_rules(
    tmp_path: Path,
) -> None:
    from spanscope.sampling.runtime import SamplingRuntime

    app = create_app(DuckDBStore(":memory:"), tenants=TwoTenantMetrics())
    SamplingRuntime.load(None, tmp_path).attach(app)
    confined = TestClient(as_principal(app, ACME))
    operator = TestClient(as_principal(app, Principal("ops", frozenset({"admin"}))))
    mine = confined.get("/metrics").text
    assert 'spanscope_tail_sampling_enabled{tenant="acme"} 0' in mine
    assert "spanscope_tail_sampling_enabled 0" not in mine  # the default tenant's
    everyone = operator.get("/metrics").text
    assert "spanscope_tail_sampling_enabled 0" in everyone and 'tenant="acme"' in everyone
    rules = {"default_rate": 0.5, "rules": []}
    refused = confined.put("/api/v1/sampling/rules?service=checkout", json=rules)
    assert refused.status_code == 403, refused.text
    assert "'acme'" in refused.json()["error"]["message"]
    assert confined.delete("/api/v1/sampling/rules?service=checkout").status_code == 403
    assert operator.put("/api/v1/sampling/rules?service=checkout", json=rules).status_code == 200
    assert confined.get("/api/v1/sampling/rules?service=checkout").json()["default_rate"] == 0.5

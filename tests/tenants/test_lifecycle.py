"""Tenants across restarts (SIGTERM, SIGKILL), bad ``X-Scope-OrgID`` values on every
receiver and the API, and the ``--max-tenants`` bound, in a real ``spanscope serve``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)
from tenant_traffic import (
    PROTOBUF,
    SHARED,
    TenantData,
    api_get,
    make,
    post,
    send_all,
    trace_request,
    wait_stored,
    zipkin_body,
)

if TYPE_CHECKING:
    from tests.support.server import RunningServer


def check_apart(server: RunningServer, tenants: list[TenantData]) -> None:
    """Each tenant sees exactly its own services, its own version of the shared trace, and
    its two log records of it (once each: a replay stores nothing twice)."""
    for data in tenants:
        services = api_get(server, "/api/v1/services", data.headers).json()["services"]
        assert set(services) == set(data.names), (data.tenant, services)
        trace = api_get(server, f"/api/v1/traces/{SHARED.hex()}", data.headers)
        assert trace.status_code == 200
        assert data.marker in trace.text
        assert not [d.marker for d in tenants if d is not data and d.marker in trace.text]
        assert len(trace.json()["spans"]) == 7
        logs = api_get(server, f"/api/v1/traces/{SHARED.hex()}/logs", data.headers).json()
        assert sorted(x["body"] for x in logs["logs"]) == sorted(
            [f"http log {data.marker}", f"grpc log {data.marker}"]
        )


def test_tenants_survive_a_clean_restart_intact_and_apart(
    start_spanscope: Callable[..., RunningServer], tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    server = start_spanscope(data_dir)
    tenants = [make("team-a"), make("team-b"), make(None)]
    for data in tenants:
        send_all(server, data)
    for data in tenants:
        wait_stored(server, data)
    assert server.stop() == 0, server.log()
    for tenant in ("team-a", "team-b"):  # everything stored: each tenant's WAL released
        assert not list((data_dir / "tenants" / tenant / "wal").glob("*")), tenant

    again = start_spanscope(data_dir)
    check_apart(again, tenants)


def test_tenants_replay_their_own_wal_after_sigkill(
    start_spanscope: Callable[..., RunningServer], tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    # A long gather interval: what was acknowledged is only in the WALs when the kill lands.
    server = start_spanscope(data_dir, env={"SPANSCOPE_FLUSH_INTERVAL_S": "30"})
    tenants = [make("team-a"), make("team-b"), make(None)]
    for data in tenants:
        send_all(server, data)
    server.kill()
    for tenant in ("team-a", "team-b"):
        assert list((data_dir / "tenants" / tenant / "wal").glob("*")), tenant

    again = start_spanscope(data_dir)
    for data in tenants:
        wait_stored(again, data)
    check_apart(again, tenants)


@pytest.fixture(scope="module")
def bounded(spanscope_launcher: Callable[..., RunningServer], tmp_path_factory):  # type: ignore[no-untyped-def]
    server = spanscope_launcher(
        tmp_path_factory.mktemp("bounded") / "data", {"SPANSCOPE_MAX_TENANTS": "1"}
    )
    yield server
    assert server.stop() == 0, server.log()


BAD_IDS = ["../x", "a/b", ".", "..", "x" * 151, "a|b", "with space"]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_a_bad_tenant_id_is_a_400_naming_the_header_on_every_listener(
    bounded: RunningServer, bad: str
) -> None:
    headers = {"X-Scope-OrgID": bad}
    otlp = post(bounded.otlp_http_url + "/v1/traces", trace_request(make(None)),
                {**PROTOBUF, **headers})  # fmt: skip
    zipkin = post(bounded.zipkin_url + "/api/v2/spans", zipkin_body(make(None)),
                  {"Content-Type": "application/json", **headers})  # fmt: skip
    api = api_get(bounded, "/api/v1/services", headers)
    for answer in (otlp, zipkin, api):
        assert answer.status_code == 400, answer.text
        assert "X-Scope-OrgID" in answer.text, answer.text
    assert "tenant id" in api.json()["error"]["message"]
    with grpc.insecure_channel(bounded.otlp_grpc_endpoint) as channel:
        export = channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=None,
            response_deserializer=ExportTraceServiceResponse.FromString,
        )
        with pytest.raises(grpc.RpcError) as caught:
            export(trace_request(make(None)), metadata=(("x-scope-orgid", bad),), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "X-Scope-OrgID" in (caught.value.details() or "")
    made = bounded.data_dir / "tenants"
    assert not made.exists() or {p.name for p in made.iterdir()} <= {"first"}


def test_max_tenants_refuses_one_more_and_keeps_what_was_accepted(
    bounded: RunningServer,
) -> None:
    first = make("first")
    send_all(bounded, first)
    wait_stored(bounded, first)
    second = make("second")
    answer = post(bounded.otlp_http_url + "/v1/traces", trace_request(second),
                  {**PROTOBUF, **second.headers})  # fmt: skip
    assert answer.status_code == 400
    zipkin = post(bounded.zipkin_url + "/api/v2/spans", zipkin_body(second),
                  {"Content-Type": "application/json", **second.headers})  # fmt: skip
    assert zipkin.status_code == 400
    assert "limit of 1" in zipkin.text and "--max-tenants" in zipkin.text
    with grpc.insecure_channel(bounded.otlp_grpc_endpoint) as channel:
        export = channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=None,
            response_deserializer=ExportTraceServiceResponse.FromString,
        )
        with pytest.raises(grpc.RpcError) as caught:
            export(trace_request(second), metadata=(("x-scope-orgid", "second"),), timeout=10)
    # Not retried by OTLP exporters: no RetryInfo rides with it.
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "SPANSCOPE_MAX_TENANTS" in (caught.value.details() or "")
    assert not (bounded.data_dir / "tenants" / "second").exists()
    # What was accepted stays: the first tenant and the default still write and read.
    check_apart(bounded, [first])
    default = make(None)
    send_all(bounded, default)
    wait_stored(bounded, default)
    health = httpx.get(bounded.api_url + "/readyz", timeout=10)
    assert health.status_code == 200, health.text


def test_a_tenant_that_cannot_be_opened_stops_the_start_naming_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    broken = data_dir / "tenants" / "team-x"
    broken.mkdir(parents=True)
    (broken / "spanscope.duckdb").write_bytes(b"not a database" * 100)
    done = subprocess.run(
        [sys.executable, "-m", "spanscope", "serve", "--data-dir", str(data_dir),
         "--port", "0", "--otlp-grpc-port", "0", "--otlp-http-port", "0", "--zipkin-port", "0"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert f"cannot open tenant 'team-x' in {broken}" in done.stderr, done.stderr[-2000:]
    assert (broken / "spanscope.duckdb").read_bytes().startswith(b"not a database")

"""Tenants with token auth (``--auth-file``): a token that names a tenant writes and reads
that tenant only, whatever its requests' ``X-Scope-OrgID`` say (403 / PERMISSION_DENIED when
they name another); a token without a tenant picks one with the header."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)
from tenant_traffic import PROTOBUF, SHARED, api_get, make, post, trace_request, wait_for

from spanscope.auth import AuthFileError, load_auth_file
from tests.support.auth import Token, bearer, write_auth_file

if TYPE_CHECKING:
    from tests.support.server import RunningServer

ACME_APP = "acme-app-5f0c2a8e9b1d4c7a"
ACME_READER = "acme-reader-a7e3c9d1f4b2"
OPS = "ops-c4d2e8f1a3b5c7d9e0f2"
TOKENS = (
    Token("acme-app", ACME_APP, ("ingest",), tenant="acme"),
    Token("acme-reader", ACME_READER, ("query",), tenant="acme"),
    Token("ops", OPS, ("ingest", "query", "admin")),
)


@pytest.fixture(scope="module")
def server(spanscope_launcher: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    folder = tmp_path_factory.mktemp("tokens")
    auth = write_auth_file(folder, *TOKENS)
    running = spanscope_launcher(folder / "data", {"SPANSCOPE_AUTH_FILE": str(auth)})
    yield running
    assert running.stop() == 0, running.log()


def grpc_export(server: RunningServer, body: bytes, metadata: tuple[tuple[str, str], ...]) -> Any:
    with grpc.insecure_channel(server.otlp_grpc_endpoint) as channel:
        export = channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=None,
            response_deserializer=ExportTraceServiceResponse.FromString,
        )
        return export(body, metadata=metadata, timeout=10)


def services(server: RunningServer, headers: dict[str, str]) -> set[str]:
    answer = api_get(server, "/api/v1/services", headers)
    assert answer.status_code == 200, answer.text
    return set(answer.json()["services"])


def test_a_confined_token_writes_and_reads_its_tenant_only(server: RunningServer) -> None:
    acme, default, globex = make("acme"), make(None), make("globex")
    # acme's app sends no header: its token puts the spans in acme (HTTP and gRPC).
    answer = post(server.otlp_http_url + "/v1/traces", trace_request(acme),
                  {**PROTOBUF, **bearer(ACME_APP)})  # fmt: skip
    assert answer.status_code == 200, answer.text
    acme_grpc = make("acme")
    grpc_export(server, trace_request(acme_grpc), (("authorization", f"Bearer {ACME_APP}"),))
    for data, tenant in ((default, None), (globex, "globex")):
        answer = post(server.otlp_http_url + "/v1/traces", trace_request(data),
                      {**PROTOBUF, **bearer(OPS, tenant)})  # fmt: skip
        assert answer.status_code == 200, answer.text

    wait_for(lambda: {acme.service, acme_grpc.service} <= services(server, bearer(ACME_READER)),
             "acme's spans, sent over OTLP/HTTP and OTLP/gRPC")  # fmt: skip
    wait_for(lambda: globex.service in services(server, bearer(OPS, "globex")), "globex's")
    seen = services(server, bearer(ACME_READER))
    assert acme.service in seen and default.service not in seen and globex.service not in seen
    assert services(server, bearer(ACME_READER, "acme")) == seen
    assert services(server, bearer(OPS, "acme")) == seen  # an operator names the tenant
    assert default.service in services(server, bearer(OPS))
    assert acme.service not in services(server, bearer(OPS))
    trace = api_get(server, f"/api/v1/traces/{SHARED.hex()}", bearer(ACME_READER))
    assert trace.status_code == 200 and globex.marker not in trace.text


def test_a_confined_token_naming_another_tenant_is_refused(server: RunningServer) -> None:
    refused = api_get(server, "/api/v1/services", bearer(ACME_READER, "globex"))
    assert refused.status_code == 403
    message = refused.json()["error"]["message"]
    assert "'acme'" in message and "'globex'" in message
    write = post(server.otlp_http_url + "/v1/traces", trace_request(make("x")),
                 {**PROTOBUF, **bearer(ACME_APP, "globex")})  # fmt: skip
    assert write.status_code == 403
    metadata = (("authorization", f"Bearer {ACME_APP}"), ("x-scope-orgid", "globex"))
    with pytest.raises(grpc.RpcError) as caught:
        grpc_export(server, trace_request(make("x")), metadata)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "'acme'" in (caught.value.details() or "")


def test_an_auth_file_tenant_follows_the_tenant_id_rules(tmp_path: Path) -> None:
    path = write_auth_file(tmp_path, Token("ops", OPS, ("query",), tenant="../shop"))
    with pytest.raises(AuthFileError) as caught:
        load_auth_file(path)
    assert "key 'tenant'" in str(caught.value) and "'/'" in str(caught.value)

"""What the tenant tests send: for each tenant, spans over OTLP/HTTP (protobuf), OTLP/gRPC
(the OpenTelemetry SDK's exporter with ``x-scope-orgid`` metadata) and Zipkin, logs over
OTLP/HTTP and OTLP/gRPC, and metric points with an exemplar — every name carrying the
tenant's *marker*, so a response that shows another tenant's data is found by a substring.

Every tenant also writes one trace id known to all (:data:`SHARED`), with its own services
and spans but the same start and end times, so the stores' trace stamps are equal too: a
trace cache keyed by trace id alone would serve one tenant's version to another.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import orjson
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.support.waiting import wait_until

SHARED = bytes.fromhex("7e7a7e7a000000000000000000c0ffee")
"""The trace id every tenant writes."""
ROOT_SPAN = bytes.fromhex("00000000000000a1")
CHILD_SPAN = bytes.fromhex("00000000000000b2")
T0 = time.time_ns() - 60 * 10**9
"""Start of the shared trace (a minute ago: inside every default look-back window)."""
PROTOBUF = {"Content-Type": "application/x-protobuf"}
WAIT_S = 30.0


@dataclass(frozen=True)
class TenantData:
    tenant: str | None
    """The X-Scope-OrgID sent (None: none, the default tenant)."""
    marker: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Scope-OrgID": self.tenant} if self.tenant is not None else {}

    @property
    def service(self) -> str:
        return f"svc-{self.marker}"

    @property
    def db_service(self) -> str:
        return f"db-{self.marker}"

    @property
    def root_op(self) -> str:
        return f"GET /{self.marker}"

    @property
    def metric(self) -> str:
        return f"latency.{self.marker}"

    @property
    def names(self) -> list[str]:
        """Every service the tenant writes (each receiver its own)."""
        return [self.service, self.db_service, f"zipkin-{self.marker}", f"grpc-{self.marker}"]


def make(tenant: str | None) -> TenantData:
    return TenantData(tenant, f"mk{secrets.token_hex(4)}")


def _attr(target: Any, key: str, value: str | int) -> None:
    item = target.add(key=key)
    if isinstance(value, int):
        item.value.int_value = value
    else:
        item.value.string_value = value


def trace_request(data: TenantData, error: bool = True) -> bytes:
    """The shared trace: a server root in ``svc-<marker>`` calling ``db-<marker>`` (an
    error unless ``error`` is False), then the same query five times in a row (an N+1
    smell); same ids and times in every tenant."""
    request = ExportTraceServiceRequest()
    ms = 1_000_000
    repeated = [
        (data.service, (0xC0 + i).to_bytes(8, "big"), ROOT_SPAN, f"load item {data.marker}", 3,
         T0 + (41 + i) * ms, T0 + (41 + i) * ms + ms // 2, False)
        for i in range(5)
    ]  # fmt: skip
    for service, span_id, parent, name, kind, start, end, failed in (
        (data.service, ROOT_SPAN, b"", data.root_op, 2, T0, T0 + 50 * ms, False),
        (data.db_service, CHILD_SPAN, ROOT_SPAN, f"SELECT {data.marker}", 3,
         T0 + 10 * ms, T0 + 40 * ms, error),
        *repeated,
    ):  # fmt: skip
        rs = request.resource_spans.add()
        _attr(rs.resource.attributes, "service.name", service)
        span = rs.scope_spans.add().spans.add(
            trace_id=SHARED,
            span_id=span_id,
            parent_span_id=parent,
            name=name,
            kind=kind,
            start_time_unix_nano=start,
            end_time_unix_nano=end,
        )
        _attr(span.attributes, "marker", data.marker)
        _attr(span.attributes, "http.status_code", 500 if failed else 200)
        if failed:
            span.status.code = 2
            span.status.message = f"failed {data.marker}"
    return request.SerializeToString()


def zipkin_body(data: TenantData) -> bytes:
    now_us = time.time_ns() // 1000
    return orjson.dumps(
        [
            {
                "traceId": secrets.token_hex(16),
                "id": secrets.token_hex(8),
                "name": f"zipkin-op-{data.marker}",
                "kind": "SERVER",
                "timestamp": now_us - 5_000_000,
                "duration": 12_000,
                "localEndpoint": {"serviceName": f"zipkin-{data.marker}"},
                "tags": {"marker": data.marker},
            }
        ]
    )


def logs_request(data: TenantData, body: str) -> bytes:
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    _attr(rl.resource.attributes, "service.name", data.service)
    record = rl.scope_logs.add().log_records.add(
        time_unix_nano=T0 + 20_000_000,
        severity_number=17,
        severity_text="ERROR",
        trace_id=SHARED,
        span_id=ROOT_SPAN,
    )
    record.body.string_value = body
    return request.SerializeToString()


def metrics_request(data: TenantData) -> bytes:
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    _attr(rm.resource.attributes, "service.name", data.service)
    metric = rm.scope_metrics.add().metrics.add(name=data.metric, unit="ms")
    now = time.time_ns()
    point = metric.gauge.data_points.add(time_unix_nano=now - 30 * 10**9, as_double=42.5)
    _attr(point.attributes, "marker", data.marker)
    _attr(point.attributes, "http.route", f"/{data.marker}")
    _attr(point.attributes, "http.request.method", "GET")
    point.exemplars.add(
        time_unix_nano=now - 30 * 10**9, as_double=42.5, trace_id=SHARED, span_id=ROOT_SPAN
    )
    return request.SerializeToString()


def post(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(url, content=body, headers=headers, timeout=10)


def send_all(server: Any, data: TenantData) -> None:
    """Everything the tenant writes, through every receiver; each must be accepted."""
    base = server.otlp_http_url
    for path, body in (
        ("/v1/traces", trace_request(data)),
        ("/v1/logs", logs_request(data, f"http log {data.marker}")),
        ("/v1/metrics", metrics_request(data)),
    ):
        answer = post(base + path, body, {**PROTOBUF, **data.headers})
        assert answer.status_code == 200, (path, answer.text)
    answer = post(
        server.zipkin_url + "/api/v2/spans",
        zipkin_body(data),
        {"Content-Type": "application/json", **data.headers},
    )
    assert answer.status_code == 202, answer.text
    send_grpc(server, data)


def send_grpc(server: Any, data: TenantData) -> None:
    """A span through the OpenTelemetry SDK's gRPC exporter, and a log record by a raw
    LogsService call, both with ``x-scope-orgid`` metadata."""
    metadata = (("x-scope-orgid", data.tenant),) if data.tenant is not None else ()
    exporter = OTLPSpanExporter(endpoint=server.otlp_grpc_endpoint, insecure=True, headers=metadata)
    provider = TracerProvider(resource=Resource.create({"service.name": f"grpc-{data.marker}"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("tenants").start_as_current_span(f"grpc-op-{data.marker}") as span:
        span.set_attribute("marker", data.marker)
    provider.shutdown()
    with grpc.insecure_channel(server.otlp_grpc_endpoint) as channel:
        export = channel.unary_unary(
            "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
            request_serializer=None,
            response_deserializer=ExportLogsServiceResponse.FromString,
        )
        export(logs_request(data, f"grpc log {data.marker}"), metadata=metadata, timeout=10)


def api_get(server: Any, path: str, headers: dict[str, str], **params: Any) -> httpx.Response:
    return httpx.get(server.api_url + path, params=params, headers=headers, timeout=20)


def wait_for(fetch: Callable[[], Any], what: str) -> Any:
    return wait_until(fetch, what, WAIT_S)


def wait_stored(server: Any, data: TenantData) -> None:
    """Until the tenant's traces, logs and metric are all queryable."""

    def services() -> bool:
        answer = api_get(server, "/api/v1/services", data.headers)
        return answer.status_code == 200 and set(data.names) <= set(answer.json()["services"])

    wait_for(services, f"services {data.names} of {data.tenant}")

    def logs() -> bool:
        answer = api_get(server, f"/api/v1/traces/{SHARED.hex()}/logs", data.headers)
        return answer.status_code == 200 and len(answer.json()["logs"]) == 2

    wait_for(logs, f"both logs of {data.tenant}")

    def metric() -> bool:
        answer = api_get(server, "/api/v1/metrics", data.headers)
        return answer.status_code == 200 and data.metric in answer.text

    wait_for(metric, f"metric {data.metric} of {data.tenant}")

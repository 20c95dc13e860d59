"""Logs and metrics through a real ``spanscope serve``, sent by the OpenTelemetry SDK's own
OTLP exporters: an exemplar recorded inside a span resolves, through the API, to that
stored trace; a log line written inside a span is found from the trace and from the span;
bad payloads get clear errors over HTTP and gRPC."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import grpc
import httpx
import orjson
import pytest
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics._internal.exemplar import TraceBasedExemplarFilter
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.support.waiting import wait_until

if TYPE_CHECKING:
    from tests.support.server import RunningServer

WAIT_S = 30.0


def wait_for(fetch: Callable[[], Any], what: str) -> Any:
    """Poll until ``fetch`` returns something truthy (stored data is queryable after the
    store writer's flush interval); fail naming ``what`` otherwise."""
    return wait_until(fetch, what, WAIT_S)


def get(server: RunningServer, path: str, **params: Any) -> Any:
    answer = httpx.get(server.api_url + path, params=params, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.fixture(scope="module")
def sent(spanscope_server: RunningServer) -> dict[str, str]:
    """One request traced, measured and logged by the OTel SDK inside its span."""
    base = spanscope_server.otlp_http_url
    resource = Resource.create({"service.name": "orders"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(base + "/v1/traces")))
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(base + "/v1/metrics"), export_interval_millis=3_600_000
    )
    meter_provider = MeterProvider(
        [reader], resource=resource, exemplar_filter=TraceBasedExemplarFilter()
    )
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(base + "/v1/logs"))
    )
    logger = logging.getLogger("signals-e2e")
    logger.propagate = False
    handler = LoggingHandler(logger_provider=logger_provider)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    histogram = meter_provider.get_meter("test").create_histogram("http.server.duration", "ms")
    tracer = tracer_provider.get_tracer("test")
    try:
        with tracer.start_as_current_span("GET /orders") as root:
            with tracer.start_as_current_span("SELECT orders") as query:
                logger.warning("slow query: 2.1 s", extra={"db.rows": 42})
            logger.info("retrying once")
            histogram.record(2150.0, {"http.route": "/orders"})
        logger.info("outside any span")
        ids = {
            "trace_id": f"{root.get_span_context().trace_id:032x}",
            "root_span_id": f"{root.get_span_context().span_id:016x}",
            "query_span_id": f"{query.get_span_context().span_id:016x}",
        }
        assert meter_provider.force_flush()
    finally:
        logger.removeHandler(handler)
        logger_provider.shutdown()
        meter_provider.shutdown()
        tracer_provider.shutdown()
    return ids


def test_exemplar_recorded_in_a_span_resolves_to_that_stored_trace(
    spanscope_server: RunningServer, sent: dict[str, str]
) -> None:
    found = wait_for(
        lambda: get(
            spanscope_server, "/api/v1/exemplars", metric="http.server.duration", service="orders"
        )["exemplars"],
        "an exemplar of http.server.duration",
    )
    (exemplar,) = [e for e in found if e["trace_id"] == sent["trace_id"]]
    assert exemplar["span_id"] == sent["root_span_id"]
    assert exemplar["value"] == 2150.0
    # Its link opens the very trace the SDK exported.
    trace = wait_for(
        lambda: httpx.get(spanscope_server.api_url + exemplar["links"]["api"], timeout=10),
        "the exemplar's trace",
    )
    assert trace.status_code == 200, trace.text
    names = {s["name"] for s in trace.json()["spans"]}
    assert names == {"GET /orders", "SELECT orders"}


def test_log_written_in_a_span_is_found_from_the_trace_and_from_the_span(
    spanscope_server: RunningServer, sent: dict[str, str]
) -> None:
    path = f"/api/v1/traces/{sent['trace_id']}/logs"
    logs = wait_for(lambda: get(spanscope_server, path)["logs"], "the trace's logs")
    assert [x["body"] for x in logs] == ["slow query: 2.1 s", "retrying once"]
    by_span = get(spanscope_server, path, span_id=sent["query_span_id"])["logs"]
    assert [x["body"] for x in by_span] == ["slow query: 2.1 s"]
    assert by_span[0]["severity_text"] == "WARN" and by_span[0]["service"] == "orders"
    # Log search by severity and text finds the same line, with its trace link.
    found = get(spanscope_server, "/api/v1/logs", service="orders", severity="warn", q="SLOW")
    (line,) = [x for x in found["logs"] if x["trace_id"] == sent["trace_id"]]
    assert line["span_id"] == sent["query_span_id"]
    assert line["links"]["trace"] == f"/trace/{sent['trace_id']}?span={sent['query_span_id']}"


def test_incident_flow_from_latency_series_to_the_exemplar_trace_and_its_logs(
    spanscope_server: RunningServer, sent: dict[str, str]
) -> None:
    answer = wait_for(
        lambda: httpx.get(
            spanscope_server.api_url + "/api/v1/incident",
            params={"service": "orders", "operation": "/orders", "lookback": "1h"},
            timeout=10,
        ),
        "the incident series",
    )
    assert answer.status_code == 200, answer.text
    incident = answer.json()
    assert incident["metric"] == "http.server.duration"
    slowest = incident["slowest_exemplars"][0]
    assert slowest["trace_id"] == sent["trace_id"]
    step = get(
        spanscope_server,
        "/api/v1/incident/exemplar",
        trace_id=slowest["trace_id"],
        span_id=slowest["span_id"],
    )
    assert step["trace"]["root_operation"] == "GET /orders"
    assert step["trace"]["exemplar_span"]["name"] == "GET /orders"
    assert [x["body"] for x in step["logs"]] == ["slow query: 2.1 s"]  # warn and above


def test_metric_series_has_quantiles(spanscope_server: RunningServer, sent: dict[str, str]) -> None:
    del sent
    series = get(
        spanscope_server,
        "/api/v1/metrics/http.server.duration/series",
        service="orders",
        lookback="1h",
        step="1h",
    )
    (s,) = series["series"]
    (point,) = s["points"]
    assert point["count"] == 1
    # One 2150 ms measurement in the (1000, 2500] bucket of the SDK's default bounds.
    assert 1000 <= point["quantiles"]["p99"] <= 2500


def test_bad_logs_and_metrics_payloads_get_clear_errors(spanscope_server: RunningServer) -> None:
    base = spanscope_server.otlp_http_url
    answer = httpx.post(
        base + "/v1/logs", content=b"\xff\xff", headers={"Content-Type": "application/x-protobuf"}
    )
    assert answer.status_code == 400
    answer = httpx.post(
        base + "/v1/metrics", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400
    assert "not valid JSON" in answer.json()["message"]
    # One bad record among good ones: 200 with partial success naming the reason.
    body = orjson.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"timeUnixNano": str(time.time_ns()), "body": {"stringValue": "fine"}},
        {"timeUnixNano": str(time.time_ns()), "traceId": "abc"},
    ]}]}]})  # fmt: skip
    json_type = {"Content-Type": "application/json"}
    answer = httpx.post(base + "/v1/logs", content=body, headers=json_type)
    assert answer.status_code == 200
    partial = answer.json()["partialSuccess"]
    assert partial["rejectedLogRecords"] == 1
    assert "traceId" in partial["errorMessage"]
    # Over gRPC: INVALID_ARGUMENT with the reason; partial success in the response.
    with grpc.insecure_channel(spanscope_server.otlp_grpc_endpoint) as channel:
        export = channel.unary_unary(
            "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
            request_serializer=None,
            response_deserializer=logs_service_pb2.ExportLogsServiceResponse.FromString,
        )
        with pytest.raises(grpc.RpcError) as err:
            export(b"\xff\xff", timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "ExportLogsServiceRequest" in (err.value.details() or "")
        request = logs_service_pb2.ExportLogsServiceRequest()
        records = request.resource_logs.add().scope_logs.add().log_records
        records.add(time_unix_nano=time.time_ns()).body.string_value = "ok"
        records.add(time_unix_nano=time.time_ns(), span_id=b"\x01")
        response = export(request.SerializeToString(), timeout=10)
        assert response.partial_success.rejected_log_records == 1
        assert "span id" in response.partial_success.error_message

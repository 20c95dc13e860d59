"""OTLP/gRPC receiver: ``opentelemetry.proto.collector.trace.v1.TraceService/Export`` on
port 4317, and beside it ``LogsService/Export`` and ``MetricsService/Export`` (logs and
metrics with exemplars, see ``ingest/otlp_logs.py`` and ``ingest/otlp_metrics.py``).

Answers as the OTLP specification says for gRPC:

- OK with ``partial_success {rejected_spans, error_message}`` when some spans were refused;
- INVALID_ARGUMENT with the reason when the request cannot be decoded;
- RESOURCE_EXHAUSTED under overload (UNAVAILABLE while stopping, on a disk error or with
  the decode workers gone: the table in ``ingest/refusals.py``, which OTLP/HTTP answers
  from too), with a ``google.rpc.RetryInfo`` in the trailing metadata — both as the rich status
  (``grpc-status-details-bin``) and as ``google.rpc.retryinfo-bin``, which the
  OpenTelemetry exporters read to pick their back-off.

With ``--auth-file`` each servicer first calls :func:`spanscope.auth.authorize_grpc`: a
call without ``authorization: Bearer <token>`` metadata, or with a token not in the file,
is UNAUTHENTICATED; a token without scope ``ingest`` is PERMISSION_DENIED.

gzip-compressed requests are accepted (gRPC inflates them before the servicer runs);
``max_receive_message_length`` is ``limits.max_decompressed_bytes``. Each Export runs on a
worker thread of the gRPC pool and waits there for the write-ahead log's group fsync. A
trace request arrives as bytes (no gRPC deserializer) and takes OTLP/HTTP protobuf's decode
path: parsed once, in a decode worker process when the server has them
(``ingest/decode_worker.py``), and logged in the WAL as received.

Try it with the OpenTelemetry SDK::

    OTLPSpanExporter(endpoint="127.0.0.1:4317", insecure=True)
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any, cast

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from spanscope.auth import Authenticator, authorize_grpc
from spanscope.ingest.decode_worker import TableResult
from spanscope.ingest.limits import Limits
from spanscope.ingest.otlp_columns import ColumnarResult
from spanscope.ingest.pipeline import IngestPipeline
from spanscope.ingest.refusals import refusal
from spanscope.ingest.results import DecodeError, DecodeResult, SignalResult
from spanscope.principal import Principal
from spanscope.tenancy import (
    DEFAULT_TENANT,
    HEADER,
    TenantError,
    TooManyTenantsError,
    tenant_of_metadata,
)

if TYPE_CHECKING:
    from spanscope.tenants import Tenants

log = logging.getLogger(__name__)

_SpanResult = DecodeResult | ColumnarResult | TableResult
"""What decoding a trace request gives: in-process columns, or a worker's Arrow table."""


_TENANT_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    403: grpc.StatusCode.PERMISSION_DENIED,
}


def call_tenant(context: grpc.ServicerContext, principal: Principal | None) -> str:
    """The call's tenant (``x-scope-orgid`` metadata and the principal the auth check found,
    None with auth off; :mod:`spanscope.tenancy`); a bad or forbidden one aborts the call."""
    try:
        return tenant_of_metadata(context.invocation_metadata(), principal)
    except TenantError as exc:
        _abort_tenant(context, exc)
        raise  # context.abort raised already; this is for type checkers


def tenant_pipeline(
    default: IngestPipeline,
    tenants: Tenants | None,
    tenant: str,
    context: grpc.ServicerContext,
) -> IngestPipeline:
    """The pipeline writing ``tenant``, opened on its first write. Too many tenants is
    RESOURCE_EXHAUSTED without a RetryInfo, which OTLP exporters do not retry (retrying
    cannot succeed)."""
    if tenant == DEFAULT_TENANT:
        return default
    try:
        if tenants is None:
            raise TenantError(
                400, f"{HEADER} {tenant!r}: this receiver serves the default tenant only"
            )
        return tenants.pipeline(tenant)
    except TenantError as exc:
        _abort_tenant(context, exc)
        raise


def _abort_tenant(context: grpc.ServicerContext, exc: TenantError) -> None:
    if refusal(exc) is not None:  # the registry is stopping: the shared retry answer
        _refuse(context, exc)
    over_limit = isinstance(exc, TooManyTenantsError)
    code = grpc.StatusCode.RESOURCE_EXHAUSTED if over_limit else _TENANT_CODES[exc.status]
    context.abort(code, exc.message)


class TraceReceiver(trace_service_pb2_grpc.TraceServiceServicer):
    """The TraceService servicer. ``create_grpc_server`` registers :meth:`export_bytes`
    (the request as received, so a body that does not parse is INVALID_ARGUMENT rather than
    gRPC's INTERNAL, and the bytes take OTLP/HTTP protobuf's decode path: parsed once, by
    the decode worker pool when the server has one); ``Export`` is the standard entry point
    for anyone registering it with ``add_TraceServiceServicer_to_server``.
    """

    def __init__(
        self,
        pipeline: IngestPipeline,
        limits: Limits,
        authenticator: Authenticator | None = None,
        tenants: Tenants | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.limits = limits
        self.authenticator = authenticator
        self.tenants = tenants

    def Export(  # noqa: N802 - the name is the gRPC method's
        self,
        request: trace_service_pb2.ExportTraceServiceRequest,
        context: grpc.ServicerContext,
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        return self.export_bytes(request.SerializeToString(), context)

    def export_bytes(
        self, body: bytes, context: grpc.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        principal = authorize_grpc(self.authenticator, context, "ingest")  # before the body
        tenant = call_tenant(context, principal)  # the token's, or x-scope-orgid's
        # An empty message is a valid request with no spans (the decoder refuses b"").
        result = self._decode(body, context) if body else ColumnarResult()
        pipeline = tenant_pipeline(self.pipeline, self.tenants, tenant, context)
        if result.spans:
            try:
                # A redacted request is logged re-encoded: no raw value reaches the WAL.
                pipeline.accept_blocking("otlp-proto", result.payload or body, result.spans)
            except Exception as exc:
                _refuse(context, exc)
        response = trace_service_pb2.ExportTraceServiceResponse()
        if result.rejected:
            pipeline.stats.rejected_spans += result.rejected  # for /metrics
            response.partial_success.rejected_spans = result.rejected
            response.partial_success.error_message = result.first_error or ""
        return response

    def _decode(self, body: bytes, context: grpc.ServicerContext) -> _SpanResult:
        """The bytes decoded once, as OTLP/HTTP protobuf decodes them (ingest/http.py)."""
        pool = self.pipeline.decode_pool
        try:
            if pool is not None:
                return pool.decode_otlp_blocking(body, self.limits)
            # The otlp-proto decoder returns spans (a SignalResult is logs or metrics).
            return cast(_SpanResult, self.pipeline.decoder("otlp-proto")(body, self.limits))
        except DecodeError as exc:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"cannot decode ExportTraceServiceRequest: {exc}"
            )
        except BrokenProcessPool as exc:  # the server's fault, not the body's: retry
            log.error("a decode worker process died: %s", exc)
            _refuse(context, exc)
        except Exception as exc:  # a decoder bug: INVALID_ARGUMENT naming it, not INTERNAL
            _abort_undecodable(context, "ExportTraceServiceRequest", exc)
        raise AssertionError("context.abort raises")  # for type checkers


class SignalReceiver:
    """LogsService / MetricsService ``Export``: the same answers as :class:`TraceReceiver`,
    with ``partial_success.rejected_log_records`` / ``rejected_data_points``."""

    def __init__(
        self,
        pipeline: IngestPipeline,
        limits: Limits,
        request_type: Any,
        response_type: Any,
        wal_format: str,
        rejected_field: str,
        authenticator: Authenticator | None = None,
        tenants: Tenants | None = None,
    ) -> None:
        self.authenticator = authenticator
        self.pipeline = pipeline
        self.tenants = tenants
        self.limits = limits
        self.request_type = request_type
        self.response_type = response_type
        self.wal_format = wal_format
        self.rejected_field = rejected_field

    def export_bytes(self, body: bytes, context: grpc.ServicerContext) -> Any:
        principal = authorize_grpc(self.authenticator, context, "ingest")
        name = self.request_type.DESCRIPTOR.name
        tenant = call_tenant(context, principal)
        try:
            # The raw bytes, decoded as the WAL replay will decode them.
            result = self.pipeline.decoder(self.wal_format)(body, self.limits)
        except DecodeError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"cannot decode {name}: {exc}")
        except Exception as exc:  # a decoder bug: INVALID_ARGUMENT naming it, not INTERNAL
            _abort_undecodable(context, name, exc)
        assert isinstance(result, SignalResult)
        pipeline = tenant_pipeline(self.pipeline, self.tenants, tenant, context)
        if result.signals:
            try:
                pipeline.accept_blocking(self.wal_format, result.payload or body, result.signals)
            except Exception as exc:
                _refuse(context, exc)
        response = self.response_type()
        if result.rejected:
            setattr(response.partial_success, self.rejected_field, result.rejected)
            response.partial_success.error_message = result.first_error or ""
        return response


def _signal_handlers(
    pipeline: IngestPipeline,
    limits: Limits,
    authenticator: Authenticator | None,
    tenants: Tenants | None = None,
) -> list[Any]:
    out = []
    for service, request, response, fmt, field in (
        (
            "opentelemetry.proto.collector.logs.v1.LogsService",
            logs_service_pb2.ExportLogsServiceRequest,
            logs_service_pb2.ExportLogsServiceResponse,
            "otlp-logs-proto",
            "rejected_log_records",
        ),
        (
            "opentelemetry.proto.collector.metrics.v1.MetricsService",
            metrics_service_pb2.ExportMetricsServiceRequest,
            metrics_service_pb2.ExportMetricsServiceResponse,
            "otlp-metrics-proto",
            "rejected_data_points",
        ),
    ):
        receiver = SignalReceiver(
            pipeline, limits, request, response, fmt, field, authenticator, tenants
        )
        out.append(
            grpc.method_handlers_generic_handler(
                service,
                {
                    "Export": grpc.unary_unary_rpc_method_handler(
                        receiver.export_bytes,
                        request_deserializer=None,
                        response_serializer=response.SerializeToString,
                    )
                },
            )
        )
    return out


def _refuse(context: grpc.ServicerContext, exc: Exception) -> None:
    """Abort with the shared answer for a refused request (``ingest/refusals.py``)."""
    answer = refusal(exc)
    if answer is None:
        raise exc
    code = grpc.StatusCode[answer.grpc_code]
    _abort_with_retry(context, code, answer.message, answer.retry_after_s)


def _abort_undecodable(context: grpc.ServicerContext, what: str, exc: Exception) -> None:
    log.error("decoder failed on a gRPC %s", what, exc_info=exc)
    context.abort(
        grpc.StatusCode.INVALID_ARGUMENT,
        f"cannot decode {what}: {type(exc).__name__}: {exc} (a Spanscope decoder bug; the "
        "server log has the details, please report it)",
    )


def _abort_with_retry(
    context: grpc.ServicerContext, code: grpc.StatusCode, message: str, retry_after_s: int
) -> None:
    retry = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=retry_after_s))
    detail = any_pb2.Any()
    detail.Pack(retry)
    status = status_pb2.Status(code=code.value[0], message=message, details=[detail])
    context.set_trailing_metadata(
        (
            ("grpc-status-details-bin", status.SerializeToString()),
            ("google.rpc.retryinfo-bin", retry.SerializeToString()),
        )
    )
    context.abort(code, message)


def create_grpc_server(
    pipeline: IngestPipeline,
    limits: Limits,
    host: str,
    port: int,
    workers: int = 8,
    tls: tuple[bytes, bytes] | None = None,
    authenticator: Authenticator | None = None,
    tenants: Tenants | None = None,
) -> tuple[grpc.Server, int]:
    """A started-ready (not yet started) gRPC server bound to host:port; returns it and the
    port actually bound (port 0 picks a free one). ``tls`` = (PEM key, PEM certificate
    chain): the port accepts TLS only (``--tls-cert``/``--tls-key``, spanscope/tls.py).
    ``authenticator`` (``--auth-file``): every Export needs a token of scope ``ingest``.
    ``tenants``: every tenant's pipeline, by the ``x-scope-orgid`` metadata (None: the
    default tenant's ``pipeline`` only)."""
    server = grpc.server(
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="otlp-grpc"),
        options=[
            ("grpc.max_receive_message_length", limits.max_decompressed_bytes),
            ("grpc.so_reuseport", 0),
        ],
    )
    receiver = TraceReceiver(pipeline, limits, authenticator, tenants)
    handler = grpc.method_handlers_generic_handler(
        "opentelemetry.proto.collector.trace.v1.TraceService",
        {
            "Export": grpc.unary_unary_rpc_method_handler(
                receiver.export_bytes,
                request_deserializer=None,  # the raw bytes: export_bytes parses them
                response_serializer=trace_service_pb2.ExportTraceServiceResponse.SerializeToString,
            )
        },
    )
    handlers = _signal_handlers(pipeline, limits, authenticator, tenants)
    server.add_generic_rpc_handlers((handler, *handlers))
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if tls is None:
        bound = server.add_insecure_port(address)
    else:
        bound = server.add_secure_port(address, grpc.ssl_server_credentials([tls]))
    if bound == 0:
        raise OSError(
            f"cannot bind OTLP/gRPC to {address}: is the port in use? pick another "
            "with --otlp-grpc-port"
        )
    return server, bound

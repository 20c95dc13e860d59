"""HTTP receivers: OTLP/HTTP ``POST /v1/traces``, ``/v1/logs`` and ``/v1/metrics`` (port 4318)
and Zipkin ``POST /api/v2/spans`` (port 9411), as small ASGI apps run by uvicorn.

OTLP/HTTP answers as the OTLP specification says
(https://opentelemetry.io/docs/specs/otlp/#otlphttp-response):

======================================  =================================================
request                                 answer
======================================  =================================================
protobuf or JSON, decodable             200 ``ExportTraceServiceResponse`` in the request's
                                        encoding; ``partial_success`` counts rejected spans
                                        (log records, data points) and says why
body that does not decode, or empty,    400 ``google.rpc.Status`` with the reason
gzip with bytes after its end, or a
non-canonical path (``/v1/traces//``)
body > ``limits.max_body_bytes``,       413 (a gzip bomb is inflated only up to the cap)
gunzipped > ``max_decompressed_bytes``
other or no Content-Type, other         415
Content-Encoding
bad ``X-Scope-OrgID`` / a token's other 400 / 403 naming the header (spanscope/tenancy.py);
tenant / one tenant past --max-tenants  400 naming the limit
more spans pending than allowed         429 + ``Retry-After`` (seconds)
server stopping / disk error / decode   503 + ``Retry-After`` (the table in
workers gone                            ``ingest/refusals.py``, shared with gRPC)
other path / method                     404 / 405
======================================  =================================================

Zipkin v2 JSON answers 202 Accepted (Zipkin's own answer), 400 with a text reason, and the
same 413/415/429/503 rules; its Content-Type must be ``application/json`` (none is a 415).

``spanscope serve`` wraps both in :class:`spanscope.request_policy.RequestPolicy`: a
``Host`` not allowed is a 421 and a post from a page of another origin a 403
(:func:`status_json` renders them for OTLP), before the receiver reads the body; with
``--auth-file`` a request without a token of scope ``ingest`` is a 401/403 there too
(:mod:`spanscope.auth`).

Try it::

    curl -si localhost:4318/v1/traces -H 'Content-Type: application/json' -d '{}'

The 200 is sent only after the payload is fsynced in the write-ahead log (see
``ingest/pipeline.py``) of the request's tenant (``X-Scope-OrgID``; :func:`target`).
Decoding runs in the event loop for ordinary requests (a 512-span request decodes in a few
ms, less than a thread hop costs under load) and in a worker thread for big ones, so one
huge body never stalls the other connections.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from spanscope.ingest.decode_worker import TableResult
from spanscope.ingest.decoders import Decoder
from spanscope.ingest.limits import Limits
from spanscope.ingest.otlp_columns import ColumnarResult
from spanscope.ingest.pipeline import IngestPipeline
from spanscope.ingest.refusals import DECODE_WORKERS_GONE, Refusal, refusal
from spanscope.ingest.results import DecodeError, DecodeResult, SignalResult
from spanscope.tenancy import DEFAULT_TENANT, HEADER, TenantError, tenant_of_scope

if TYPE_CHECKING:
    from spanscope.tenants import Tenants

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

INLINE_DECODE_BYTES = 1024 * 1024
"""Bodies up to this size decode in the event loop; bigger ones in a worker thread."""

_PROTOBUF = "application/x-protobuf"
_JSON = "application/json"
# google.rpc.Code numbers, as gRPC uses them.
_INVALID_ARGUMENT = 3
_PERMISSION_DENIED = 7
_UNAUTHENTICATED = 16


class HttpError(Exception):
    """An answer other than success, with the status and the reason for the client;
    ``rpc_code`` is the ``google.rpc.Code`` an OTLP body carries (INVALID_ARGUMENT when
    None)."""

    def __init__(
        self,
        status: int,
        message: str,
        retry_after_s: int | None = None,
        rpc_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after_s = retry_after_s
        self.rpc_code = rpc_code


def refused(answer: Refusal) -> HttpError:
    """The HTTP answer for a refusal: the one mapping gRPC shares (``ingest/refusals.py``)."""
    return HttpError(answer.http_status, answer.message, answer.retry_after_s, answer.rpc_code)


# -- request plumbing shared by both receivers ---------------------------------------


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def media_type(content_type: str) -> str:
    """``application/json; charset=utf-8`` -> ``application/json``."""
    return content_type.split(";", 1)[0].strip().lower()


DRAIN_BYTES = 64 * 1024 * 1024
"""An oversized body is read and discarded up to this much more, so the client (still
sending) gets to read its 413 instead of a broken pipe; beyond it the connection is cut."""


async def read_body(receive: Receive, headers: dict[str, str], max_bytes: int) -> bytes:
    """The request body, refusing (413) once it grows past ``max_bytes``: Content-Length is
    not trusted, and the excess is discarded, never held."""
    declared = headers.get("content-length")
    too_big: str | None = None
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        too_big = f"body of {declared} bytes exceeds the limit of {max_bytes} bytes"
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HttpError(400, "client disconnected before sending the whole body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if too_big is None and size > max_bytes:
            too_big = f"body exceeds the limit of {max_bytes} bytes"
        if too_big is None:
            chunks.append(chunk)
        elif size > max_bytes + DRAIN_BYTES:
            break
        if not message.get("more_body", False):
            break
    if too_big is not None:
        raise HttpError(413, too_big + "; send smaller batches")
    return b"".join(chunks)


def gunzip(data: bytes, max_bytes: int) -> bytes:
    """Inflate a gzip body a slice at a time, stopping (413) once the output would pass
    ``max_bytes``: a gzip bomb is never fully inflated."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    out: list[bytes] = []
    size = 0
    pending = data
    try:
        while pending:
            piece = inflater.decompress(pending, max_bytes - size + 1)
            size += len(piece)
            if size > max_bytes:
                raise HttpError(
                    413, f"gzip body inflates past the limit of {max_bytes} bytes; send less"
                )
            out.append(piece)
            pending = inflater.unconsumed_tail
            if inflater.eof:
                break
        if not inflater.eof:
            raise HttpError(400, "gzip body is truncated: the gzip stream does not end")
        trailing = len(inflater.unused_data) + len(inflater.unconsumed_tail)
        if trailing:
            raise HttpError(
                400,
                f"gzip body has {trailing} bytes after the end of the gzip stream; "
                "send exactly one gzip stream (the data may be corrupt or concatenated)",
            )
        out.append(inflater.flush())
    except zlib.error as exc:
        raise HttpError(
            400, f"body is not valid gzip ({exc}); send Content-Encoding: gzip only with gzip data"
        ) from None
    return b"".join(out)


async def decompress(body: bytes, headers: dict[str, str], limits: Limits) -> bytes:
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        if len(body) > limits.max_decompressed_bytes:
            raise HttpError(413, f"body exceeds the limit of {limits.max_decompressed_bytes} bytes")
        return body
    if encoding == "gzip":
        return await gunzip_off_loop(body, limits.max_decompressed_bytes)
    raise HttpError(415, f"Content-Encoding {encoding!r} is not supported: use gzip or identity")


async def gunzip_off_loop(data: bytes, max_bytes: int) -> bytes:
    # Small bodies inflate faster than a thread hop; a big one (or a bomb) must not
    # stall every other connection while it inflates.
    if len(data) <= 64 * 1024:
        return gunzip(data, max_bytes)
    return await asyncio.to_thread(gunzip, data, max_bytes)


Result = DecodeResult | ColumnarResult | TableResult | SignalResult


def undecodable(what: str, exc: Exception) -> HttpError:
    """The 400 for a body a decoder failed on with something other than DecodeError: every
    such failure is a Spanscope bug (decoders must range-check), logged with its
    traceback; the client is told what broke instead of getting a bare 500."""
    log.error("decoder failed on a %s body", what, exc_info=exc)
    return HttpError(
        400,
        f"cannot decode the {what} body: {type(exc).__name__}: {exc} (a Spanscope decoder "
        "bug; the server log has the details, please report it)",
    )


async def decode(decoder: Decoder, body: bytes, limits: Limits) -> Result:
    if len(body) <= INLINE_DECODE_BYTES:
        return decoder(body, limits)
    return await asyncio.to_thread(decoder, body, limits)


async def accept(pipeline: IngestPipeline, fmt: str, body: bytes, result: Result) -> None:
    """Log durably and queue, turning refusals into the HTTP answers clients retry on."""
    try:
        batch = result.signals if isinstance(result, SignalResult) else result.spans
        # A redacted request is logged re-encoded, so the raw values never reach the WAL.
        await pipeline.accept(fmt, result.payload or body, batch)
    except Exception as exc:
        answer = refusal(exc)
        if answer is None:
            raise
        raise refused(answer) from None


async def respond(
    send: Send, status: int, body: bytes, content_type: str, extra: list[tuple[bytes, bytes]]
) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers + extra})
    await send({"type": "http.response.body", "body": body})


def canonical_path(path: str) -> str:
    """``//v1/traces/`` -> ``/v1/traces``: empty segments dropped."""
    return "/" + "/".join(part for part in path.split("/") if part)


def _route(scope: Scope, path: str) -> HttpError | None:
    sent = scope["path"]
    if sent != path:
        if canonical_path(sent) == path:
            # Refused rather than guessed: a proxy or client that mangles paths should be
            # told, and one resource must have one URL.
            return HttpError(400, f"path {sent!r} is not canonical: POST to {path}")
        return HttpError(404, f"no such path {sent!r}: POST spans to {path}")
    if scope["method"] != "POST":
        return HttpError(405, f"method {scope['method']} not allowed: use POST {path}")
    return None


def request_tenant(scope: Scope) -> str:
    """The request's tenant (its token's, its ``X-Scope-OrgID``, or the default; see
    :mod:`spanscope.tenancy`); a bad or forbidden one is the HttpError to answer."""
    try:
        return tenant_of_scope(scope)
    except TenantError as exc:
        raise HttpError(exc.status, exc.message) from None


async def target(default: IngestPipeline, tenants: Tenants | None, tenant: str) -> IngestPipeline:
    """The pipeline of ``tenant``: the default one, a dict look-up for an open tenant, or
    (first write) the tenant opened off the event loop."""
    if tenant == DEFAULT_TENANT:
        return default
    if tenants is None:
        raise HttpError(400, f"{HEADER} {tenant!r}: this receiver serves the default tenant only")
    found = tenants.opened(tenant)
    if found is not None:
        return found
    try:
        return await asyncio.to_thread(tenants.pipeline, tenant)
    except TenantError as exc:
        answer = refusal(exc)  # the registry is stopping: retry
        raise (refused(answer) if answer else HttpError(exc.status, exc.message)) from None


# -- OTLP/HTTP -----------------------------------------------------------------------


def status_json(path: str, status: int, message: str) -> tuple[bytes, str]:
    """A request-policy refusal as OTLP/HTTP's JSON ``google.rpc.Status``."""
    code = {401: _UNAUTHENTICATED, 403: _PERMISSION_DENIED}.get(status, _INVALID_ARGUMENT)
    return orjson.dumps({"code": code, "message": message}), _JSON


@dataclass(frozen=True, slots=True)
class _Signal:
    """What differs between OTLP/HTTP's three paths."""

    request: str
    wal_format: str
    """WAL tag of the protobuf body; the JSON one inserts "-json" for "-proto"."""
    rejected_field: str
    """partial_success field counting refused records (snake_case; JSON uses camelCase)."""
    response: Callable[[], Any]


_SIGNALS = {
    "/v1/traces": _Signal(
        "ExportTraceServiceRequest",
        "otlp-proto",
        "rejected_spans",
        trace_service_pb2.ExportTraceServiceResponse,
    ),
    "/v1/logs": _Signal(
        "ExportLogsServiceRequest",
        "otlp-logs-proto",
        "rejected_log_records",
        logs_service_pb2.ExportLogsServiceResponse,
    ),
    "/v1/metrics": _Signal(
        "ExportMetricsServiceRequest",
        "otlp-metrics-proto",
        "rejected_data_points",
        metrics_service_pb2.ExportMetricsServiceResponse,
    ),
}


class OtlpHttpReceiver:
    """ASGI app for OTLP/HTTP traces, logs and metrics (protobuf and JSON), routed by path
    (``/v1/traces``, ``/v1/logs``, ``/v1/metrics``) with the same rules and answers."""

    path = "/v1/traces"

    def __init__(
        self, pipeline: IngestPipeline, limits: Limits, tenants: Tenants | None = None
    ) -> None:
        self.pipeline = pipeline
        """The default tenant's pipeline (it also decodes: decoders are the same for all)."""
        self.limits = limits
        self.tenants = tenants
        """Every tenant's pipeline (None: the default tenant only, see :func:`target`)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = _headers(scope)
        wire = media_type(headers.get("content-type", ""))
        as_json = wire != _PROTOBUF  # errors for unknown types are JSON: readable
        try:
            path = canonical_path(scope["path"])
            signal = _SIGNALS.get(path)
            if signal is None:
                raise HttpError(
                    404, f"no such path {scope['path']!r}: POST to {', '.join(_SIGNALS)}"
                )
            routing = _route(scope, path)
            if routing is not None:
                raise routing
            if wire not in (_PROTOBUF, _JSON):
                raise HttpError(
                    415,
                    f"Content-Type {headers.get('content-type', '(none)')!r} is not supported: "
                    f"use {_PROTOBUF} or {_JSON}",
                )
            tenant = request_tenant(scope)
            body = await read_body(receive, headers, self.limits.max_body_bytes)
            body = await decompress(body, headers, self.limits)
            if not body.strip():
                raise HttpError(400, f"empty request body: expected an {signal.request}")
            fmt = signal.wal_format.replace("-proto", "-json") if as_json else signal.wal_format
            pool = self.pipeline.decode_pool
            try:
                if pool is not None and not as_json and fmt == "otlp-proto":
                    result: Result = await pool.decode_otlp(body, self.limits)
                else:
                    result = await decode(self.pipeline.decoder(fmt), body, self.limits)
            except DecodeError as exc:
                raise HttpError(400, f"cannot decode the OTLP {wire} body: {exc}") from None
            except BrokenProcessPool as exc:  # the server's fault, not the body's: retry
                log.error("a decode worker process died: %s", exc)
                raise refused(DECODE_WORKERS_GONE) from None
            except Exception as exc:  # a decoder bug must not become a bare 500
                raise undecodable(f"OTLP {wire}", exc) from None
            pipeline = await target(self.pipeline, self.tenants, tenant)
            await accept(pipeline, fmt, body, result)
        except HttpError as err:
            await self._error(send, err, as_json)
            return
        await self._success(send, result, as_json, signal, pipeline)

    async def _success(
        self, send: Send, result: Result, as_json: bool, signal: _Signal, pipeline: IngestPipeline
    ) -> None:
        if result.rejected and signal.rejected_field == "rejected_spans":
            pipeline.stats.rejected_spans += result.rejected  # for /metrics
        if as_json:
            answer: dict[str, Any] = {}
            if result.rejected:
                head, *rest = signal.rejected_field.split("_")
                answer["partialSuccess"] = {
                    head + "".join(w.title() for w in rest): result.rejected,
                    "errorMessage": result.first_error or "",
                }
            await respond(send, 200, orjson.dumps(answer), _JSON, [])
            return
        response = signal.response()
        if result.rejected:
            setattr(response.partial_success, signal.rejected_field, result.rejected)
            response.partial_success.error_message = result.first_error or ""
        await respond(send, 200, response.SerializeToString(), _PROTOBUF, [])

    async def _error(self, send: Send, err: HttpError, as_json: bool) -> None:
        code = _INVALID_ARGUMENT if err.rpc_code is None else err.rpc_code
        extra: list[tuple[bytes, bytes]] = []
        if err.retry_after_s is not None:
            extra.append((b"retry-after", str(err.retry_after_s).encode()))
        if err.status == 405:
            extra.append((b"allow", b"POST"))
        if as_json:
            body = orjson.dumps({"code": code, "message": err.message})
            await respond(send, err.status, body, _JSON, extra)
        else:
            status = status_pb2.Status(code=code, message=err.message)
            await respond(send, err.status, status.SerializeToString(), _PROTOBUF, extra)


# -- Zipkin v2 -----------------------------------------------------------------------


class ZipkinReceiver:
    """ASGI app for Zipkin v2 JSON spans (``POST /api/v2/spans``)."""

    path = "/api/v2/spans"

    def __init__(
        self, pipeline: IngestPipeline, limits: Limits, tenants: Tenants | None = None
    ) -> None:
        self.pipeline = pipeline
        """The default tenant's pipeline (it also decodes: decoders are the same for all)."""
        self.limits = limits
        self.tenants = tenants
        """Every tenant's pipeline (None: the default tenant only, see :func:`target`)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = _headers(scope)
        try:
            routing = _route(scope, self.path)
            if routing is not None:
                raise routing
            # No default: a browser's cross-site "no-cors" post sends text/plain or no
            # Content-Type at all; Zipkin's own reporters and OTel's exporter send JSON's.
            wire = media_type(headers.get("content-type", ""))
            if wire != _JSON:
                raise HttpError(
                    415,
                    f"Content-Type {headers.get('content-type', '(none)')!r} is not supported: "
                    f"send Zipkin v2 spans with Content-Type: {_JSON}",
                )
            tenant = request_tenant(scope)
            body = await read_body(receive, headers, self.limits.max_body_bytes)
            body = await decompress(body, headers, self.limits)
            if not body.strip():
                raise HttpError(400, "empty request body: expected a JSON list of Zipkin v2 spans")
            try:
                result = await decode(self.pipeline.decoder("zipkin-json"), body, self.limits)
            except DecodeError as exc:
                raise HttpError(400, f"cannot decode the Zipkin v2 JSON body: {exc}") from None
            except Exception as exc:  # a decoder bug must not become a bare 500
                raise undecodable("Zipkin v2 JSON", exc) from None
            spans = None if isinstance(result, SignalResult) else result.spans
            pipeline = await target(self.pipeline, self.tenants, tenant)
            pipeline.stats.rejected_spans += result.rejected  # for /metrics
            if result.rejected and not spans:
                # Zipkin has no partial success: say why when nothing could be kept.
                raise HttpError(400, f"no span accepted: {result.first_error}")
            await accept(pipeline, "zipkin-json", body, result)
        except HttpError as err:
            extra = [(b"retry-after", str(err.retry_after_s).encode())] if err.retry_after_s else []
            if err.status == 405:
                extra.append((b"allow", b"POST"))
            await respond(
                send, err.status, err.message.encode(), "text/plain; charset=utf-8", extra
            )
            return
        await respond(send, 202, b"", "text/plain; charset=utf-8", [])

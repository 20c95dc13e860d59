"""What travels between Spanscope processes: OTLP/HTTP protobuf with a marker header.

A collector started with ``--peers`` (:mod:`spanscope.ingest.forward`) sends two kinds of
``POST /v1/traces`` requests, both a plain ``ExportTraceServiceRequest`` in protobuf, told
apart by the header ``X-Spanscope-Forwarded``:

================  ==================================  =====================================
header value      sent by, to                         the receiver
================  ==================================  =====================================
``peer``          a collector, to the peer that owns  logs it (WAL tag ``otlp-forwarded``)
                  the spans' trace ids                and hands it to its own tail sampler;
                                                      never forwards it again, whatever its
                                                      own peer list says (no ping-pong)
``decided``       a collector (``--export-to``), to   logs it (``otlp-decided``) and stores
                  the storage node: traces its tail   it: no forwarding, no sampling again;
                  sampler kept                        the decisions are recorded with it
================  ==================================  =====================================

A ``decided`` request carries its tail-sampling decisions (the rows of
:data:`spanscope.batch.SAMPLING_SCHEMA`) as one extra ``ResourceSpans`` without spans whose
resource has the attribute ``spanscope.sampling.decisions``: a JSON list of
``[trace id hex, policy, weight, decided_ns]``. It stays an OTLP message any receiver
parses (an OTLP receiver that is not Spanscope sees a resource with no spans).

:class:`ForwardedReceiver` wraps the OTLP/HTTP receiver: requests with the header go its
way, every other request to the receiver as before. The answers are OTLP/HTTP's (200
``ExportTraceServiceResponse``; 400/413/415 with a ``google.rpc.Status``; 429/503 with
``Retry-After`` from ``ingest/refusals.py``).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from spanscope.batch import SpanTable, batch_to_spans, columns_table, sampling_table
from spanscope.ingest.limits import Limits
from spanscope.ingest.otlp_columns import decode_otlp_columns
from spanscope.ingest.results import DecodeError
from spanscope.model.spans import Attributes, AttrValue, Span

HEADER = "x-spanscope-forwarded"
"""The marker header; its value is :data:`PEER` or :data:`DECIDED`."""
PEER = "peer"
DECIDED = "decided"
FORWARDED_FORMAT = "otlp-forwarded"
"""WAL tag of a request a peer forwarded: sampled here, never forwarded again."""
DECIDED_FORMAT = "otlp-decided"
"""WAL tag of a request of traces a collector's tail sampler kept: stored as they are."""
FORMATS = {PEER: FORWARDED_FORMAT, DECIDED: DECIDED_FORMAT}
DECISIONS_KEY = "spanscope.sampling.decisions"

_PROTOBUF = "application/x-protobuf"
_INVALID_ARGUMENT = 3


# -- encoding ------------------------------------------------------------------------


def _any_value(value: AttrValue, out: common_pb2.AnyValue) -> None:
    if isinstance(value, bool):
        out.bool_value = value
    elif isinstance(value, int):
        out.int_value = value
    elif isinstance(value, float):
        out.double_value = value
    elif isinstance(value, str):
        out.string_value = value
    elif isinstance(value, bytes | bytearray):
        out.bytes_value = bytes(value)
    elif isinstance(value, list | tuple):
        array = out.array_value
        array.SetInParent()
        for item in value:
            _any_value(item, array.values.add())
    elif isinstance(value, dict):
        kvlist = out.kvlist_value
        kvlist.SetInParent()
        _attributes(value, kvlist.values)
    elif value is not None:
        out.string_value = str(value)


def _attributes(attrs: Attributes, out: Any) -> None:
    for key, value in attrs.items():
        kv = out.add()
        kv.key = key
        _any_value(value, kv.value)


def _span_pb(span: Span, out: trace_pb2.Span) -> None:
    out.trace_id = span.trace_id
    out.span_id = span.span_id
    if span.parent_span_id:
        out.parent_span_id = span.parent_span_id
    out.trace_state = span.trace_state
    out.flags = span.flags
    out.name = span.name
    out.kind = trace_pb2.Span.SpanKind.ValueType(int(span.kind))
    out.start_time_unix_nano = span.start_ns
    out.end_time_unix_nano = span.end_ns
    _attributes(span.attributes, out.attributes)
    out.dropped_attributes_count = span.dropped_attributes_count
    for event in span.events:
        e = out.events.add()
        e.time_unix_nano = event.time_ns
        e.name = event.name
        _attributes(event.attributes, e.attributes)
        e.dropped_attributes_count = event.dropped_attributes_count
    out.dropped_events_count = span.dropped_events_count
    for link in span.links:
        lk = out.links.add()
        lk.trace_id = link.trace_id
        lk.span_id = link.span_id
        lk.trace_state = link.trace_state
        _attributes(link.attributes, lk.attributes)
        lk.dropped_attributes_count = link.dropped_attributes_count
    out.dropped_links_count = span.dropped_links_count
    out.status.code = trace_pb2.Status.StatusCode.ValueType(int(span.status_code))
    out.status.message = span.status_message


def encode_spans(
    spans: Iterable[Span], decisions: Sequence[tuple[str, str, float, int]] = ()
) -> bytes:
    """An ``ExportTraceServiceRequest`` of ``spans`` (grouped by resource and scope), plus
    ``decisions`` ([trace id hex, policy, weight, decided_ns]) as described above."""
    request = trace_service_pb2.ExportTraceServiceRequest()
    groups: dict[bytes, Any] = {}
    scopes: dict[tuple[bytes, str, str], Any] = {}
    for span in spans:
        resource = span.resource
        if "service.name" not in resource:
            resource = {**resource, "service.name": span.service}
        rkey = orjson.dumps(resource, option=orjson.OPT_SORT_KEYS, default=repr)
        rs = groups.get(rkey)
        if rs is None:
            rs = groups[rkey] = request.resource_spans.add()
            _attributes(resource, rs.resource.attributes)
        skey = (rkey, span.scope_name, span.scope_version)
        ss = scopes.get(skey)
        if ss is None:
            ss = scopes[skey] = rs.scope_spans.add()
            ss.scope.name = span.scope_name
            ss.scope.version = span.scope_version
        _span_pb(span, ss.spans.add())
    if decisions:
        marker = request.resource_spans.add()
        kv = marker.resource.attributes.add()
        kv.key = DECISIONS_KEY
        kv.value.string_value = orjson.dumps([list(d) for d in decisions]).decode()
    return bytes(request.SerializeToString())


def decisions_of(tables: Sequence[SpanTable]) -> list[tuple[str, str, float, int]]:
    """The tail-sampling decision rows riding on ``tables`` as (trace hex, policy, weight,
    decided_ns)."""
    out: list[tuple[str, str, float, int]] = []
    for t in tables:
        if t.sampling is None or not t.sampling.num_rows:
            continue
        c = t.sampling.to_pydict()
        for hi, lo, policy, weight, at in zip(
            c["trace_hi"], c["trace_lo"], c["policy"], c["weight"], c["decided_ns"], strict=True
        ):
            out.append((((hi << 64) | lo).to_bytes(16, "big").hex(), policy, weight, at))
    return out


def encode_table(table: SpanTable, decisions: Sequence[tuple[str, str, float, int]] = ()) -> bytes:
    """:func:`encode_spans` of an Arrow span batch."""
    return encode_spans(batch_to_spans(table) if len(table) else [], decisions)


# -- decoding (the WAL's decoders for the two tags) ----------------------------------


def _no_redaction(limits: Limits) -> Limits:
    # The sender redacted at its own ingest; a "hash" rule applied twice would change the
    # value again.
    return dataclasses.replace(limits, redaction=None) if limits.redaction is not None else limits


@dataclass(slots=True)
class DecidedResult:
    """What :func:`decode_decided` returns: the spans as an Arrow batch that carries its
    tail-sampling decisions (``SpanTable.sampling``)."""

    spans: SpanTable
    rejected: int = 0
    first_error: str | None = None
    payload: bytes | None = None
    decisions: int = field(default=0)


def decode_forwarded(body: bytes, limits: Limits) -> Any:
    """WAL tag ``otlp-forwarded``: the OTLP protobuf decoder, without redaction again."""
    return decode_otlp_columns(body, _no_redaction(limits))


def decode_decided(body: bytes, limits: Limits) -> DecidedResult:
    """WAL tag ``otlp-decided``: the spans, with the decisions of the marker resource."""
    request = trace_service_pb2.ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except Exception as exc:
        raise DecodeError(f"not an ExportTraceServiceRequest: {exc}") from None
    rows: list[tuple[bytes, str, float, int]] = []
    for rs in request.resource_spans:
        for kv in rs.resource.attributes:
            if kv.key != DECISIONS_KEY:
                continue
            try:
                for tid, policy, weight, at in orjson.loads(kv.value.string_value):
                    rows.append((bytes.fromhex(tid), str(policy), float(weight), int(at)))
            except (ValueError, TypeError) as exc:
                raise DecodeError(f"resource attribute {DECISIONS_KEY}: {exc}") from None
    result = decode_otlp_columns(body, _no_redaction(limits))
    table = columns_table(result.spans)
    if rows:
        table.sampling = sampling_table(rows)
    return DecidedResult(table, result.rejected, result.first_error, None, len(rows))


# -- receiving -----------------------------------------------------------------------


class ForwardedReceiver:
    """ASGI wrapper of the OTLP/HTTP receiver: ``POST /v1/traces`` with the marker header
    is logged under its own WAL tag (see the module docstring); the rest goes to ``inner``."""

    def __init__(self, inner: Any, pipeline: Any, limits: Limits) -> None:
        self.inner = inner
        self.pipeline = pipeline
        self.limits = limits

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        marker = None
        if scope["type"] == "http" and scope["path"] == "/v1/traces":
            for k, v in scope["headers"]:
                if k.lower() == HEADER.encode():
                    marker = v.decode("latin-1").strip().lower()
        if marker is None:
            await self.inner(scope, receive, send)
            return
        await self._forwarded(marker, scope, receive, send)

    async def _forwarded(self, marker: str, scope: Any, receive: Any, send: Any) -> None:
        from spanscope.ingest.http import (
            HttpError,
            accept,
            decompress,
            media_type,
            read_body,
            respond,
        )

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            fmt = FORMATS.get(marker)
            if fmt is None:
                raise HttpError(
                    400, f"{HEADER}: {marker!r} is not one of {', '.join(sorted(FORMATS))}"
                )
            if scope["method"] != "POST":
                raise HttpError(405, f"method {scope['method']} not allowed: use POST /v1/traces")
            if media_type(headers.get("content-type", "")) != _PROTOBUF:
                raise HttpError(415, f"forwarded spans must be OTLP protobuf ({_PROTOBUF})")
            body = await read_body(receive, headers, self.limits.max_body_bytes)
            body = await decompress(body, headers, self.limits)
            decode = decode_decided if fmt == DECIDED_FORMAT else decode_forwarded
            try:
                result = await asyncio.to_thread(decode, body, self.limits)
            except DecodeError as exc:
                raise HttpError(400, f"cannot decode the forwarded OTLP body: {exc}") from None
            await accept(self.pipeline, fmt, body, result)
        except HttpError as err:
            extra = []
            if err.retry_after_s is not None:
                extra.append((b"retry-after", str(err.retry_after_s).encode()))
            code = _INVALID_ARGUMENT if err.rpc_code is None else err.rpc_code
            status = status_pb2.Status(code=code, message=err.message)
            await respond(send, err.status, status.SerializeToString(), _PROTOBUF, extra)
            return
        response = trace_service_pb2.ExportTraceServiceResponse()
        if result.rejected:
            response.partial_success.rejected_spans = result.rejected
            response.partial_success.error_message = result.first_error or ""
        await respond(send, 200, response.SerializeToString(), _PROTOBUF, [])

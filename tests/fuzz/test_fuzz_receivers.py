"""Fuzz every receiver: no body, however hostile, gets a 5xx or stops the store (issue 10).

Seeded and bounded (``derandomize=True``, ``max_examples``, ``deadline=None``), so CI runs
the same few thousand cases every time in well under a minute:

* **in-process** (fast, most cases): structurally valid-ish OTLP protobuf requests built
  with the opentelemetry-proto classes from values over the FULL wire ranges (uint64
  times, uint32 counts, any-length ids, odd strings, deep ``AnyValue`` nesting), their
  bytes mutated, OTLP/JSON documents (huge ints, wrong types, nulls), Zipkin JSON lists,
  OTLP logs and metrics, and raw random bytes go through every decoder. Each decoder must
  either refuse the body with :class:`DecodeError` (-> 400) or return a result the DuckDB
  store accepts — the store refusing it is what wedged the writer before;
* **one real server** over HTTP and gRPC (a few hundred requests): never a 5xx, never
  gRPC INTERNAL/UNKNOWN; afterwards ``/healthz`` is 200, a span sent before the fuzzing
  is still there and a new one becomes queryable.

Run: ``pytest tests/fuzz/test_fuzz_receivers.py``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from spanscope.ingest.decode_worker import _decode
from spanscope.ingest.limits import DEFAULT_LIMITS
from spanscope.ingest.otlp import decode_otlp_protobuf
from spanscope.ingest.otlp_columns import decode_otlp_columns, decode_otlp_request_columns
from spanscope.ingest.otlp_json import decode_otlp_json
from spanscope.ingest.otlp_logs import decode_otlp_logs_json, decode_otlp_logs_protobuf
from spanscope.ingest.otlp_metrics import decode_otlp_metrics_json, decode_otlp_metrics_protobuf
from spanscope.ingest.results import DecodeError
from spanscope.ingest.zipkin import decode_zipkin_json
from spanscope.store.duckdb import DuckDBStore

NOW = time.time_ns()


def fuzz(max_examples: int) -> settings:
    """Seeded and bounded: the same cases on every run, no example database."""
    return settings(
        derandomize=True,
        deadline=None,
        max_examples=max_examples,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.function_scoped_fixture,
        ],
        database=None,
    )


# -- strategies over the full wire ranges --------------------------------------------

U64 = st.integers(0, 2**64 - 1)
U32 = st.integers(0, 2**32 - 1)
I32 = st.integers(-(2**31), 2**31 - 1)
I64 = st.integers(-(2**63), 2**63 - 1)
EDGES = st.sampled_from([0, 1, 2**31, 2**32 - 1, 2**63 - 1, 2**63, 2**64 - 1])
RECENT = st.integers(NOW - 10**13, NOW + 10**9)
TIMES = st.one_of(U64, EDGES, RECENT)
STARTS = st.one_of(RECENT, RECENT, TIMES)
"""Mostly a start the window accepts, so the other fields of the span get checked too."""
COUNTS = st.one_of(U32, st.sampled_from([0, 2**32 - 1]))
TEXT = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=24),
    st.sampled_from(["", "service.name", "\x00", "é" * 300, "🚀", "\u202e"]),
)


def _usable_id(size: int) -> st.SearchStrategy[bytes]:
    """An id of the right size that is not all zeros (hypothesis favours zero bytes)."""
    return st.binary(min_size=size, max_size=size).map(lambda b: b if any(b) else b[:-1] + b"\x01")


TRACE_IDS = st.one_of(_usable_id(16), _usable_id(16), st.binary(max_size=20))
SPAN_IDS = st.one_of(_usable_id(8), _usable_id(8), st.binary(max_size=12))


def _nested(depth: int) -> AnyValue:
    value = AnyValue(string_value="leaf")
    for i in range(depth):
        value = (
            AnyValue(array_value=ArrayValue(values=[value]))
            if i % 2
            else AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key="k", value=value)]))
        )
    return value


SCALARS = st.one_of(
    TEXT.map(lambda s: AnyValue(string_value=s)),
    I64.map(lambda i: AnyValue(int_value=i)),
    st.booleans().map(lambda b: AnyValue(bool_value=b)),
    st.floats(allow_nan=True, allow_infinity=True).map(lambda f: AnyValue(double_value=f)),
    st.binary(max_size=16).map(lambda b: AnyValue(bytes_value=b)),
    st.just(AnyValue()),
)
ANY_VALUES = st.one_of(
    st.recursive(
        SCALARS,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3).map(lambda v: AnyValue(array_value=ArrayValue(values=v))),
            st.lists(st.tuples(TEXT, inner), max_size=3).map(
                lambda kvs: AnyValue(
                    kvlist_value=KeyValueList(values=[KeyValue(key=k, value=v) for k, v in kvs])
                )
            ),
        ),
        max_leaves=12,
    ),
    st.integers(20, 35).map(_nested),  # past MAX_VALUE_DEPTH, within protobuf's 100 levels
)
KEY_VALUES = st.lists(st.builds(KeyValue, key=TEXT, value=ANY_VALUES), max_size=4) | st.integers(
    0, 140
).map(lambda n: [KeyValue(key=f"k{i}", value=AnyValue(int_value=i)) for i in range(n)])


def _span(draw: Any) -> Span:
    n_events = draw(st.sampled_from([0, 1, 2, 129]))
    event = st.builds(
        Span.Event,
        time_unix_nano=TIMES,
        name=TEXT,
        attributes=st.lists(st.builds(KeyValue, key=TEXT, value=SCALARS), max_size=2),
        dropped_attributes_count=COUNTS,
    )
    link = st.builds(
        Span.Link,
        trace_id=TRACE_IDS,
        span_id=SPAN_IDS,
        trace_state=TEXT,
        attributes=st.lists(st.builds(KeyValue, key=TEXT, value=SCALARS), max_size=2),
        dropped_attributes_count=COUNTS,
    )
    first = draw(event)
    return Span(
        trace_id=draw(TRACE_IDS),
        span_id=draw(SPAN_IDS),
        parent_span_id=draw(st.one_of(st.just(b""), SPAN_IDS)),
        trace_state=draw(TEXT),
        name=draw(TEXT),
        kind=draw(I32),
        start_time_unix_nano=draw(STARTS),
        end_time_unix_nano=draw(TIMES),
        attributes=draw(KEY_VALUES),
        dropped_attributes_count=draw(COUNTS),
        events=[first] * n_events if n_events > 2 else draw(st.lists(event, max_size=n_events)),
        dropped_events_count=draw(COUNTS),
        links=draw(st.lists(link, max_size=2)) if draw(st.booleans()) else [],
        dropped_links_count=draw(COUNTS),
        status=Status(code=draw(I32), message=draw(TEXT)),
        flags=draw(U32),
    )


@st.composite
def trace_requests(draw: Any) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=draw(KEY_VALUES)),
                scope_spans=[
                    ScopeSpans(
                        scope=InstrumentationScope(name=draw(TEXT), version=draw(TEXT)),
                        spans=[_span(draw) for _ in range(draw(st.integers(0, 3)))],
                    )
                ],
            )
            for _ in range(draw(st.integers(0, 2)))
        ]
    )


@st.composite
def mutated(draw: Any, bodies: st.SearchStrategy[bytes]) -> bytes:
    """A valid body with a few bytes flipped, cut or inserted."""
    body = bytearray(draw(bodies))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "cut", "insert"]))
        at = draw(st.integers(0, max(0, len(body))))
        if op == "flip" and at < len(body):
            body[at] = draw(st.integers(0, 255))
        elif op == "cut":
            del body[at : at + draw(st.integers(1, 8))]
        else:
            body[at:at] = draw(st.binary(min_size=1, max_size=4))
    return bytes(body)


@st.composite
def log_requests(draw: Any) -> ExportLogsServiceRequest:
    records = [
        LogRecord(
            time_unix_nano=draw(STARTS),
            observed_time_unix_nano=draw(TIMES),
            severity_number=draw(I32),
            severity_text=draw(TEXT),
            body=draw(ANY_VALUES),
            attributes=draw(KEY_VALUES),
            dropped_attributes_count=draw(COUNTS),
            flags=draw(U32),
            trace_id=draw(TRACE_IDS),
            span_id=draw(SPAN_IDS),
            event_name=draw(TEXT),
        )
        for _ in range(draw(st.integers(0, 3)))
    ]
    return ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=Resource(attributes=draw(KEY_VALUES)),
                scope_logs=[ScopeLogs(log_records=records)],
            )
        ]
    )


BUCKETS = st.lists(U64, max_size=3)


def _exemplars(draw: Any) -> list[metrics_pb2.Exemplar]:
    return [
        metrics_pb2.Exemplar(
            time_unix_nano=draw(TIMES),
            as_double=draw(st.floats()),
            trace_id=draw(TRACE_IDS),
            span_id=draw(SPAN_IDS),
        )
        for _ in range(draw(st.integers(0, 2)))
    ]


@st.composite
def metric_requests(draw: Any) -> ExportMetricsServiceRequest:
    metric = metrics_pb2.Metric(name=draw(TEXT), unit=draw(TEXT))
    kind = draw(st.sampled_from(["gauge", "sum", "histogram", "exponential_histogram", "summary"]))
    common = lambda: {  # noqa: E731 - fresh draws per point
        "time_unix_nano": draw(STARTS),
        "start_time_unix_nano": draw(TIMES),
        "attributes": draw(KEY_VALUES),
        "flags": draw(U32),
    }
    n = draw(st.integers(0, 3))
    if kind in ("gauge", "sum"):
        points = [
            metrics_pb2.NumberDataPoint(**common(), as_int=draw(I64), exemplars=_exemplars(draw))
            for _ in range(n)
        ]
        data = getattr(metric, kind)
        data.data_points.extend(points)
        if kind == "sum":
            metric.sum.aggregation_temporality = draw(I32)
            metric.sum.is_monotonic = draw(st.booleans())
    elif kind == "histogram":
        metric.histogram.aggregation_temporality = draw(I32)
        for _ in range(n):
            bounds = draw(st.lists(st.floats(), max_size=4))
            metric.histogram.data_points.append(
                metrics_pb2.HistogramDataPoint(
                    **common(),
                    count=draw(U64),
                    sum=draw(st.floats()),
                    explicit_bounds=bounds,
                    bucket_counts=draw(st.lists(U64, min_size=0, max_size=len(bounds) + 2)),
                    exemplars=_exemplars(draw),
                )
            )
    elif kind == "exponential_histogram":
        for _ in range(n):
            buckets = metrics_pb2.ExponentialHistogramDataPoint.Buckets
            metric.exponential_histogram.data_points.append(
                metrics_pb2.ExponentialHistogramDataPoint(
                    **common(),
                    count=draw(U64),
                    scale=draw(I32),
                    zero_count=draw(U64),
                    positive=buckets(
                        offset=draw(I32), bucket_counts=draw(st.lists(U64, max_size=3))
                    ),
                    negative=buckets(
                        offset=draw(I32), bucket_counts=draw(st.lists(U64, max_size=3))
                    ),
                )
            )
    else:
        metric.summary.data_points.add(time_unix_nano=draw(TIMES), count=draw(U64))
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.extend(draw(KEY_VALUES))
    rm.scope_metrics.add().metrics.append(metric)
    return request


# JSON: any value (ints far beyond 64 bits, floats, nulls, wrong types) ...
JSON_ANY = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        EDGES,
        st.floats(allow_nan=False, allow_infinity=False),
        TEXT,
        EDGES.map(str),
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=10,
)


def _json_field(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a plausible value for the field, sometimes anything at all."""
    return st.one_of(valid, valid, JSON_ANY)


HEX_IDS = st.one_of(TRACE_IDS.map(bytes.hex), SPAN_IDS.map(bytes.hex), TEXT)
HEX_TRACE_IDS = st.one_of(TRACE_IDS.map(bytes.hex), HEX_IDS)
HEX_SPAN_IDS = st.one_of(SPAN_IDS.map(bytes.hex), HEX_IDS)
JSON_TIMES = st.one_of(TIMES, TIMES.map(str), st.integers(2**64, 2**80).map(str))
JSON_STARTS = st.one_of(RECENT.map(str), RECENT, JSON_TIMES)
JSON_ATTRS = st.lists(
    st.fixed_dictionaries(
        {
            "key": _json_field(TEXT),
            "value": _json_field(
                st.one_of(
                    TEXT.map(lambda s: {"stringValue": s}),
                    st.integers(-(2**70), 2**70).map(lambda i: {"intValue": str(i)}),
                    st.integers(-(2**70), 2**70).map(lambda i: {"intValue": i}),
                    st.floats().map(lambda f: {"doubleValue": f}),
                    TEXT.map(lambda s: {"bytesValue": s}),
                    st.integers(0, 60).map(
                        lambda d: (
                            json.loads('{"arrayValue": {"values": [' * d + "]}}" * d) if d else {}
                        )
                    ),
                )
            ),
        }
    ),
    max_size=3,
)
JSON_SPANS_ANY = st.fixed_dictionaries(
    {
        "traceId": _json_field(HEX_TRACE_IDS),
        "spanId": _json_field(HEX_SPAN_IDS),
        "name": _json_field(TEXT),
        "startTimeUnixNano": _json_field(JSON_STARTS),
        "endTimeUnixNano": _json_field(JSON_TIMES),
    },
    optional={
        "parentSpanId": _json_field(HEX_IDS),
        "kind": _json_field(st.integers(-3, 8)),
        "attributes": _json_field(JSON_ATTRS),
        "events": _json_field(
            st.lists(
                st.fixed_dictionaries(
                    {"timeUnixNano": _json_field(JSON_TIMES), "name": _json_field(TEXT)},
                    optional={"droppedAttributesCount": _json_field(COUNTS)},
                ),
                max_size=3,
            )
        ),
        "links": _json_field(
            st.lists(st.fixed_dictionaries({"traceId": HEX_IDS, "spanId": HEX_IDS}), max_size=2)
        ),
        "droppedEventsCount": _json_field(COUNTS),
        "droppedAttributesCount": _json_field(COUNTS),
        "droppedLinksCount": _json_field(COUNTS),
        "flags": _json_field(COUNTS),
        "status": _json_field(st.fixed_dictionaries({"code": st.integers(-1, 4)})),
    },
)


POISON_TIMES = st.one_of(
    st.sampled_from([2**63, str(2**63), str(2**64 - 1)]),  # past int64, within uint64
    st.sampled_from([2**63, str(2**63), str(2**64 - 1)]),
    EDGES,
    EDGES.map(str),
    st.integers(2**64, 2**80),
    JSON_TIMES,
)
JSON_POISON = {
    "traceId": HEX_TRACE_IDS,
    "spanId": HEX_SPAN_IDS,
    "parentSpanId": HEX_SPAN_IDS,
    "startTimeUnixNano": POISON_TIMES,
    "endTimeUnixNano": POISON_TIMES,
    "kind": st.integers(-(2**70), 2**70),
    "flags": st.one_of(COUNTS, st.integers(2**32, 2**70)),
    "droppedEventsCount": COUNTS,
    "droppedAttributesCount": COUNTS,
    "droppedLinksCount": COUNTS,
    "attributes": JSON_ATTRS,
    "events": st.lists(
        st.fixed_dictionaries(
            {"timeUnixNano": POISON_TIMES, "name": TEXT},
            optional={"droppedAttributesCount": COUNTS},
        ),
        max_size=3,
    )
    | st.integers(120, 135).map(lambda n: [{"timeUnixNano": str(NOW), "name": "e"}] * n),
    "status": st.fixed_dictionaries({"code": JSON_ANY, "message": JSON_ANY}),
}


# The fields behind the store's fixed-width columns are drawn more often.
_JSON_POISON_KEYS = sorted(JSON_POISON) + ["endTimeUnixNano", "events", "droppedEventsCount"] * 2


@st.composite
def json_spans(draw: Any) -> dict[str, Any]:
    """A span the decoder keeps, then up to two fields set to edge or garbage values:
    one bad field at a time is what reaches the range checks behind the type checks."""
    start = draw(RECENT)
    span: dict[str, Any] = {
        "traceId": draw(_usable_id(16)).hex(),
        "spanId": draw(_usable_id(8)).hex(),
        "name": draw(TEXT),
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + draw(st.integers(0, 10**10))),
    }
    for key in draw(st.lists(st.sampled_from(_JSON_POISON_KEYS), max_size=2, unique=True)):
        span[key] = draw(st.one_of(JSON_POISON[key], JSON_POISON[key], JSON_ANY))
    return span


JSON_SPANS = st.one_of(json_spans(), json_spans(), JSON_SPANS_ANY)
_JSON_REQUESTS = st.builds(
    lambda spans, attrs: {
        "resourceSpans": [{"resource": {"attributes": attrs}, "scopeSpans": [{"spans": spans}]}]
    },
    st.lists(JSON_SPANS, min_size=1, max_size=3),
    st.one_of(st.just([{"key": "service.name", "value": {"stringValue": "fuzz"}}]), JSON_ATTRS),
)
OTLP_JSON_DOCS = st.one_of(
    _JSON_REQUESTS,
    _JSON_REQUESTS,
    _JSON_REQUESTS,
    JSON_ANY.map(lambda v: {"resourceSpans": v}),
    JSON_ANY,
)
ZIPKIN_SPANS_ANY = st.fixed_dictionaries(
    {
        "traceId": _json_field(HEX_TRACE_IDS),
        "id": _json_field(HEX_SPAN_IDS),
        "timestamp": _json_field(
            st.one_of(RECENT.map(lambda t: t // 1000), U64, EDGES, st.integers(0, 2**70))
        ),
    },
    optional={
        "parentId": _json_field(HEX_IDS),
        "name": _json_field(TEXT),
        "duration": _json_field(st.one_of(U64, EDGES, st.integers(0, 2**70))),
        "kind": _json_field(st.sampled_from(["CLIENT", "SERVER", "PRODUCER", "CONSUMER"])),
        "localEndpoint": _json_field(st.fixed_dictionaries({"serviceName": TEXT})),
        "remoteEndpoint": _json_field(
            st.fixed_dictionaries({"serviceName": TEXT, "port": st.integers(-(2**70), 2**70)})
        ),
        "tags": _json_field(st.dictionaries(TEXT, JSON_ANY, max_size=4)),
        "annotations": _json_field(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "timestamp": _json_field(st.one_of(U64, st.integers(0, 2**70))),
                        "value": _json_field(TEXT),
                    }
                ),
                max_size=3,
            )
        ),
        "shared": _json_field(st.booleans()),
        "debug": _json_field(st.booleans()),
    },
)


ZIPKIN_MICROS = st.one_of(U64, EDGES, st.integers(0, 2**70), st.just(2**62))
ZIPKIN_POISON = {
    "traceId": HEX_TRACE_IDS,
    "id": HEX_SPAN_IDS,
    "parentId": HEX_SPAN_IDS,
    "timestamp": ZIPKIN_MICROS,
    "duration": ZIPKIN_MICROS,
    "kind": JSON_ANY,
    "remoteEndpoint": st.fixed_dictionaries(
        {"serviceName": TEXT, "port": st.integers(-(2**70), 2**70)}
    ),
    "tags": st.dictionaries(
        st.sampled_from(["otel.dropped_events_count", "otel.dropped_attributes_count", "x"]),
        st.one_of(COUNTS.map(str), st.integers(0, 2**70).map(str), JSON_ANY),
        max_size=3,
    ),
    "annotations": st.lists(
        st.fixed_dictionaries({"timestamp": ZIPKIN_MICROS, "value": TEXT}), max_size=3
    )
    | st.integers(120, 135).map(lambda n: [{"timestamp": NOW // 1000, "value": "a"}] * n),
}


_ZIPKIN_POISON_KEYS = sorted(ZIPKIN_POISON) + ["duration", "timestamp", "annotations"] * 2


@st.composite
def zipkin_spans(draw: Any) -> dict[str, Any]:
    """A span the decoder keeps, then up to two fields set to edge or garbage values."""
    span: dict[str, Any] = {
        "traceId": draw(_usable_id(16)).hex(),
        "id": draw(_usable_id(8)).hex(),
        "name": draw(TEXT),
        "timestamp": draw(RECENT) // 1000,
        "duration": draw(st.integers(0, 10**7)),
        "localEndpoint": {"serviceName": draw(TEXT)},
    }
    for key in draw(st.lists(st.sampled_from(_ZIPKIN_POISON_KEYS), max_size=2, unique=True)):
        span[key] = draw(st.one_of(ZIPKIN_POISON[key], ZIPKIN_POISON[key], JSON_ANY))
    return span


ZIPKIN_SPANS = st.one_of(zipkin_spans(), zipkin_spans(), ZIPKIN_SPANS_ANY)
ZIPKIN_DOCS = st.one_of(
    st.lists(ZIPKIN_SPANS, min_size=1, max_size=4),
    st.lists(ZIPKIN_SPANS, min_size=1, max_size=4),
    JSON_ANY,
)


def dumps(document: Any) -> bytes:
    """The stdlib's encoder: it writes ints of any size (orjson stops at 64 bits)."""
    return json.dumps(document).encode()


# -- in-process: every decoder, and the store behind it ------------------------------


@pytest.fixture(scope="module")
def store() -> Iterator[DuckDBStore]:
    s = DuckDBStore(":memory:")
    yield s
    s.close()


def decoded(decoder: Callable[..., Any], body: bytes) -> Any:
    """The decoder's result, or None when it refused the body as a whole (-> 400)."""
    try:
        return decoder(body, DEFAULT_LIMITS, NOW)
    except DecodeError:
        return None


def check_traces(store: DuckDBStore, body: bytes) -> None:
    columns = decoded(decode_otlp_columns, body)
    as_spans = decoded(decode_otlp_protobuf, body)
    assert (columns is None) == (as_spans is None)
    if columns is not None:
        store.write_columns(columns.spans)  # the store must accept whatever was kept
        assert columns.rejected == as_spans.rejected
    packed = _decode(body, DEFAULT_LIMITS)  # a decode worker: a table or a reason, no raise
    assert isinstance(packed, str) or packed.rejected >= 0


@fuzz(350)
@given(request=trace_requests())
def test_otlp_protobuf_requests(store: DuckDBStore, request: ExportTraceServiceRequest) -> None:
    check_traces(store, request.SerializeToString())
    grpc_result = decode_otlp_request_columns(request, DEFAULT_LIMITS, NOW)
    store.write_columns(grpc_result.spans)


@fuzz(200)
@given(body=mutated(trace_requests().map(lambda r: r.SerializeToString())))
def test_mutated_otlp_protobuf(store: DuckDBStore, body: bytes) -> None:
    check_traces(store, body)


@fuzz(400)
@given(document=OTLP_JSON_DOCS)
def test_otlp_json_documents(store: DuckDBStore, document: Any) -> None:
    result = decoded(decode_otlp_json, dumps(document))
    if result is not None:
        store.write(result.spans)


@fuzz(400)
@given(document=ZIPKIN_DOCS)
def test_zipkin_lists(store: DuckDBStore, document: Any) -> None:
    result = decoded(decode_zipkin_json, dumps(document))
    if result is not None:
        store.write(result.spans)


@fuzz(250)
@given(request=log_requests())
def test_otlp_logs(store: DuckDBStore, request: ExportLogsServiceRequest) -> None:
    result = decoded(decode_otlp_logs_protobuf, request.SerializeToString())
    if result is not None:
        store.write_signals([result.signals])


@fuzz(250)
@given(request=metric_requests())
def test_otlp_metrics(store: DuckDBStore, request: ExportMetricsServiceRequest) -> None:
    result = decoded(decode_otlp_metrics_protobuf, request.SerializeToString())
    if result is not None:
        store.write_signals([result.signals])


SIGNAL_JSON_DOCS = st.one_of(
    JSON_ANY.map(lambda v: {"resourceLogs": v}),
    JSON_ANY.map(lambda v: {"resourceMetrics": v}),
    st.builds(
        lambda records: {"resourceLogs": [{"scopeLogs": [{"logRecords": records}]}]},
        st.lists(
            st.dictionaries(
                st.sampled_from(
                    [
                        "timeUnixNano",
                        "observedTimeUnixNano",
                        "traceId",
                        "spanId",
                        "severityNumber",
                        "body",
                        "flags",
                    ]
                ),
                JSON_ANY,
            ),
            max_size=3,
        ),
    ),  # fmt: skip
    JSON_ANY,
)


@fuzz(200)
@given(document=SIGNAL_JSON_DOCS)
def test_otlp_logs_and_metrics_json(store: DuckDBStore, document: Any) -> None:
    body = dumps(document)
    for decoder in (decode_otlp_logs_json, decode_otlp_metrics_json):
        result = decoded(decoder, body)
        if result is not None:
            store.write_signals([result.signals])


ALL_DECODERS = (
    decode_otlp_columns,
    decode_otlp_protobuf,
    decode_otlp_json,
    decode_zipkin_json,
    decode_otlp_logs_protobuf,
    decode_otlp_logs_json,
    decode_otlp_metrics_protobuf,
    decode_otlp_metrics_json,
)


@fuzz(400)
@given(body=st.binary(max_size=256))
def test_raw_bytes_into_every_decoder(store: DuckDBStore, body: bytes) -> None:
    for decoder in ALL_DECODERS:
        result = decoded(decoder, body)
        if result is None:
            continue
        if hasattr(result, "signals"):
            store.write_signals([result.signals])
        elif hasattr(result.spans, "trace_id"):
            store.write_columns(result.spans)
        else:
            store.write(result.spans)


# -- one real server over HTTP and gRPC ----------------------------------------------

GOOD_TRACE = bytes.fromhex("f0220000000000000000000000000001")


def good_request(trace_id: bytes, span_id: bytes) -> bytes:
    now = time.time_ns()
    rs = ResourceSpans(
        resource=Resource(
            attributes=[KeyValue(key="service.name", value=AnyValue(string_value="fuzzed"))]
        ),
        scope_spans=[
            ScopeSpans(
                spans=[
                    Span(
                        trace_id=trace_id,
                        span_id=span_id,
                        name="GET /still-here",
                        start_time_unix_nano=now - 1_000_000,
                        end_time_unix_nano=now,
                    )
                ]
            )
        ],
    )
    return ExportTraceServiceRequest(resource_spans=[rs]).SerializeToString()


def wait_for_span(api_url: str, trace_id: bytes, span_id: bytes, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        answer = httpx.get(f"{api_url}/api/v1/traces/{trace_id.hex()}", timeout=10)
        if answer.status_code == 200 and span_id.hex() in answer.text:
            return
        assert time.monotonic() < deadline, f"span {span_id.hex()} not queryable: {answer.text}"
        time.sleep(0.1)


_GRPC_METHODS = (
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
)
_REFUSED_AS_BUGS = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}


def test_a_real_server_survives_the_fuzzing(start_spanscope: Any, tmp_path: Path) -> None:
    server = start_spanscope(tmp_path / "data")
    http = httpx.Client(timeout=30)
    channel = grpc.insecure_channel(server.otlp_grpc_endpoint)
    try:
        before = bytes.fromhex("00000000000000b1")
        sent = http.post(
            server.otlp_http_url + "/v1/traces",
            content=good_request(GOOD_TRACE, before),
            headers={"Content-Type": "application/x-protobuf"},
        )
        assert sent.status_code == 200, sent.text
        wait_for_span(server.api_url, GOOD_TRACE, before)

        def post(path: str, body: bytes, content_type: str, url: str | None = None) -> None:
            answer = http.post(
                (url or server.otlp_http_url) + path,
                content=body,
                headers={"Content-Type": content_type},
            )
            assert answer.status_code < 500, (path, answer.status_code, answer.text, body[:200])

        def call(method: str, body: bytes) -> None:
            stub = channel.unary_unary(method)  # raw bytes in and out
            try:
                stub(body, timeout=30)
            except grpc.RpcError as exc:
                assert exc.code() not in _REFUSED_AS_BUGS, (method, exc.details(), body[:200])

        @fuzz(80)
        @given(request=trace_requests())
        def protobuf_traces(request: ExportTraceServiceRequest) -> None:
            body = request.SerializeToString()
            post("/v1/traces", body, "application/x-protobuf")
            call(_GRPC_METHODS[0], body)

        @fuzz(60)
        @given(document=OTLP_JSON_DOCS, zipkin=ZIPKIN_DOCS)
        def json_bodies(document: Any, zipkin: Any) -> None:
            post("/v1/traces", dumps(document), "application/json")
            post("/api/v2/spans", dumps(zipkin), "application/json", server.zipkin_url)

        @fuzz(40)
        @given(logs=log_requests(), metrics=metric_requests())
        def signals(logs: ExportLogsServiceRequest, metrics: ExportMetricsServiceRequest) -> None:
            post("/v1/logs", logs.SerializeToString(), "application/x-protobuf")
            post("/v1/metrics", metrics.SerializeToString(), "application/x-protobuf")
            call(_GRPC_METHODS[1], logs.SerializeToString())
            call(_GRPC_METHODS[2], metrics.SerializeToString())

        @fuzz(40)
        @given(body=st.binary(min_size=1, max_size=200))
        def raw_bytes(body: bytes) -> None:
            for path in ("/v1/traces", "/v1/logs", "/v1/metrics"):
                post(path, body, "application/x-protobuf")
                post(path, body, "application/json")
            post("/api/v2/spans", body, "application/json", server.zipkin_url)
            for method in _GRPC_METHODS:
                call(method, body)

        protobuf_traces()
        json_bodies()
        signals()
        raw_bytes()

        assert http.get(server.api_url + "/healthz").status_code == 200
        wait_for_span(server.api_url, GOOD_TRACE, before, timeout_s=5)
        after = bytes.fromhex("00000000000000a2")
        sent = http.post(
            server.otlp_http_url + "/v1/traces",
            content=good_request(GOOD_TRACE, after),
            headers={"Content-Type": "application/x-protobuf"},
        )
        assert sent.status_code == 200, sent.text
        wait_for_span(server.api_url, GOOD_TRACE, after)
    finally:
        channel.close()
        http.close()

"""Redaction (ingest/redaction.py): each rule type, the defaults, Luhn, config errors, and
every decoder redacting what it stores AND what it hands the WAL (``result.payload``)."""

from __future__ import annotations

import pickle
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from test_ingest_otlp import NOW, SPAN, START, TRACE, full_request, kv, to_json

from spanscope.ingest.limits import Limits
from spanscope.ingest.otlp import decode_otlp_protobuf
from spanscope.ingest.otlp_columns import decode_otlp_columns, decode_otlp_request_columns
from spanscope.ingest.otlp_json import decode_otlp_json
from spanscope.ingest.otlp_logs import decode_otlp_logs_json, decode_otlp_logs_protobuf
from spanscope.ingest.redaction import (
    DEFAULT_RULES,
    DROP,
    MASK,
    NOCHANGE,
    RedactionRule,
    Redactor,
    luhn_valid,
    redactor_for,
)
from spanscope.ingest.zipkin import decode_zipkin_json
from spanscope.sampling.config import ConfigError, parse_config
from tests.support.workload import make_request

CARD = "4111 1111 1111 1111"  # Visa's test number: Luhn-valid
SECRET = b"k" * 32


def redactor(*raw_rules: dict[str, Any], defaults: bool = True) -> Redactor:
    config = parse_config({"redaction": list(raw_rules), "redaction_defaults": defaults})
    return Redactor(config.redaction, SECRET)


DEFAULTS = Redactor(DEFAULT_RULES)


# --- Luhn and the defaults ---------------------------------------------------------------


@pytest.mark.parametrize(
    "digits", ["4111111111111111", "5500005555555559", "378282246310005", "4222222222222"]
)
def test_luhn_accepts_card_numbers(digits: str) -> None:
    assert luhn_valid(digits)


@pytest.mark.parametrize("digits", ["4111111111111112", "1234567890123", "5500005555555558"])
def test_luhn_refuses_other_digit_strings(digits: str) -> None:
    assert not luhn_valid(digits)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"SELECT * FROM cards WHERE pan = '{CARD}'", "pan = '**** **** **** ****'"),
        ("UPDATE t SET pan='4111-1111-1111-1111'", "pan='****-****-****-****'"),
        ("x 378282246310005 y", "x *************** y"),
    ],
)
def test_default_masks_luhn_valid_card_numbers_in_db_statement(value: str, expected: str) -> None:
    out = DEFAULTS.redact("db.statement", value)
    assert isinstance(out, str) and expected in out and "4111" not in out


@pytest.mark.parametrize(
    "value",
    [
        "SELECT * FROM orders WHERE id = 1234567890123",  # 13 digits, not Luhn-valid
        "order 4111111111111112",
        "id 41111111111111110000",  # 20 digits: not a card number
        "SELECT 1",
    ],
)
def test_default_leaves_order_ids_and_other_numbers(value: str) -> None:
    assert DEFAULTS.redact("db.statement", value) is NOCHANGE


def test_card_numbers_are_masked_only_in_http_url_and_db_statement() -> None:
    assert DEFAULTS.redact("url.full", f"https://x/pay?card={CARD}") != NOCHANGE
    assert DEFAULTS.redact("http.request.body", CARD) == "**** **** **** ****"
    assert DEFAULTS.redact("log.body", f"charging {CARD}") == "charging **** **** **** ****"
    assert DEFAULTS.redact("order.note", CARD) is NOCHANGE


@pytest.mark.parametrize(
    "key",
    [
        "authorization",
        "http.request.header.authorization",
        "HTTP.Request.Header.Authorization",
        "http.request.header.proxy-authorization",
        "http.request.header.cookie",
        "http.response.header.set-cookie",
        "http.request.header.x-csrf-token",
        "db.password",
        "app.client_secret",
        "passwd",
        "api_key",
        "x-api-key",
        "auth.id_token",
    ],
)
def test_default_masks_credential_keys(key: str) -> None:
    assert DEFAULTS.redact(key, "Bearer s3cr3t-VALUE") == MASK
    assert DEFAULTS.redact(key, ["Bearer s3cr3t-VALUE"]) == [MASK]  # header attributes: arrays


@pytest.mark.parametrize(
    "key", ["gen_ai.usage.input_tokens", "tokenizer", "http.method", "user.id", "secretary.name"]
)
def test_default_leaves_keys_that_only_look_alike(key: str) -> None:
    assert DEFAULTS.redact(key, "value") is NOCHANGE


def test_defaults_off_means_no_rules() -> None:
    assert parse_config({"redaction_defaults": False}).redaction == ()
    assert parse_config({}).redaction == DEFAULT_RULES


# --- rule types ----------------------------------------------------------------------------


def test_exact_key_glob_and_regex_rules() -> None:
    r = redactor(
        {"key": "user.email", "action": "drop"},
        {"key": "*.ssn", "action": "mask", "keep_suffix": 2},
        {"key_regex": r"^app\.(pin|otp)$", "action": "mask", "keep_prefix": 1},
        defaults=False,
    )
    assert r.redact("user.email", "a@b.c") is DROP
    assert r.redact("User.Email", "a@b.c") is DROP  # keys are case-insensitive
    assert r.redact("person.ssn", "123-45-6789") == MASK + "89"
    assert r.redact("app.pin", "4321") == "4" + MASK
    assert r.redact("app.pins", "4321") is NOCHANGE
    upper = redactor({"key_regex": r"^App\.PIN$", "action": "drop"}, defaults=False)
    assert upper.redact("app.pin", "1") is DROP  # key patterns ignore case, like keys
    assert r.redact("user.name", "a@b.c") is NOCHANGE


def test_value_pattern_masks_only_the_match_drop_drops_hash_hashes_whole_value() -> None:
    r = redactor(
        {"value": r"\b\d{3}-\d{2}-\d{4}\b", "action": "mask"},
        {"key": "note", "value": "DROPME", "action": "drop"},
        {"key": "who", "value": "@", "action": "hash"},
        defaults=False,
    )
    assert r.redact("anything", "ssn 123-45-6789 ok") == f"ssn {MASK} ok"
    assert r.redact("anything", 123456789) is NOCHANGE  # patterns look at strings only
    assert r.redact("note", "please DROPME") is DROP
    assert r.redact("note", "keep") is NOCHANGE
    hashed = r.redact("who", "ann@example.com")
    assert hashed.startswith("hmac-sha256:") and "ann" not in hashed
    assert r.redact("who", "ann") is NOCHANGE


def test_hash_is_keyed_stable_and_groups_equal_values() -> None:
    r = redactor({"key": "user.email", "action": "hash"}, defaults=False)
    a, b = r.redact("user.email", "ann@x.io"), r.redact("user.email", "ann@x.io")
    assert a == b != r.redact("user.email", "bob@x.io")
    other = Redactor(r.rules, b"z" * 32)
    assert other.redact("user.email", "ann@x.io") != a  # another data dir, another secret
    assert r.redact("user.email", 42).startswith("hmac-sha256:")


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    key=st.sampled_from(["db.statement", "http.request.header.authorization", "user.email", "x"]),
    value=st.one_of(
        st.text(max_size=40),
        st.from_regex(r"[a-z ]{0,5}4111[ -]?1111[ -]?1111[ -]?1111[a-z ]{0,5}", fullmatch=True),
        st.lists(st.text(max_size=10), max_size=3),
        st.integers(),
    ),
)
def test_every_action_leaves_its_own_output_alone(key: str, value: Any) -> None:
    """WAL replay decodes the redacted request again: a second pass must change nothing."""
    r = redactor(
        {"key": "user.email", "action": "hash"},
        {"key": "x", "action": "mask", "keep_prefix": 2, "keep_suffix": 1},
    )
    once = r.redact(key, value)
    if once is NOCHANGE or once is DROP:
        return
    assert r.redact(key, once) is NOCHANGE


def test_redactor_pickles_for_the_decode_workers() -> None:
    r = redactor({"key": "user.email", "action": "hash"})
    copy = pickle.loads(pickle.dumps(r))
    assert copy.fingerprint == r.fingerprint
    assert copy.redact("user.email", "a") == r.redact("user.email", "a")


def test_hash_secret_is_created_once_in_the_data_dir(tmp_path: Path) -> None:
    rules = redactor({"key": "k", "action": "hash"}).rules
    first = redactor_for(rules, tmp_path)
    assert first is not None and first.secret is not None
    path = tmp_path / "redaction.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(path.read_bytes()) == 32
    again = redactor_for(rules, tmp_path)
    assert again is not None and again.redact("k", "v") == first.redact("k", "v")
    assert redactor_for(DEFAULT_RULES, tmp_path / "none") is not None
    assert not (tmp_path / "none").exists()  # no hash rule: no secret file


# --- config errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"redaction": [{"key": "k"}]}, "redaction[0].action = None: expected one of"),
        ({"redaction": [{"key": "k", "action": "erase"}]}, "'erase': expected one of"),
        ({"redaction": [{"action": "mask"}]}, "redaction[0]: needs 'key', 'key_regex' or"),
        ({"redaction": [{"key": "k", "action": "mask", "colour": 1}]}, "unknown key 'colour'"),
        ({"redaction": [{"key_regex": "(", "action": "mask"}]}, "not a valid regular expression"),
        ({"redaction": [{"value": "x*", "action": "mask"}]}, "matches the empty string"),
        ({"redaction": [{"key": "k", "key_regex": "k", "action": "mask"}]}, "not both"),
        (
            {"redaction": [{"key": "k", "action": "hash", "keep_prefix": 2}]},
            "only action 'mask' keeps characters",
        ),
        ({"redaction": [{"key": "k", "action": "mask", "keep_suffix": -1}]}, "keep_suffix = -1"),
        ({"redaction": {"key": "k"}}, "expected [[redaction]] tables"),
        ({"redaction_defaults": "no"}, "redaction_defaults = 'no': expected true or false"),
        ({"redaction": {"defaults": False}}, "the switch is the top-level key redaction_defaults"),
        ({"redactions": []}, "unknown key 'redactions'"),
    ],
)
def test_config_errors_name_the_rule_and_the_fix(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=None) as info:
        parse_config(raw)
    assert message in str(info.value)


# --- decoders: what is stored and what the WAL gets ---------------------------------------

RULES = ({"key": "app.custom", "action": "mask", "keep_prefix": 3},)


def _secret_request() -> ExportTraceServiceRequest:
    request = full_request()
    rs = request.resource_spans[0]
    rs.resource.attributes.append(kv("deployment.api_key", "res-s3cr3t"))
    span = rs.scope_spans[0].spans[0]
    span.attributes.extend(
        [
            kv("http.request.header.authorization", ["Bearer s3cr3t-VALUE"]),
            kv("db.statement", f"SELECT 1 FROM c WHERE pan='{CARD}'"),
            kv("app.custom", "custom-s3cr3t"),
        ]
    )
    span.events[0].attributes.append(kv("token", "event-s3cr3t"))
    span.links[0].attributes.append(kv("password", "link-s3cr3t"))
    return request


RAW = [b"s3cr3t", CARD.encode()]


def _assert_redacted(attributes: dict[str, Any]) -> None:
    assert attributes["http.request.header.authorization"] == [MASK]
    assert attributes["db.statement"] == "SELECT 1 FROM c WHERE pan='**** **** **** ****'"
    assert attributes["app.custom"] == "cus" + MASK
    assert attributes["http.method"] == "POST"  # untouched


def test_protobuf_columns_redact_every_attribute_list_and_reencode_for_the_wal() -> None:
    limits = Limits(redaction=redactor(*RULES))
    body = _secret_request().SerializeToString()
    got = decode_otlp_protobuf(body, limits, now_ns=NOW)
    span = got.spans[0]
    _assert_redacted(span.attributes)
    assert span.resource["deployment.api_key"] == MASK
    assert span.events[0].attributes["token"] == MASK
    assert span.links[0].attributes["password"] == MASK
    assert got.payload is not None and all(raw not in got.payload for raw in RAW)
    replayed = decode_otlp_protobuf(got.payload, limits, now_ns=NOW)  # as WAL replay does
    assert replayed.spans == got.spans and replayed.payload is None


def test_protobuf_without_a_match_keeps_the_body_as_sent() -> None:
    limits = Limits(redaction=redactor(*RULES))
    body = make_request(200, now_ns=NOW).SerializeToString()
    got = decode_otlp_columns(body, limits, now_ns=NOW)
    assert got.payload is None and len(got.spans) == 200
    assert got.spans.to_spans() == decode_otlp_columns(body, now_ns=NOW).spans.to_spans()


def test_cached_attributes_are_checked_once_per_rule_set() -> None:
    """The KeyValue cache must not let an entry decoded without rules skip them later."""
    body = _secret_request().SerializeToString()
    assert decode_otlp_columns(body, now_ns=NOW).payload is None  # no rules: cached raw
    got = decode_otlp_columns(body, Limits(redaction=redactor(*RULES)), now_ns=NOW)
    _assert_redacted(got.spans.to_spans()[0].attributes)


def test_grpc_parsed_request_is_redacted_too() -> None:
    limits = Limits(redaction=redactor(*RULES))
    got = decode_otlp_request_columns(_secret_request(), limits, now_ns=NOW)
    _assert_redacted(got.spans.to_spans()[0].attributes)
    assert got.payload is not None and all(raw not in got.payload for raw in RAW)


def test_secrets_in_rejected_spans_and_capped_attributes_do_not_reach_the_wal() -> None:
    request = _secret_request()
    spans = request.resource_spans[0].scope_spans[0].spans
    bad = spans.add(trace_id=TRACE, span_id=bytes(8), name="bad", start_time_unix_nano=START)
    bad.attributes.append(kv("authorization", "rejected-s3cr3t"))
    many = spans.add(trace_id=TRACE, span_id=b"\x05" * 8, start_time_unix_nano=START)
    many.end_time_unix_nano = START
    many.attributes.extend([kv(f"a{i}", i) for i in range(5)] + [kv("cookie", "cap-s3cr3t")])
    limits = Limits(max_attributes=5, redaction=redactor(*RULES))
    got = decode_otlp_columns(request.SerializeToString(), limits, now_ns=NOW)
    assert got.rejected == 1 and got.payload is not None
    assert all(raw not in got.payload for raw in RAW)


@pytest.mark.parametrize("where", ["event beyond the cap", "link beyond the cap", "rejected"])
def test_secrets_in_events_and_links_the_decoder_skips_do_not_reach_the_wal(where: str) -> None:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.append(kv("service.name", "pay"))
    span = rs.scope_spans.add().spans.add(
        trace_id=TRACE, span_id=SPAN, start_time_unix_nano=START, end_time_unix_nano=START
    )
    if where == "rejected":
        span.span_id = bytes(8)
    if where == "link beyond the cap":
        span.links.add(trace_id=TRACE, span_id=b"\x07" * 8)
        span.links.add(trace_id=TRACE, span_id=b"\x08" * 8).attributes.append(kv("token", "s3cr3t"))
    else:
        span.events.add(time_unix_nano=START, name="a")
        span.events.add(time_unix_nano=START, name="b").attributes.append(kv("token", "s3cr3t"))
    limits = Limits(max_events=1, max_links=1, redaction=redactor(*RULES))
    got = decode_otlp_columns(request.SerializeToString(), limits, now_ns=NOW)
    assert got.payload is not None and b"s3cr3t" not in got.payload
    assert len(got.spans) == (0 if where == "rejected" else 1)


def test_otlp_json_redacts_and_reencodes() -> None:
    limits = Limits(redaction=redactor(*RULES))
    body = orjson.dumps(to_json(_secret_request()))
    got = decode_otlp_json(body, limits, now_ns=NOW)
    _assert_redacted(got.spans[0].attributes)
    assert got.spans[0].events[0].attributes["token"] == MASK
    assert got.payload is not None and all(raw not in got.payload for raw in RAW)
    assert decode_otlp_json(got.payload, limits, now_ns=NOW).spans == got.spans


def test_zipkin_redacts_tags_and_reencodes() -> None:
    limits = Limits(redaction=redactor(*RULES))
    span = {
        "traceId": TRACE.hex(),
        "id": SPAN.hex(),
        "name": "get /pay",
        "timestamp": START // 1000,
        "duration": 1000,
        "localEndpoint": {"serviceName": "pay"},
        "tags": {
            "http.request.header.authorization": "Bearer s3cr3t-VALUE",
            "db.statement": f"SELECT 1 FROM c WHERE pan='{CARD}'",
            "app.custom": "custom-s3cr3t",
            "http.method": "POST",
        },
    }
    got = decode_zipkin_json(orjson.dumps([span]), limits, now_ns=NOW)
    attributes = dict(got.spans[0].attributes)
    attributes["http.request.header.authorization"] = [
        attributes["http.request.header.authorization"]
    ]
    _assert_redacted(attributes)
    assert got.payload is not None and all(raw not in got.payload for raw in RAW)
    plain = decode_zipkin_json(orjson.dumps([{**span, "tags": {"a": "b"}}]), limits, now_ns=NOW)
    assert plain.payload is None


def _logs_request() -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    rl.resource.attributes.append(kv("service.name", "pay"))
    record = rl.scope_logs.add().log_records.add(time_unix_nano=START, severity_number=9)
    record.body.string_value = f"charging card {CARD}"
    record.attributes.extend([kv("app.custom", "custom-s3cr3t"), kv("cookie", "c=s3cr3t")])
    return request


def test_logs_protobuf_and_json_redact_bodies_and_attributes() -> None:
    limits = Limits(redaction=redactor(*RULES))
    pb = decode_otlp_logs_protobuf(_logs_request().SerializeToString(), limits, now_ns=NOW)

    def attribute(key: str, value: str) -> dict[str, Any]:
        return {"key": key, "value": {"stringValue": value}}

    record = {
        "timeUnixNano": str(START),
        "body": {"stringValue": f"charging card {CARD}"},
        "attributes": [attribute("app.custom", "custom-s3cr3t"), attribute("cookie", "c=s3cr3t")],
    }
    resource = {"attributes": [attribute("service.name", "pay")]}
    document = {"resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": [record]}]}]}
    js = decode_otlp_logs_json(orjson.dumps(document), limits, now_ns=NOW)
    for got in (pb, js):
        log = got.signals.logs[0]
        assert log.body == "charging card **** **** **** ****"
        assert log.attributes == {"app.custom": "cus" + MASK, "cookie": MASK}
        assert got.payload is not None and all(raw not in got.payload for raw in RAW)
    again = decode_otlp_logs_protobuf(pb.payload or b"", limits, now_ns=NOW)
    assert again.payload is None and again.signals.logs == pb.signals.logs


def test_decode_worker_returns_the_redacted_payload() -> None:
    from spanscope.ingest.decode_worker import _decode

    limits = Limits(redaction=redactor(*RULES))
    packed = _decode(replace_now(_secret_request()).SerializeToString(), limits)
    assert not isinstance(packed, str)
    assert packed.payload is not None and all(raw not in packed.payload for raw in RAW)
    rows = packed.unpack().spans.table.to_pylist()
    assert "s3cr3t" not in repr(rows) and "4111" not in repr(rows)


def replace_now(request: ExportTraceServiceRequest) -> ExportTraceServiceRequest:
    """The worker decodes against the real clock: move the spans to now."""
    import time

    shift = time.time_ns() - NOW
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                span.start_time_unix_nano += shift
                span.end_time_unix_nano += shift
                for event in span.events:
                    event.time_unix_nano += shift
    return request


def test_limits_without_rules_are_unchanged() -> None:
    assert Limits().redaction is None
    assert replace(Limits(), redaction=None) == Limits()
    assert RedactionRule("n", "mask", key="k").keep_prefix == 0


def test_metrics_protobuf_and_json_redact_point_and_resource_attributes() -> None:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )

    from spanscope.ingest.otlp_metrics import (
        decode_otlp_metrics_json,
        decode_otlp_metrics_protobuf,
    )

    limits = Limits(redaction=redactor(*RULES))
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.extend([kv("service.name", "pay"), kv("api_key", "res-s3cr3t")])
    metric = rm.scope_metrics.add().metrics.add(name="pay.count")
    point = metric.gauge.data_points.add(time_unix_nano=START, as_double=1.0)
    point.attributes.extend([kv("app.custom", "custom-s3cr3t"), kv("url.full", f"/p?c={CARD}")])
    pb = decode_otlp_metrics_protobuf(request.SerializeToString(), limits, now_ns=NOW)
    json_body = orjson.dumps(
        {
            "resourceMetrics": [
                {
                    "resource": {"attributes": [orjson.loads(_kv_json(k, v)) for k, v in (
                        ("service.name", "pay"), ("api_key", "res-s3cr3t"))]},
                    "scopeMetrics": [{"metrics": [{"name": "pay.count", "gauge": {
                        "dataPoints": [{"timeUnixNano": str(START), "asDouble": 1.0,
                                        "attributes": [
                                            orjson.loads(_kv_json("app.custom", "custom-s3cr3t")),
                                            orjson.loads(_kv_json("url.full", f"/p?c={CARD}")),
                                        ]}]}}]}],
                }
            ]
        }
    )  # fmt: skip
    js = decode_otlp_metrics_json(json_body, limits, now_ns=NOW)
    for got in (pb, js):
        (stored,) = got.signals.points
        assert stored.attributes == {
            "app.custom": "cus" + MASK,
            "url.full": "/p?c=**** **** **** ****",
        }
        assert stored.resource["api_key"] == MASK
        assert got.payload is not None and all(raw not in got.payload for raw in RAW)


def _kv_json(key: str, value: str) -> bytes:
    return orjson.dumps({"key": key, "value": {"stringValue": value}})


def test_a_broken_attribute_after_a_redacted_one_is_still_a_400() -> None:
    request = _secret_request()
    span = request.resource_spans[0].scope_spans[0].spans[0]
    broken = kv("zz.last", "x").SerializeToString().replace(b"x", b"\xff")
    # One more Span.attributes field (tag 9) after the secret ones, holding invalid UTF-8.
    new_span = span.SerializeToString() + b"\x4a" + bytes([len(broken)]) + broken
    body = _with_span(request, new_span)
    from spanscope.ingest.results import DecodeError

    with pytest.raises(DecodeError, match="not a valid OTLP ExportTraceServiceRequest"):
        decode_otlp_columns(body, Limits(redaction=redactor(*RULES)), now_ns=NOW)


def _with_span(request: ExportTraceServiceRequest, new: bytes) -> bytes:
    """``request`` serialized with its one span's bytes replaced by ``new``."""
    from google.protobuf.internal.encoder import _VarintBytes  # type: ignore[attr-defined]

    ss = request.resource_spans[0].scope_spans[0]
    scope = ss.scope.SerializeToString()
    scope_spans = b"\x0a" + _VarintBytes(len(scope)) + scope
    scope_spans += b"\x12" + _VarintBytes(len(new)) + new
    resource = request.resource_spans[0].resource.SerializeToString()
    rs = b"\x0a" + _VarintBytes(len(resource)) + resource
    rs += b"\x12" + _VarintBytes(len(scope_spans)) + scope_spans
    return b"\x0a" + _VarintBytes(len(rs)) + rs


_KEYS = ["http.request.header.authorization", "db.statement", "url.full", "app.custom",
         "user.email", "http.method", "token", "order.id"]  # fmt: skip
_VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from([CARD, "4111111111111112", "Bearer s3cr3t", "GET", "[REDACTED]"]),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.lists(st.sampled_from(["Bearer s3cr3t", CARD, "x"]), max_size=3),
)


@settings(max_examples=120, deadline=None, derandomize=True)
@given(
    st.lists(
        st.lists(st.tuples(st.sampled_from(_KEYS), _VALUES), max_size=6), min_size=1, max_size=4
    )
)
def test_protobuf_decode_leaves_nothing_to_redact_and_replays_the_same(
    spans_attributes: list[list[tuple[str, Any]]],
) -> None:
    """Whatever the attributes: nothing stored is left for a rule to change, and decoding
    the WAL payload (replay) gives the same spans."""
    r = redactor(*RULES, {"key": "user.email", "action": "hash"})
    limits = Limits(redaction=r)
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.append(kv("service.name", "pay"))
    ss = rs.scope_spans.add()
    for i, attributes in enumerate(spans_attributes):
        span = ss.spans.add(trace_id=TRACE, span_id=bytes([i + 1]) * 8, start_time_unix_nano=START)
        span.end_time_unix_nano = START
        span.attributes.extend(kv(k, v) for k, v in attributes)
    body = request.SerializeToString()
    got = decode_otlp_columns(body, limits, now_ns=NOW)
    spans = got.spans.to_spans()
    assert len(spans) == len(spans_attributes)
    for span in spans:
        for key, value in span.attributes.items():
            assert r.redact(key, value) is NOCHANGE, (key, value)
    replayed = decode_otlp_columns(got.payload or body, limits, now_ns=NOW)
    assert replayed.spans.to_spans() == spans and replayed.payload is None

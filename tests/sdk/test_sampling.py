"""PrioritySampler: rule order, parent-based whole traces, consistent (OTEP 235) decisions."""

from __future__ import annotations

import json
import random

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision, TraceIdRatioBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

from spanscope.sampling.threshold import (
    adjusted_count,
    decode_threshold,
    encode_threshold,
    rate_to_threshold,
)
from spanscope.sdk import PrioritySampler, Rule
from spanscope.sdk.sampling import parse_ot, sampler_from_arg


def test_thresholds_match_the_spec_examples() -> None:
    assert encode_threshold(rate_to_threshold(1.0)) == "0"
    assert encode_threshold(rate_to_threshold(0.5)) == "8"
    assert encode_threshold(rate_to_threshold(0.25)) == "c"
    assert encode_threshold(rate_to_threshold(0.01)).startswith("fd70a")
    assert decode_threshold("c") == rate_to_threshold(0.25)
    assert adjusted_count(decode_threshold("c")) == 4.0
    assert adjusted_count(rate_to_threshold(0.05)) == pytest.approx(20.0)


def test_bad_rates_fail_at_construction_with_the_value() -> None:
    with pytest.raises(ValueError, match="1.5"):
        Rule(1.5)
    with pytest.raises(ValueError, match="-0.1"):
        PrioritySampler([], default_rate=-0.1)


def test_first_matching_rule_wins_in_order() -> None:
    sampler = PrioritySampler(
        [
            Rule(0.001, route="/health*"),
            Rule(0.5, name="POST /checkout*"),
            Rule(1.0, attributes={"user.tier": "gold"}),
            Rule(0.2, name="POST *"),
        ],
        default_rate=0.05,
    )
    assert sampler.rate_for("GET /health", {"http.route": "/healthz"}) == 0.001
    assert sampler.rate_for("GET", {"http.target": "/health/live?x=1"}) == 0.001
    assert sampler.rate_for("POST /checkout", {"user.tier": "gold"}) == 0.5
    assert sampler.rate_for("POST /cart", {"user.tier": "gold"}) == 1.0
    assert sampler.rate_for("POST /cart", {"user.tier": "silver"}) == 0.2
    assert sampler.rate_for("GET /products", {}) == 0.05
    assert sampler.rate_for("GET /products") == 0.05


def decide(sampler: PrioritySampler, trace_id: int, name: str = "op") -> bool:
    result = sampler.should_sample(None, trace_id, name)
    return result.decision is Decision.RECORD_AND_SAMPLE


def test_two_samplers_with_the_same_rate_agree_on_every_trace() -> None:
    rng = random.Random(7)
    ids = [rng.getrandbits(128) for _ in range(4000)]
    a = PrioritySampler([], 0.25)
    b = PrioritySampler([Rule(0.25, name="checkout")], 1.0)  # same rate reached by a rule
    decisions = [decide(a, t) for t in ids]
    assert decisions == [decide(b, t, "checkout") for t in ids]
    kept = sum(decisions)
    assert 0.21 * len(ids) < kept < 0.29 * len(ids)
    # A lower rate keeps a subset of what a higher rate keeps.
    low = PrioritySampler([], 0.05)
    assert all(keep for t, keep in zip(ids, decisions, strict=True) if decide(low, t))


def test_kept_root_records_the_threshold_in_tracestate() -> None:
    sampler = PrioritySampler([], 0.25)
    trace_id = (0xAB << 64) | 0x00FFFFFFFFFFFFFF  # randomness = 2**56 - 1: kept at any rate
    result = sampler.should_sample(None, trace_id, "op")
    assert result.decision is Decision.RECORD_AND_SAMPLE
    assert result.trace_state is not None
    assert parse_ot(result.trace_state.get("ot")) == {"th": "c"}
    dropped = sampler.should_sample(None, 0xAB << 64, "op")  # randomness 0 < th
    assert dropped.decision is Decision.DROP


def test_explicit_rv_in_tracestate_is_the_randomness() -> None:
    sampler = PrioritySampler([], 0.5)
    low_tid = 1 << 64  # trace-id randomness 0 would be dropped
    state = TraceState([("ot", "rv:ffffffffffffff"), ("vendor", "x")])
    result = sampler.should_sample(None, low_tid, "op", trace_state=state)
    assert result.decision is Decision.RECORD_AND_SAMPLE
    assert parse_ot(result.trace_state.get("ot")) == {"rv": "ffffffffffffff", "th": "8"}
    assert result.trace_state.get("vendor") == "x"


def run_traces(sampler: PrioritySampler, traces: int) -> dict[int, list[str]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    for _ in range(traces):
        with tracer.start_as_current_span("GET /orders"):
            with tracer.start_as_current_span("SELECT orders"):
                with tracer.start_as_current_span("fetch row"):
                    pass
            with tracer.start_as_current_span("render"):
                pass
    by_trace: dict[int, list[str]] = {}
    for s in exporter.get_finished_spans():
        by_trace.setdefault(s.context.trace_id, []).append(s.name)
    return by_trace


def test_parent_based_keeps_or_drops_whole_traces() -> None:
    by_trace = run_traces(PrioritySampler([], 0.3), 400)
    assert 60 < len(by_trace) < 180  # about 30 % of 400 traces
    assert all(sorted(names) == ["GET /orders", "SELECT orders", "fetch row", "render"]
               for names in by_trace.values())  # fmt: skip


def remote_parent(sampled: bool, state: TraceState) -> Context:
    ctx = SpanContext(
        0x4BF92F3577B34DA6A3CE929D0E0E4736,
        0x00F067AA0BA902B7,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED if sampled else 0),
        trace_state=state,
    )
    return trace.set_span_in_context(NonRecordingSpan(ctx))


def test_remote_parent_decision_is_followed_and_tracestate_forwarded_unchanged() -> None:
    never = PrioritySampler([], 0.0)
    state = TraceState([("ot", "th:8"), ("congo", "t61rcWkgMzE")])
    kept = never.should_sample(remote_parent(True, state), 0x4BF92F3577B34DA6A3CE929D0E0E4736, "x")
    assert kept.decision is Decision.RECORD_AND_SAMPLE
    assert kept.trace_state.to_header() == state.to_header()
    always = PrioritySampler([], 1.0)
    dropped = always.should_sample(remote_parent(False, state), 1, "x")
    assert dropped.decision is Decision.DROP


def test_rules_file_toml_and_json(tmp_path) -> None:
    toml = tmp_path / "rules.toml"
    toml.write_text(
        'default_rate = 0.05\n[[rules]]\nroute = "/health*"\nrate = 0.001\n'
        '[[rules]]\nname = "POST /checkout*"\nrate = 0.5\n'
        '[[rules]]\nattributes = { "user.tier" = "gold" }\nrate = 1.0\n'
    )
    sampler = PrioritySampler.from_file(toml)
    assert sampler.default_rate == 0.05
    assert [r.rate for r in sampler.rules] == [0.001, 0.5, 1.0]
    assert sampler.rate_for("x", {"user.tier": "gold"}) == 1.0
    js = tmp_path / "rules.json"
    js.write_text(json.dumps({"default_rate": 0.1, "rules": [{"name": "GET *", "rate": 0.2}]}))
    assert PrioritySampler.from_file(js).rate_for("GET /a") == 0.2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[rules]]\nrate = 0.5\nroute = "/a"\nroot = "/b"\n', r"rules\[0\].*unknown key.*root"),
        ('[[rules]]\nname = "a"\n', r"rules\[0\].*missing 'rate'"),
        ('[[rules]]\nrate = "half"\n', r"rules\[0\].*rate 'half'"),
        ("default_rate = 2\n", r"default_rate.*2"),
        ("default_rate = \n", r"not valid TOML"),
    ],
)
def test_rules_file_errors_name_the_bad_key(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        PrioritySampler.from_file(path)


def test_entry_point_argument_is_a_rate_or_a_rules_file(tmp_path) -> None:
    assert sampler_from_arg("0.25").default_rate == 0.25
    assert sampler_from_arg(None).default_rate == 1.0
    path = tmp_path / "r.json"
    path.write_text('{"default_rate": 0.3}')
    assert sampler_from_arg(str(path)).default_rate == 0.3
    with pytest.raises(ValueError, match="nope.toml"):
        sampler_from_arg("nope.toml")


def test_env_vars_load_the_sampler_through_the_sdk(monkeypatch) -> None:
    from opentelemetry.sdk._configuration import _import_sampler

    from spanscope.sdk.config import sampler_from_env

    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "spanscope_priority")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")
    for sampler in (_import_sampler("spanscope_priority"), sampler_from_env()):
        assert isinstance(sampler, PrioritySampler)
        assert sampler.default_rate == 0.25


def test_priority_sampler_decides_like_trace_id_ratio_on_rate_only() -> None:
    # Both read the trace id's low bits; OTel's ratio sampler uses 64 bits, ours 56, so the
    # kept shares agree in size, not trace for trace.
    rng = random.Random(3)
    ids = [rng.getrandbits(128) for _ in range(4000)]
    ours = sum(decide(PrioritySampler([], 0.1), t) for t in ids)
    theirs = sum(
        TraceIdRatioBased(0.1).should_sample(None, t, "op").decision.is_sampled() for t in ids
    )
    assert abs(ours - theirs) < 0.04 * len(ids)

"""``GET /metrics``'s text, read back with Prometheus' own parser (prometheus_client's):
every family once, with its type and help, one series per tenant (the default tenant's
without a ``tenant`` label), values and histogram buckets as the counters hold them, and
label values with quotes or backslashes escaped so that they read back whole."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from spanscope.ingest.stats import PipelineStats
from spanscope.sampling.metrics import render, render_sources
from spanscope.sampling.tail import LATENCY_BUCKETS_S, SamplerMetrics

ODD_POLICY = 'we"ird\\policy\nname'


def pipeline(stored: int, memory: int | None = 4096, failing: bool = False) -> Any:
    stats = PipelineStats(
        stored_spans=stored, store_write_failures=2, quarantined_spans=3, rejected_spans=4
    )
    stats.store_write_seconds.observe(0.003)
    stats.store_write_seconds.observe(0.2)
    store = SimpleNamespace(memory_bytes=lambda: memory) if memory is not None else object()
    return SimpleNamespace(
        stats=stats,
        pending_spans=5,
        store_failing=failing,
        wal=SimpleNamespace(appends=6, fsyncs=7),
        store=store,
    )


def sampler(kept_errors: int) -> Any:
    metrics = SamplerMetrics(
        received_spans=100,
        kept_spans={"errors": kept_errors, ODD_POLICY: 1},
        dropped_spans={"no_match": 9},
        kept_traces={"errors": 2},
        dropped_traces={"no_match": 3},
        decided_early_traces=1,
        late_spans_kept=4,
        late_spans_dropped=5,
    )
    metrics.decision_latency_buckets[0] = 2  # <= 0.1 s
    metrics.decision_latency_buckets[-1] = 1  # +Inf
    metrics.decision_latency_sum_s = 130.25
    metrics.decision_latency_count = 3
    return SimpleNamespace(metrics=metrics, buffered_traces=11, buffered_spans=12)


def parse(text: str) -> tuple[dict[str, tuple[str, str]], dict[tuple[str, frozenset], float]]:
    """({family: (type, help)}, {(sample, labels): value}); ``le`` read as a number, as
    Prometheus compares it."""
    families: dict[str, tuple[str, str]] = {}
    samples: dict[tuple[str, frozenset], float] = {}
    for family in text_string_to_metric_families(text):
        assert family.name not in families, f"{family.name} twice"
        families[family.name] = (family.type, family.documentation)
        for s in family.samples:
            labels = {k: (str(float(v)) if k == "le" else v) for k, v in s.labels.items()}
            key = (s.name, frozenset(labels.items()))
            assert key not in samples, f"{key} twice"
            samples[key] = s.value
    return families, samples


def labels(**kw: str) -> frozenset:
    return frozenset(kw.items())


def test_one_tenant_without_a_sampler() -> None:
    families, samples = parse(render(pipeline(stored=42), None))
    assert families["spanscope_stored_spans"][0] == "counter"
    assert families["spanscope_pipeline_pending_spans"][0] == "gauge"
    assert families["spanscope_store_write_seconds"][0] == "histogram"
    assert samples == {
        ("spanscope_pipeline_pending_spans", labels()): 5,
        ("spanscope_stored_spans_total", labels()): 42,
        ("spanscope_store_write_failures_total", labels()): 2,
        ("spanscope_quarantined_spans_total", labels()): 3,
        ("spanscope_rejected_spans_total", labels()): 4,
        ("spanscope_store_available", labels()): 1,
        ("spanscope_store_memory_bytes", labels()): 4096,
        ("spanscope_wal_appends_total", labels()): 6,
        ("spanscope_wal_fsyncs_total", labels()): 7,
        ("spanscope_tail_sampling_enabled", labels()): 0,
        **write_seconds(labels()),
    }


def write_seconds(tenant: frozenset) -> dict[tuple[str, frozenset], float]:
    """The store-write histogram of :func:`pipeline`: 3 ms and 200 ms, cumulative buckets."""
    out: dict[tuple[str, frozenset], float] = {}
    bounds = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
    for bound in (*bounds, float("inf")):
        n = (bound >= 0.003) + (bound >= 0.2)
        out[("spanscope_store_write_seconds_bucket", tenant | labels(le=str(bound)))] = n
    out[("spanscope_store_write_seconds_sum", tenant)] = pytest.approx(0.203)
    out[("spanscope_store_write_seconds_count", tenant)] = 2
    return out


def test_tenants_a_sampler_and_auth_refusals() -> None:
    sources = [(None, pipeline(stored=1), sampler(7)), ("acme", pipeline(2, None, True), None)]
    text = render_sources(sources, {"missing": 3, "scope": 1})
    families, samples = parse(text)
    acme = labels(tenant="acme")
    assert samples[("spanscope_stored_spans_total", labels())] == 1
    assert samples[("spanscope_stored_spans_total", acme)] == 2
    assert samples[("spanscope_store_available", acme)] == 0
    assert ("spanscope_store_memory_bytes", acme) not in samples  # its store has no measure
    assert samples[("spanscope_tail_sampling_enabled", labels())] == 1
    assert samples[("spanscope_tail_sampling_enabled", acme)] == 0
    # the server's refusals: no tenant label, one series per reason
    assert samples[("spanscope_auth_refusals_total", labels(reason="missing"))] == 3
    assert samples[("spanscope_auth_refusals_total", labels(reason="scope"))] == 1
    assert families["spanscope_auth_refusals"][0] == "counter"
    # the sampler's families, for the one tenant that has a sampler
    tail = {k: v for k, v in samples.items() if k[0].startswith("spanscope_tail_sampling_")}
    latency = "spanscope_tail_sampling_decision_latency_seconds"
    expected = {
        ("spanscope_tail_sampling_enabled", labels()): 1,
        ("spanscope_tail_sampling_enabled", acme): 0,
        ("spanscope_tail_sampling_received_spans_total", labels()): 100,
        ("spanscope_tail_sampling_kept_spans_total", labels(policy="errors")): 7,
        ("spanscope_tail_sampling_kept_spans_total", labels(policy=ODD_POLICY)): 1,
        ("spanscope_tail_sampling_dropped_spans_total", labels(policy="no_match")): 9,
        ("spanscope_tail_sampling_kept_traces_total", labels(policy="errors")): 2,
        ("spanscope_tail_sampling_dropped_traces_total", labels(policy="no_match")): 3,
        ("spanscope_tail_sampling_buffered_traces", labels()): 11,
        ("spanscope_tail_sampling_buffered_spans", labels()): 12,
        ("spanscope_tail_sampling_decided_early_traces_total", labels()): 1,
        ("spanscope_tail_sampling_late_spans_total", labels(decision="kept")): 4,
        ("spanscope_tail_sampling_late_spans_total", labels(decision="dropped")): 5,
        (latency + "_sum", labels()): 130.25,
        (latency + "_count", labels()): 3,
    }
    for bound in (*LATENCY_BUCKETS_S, float("inf")):
        expected[(latency + "_bucket", labels(le=str(float(bound))))] = 2 + (bound == float("inf"))
    assert tail == expected
    assert families[latency] == ("histogram", "Seconds from a trace's first span to its decision.")


def test_a_tenant_label_value_is_escaped() -> None:
    odd = 'team "a"\\b'
    _, samples = parse(render_sources([(odd, pipeline(stored=9), None)]))
    assert samples[("spanscope_stored_spans_total", labels(tenant=odd))] == 9


def test_a_server_without_a_pipeline_says_only_that_sampling_is_off() -> None:
    families, samples = parse(render(None, None))
    assert samples == {("spanscope_tail_sampling_enabled", labels()): 0}
    assert families == {
        "spanscope_tail_sampling_enabled": ("gauge", "1 when a [tail_sampling] config is active.")
    }

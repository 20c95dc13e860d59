"""``GET /metrics``: the collector's own numbers in the Prometheus text format (0.0.4).

Names (all prefixed ``spanscope_``)::

    pipeline_pending_spans                  gauge   acknowledged, not yet stored or buffered
    stored_spans_total                      counter spans (and logs, points) newly stored
    store_write_failures_total              counter store writes that raised (each retry)
    store_write_seconds                     histogram one store write (bisection pieces too)
    quarantined_spans_total                 counter refused by the store, moved to quarantine/
    rejected_spans_total                    counter refused by the receivers (partial success)
    wal_appends_total, wal_fsyncs_total     counter records appended / group fsyncs run
    wal_fsync_seconds                       histogram one WAL fsync (directory fsyncs too)
    store_available                         gauge   0 while the store is failing or reopening
    tail_sampling_received_spans_total      counter spans that entered the tail sampler
    tail_sampling_kept_spans_total{policy}  counter spans kept, by the deciding policy
    tail_sampling_dropped_spans_total{policy}  counter  spans dropped ("no_match": none matched)
    tail_sampling_kept_traces_total{policy}, ..._dropped_traces_total{policy}
    tail_sampling_buffered_traces, tail_sampling_buffered_spans   gauges
    tail_sampling_decided_early_traces_total  counter decided before their wait (buffer full)
    tail_sampling_late_spans_total{decision="kept"|"dropped"}     counter
    tail_sampling_decision_latency_seconds    histogram first span -> decision
    auth_refusals_total{reason="missing"|"unknown"|"scope"}  counter  (--auth-file only)
                                            requests refused 401/403, gRPC calls refused
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spanscope.ingest.stats import Histogram
from spanscope.sampling.tail import LATENCY_BUCKETS_S, TailSampler


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(
    pipeline: Any, sampler: TailSampler | None, auth_refusals: Mapping[str, int] | None = None
) -> str:
    """The text of ``/metrics``; ``auth_refusals`` (``Authenticator.refusals``, with
    ``--auth-file``) adds ``spanscope_auth_refusals_total{reason}``."""
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        full = f"spanscope_{name}"
        lines.append(f"# HELP {full} {help_text}")
        lines.append(f"# TYPE {full} {kind}")
        for labels, value in samples:
            lines.append(f"{full}{labels} {value:g}" if isinstance(value, float) else
                         f"{full}{labels} {value}")  # fmt: skip

    def by_policy(counts: dict[str, int]) -> list[tuple[str, float]]:
        return [(f'{{policy="{_escape(p)}"}}', n) for p, n in sorted(counts.items())]

    def histogram(name: str, help_text: str, h: Histogram) -> None:
        full = f"spanscope_{name}"
        lines.append(f"# HELP {full} {help_text}")
        lines.append(f"# TYPE {full} histogram")
        cumulative = 0
        for bound, count in zip((*h.bounds, None), h.buckets, strict=True):
            cumulative += count
            le = "+Inf" if bound is None else f"{bound:g}"
            lines.append(f'{full}_bucket{{le="{le}"}} {cumulative}')
        lines.append(f"{full}_sum {h.sum:.6f}")
        lines.append(f"{full}_count {h.count}")

    if pipeline is not None:
        metric("pipeline_pending_spans", "gauge",
               "Spans acknowledged but not yet stored (or handed to the tail sampler).",
               [("", pipeline.pending_spans)])  # fmt: skip
        stats = getattr(pipeline, "stats", None)
        if stats is not None:
            metric("stored_spans_total", "counter", "Spans, log records and points newly stored.",
                   [("", stats.stored_spans)])  # fmt: skip
            metric("store_write_failures_total", "counter", "Store writes that raised.",
                   [("", stats.store_write_failures)])  # fmt: skip
            histogram("store_write_seconds", "Seconds per store write.", stats.store_write_seconds)
            metric("quarantined_spans_total", "counter",
                   "Spans the store refused, moved to <data-dir>/quarantine/.",
                   [("", stats.quarantined_spans)])  # fmt: skip
            metric("rejected_spans_total", "counter",
                   "Spans the receivers refused (partial_success.rejected_spans).",
                   [("", stats.rejected_spans)])  # fmt: skip
            metric("store_available", "gauge", "0 while store writes fail, else 1.",
                   [("", 0 if getattr(pipeline, "store_failing", False) else 1)])  # fmt: skip
        wal = getattr(pipeline, "wal", None)
        if wal is not None:
            metric("wal_appends_total", "counter", "Records appended to the write-ahead log.",
                   [("", wal.appends)])  # fmt: skip
            metric("wal_fsyncs_total", "counter", "Group fsyncs of the write-ahead log.",
                   [("", wal.fsyncs)])  # fmt: skip
        if stats is not None and stats.wal_fsync_seconds is not None:
            histogram("wal_fsync_seconds", "Seconds per write-ahead log fsync.",
                      stats.wal_fsync_seconds)  # fmt: skip
    if auth_refusals is not None:
        metric("auth_refusals_total", "counter",
               "Requests refused for their token: missing, unknown, or lacking the scope.",
               [(f'{{reason="{r}"}}', n) for r, n in sorted(auth_refusals.items())])  # fmt: skip
    metric("tail_sampling_enabled", "gauge", "1 when a [tail_sampling] config is active.",
           [("", 1 if sampler is not None else 0)])  # fmt: skip
    if sampler is None:
        return "\n".join(lines) + "\n"
    m = sampler.metrics
    metric("tail_sampling_received_spans_total", "counter", "Spans into the tail sampler.",
           [("", m.received_spans)])  # fmt: skip
    metric("tail_sampling_kept_spans_total", "counter", "Spans kept, by deciding policy.",
           by_policy(m.kept_spans))  # fmt: skip
    metric("tail_sampling_dropped_spans_total", "counter", "Spans dropped, by deciding policy.",
           by_policy(m.dropped_spans))  # fmt: skip
    metric("tail_sampling_kept_traces_total", "counter", "Traces kept, by deciding policy.",
           by_policy(m.kept_traces))  # fmt: skip
    metric("tail_sampling_dropped_traces_total", "counter", "Traces dropped, by policy.",
           by_policy(m.dropped_traces))  # fmt: skip
    metric("tail_sampling_buffered_traces", "gauge", "Traces waiting for their decision.",
           [("", sampler.buffered_traces)])  # fmt: skip
    metric("tail_sampling_buffered_spans", "gauge", "Spans of traces waiting for a decision.",
           [("", sampler.buffered_spans)])  # fmt: skip
    metric("tail_sampling_decided_early_traces_total", "counter",
           "Traces decided before their decision wait because the buffer was full.",
           [("", m.decided_early_traces)])  # fmt: skip
    metric("tail_sampling_late_spans_total", "counter",
           "Spans of already-decided traces, following the cached decision.",
           [('{decision="kept"}', m.late_spans_kept),
            ('{decision="dropped"}', m.late_spans_dropped)])  # fmt: skip
    name = "spanscope_tail_sampling_decision_latency_seconds"
    lines.append(f"# HELP {name} Seconds from a trace's first span to its decision.")
    lines.append(f"# TYPE {name} histogram")
    cumulative = 0
    for bound, count in zip((*LATENCY_BUCKETS_S, None), m.decision_latency_buckets, strict=True):
        cumulative += count
        le = "+Inf" if bound is None else f"{bound:g}"
        lines.append(f'{name}_bucket{{le="{le}"}} {cumulative}')
    lines.append(f"{name}_sum {m.decision_latency_sum_s:.6f}")
    lines.append(f"{name}_count {m.decision_latency_count}")
    return "\n".join(lines) + "\n"

"""``GET /metrics``: the collector's own numbers in the Prometheus text format (0.0.4).

Names (all prefixed ``spanscope_``)::

    pipeline_pending_spans                  gauge   acknowledged, not yet stored or buffered
    stored_spans_total                      counter spans (and logs, points) newly stored
    store_write_failures_total              counter store writes that raised (each retry)
    store_write_seconds                     histogram one store write (bisection pieces too)
    quarantined_spans_total                 counter refused by the store, moved to quarantine/
    rejected_spans_total                    counter refused by the receivers (partial success)
    store_memory_bytes                      gauge   the store engine's memory (DuckDB's capped pool)
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

from collections.abc import Callable, Mapping
from typing import Any

from spanscope.ingest.stats import Histogram
from spanscope.sampling.tail import LATENCY_BUCKETS_S, TailSampler

Source = tuple[str | None, Any, TailSampler | None]
"""(tenant, pipeline, sampler): one tenant's numbers; tenant None is the default tenant,
whose series carry no ``tenant`` label (as before tenants)."""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(tenant: str | None, extra: str = "") -> str:
    """``{tenant="acme",policy="x"}`` from a tenant and ``policy="x"`` ('' for none)."""
    parts = [f'tenant="{_escape(tenant)}"'] if tenant is not None else []
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def render(
    pipeline: Any, sampler: TailSampler | None, auth_refusals: Mapping[str, int] | None = None
) -> str:
    """The metrics of one (the default) tenant; ``auth_refusals`` (``Authenticator.refusals``,
    with ``--auth-file``) adds ``spanscope_auth_refusals_total{reason}``."""
    return render_sources([(None, pipeline, sampler)], auth_refusals)


def render_sources(sources: list[Source], auth_refusals: Mapping[str, int] | None = None) -> str:
    """Every tenant's metrics, each family once with a series per tenant (the auth refusals
    are the server's: no tenant label)."""
    lines: list[str] = []

    def family(name: str, kind: str, help_text: str) -> str:
        full = f"spanscope_{name}"
        lines.append(f"# HELP {full} {help_text}")
        lines.append(f"# TYPE {full} {kind}")
        return full

    def metric(
        name: str,
        kind: str,
        help_text: str,
        samples: Callable[[Source], list[tuple[str, float]] | None],
    ) -> None:
        """A family; ``samples`` answers None for a source without it (no header then)."""
        per_source = [(src[0], samples(src)) for src in sources]
        if all(found is None for _, found in per_source):
            return
        full = family(name, kind, help_text)
        found = [(tenant, s) for tenant, got in per_source for s in got or ()]
        for tenant, (extra, value) in found:
            labels = _labels(tenant, extra)
            lines.append(f"{full}{labels} {value:g}" if isinstance(value, float) else
                         f"{full}{labels} {value}")  # fmt: skip

    def histogram(name: str, help_text: str, of: Callable[[Source], Any]) -> None:
        found = [(src[0], h) for src in sources if (h := of(src)) is not None]
        if not found:
            return
        full = family(name, "histogram", help_text)
        for tenant, h in found:
            bounds, buckets, total, count = h
            cumulative = 0
            for bound, n in zip((*bounds, None), buckets, strict=True):
                cumulative += n
                le = "+Inf" if bound is None else f"{bound:g}"
                bucket = _labels(tenant, 'le="' + le + '"')
                lines.append(f"{full}_bucket{bucket} {cumulative}")
            lines.append(f"{full}_sum{_labels(tenant)} {total:.6f}")
            lines.append(f"{full}_count{_labels(tenant)} {count}")

    def by_policy(counts: dict[str, int]) -> list[tuple[str, float]]:
        return [(f'policy="{_escape(p)}"', n) for p, n in sorted(counts.items())]

    def stats(src: Source) -> Any:
        return getattr(src[1], "stats", None) if src[1] is not None else None

    def stat(field: str) -> Callable[[Source], list[tuple[str, float]] | None]:
        return lambda src: [("", getattr(stats(src), field))] if stats(src) is not None else None

    def wal(field: str) -> Callable[[Source], list[tuple[str, float]] | None]:
        def get(src: Source) -> list[tuple[str, float]] | None:
            w = getattr(src[1], "wal", None) if src[1] is not None else None
            return [("", getattr(w, field))] if w is not None else None

        return get

    def store_memory(src: Source) -> list[tuple[str, float]] | None:
        # Only a store that declares an engine buffer pool reports it (not the in-memory one).
        store = src[1].store if src[1] is not None else None
        if store is None or not store.capabilities.engine_memory:
            return None
        return [("", store.memory_bytes())]

    def hist(h: Histogram | None) -> Any:
        return None if h is None else (h.bounds, h.buckets, h.sum, h.count)

    metric("pipeline_pending_spans", "gauge",
           "Spans acknowledged but not yet stored (or handed to the tail sampler).",
           lambda src: [("", src[1].pending_spans)] if src[1] is not None else None)  # fmt: skip
    metric("stored_spans_total", "counter", "Spans, log records and points newly stored.",
           stat("stored_spans"))  # fmt: skip
    metric("store_write_failures_total", "counter", "Store writes that raised.",
           stat("store_write_failures"))  # fmt: skip
    histogram("store_write_seconds", "Seconds per store write.",
              lambda src: hist(stats(src).store_write_seconds) if stats(src) else None)  # fmt: skip
    metric("quarantined_spans_total", "counter",
           "Spans the store refused, moved to <data-dir>/quarantine/.",
           stat("quarantined_spans"))  # fmt: skip
    metric("rejected_spans_total", "counter",
           "Spans the receivers refused (partial_success.rejected_spans).",
           stat("rejected_spans"))  # fmt: skip
    metric("store_available", "gauge", "0 while store writes fail, else 1.",
           lambda src: [("", 0 if getattr(src[1], "store_failing", False) else 1)]
           if stats(src) is not None else None)  # fmt: skip
    metric("store_memory_bytes", "gauge",
           "Memory the store's database engine holds (DuckDB: its capped buffer pool).",
           store_memory)  # fmt: skip
    metric("wal_appends_total", "counter", "Records appended to the write-ahead log.",
           wal("appends"))  # fmt: skip
    metric("wal_fsyncs_total", "counter", "Group fsyncs of the write-ahead log.",
           wal("fsyncs"))  # fmt: skip
    histogram("wal_fsync_seconds", "Seconds per write-ahead log fsync.",
              lambda src: hist(stats(src).wal_fsync_seconds) if stats(src) else None)  # fmt: skip
    if auth_refusals is not None:
        refusals: list[tuple[str, float]] = [
            (f'reason="{r}"', n) for r, n in sorted(auth_refusals.items())
        ]
        metric("auth_refusals_total", "counter",
               "Requests refused for their token: missing, unknown, or lacking the scope.",
               lambda src: refusals if src is sources[0] else [])  # fmt: skip
    metric("tail_sampling_enabled", "gauge", "1 when a [tail_sampling] config is active.",
           lambda src: [("", 1 if src[2] is not None else 0)])  # fmt: skip
    sampled = [src for src in sources if src[2] is not None]
    if not sampled:
        return "\n".join(lines) + "\n"
    sources = sampled

    def m(src: Source) -> Any:
        return src[2].metrics  # type: ignore[union-attr]

    metric("tail_sampling_received_spans_total", "counter", "Spans into the tail sampler.",
           lambda src: [("", m(src).received_spans)])  # fmt: skip
    metric("tail_sampling_kept_spans_total", "counter", "Spans kept, by deciding policy.",
           lambda src: by_policy(m(src).kept_spans))  # fmt: skip
    metric("tail_sampling_dropped_spans_total", "counter", "Spans dropped, by deciding policy.",
           lambda src: by_policy(m(src).dropped_spans))  # fmt: skip
    metric("tail_sampling_kept_traces_total", "counter", "Traces kept, by deciding policy.",
           lambda src: by_policy(m(src).kept_traces))  # fmt: skip
    metric("tail_sampling_dropped_traces_total", "counter", "Traces dropped, by policy.",
           lambda src: by_policy(m(src).dropped_traces))  # fmt: skip
    metric("tail_sampling_buffered_traces", "gauge", "Traces waiting for their decision.",
           lambda src: [("", src[2].buffered_traces)])  # type: ignore[union-attr]  # fmt: skip
    metric("tail_sampling_buffered_spans", "gauge", "Spans of traces waiting for a decision.",
           lambda src: [("", src[2].buffered_spans)])  # type: ignore[union-attr]  # fmt: skip
    metric("tail_sampling_decided_early_traces_total", "counter",
           "Traces decided before their decision wait because the buffer was full.",
           lambda src: [("", m(src).decided_early_traces)])  # fmt: skip
    metric("tail_sampling_late_spans_total", "counter",
           "Spans of already-decided traces, following the cached decision.",
           lambda src: [('decision="kept"', m(src).late_spans_kept),
                        ('decision="dropped"', m(src).late_spans_dropped)])  # fmt: skip

    def latency(src: Source) -> Any:
        got = m(src)
        return (LATENCY_BUCKETS_S, got.decision_latency_buckets, got.decision_latency_sum_s,
                got.decision_latency_count)  # fmt: skip

    histogram("tail_sampling_decision_latency_seconds",
              "Seconds from a trace's first span to its decision.", latency)  # fmt: skip
    return "\n".join(lines) + "\n"

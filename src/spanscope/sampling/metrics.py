"""``GET /metrics``: the collector's own numbers in the Prometheus text format (0.0.4).

The numbers live where they are counted (:class:`spanscope.ingest.stats.PipelineStats`,
the WAL, :class:`spanscope.sampling.tail.SamplerMetrics`); a scrape reads them through a
prometheus_client *custom collector* (:class:`PipelineCollector`) and prometheus_client
writes the exposition text: its escaping, number formatting and histogram layout, not ours::

    text = render_sources(tenants.metrics_sources(), authenticator.refusals)

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
    forward_spans_total{peer}               counter spans forwarded to their trace's owner
    forward_queue_spans{peer}               gauge   spans waiting for that peer (--peers)
    forward_failures_total{peer}            counter forwarding tries that failed
    forward_refused_spans_total{peer}       counter refused by the peer as bad data
    auth_refusals_total{reason="missing"|"unknown"|"scope"}  counter  (--auth-file only)
                                            requests refused 401/403, gRPC calls refused
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from spanscope.ingest.stats import Histogram
from spanscope.sampling.tail import LATENCY_BUCKETS_S, TailSampler

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The format :func:`render_sources` writes (``generate_latest``'s; prometheus_client 0.22+
names it ``CONTENT_TYPE_PLAIN_0_0_4``, and its ``CONTENT_TYPE_LATEST`` is now 1.0.0's)."""

Source = tuple[str | None, Any, TailSampler | None]
"""(tenant, pipeline, sampler): one tenant's numbers; tenant None is the default tenant,
whose series carry no ``tenant`` label (as before tenants)."""

Series = list[tuple[dict[str, str], float]]
"""One source's samples of a family: (labels besides ``tenant``, value)."""

HistogramCounts = tuple[tuple[float, ...], list[int], float, int]
"""(upper bounds, per-bucket counts with +Inf last, not cumulative; sum; count)."""


def render(
    pipeline: Any, sampler: TailSampler | None, auth_refusals: Mapping[str, int] | None = None
) -> str:
    """The metrics of one (the default) tenant; ``auth_refusals`` (``Authenticator.refusals``,
    with ``--auth-file``) adds ``spanscope_auth_refusals_total{reason}``."""
    return render_sources([(None, pipeline, sampler)], auth_refusals)


def render_sources(sources: list[Source], auth_refusals: Mapping[str, int] | None = None) -> str:
    """Every tenant's metrics, each family once with a series per tenant (the auth refusals
    are the server's: no tenant label)."""
    return generate_latest(PipelineCollector(sources, auth_refusals)).decode()


class PipelineCollector(Collector):
    """A prometheus_client custom collector over the counters of each source: ``collect()``
    reads them at scrape time, so nothing is counted twice or kept in a second registry.

    A family appears when at least one source has what it counts (a pipeline without a WAL
    has no ``wal_*``; a store without an engine memory no ``store_memory_bytes``), and the
    ``tail_sampling_*`` families only for the sources that run a tail sampler."""

    def __init__(
        self, sources: list[Source], auth_refusals: Mapping[str, int] | None = None
    ) -> None:
        self.sources = sources
        self.auth_refusals = auth_refusals

    def collect(self) -> Iterator[Metric]:
        yield from _present(self._pipeline_families())
        if self.auth_refusals is not None:
            refusals = Metric("spanscope_auth_refusals",
                              "Requests refused for their token: missing, unknown, or lacking "
                              "the scope.", "counter")  # fmt: skip
            for reason, n in sorted(self.auth_refusals.items()):
                refusals.add_sample("spanscope_auth_refusals_total", {"reason": reason}, n)
            yield refusals
        yield from _present([
            self._family("tail_sampling_enabled", "gauge",
                         "1 when a [tail_sampling] config is active.",
                         lambda src: [({}, 1 if src[2] is not None else 0)]),
        ])  # fmt: skip
        yield from _present(self._sampler_families())

    def _pipeline_families(self) -> list[Metric | None]:
        def stat(name: str) -> Callable[[Source], Series | None]:
            return lambda src: [({}, getattr(s, name))] if (s := _stats(src)) is not None else None

        def timing(name: str) -> Callable[[Source], HistogramCounts | None]:
            return lambda src: _counts(getattr(s, name)) if (s := _stats(src)) is not None else None

        def wal(name: str) -> Callable[[Source], Series | None]:
            return lambda src: [({}, getattr(w, name))] if (w := _wal(src)) is not None else None

        def available(src: Source) -> Series | None:
            if _stats(src) is None:
                return None
            return [({}, 0 if getattr(src[1], "store_failing", False) else 1)]

        def store_memory(src: Source) -> Series | None:
            # Only a store that declares an engine buffer pool reports it (not the in-memory one).
            store = src[1].store if src[1] is not None else None
            if store is None or not store.capabilities.engine_memory:
                return None
            return [({}, store.memory_bytes())]

        def forward(name: str) -> Callable[[Source], Series | None]:
            def samples(src: Source) -> Series | None:
                forwarder = getattr(src[1], "forwarder", None)
                if forwarder is None:
                    return None
                return [({"peer": p}, m[name]) for p, m in sorted(forwarder.metrics().items())]

            return samples

        f = self._family
        return [
            f("pipeline_pending_spans", "gauge",
              "Spans acknowledged but not yet stored (or handed to the tail sampler).",
              lambda src: [({}, src[1].pending_spans)] if src[1] is not None else None),
            f("stored_spans_total", "counter", "Spans, log records and points newly stored.",
              stat("stored_spans")),
            f("store_write_failures_total", "counter", "Store writes that raised.",
              stat("store_write_failures")),
            self._histogram("store_write_seconds", "Seconds per store write.",
                            timing("store_write_seconds")),
            f("quarantined_spans_total", "counter",
              "Spans the store refused, moved to <data-dir>/quarantine/.",
              stat("quarantined_spans")),
            f("rejected_spans_total", "counter",
              "Spans the receivers refused (partial_success.rejected_spans).",
              stat("rejected_spans")),
            f("store_available", "gauge", "0 while store writes fail, else 1.", available),
            f("store_memory_bytes", "gauge",
              "Memory the store's database engine holds (DuckDB: its capped buffer pool).",
              store_memory),
            f("wal_appends_total", "counter", "Records appended to the write-ahead log.",
              wal("appends")),
            f("wal_fsyncs_total", "counter", "Group fsyncs of the write-ahead log.",
              wal("fsyncs")),
            self._histogram("wal_fsync_seconds", "Seconds per write-ahead log fsync.",
                            timing("wal_fsync_seconds")),
            f("forward_spans_total", "counter",
              "Spans forwarded to the peer that owns their trace (--peers), by peer.",
              forward("forwarded")),
            f("forward_queue_spans", "gauge", "Spans waiting for their peer, by peer.",
              forward("queued")),
            f("forward_failures_total", "counter",
              "Forwarding tries that failed (each retry), by peer.", forward("failures")),
            f("forward_refused_spans_total", "counter",
              "Spans a peer refused as bad data, set aside in quarantine/, by peer.",
              forward("refused")),
        ]  # fmt: skip

    def _sampler_families(self) -> list[Metric | None]:
        sampled = [src for src in self.sources if src[2] is not None]
        if not sampled:
            return []

        def m(src: Source) -> Any:
            return src[2].metrics  # type: ignore[union-attr]  # only sampled sources here

        def by_policy(counts: dict[str, int]) -> Series:
            return [({"policy": p}, n) for p, n in sorted(counts.items())]

        def latency(src: Source) -> HistogramCounts:
            got = m(src)
            return (LATENCY_BUCKETS_S, got.decision_latency_buckets, got.decision_latency_sum_s,
                    got.decision_latency_count)  # fmt: skip

        def f(name: str, kind: str, help_text: str, samples: Callable[[Source], Series]) -> Any:
            return self._family(name, kind, help_text, samples, sampled)

        return [
            f("tail_sampling_received_spans_total", "counter", "Spans into the tail sampler.",
              lambda src: [({}, m(src).received_spans)]),
            f("tail_sampling_kept_spans_total", "counter", "Spans kept, by deciding policy.",
              lambda src: by_policy(m(src).kept_spans)),
            f("tail_sampling_dropped_spans_total", "counter", "Spans dropped, by deciding policy.",
              lambda src: by_policy(m(src).dropped_spans)),
            f("tail_sampling_kept_traces_total", "counter", "Traces kept, by deciding policy.",
              lambda src: by_policy(m(src).kept_traces)),
            f("tail_sampling_dropped_traces_total", "counter", "Traces dropped, by policy.",
              lambda src: by_policy(m(src).dropped_traces)),
            f("tail_sampling_buffered_traces", "gauge", "Traces waiting for their decision.",
              lambda src: [({}, src[2].buffered_traces)]),  # type: ignore[union-attr]
            f("tail_sampling_buffered_spans", "gauge", "Spans of traces waiting for a decision.",
              lambda src: [({}, src[2].buffered_spans)]),  # type: ignore[union-attr]
            f("tail_sampling_decided_early_traces_total", "counter",
              "Traces decided before their decision wait because the buffer was full.",
              lambda src: [({}, m(src).decided_early_traces)]),
            f("tail_sampling_late_spans_total", "counter",
              "Spans of already-decided traces, following the cached decision.",
              lambda src: [({"decision": "kept"}, m(src).late_spans_kept),
                           ({"decision": "dropped"}, m(src).late_spans_dropped)]),
            self._histogram("tail_sampling_decision_latency_seconds",
                            "Seconds from a trace's first span to its decision.", latency,
                            sampled),
        ]  # fmt: skip

    def _family(
        self,
        name: str,
        kind: str,
        help_text: str,
        samples: Callable[[Source], Series | None],
        sources: list[Source] | None = None,
    ) -> Metric | None:
        """``spanscope_<name>`` with each source's samples; None when no source has it
        (``samples`` answers None for a source without it)."""
        found = [(src[0], samples(src)) for src in (self.sources if sources is None else sources)]
        if all(series is None for _, series in found):
            return None
        full = f"spanscope_{name}"
        # prometheus_client names a counter family without its _total (OpenMetrics' way)
        # and writes the _total back in the text format.
        family = Metric(full.removesuffix("_total") if kind == "counter" else full,
                        help_text, kind)  # fmt: skip
        for tenant, series in found:
            for extra, value in series or ():
                family.add_sample(full, _labels(tenant, extra), value)
        return family

    def _histogram(
        self,
        name: str,
        help_text: str,
        of: Callable[[Source], HistogramCounts | None],
        sources: list[Source] | None = None,
    ) -> Metric | None:
        """A histogram from per-bucket counts: cumulative ``_bucket{le}``, ``_sum``, ``_count``."""
        found = [(src[0], h) for src in (self.sources if sources is None else sources)
                 if (h := of(src)) is not None]  # fmt: skip
        if not found:
            return None
        full = f"spanscope_{name}"
        family = Metric(full, help_text, "histogram")
        for tenant, (bounds, buckets, total, count) in found:
            cumulative = 0
            for bound, n in zip((*bounds, math.inf), buckets, strict=True):
                cumulative += n
                le = _labels(tenant, {"le": floatToGoString(bound)})
                family.add_sample(f"{full}_bucket", le, cumulative)
            family.add_sample(f"{full}_sum", _labels(tenant), total)
            family.add_sample(f"{full}_count", _labels(tenant), count)
        return family


def _present(families: list[Metric | None]) -> Iterator[Metric]:
    return (f for f in families if f is not None)


def _labels(tenant: str | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """``{"tenant": "acme", **extra}``; the default tenant (None) has no tenant label."""
    labels = {"tenant": tenant} if tenant is not None else {}
    return {**labels, **(extra or {})}


def _stats(src: Source) -> Any:
    return getattr(src[1], "stats", None) if src[1] is not None else None


def _wal(src: Source) -> Any:
    return getattr(src[1], "wal", None) if src[1] is not None else None


def _counts(h: Histogram | None) -> HistogramCounts | None:
    return None if h is None else (h.bounds, h.buckets, h.sum, h.count)

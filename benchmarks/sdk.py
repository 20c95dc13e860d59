"""What spanscope.sdk costs per span, next to the bare OpenTelemetry SDK, on one core.

    .venv/bin/python benchmarks/sdk.py [--spans 20000] [--runs 5]

Prints ns per span (median of ``--runs`` runs) for a root span with two children, made:

- with a bare OTel ``TracerProvider`` + ``BatchSpanProcessor`` (exporter that drops),
  sampler ``ParentBased(TraceIdRatioBased(p))``;
- after ``spanscope.sdk.configure()`` (same kind of exporter, ``PrioritySampler`` with three
  rules, log correlation and metrics on), through ``span()``;

both at p = 1.0 (every span sampled and exported) and p = 0.0 (every span dropped), and
the sampler alone: ``should_sample`` ns per root decision, PrioritySampler (three rules that
do not match, then the default) vs TraceIdRatioBased and ParentBased(TraceIdRatioBased)
(PrioritySampler is parent-based: it looks up the current span first, as ParentBased does).
Target (issue #5): the priority sampler within 10 % of TraceIdRatioBased.
Numbers on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable, Sequence

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.trace import Tracer

from spanscope.sdk import PrioritySampler, Rule, configure, span


class DropExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def rules(rate: float) -> PrioritySampler:
    return PrioritySampler(
        [Rule(0.001, route="/health*"), Rule(0.5, name="POST /checkout*"),
         Rule(1.0, attributes={"user.tier": "gold"})],
        default_rate=rate,
    )  # fmt: skip


def median_ns(step: Callable[[int], None], n: int, runs: int, per: int) -> float:
    step(min(n, 1000))  # warm up
    samples = []
    for _ in range(runs):
        started = time.perf_counter_ns()
        step(n)
        samples.append((time.perf_counter_ns() - started) / (n * per))
    return statistics.median(samples)


def bare_tracer(sampler: Sampler) -> tuple[Tracer, TracerProvider]:
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(BatchSpanProcessor(DropExporter()))
    return provider.get_tracer("bench"), provider


def bare_step(tracer: Tracer) -> Callable[[int], None]:
    def step(n: int) -> None:
        for _ in range(n):
            with tracer.start_as_current_span("GET /orders", attributes={"http.route": "/o"}):
                with tracer.start_as_current_span("SELECT orders"):
                    pass
                with tracer.start_as_current_span("render"):
                    pass

    return step


def sdk_step(n: int) -> None:
    for _ in range(n):
        with span("GET /orders", attributes={"http.route": "/o"}):
            with span("SELECT orders"):
                pass
            with span("render"):
                pass


def sampler_step(sampler: Sampler, ids: list[int]) -> Callable[[int], None]:
    def step(n: int) -> None:
        should = sampler.should_sample
        attrs = {"http.route": "/orders"}
        for i in range(n):
            should(None, ids[i % len(ids)], "GET /orders", None, attrs)

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spans", type=int, default=20_000, help="root spans per run")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    n, runs = args.spans, args.runs

    print(f"{'ns per span (3-span traces)':<44} {'sampled':>10} {'unsampled':>10}")
    for label, make in (
        ("bare OTel SDK, ParentBased(TraceIdRatioBased)", None),
        ("spanscope.sdk configure() + span()", rules),
    ):
        figures = []
        for rate in (1.0, 0.0):
            if make is None:
                tracer, provider = bare_tracer(ParentBased(TraceIdRatioBased(rate)))
                figures.append(median_ns(bare_step(tracer), n, runs, 3))
                provider.shutdown()
            else:
                handle = configure(
                    "bench", sampler=make(rate), span_exporter=DropExporter(), instrument=False,
                    metric_readers=[],
                )  # fmt: skip
                figures.append(median_ns(sdk_step, n, runs, 3))
                handle.shutdown()
        print(f"{label:<44} {figures[0]:>10.0f} {figures[1]:>10.0f}")

    rng = random.Random(1)
    ids = [rng.getrandbits(128) for _ in range(4096)]
    calls = n * 5
    print(f"\n{'should_sample, ns per root decision':<44} {'p=0.05':>10}")
    ratio = median_ns(sampler_step(TraceIdRatioBased(0.05), ids), calls, runs, 1)
    parent_based = median_ns(
        sampler_step(ParentBased(TraceIdRatioBased(0.05)), ids), calls, runs, 1
    )
    priority = median_ns(sampler_step(rules(0.05), ids), calls, runs, 1)
    no_rules = median_ns(sampler_step(PrioritySampler([], 0.05), ids), calls, runs, 1)
    print(f"{'TraceIdRatioBased':<44} {ratio:>10.0f}")
    extra = parent_based / ratio - 1
    print(f"{'ParentBased(TraceIdRatioBased)':<44} {parent_based:>10.0f}  ({extra:+.0%})")
    print(f"{'PrioritySampler, no rules':<44} {no_rules:>10.0f}  ({no_rules / ratio - 1:+.0%})")
    print(
        f"{'PrioritySampler, 3 rules checked':<44} {priority:>10.0f}  ({priority / ratio - 1:+.0%})"
    )


if __name__ == "__main__":
    main()

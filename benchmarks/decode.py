"""How fast the receivers' decoders turn a request into spans, on one core.

    .venv/bin/python benchmarks/decode.py [--spans 512] [--runs 7] [--cpu]

Builds one realistic request (benchmarks/workload.py: 512 spans, 10 services, ~8
attributes per span, an event on ~10 % of spans) and prints spans/s, the median of
``--runs`` runs, for: protobuf ``ParseFromString`` alone (the floor), the full
``decode_otlp_protobuf`` (Span objects), ``decode_otlp_columns`` (the receivers' columnar
decoder, with its KeyValue cache warm) and the Arrow table built from its columns, and
``decode_otlp_json`` on the same request as OTLP/JSON; each decoder once more with the
built-in redaction rules (what ``spanscope serve`` applies by default: the request holds
no secret, so this is the cost of checking).
Compare with docs/performance.md's decode floor; numbers on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # noqa: E402
    ExportTraceServiceRequest,
)
from workload import make_request, to_otlp_json  # noqa: E402

from spanscope.ingest.limits import Limits  # noqa: E402
from spanscope.ingest.otlp import decode_otlp_protobuf  # noqa: E402
from spanscope.ingest.otlp_columns import decode_otlp_columns  # noqa: E402
from spanscope.ingest.otlp_json import decode_otlp_json  # noqa: E402
from spanscope.ingest.redaction import DEFAULT_RULES, Redactor  # noqa: E402
from spanscope.store.duckdb_schema import columns_table  # noqa: E402


def spans_per_second(
    step: Callable[[], object], n_spans: int, runs: int, cpu: bool = False
) -> float:
    """Median spans/s over ``runs`` runs of ~0.2 s each; with ``cpu``, the best run by
    this process's CPU time (steadier than wall time on a shared, loaded machine)."""
    clock = time.process_time if cpu else time.perf_counter
    step()  # warm up
    repeat = 1
    while True:
        started = clock()
        for _ in range(repeat):
            step()
        if clock() - started > 0.05:
            break
        repeat *= 2
    rates = []
    for _ in range(runs):
        started = clock()
        for _ in range(repeat):
            step()
        rates.append(n_spans * repeat / max(clock() - started, 1e-9))
    return max(rates) if cpu else statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=512)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--cpu", action="store_true", help="time by CPU, best run (for a loaded machine)"
    )
    args = parser.parse_args()

    request = make_request(n_spans=args.spans)
    body = request.SerializeToString()
    json_body = to_otlp_json(request)
    now_ns = time.time_ns()
    result = decode_otlp_protobuf(body, now_ns=now_ns)
    assert len(result.spans) == args.spans and result.rejected == 0, result.first_error

    columns = decode_otlp_columns(body, now_ns=now_ns).spans
    n = args.spans
    print(
        f"request: {n} spans, {len(body) / n:.0f} B/span protobuf, "
        f"{len(json_body) / n:.0f} B/span OTLP/JSON"
    )
    redacting = Limits(redaction=Redactor(DEFAULT_RULES))
    cases: list[tuple[str, Callable[[], object]]] = [
        ("ParseFromString only", lambda: ExportTraceServiceRequest().ParseFromString(body)),
        ("decode_otlp_protobuf", lambda: decode_otlp_protobuf(body, now_ns=now_ns)),
        ("decode_otlp_columns", lambda: decode_otlp_columns(body, now_ns=now_ns)),
        ("columns_table", lambda: columns_table(columns)),
        ("decode_otlp_json", lambda: decode_otlp_json(json_body, now_ns=now_ns)),
        ("columns + redaction", lambda: decode_otlp_columns(body, redacting, now_ns=now_ns)),
        ("json + redaction", lambda: decode_otlp_json(json_body, redacting, now_ns=now_ns)),
    ]
    for label, step in cases:
        rate = spans_per_second(step, n, args.runs, args.cpu)
        print(f"{label:<24} {rate:>12,.0f} spans/s  {1e6 / rate:6.2f} µs/span")


if __name__ == "__main__":
    main()

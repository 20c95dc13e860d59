"""A population of traces with a known composition, for tail-sampling tests and benchmarks.

Each trace has a root SERVER span and ``spans_per_trace - 1`` children. Classes, in
priority order: ``error`` (a child has status ERROR), ``slow`` (root lasts 1.5 s),
``checkout`` (root ``http.route`` = /api/checkout), ``health`` (/health) and ``normal``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from spanscope.columnar import SpanColumns
from spanscope.model.spans import Span, SpanKind, StatusCode
from spanscope.store.duckdb_schema import SpanTable, columns_table

BASE_NS = 1_700_000_000_000_000_000
ROUTES = {"checkout": "/api/checkout", "health": "/health", "normal": "/api/products"}


@dataclass
class Population:
    tables: list[SpanTable]
    classes: dict[bytes, str]  # trace id -> class
    spans: dict[bytes, int]  # trace id -> span count


def make_population(
    n_traces: int = 10_000,
    shares: dict[str, float] | None = None,
    spans_per_trace: int = 5,
    seed: int = 7,
    batch_traces: int = 100,
) -> Population:
    shares = shares or {"error": 0.01, "slow": 0.03, "checkout": 0.2, "health": 0.0}
    rng = random.Random(seed)
    counts = {c: round(n_traces * s) for c, s in shares.items()}
    counts["normal"] = n_traces - sum(counts.values())
    labels = [c for c, n in counts.items() for _ in range(n)]
    rng.shuffle(labels)
    resource = {"service.name": "shop"}
    tables: list[SpanTable] = []
    classes: dict[bytes, str] = {}
    spans: dict[bytes, int] = {}
    batch: list[Span] = []
    for i, label in enumerate(labels):
        trace_id = rng.getrandbits(128).to_bytes(16, "big")
        classes[trace_id] = label
        spans[trace_id] = spans_per_trace
        start = BASE_NS + i * 1_000_000
        duration = 1_500_000_000 if label == "slow" else 20_000_000 + rng.randrange(10**8)
        root_id = rng.getrandbits(64).to_bytes(8, "big")
        route = ROUTES.get(label, "/api/products")
        batch.append(
            Span(trace_id=trace_id, span_id=root_id, name=f"GET {route}", start_ns=start,
                 end_ns=start + duration, service="frontend", kind=SpanKind.SERVER,
                 attributes={"http.route": route, "http.status_code": 200}, resource=resource)
        )  # fmt: skip
        for j in range(spans_per_trace - 1):
            error = label == "error" and j == 0
            batch.append(
                Span(trace_id=trace_id, span_id=rng.getrandbits(64).to_bytes(8, "big"),
                     parent_span_id=root_id, name="SELECT orders", start_ns=start + 1000,
                     end_ns=start + 2000 + j, service="db", kind=SpanKind.CLIENT,
                     status_code=StatusCode.ERROR if error else StatusCode.UNSET,
                     attributes={"db.system": "postgresql"}, resource=resource)
            )  # fmt: skip
        if (i + 1) % batch_traces == 0:
            tables.append(columns_table(SpanColumns.from_spans(batch)))
            batch = []
    if batch:
        tables.append(columns_table(SpanColumns.from_spans(batch)))
    return Population(tables, classes, spans)

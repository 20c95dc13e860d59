"""The load generator's bodies (``benchmarks/ingest.py`` ``Bodies``) are what a live system sends.

A soak of many minutes must store spans whose times follow the clock: with every request
carrying the minute before the run began, tens of millions of spans land in that minute and
each time-bounded read scans the whole store (the soak's trace-by-id p99 climbed to 1.2 s
from that alone). These check the re-cut bodies decode to the same spans, moved by the
elapsed whole seconds, with fresh trace ids.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _ingest_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_ingest", BENCHMARKS / "ingest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_ingest", module)
    spec.loader.exec_module(module)
    return module


def _spans(body: bytes) -> list:
    req = ExportTraceServiceRequest()
    req.ParseFromString(body)
    return [s for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]


def test_bodies_following_the_clock_move_every_time_by_the_elapsed_seconds() -> None:
    bodies = _ingest_module().Bodies(n_base=1, spans=64, follow_clock=True)
    base = _spans(bodies.base[0][0])
    first = _spans(bodies.next()[0])
    bodies._t0 -= 125.4  # as if 125.4 s had passed since the bodies were made
    moved = _spans(bodies.next()[0])
    assert len(base) == len(first) == len(moved) == 64
    shift = 125 * 1_000_000_000
    for b, f, m in zip(base, first, moved, strict=True):
        assert (f.start_time_unix_nano, f.end_time_unix_nano) == (
            b.start_time_unix_nano,
            b.end_time_unix_nano,
        )
        assert m.start_time_unix_nano == b.start_time_unix_nano + shift
        assert m.end_time_unix_nano == b.end_time_unix_nano + shift
        assert [e.time_unix_nano for e in m.events] == [e.time_unix_nano + shift for e in b.events]
        assert (m.name, m.span_id, m.parent_span_id) == (b.name, b.span_id, b.parent_span_id)
        assert m.trace_id != b.trace_id and m.trace_id != f.trace_id
    assert any(b.events for b in base)  # the event times were checked, not skipped


def test_bodies_without_the_clock_keep_their_times() -> None:
    bodies = _ingest_module().Bodies(n_base=1, spans=32)
    base = _spans(bodies.base[0][0])
    bodies._t0 -= 500
    later = _spans(bodies.next()[0])
    assert [s.start_time_unix_nano for s in later] == [s.start_time_unix_nano for s in base]

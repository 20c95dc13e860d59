"""Fixtures for the SDK tests (the real-server ones, ``spanscope_server`` and
``start_spanscope``, come from tests/support/server.py like everywhere else).

``sdk`` configures spanscope.sdk with in-memory span and metric exporters and shuts it
down afterwards, so every test starts from an unconfigured process.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spanscope.sdk import Handle, configure


@dataclass
class Configured:
    handle: Handle
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader

    def finished(self) -> list:
        return list(self.spans.get_finished_spans())


@pytest.fixture
def sdk() -> Iterator[Configured]:
    spans, metrics = InMemorySpanExporter(), InMemoryMetricReader()
    handle = configure(
        "orders",
        service_version="2.1.0",
        environment="test",
        instrument=False,
        span_processors=[SimpleSpanProcessor(spans)],
        metric_readers=[metrics],
        log_processors=[],  # keep trace ids on records, export nowhere (not to :4318)
    )
    yield Configured(handle, spans, metrics)
    handle.shutdown()

"""Fixtures for the SDK tests.

``spanscope_server`` / ``start_spanscope`` are the integration suite's real-server fixtures
(tests/integration/conftest.py), loaded from their file because tests/ is not a package.
``sdk`` configures spanscope.sdk with in-memory span and metric exporters and shuts it
down afterwards, so every test starts from an unconfigured process.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spanscope.sdk import Handle, configure

_path = Path(__file__).parent.parent / "integration" / "conftest.py"
_spec = importlib.util.spec_from_file_location("spanscope_integration_fixtures", _path)
assert _spec is not None and _spec.loader is not None
integration = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = integration  # dataclasses look their module up there
_spec.loader.exec_module(integration)

spanscope_server = integration.spanscope_server
start_spanscope = integration.start_spanscope
RunningServer = integration.RunningServer


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

"""Auto-instrumented FastAPI apps: one server span per request, without the ASGI instrumentation's
per-message ``http send`` / ``http receive`` spans unless ``asgi_message_spans=True``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import fastapi
import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spanscope.sdk import configure, instrument_app


def make_app(cls: Any = None) -> Any:
    app = (cls or fastapi.FastAPI)()  # looked up now: configure() swapped the class

    @app.post("/orders/{ref}")
    def place(ref: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"ref": ref, "items": len(body["items"])}

    return app


def span_names(spans: InMemorySpanExporter, app: Any) -> list[str]:
    with TestClient(app) as client:
        answer = client.post("/orders/A-1", json={"items": [1, 2]})
    assert answer.json() == {"ref": "A-1", "items": 2}
    return sorted(s.name for s in spans.get_finished_spans() if s.kind.name != "CLIENT")


@pytest.fixture
def configured(request: pytest.FixtureRequest) -> Iterator[InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    handle = configure(
        "orders",
        span_processors=[SimpleSpanProcessor(spans)],
        metrics=False,
        log_processors=[],
        **getattr(request, "param", {}),
    )
    yield spans
    handle.shutdown()


def test_a_request_is_one_server_span_without_message_spans(configured) -> None:
    assert span_names(configured, make_app()) == ["POST /orders/{ref}"]


@pytest.mark.parametrize("configured", [{"asgi_message_spans": True}], indirect=True)
def test_message_spans_are_kept_when_asked_for(configured) -> None:
    names = span_names(configured, make_app())
    assert "POST /orders/{ref}" in names
    assert {"POST /orders/{ref} http receive", "POST /orders/{ref} http send"} <= set(names)


def test_an_app_instrumented_explicitly_has_no_message_spans_either(configured) -> None:
    import fastapi.applications

    # The class as imported before configure(): only instrument_app() reaches this app.
    original = fastapi.applications.FastAPI
    app = instrument_app(make_app(original))
    assert span_names(configured, app) == ["POST /orders/{ref}"]

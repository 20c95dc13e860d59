"""@traced and span(): names, kinds, attributes, async and generator functions, errors."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from spanscope.sdk import db_attributes, http_attributes, set_http_server, span, traced


def by_name(sdk) -> dict:
    return {s.name: s for s in sdk.finished()}


def test_span_block_sets_attributes_and_nests(sdk) -> None:
    with span("checkout", kind="server", attributes={"http.route": "/checkout"}, user="u1"):
        with span("reserve-stock", sku="A-1", quantity=2) as inner:
            inner.set_attribute("warehouse", "north")
    spans = by_name(sdk)
    outer, inner_span = spans["checkout"], spans["reserve-stock"]
    assert outer.kind is SpanKind.SERVER
    assert dict(outer.attributes) == {"http.route": "/checkout", "user": "u1"}
    assert dict(inner_span.attributes) == {"sku": "A-1", "quantity": 2, "warehouse": "north"}
    assert inner_span.parent.span_id == outer.context.span_id
    assert inner_span.resource.attributes["service.name"] == "orders"
    assert inner_span.resource.attributes["service.version"] == "2.1.0"
    assert inner_span.resource.attributes["deployment.environment"] == "test"
    assert inner_span.resource.attributes["host.name"]


def test_traced_names_spans_after_the_function_or_the_given_name(sdk) -> None:
    @traced
    def load_cart(user: str) -> list[str]:
        return [user]

    @traced("charge card", kind="client", provider="acme")
    async def charge(amount: float) -> float:
        await asyncio.sleep(0)
        return amount

    @traced
    def rows():
        yield from range(3)

    with span("request"):
        assert load_cart("u1") == ["u1"]
        assert asyncio.run(charge(12.5)) == 12.5
        assert list(rows()) == [0, 1, 2]
    spans = by_name(sdk)
    root = spans["request"].context.span_id
    cart = spans["test_traced_names_spans_after_the_function_or_the_given_name.<locals>.load_cart"]
    assert cart.parent.span_id == root
    assert cart.attributes["code.function"].endswith("load_cart")
    charged = spans["charge card"]
    assert charged.kind is SpanKind.CLIENT and charged.attributes["provider"] == "acme"
    assert charged.parent.span_id == root
    assert len(spans) == 4


def test_an_exception_marks_the_span_as_error_and_propagates(sdk) -> None:
    @traced
    def fail() -> None:
        raise KeyError("sku A-9")

    with pytest.raises(KeyError):
        fail()
    (s,) = sdk.finished()
    assert s.status.status_code is StatusCode.ERROR
    assert s.events[0].name == "exception"
    assert s.events[0].attributes["exception.type"] == "KeyError"


def test_unknown_kind_is_rejected_with_the_choices() -> None:
    with pytest.raises(ValueError, match="'sever'.*server"):
        traced("x", kind="sever")


def test_semconv_helpers(sdk, monkeypatch) -> None:
    assert db_attributes("sqlite", "select * from orders where id = ?", name="shop.db") == {
        "db.system": "sqlite",
        "db.statement": "select * from orders where id = ?",
        "db.operation": "SELECT",
        "db.name": "shop.db",
    }
    with span("GET /orders/{id}", kind="server"):
        set_http_server(method="GET", route="/orders/{id}", status_code=503)
    (s,) = sdk.finished()
    assert s.attributes["http.method"] == "GET"
    assert s.attributes["http.status_code"] == 503
    assert s.status.status_code is StatusCode.ERROR
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
    assert http_attributes(method="GET", status_code=200, path="/a") == {
        "http.request.method": "GET",
        "http.response.status_code": 200,
        "url.path": "/a",
    }

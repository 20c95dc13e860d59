"""Query parameters with a fixed set of values are declared as such: FastAPI validates them,
/openapi.json lists their values, and a bad one is still our 400 naming the parameter,
the value and the values allowed (in the shape of the API it was sent to)."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from fastapi.testclient import TestClient

from spanscope.api.app import create_app
from spanscope.api.deps import SpanKindName
from spanscope.model.spans import SpanKind
from spanscope.tenancy import empty_store

KINDS = ["unspecified", "internal", "server", "client", "producer", "consumer"]


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(empty_store()))


@pytest.fixture(scope="module")
def openapi(client: TestClient) -> dict[str, Any]:
    answer = client.get("/openapi.json")
    assert answer.status_code == 200
    return answer.json()  # type: ignore[no-any-return]


def parameter(openapi: dict[str, Any], path: str, name: str) -> dict[str, Any]:
    found = [p for p in openapi["paths"][path]["get"]["parameters"] if p["name"] == name]
    assert len(found) == 1, f"{path} has no parameter {name}"
    return found[0]


def enum_of(schema: dict[str, Any]) -> list[str]:
    """The values a parameter's schema allows: its own enum, or its one non-null variant's,
    or (a repeatable parameter) its items'."""
    if "enum" in schema:
        return list(schema["enum"])
    if "items" in schema:
        return enum_of(schema["items"])
    variants = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    assert len(variants) == 1, schema
    return enum_of(variants[0])


@pytest.mark.parametrize(
    ("path", "name", "values"),
    [
        ("/api/v1/traces", "status", ["error", "ok", "unset"]),
        ("/api/v1/traces", "order", ["newest", "slowest"]),
        ("/api/v1/services/{service}/operations", "span_kind", KINDS),
        ("/api/operations", "spanKind", KINDS),
        ("/api/v1/logs", "order", ["newest", "oldest"]),
        ("/api/v1/red", "span_kind", [*KINDS, "any"]),
    ],
)
def test_openapi_lists_the_values_of_enumerated_parameters(
    openapi: dict[str, Any], path: str, name: str, values: list[str]
) -> None:
    assert enum_of(parameter(openapi, path, name)["schema"]) == values


def test_the_span_kind_names_are_the_model_s_kinds() -> None:
    assert list(get_args(SpanKindName)) == [k.label for k in SpanKind]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "/api/v1/traces?order=random",
            "parameter order='random': expected 'newest' or 'slowest'",
        ),
        (
            "/api/v1/traces?status=bad",
            "parameter status='bad': expected 'error', 'ok' or 'unset'",
        ),
        (
            "/api/v1/logs?order=sideways",
            "parameter order='sideways': expected 'newest' or 'oldest'",
        ),
        (  # a repeatable parameter: the value named is the bad one
            "/api/v1/red?service=orders&span_kind=server&span_kind=sideways",
            "parameter span_kind='sideways': expected 'unspecified', 'internal', 'server', "
            "'client', 'producer', 'consumer' or 'any'",
        ),
        (
            "/api/v1/services/orders/operations?span_kind=sideways",
            "parameter span_kind='sideways': expected 'unspecified', 'internal', 'server', "
            "'client', 'producer' or 'consumer'",
        ),
    ],
)
def test_a_bad_value_is_a_400_naming_the_parameter_and_the_values(
    client: TestClient, url: str, message: str
) -> None:
    answer = client.get(url)
    assert answer.status_code == 400
    assert answer.json() == {"error": {"status": 400, "message": message}}


def test_a_bad_span_kind_answers_in_jaeger_s_shape_on_its_api(client: TestClient) -> None:
    answer = client.get("/api/operations?service=orders&spanKind=sideways")
    assert answer.status_code == 400
    (error,) = answer.json()["errors"]
    assert error["code"] == 400
    assert error["msg"].startswith("parameter spanKind='sideways': expected 'unspecified', ")


def test_a_long_bad_value_is_cut_in_the_message(client: TestClient) -> None:
    answer = client.get("/api/v1/traces", params={"order": "x" * 1_000})
    assert answer.status_code == 400
    message = answer.json()["error"]["message"]
    assert (
        message.startswith("parameter order='xxxx") and "expected 'newest' or 'slowest'" in message
    )
    assert len(message) < 300


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/traces?status=",  # an empty value is no filter, as before
        "/api/v1/traces?status=error&order=slowest",
        "/api/v1/services/orders/operations?span_kind=SPAN_KIND_SERVER",  # OTLP's spelling
        "/api/v1/services/orders/operations?span_kind=Server",
        "/api/operations?service=orders&spanKind=client",
        "/api/v1/red?service=orders&span_kind=SERVER&span_kind=consumer",
        "/api/v1/red?service=orders&span_kind=any",
        "/api/v1/logs?order=oldest",
    ],
)
def test_every_spelling_accepted_before_is_accepted(client: TestClient, url: str) -> None:
    answer = client.get(url)
    assert answer.status_code == 200, answer.text

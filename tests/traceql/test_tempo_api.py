"""The Tempo HTTP API over a real DuckDB store holding the shop trace (in-process app):
each endpoint's answer in Tempo's shape (pkg/tempopb/tempo.proto as jsonpb writes it)."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData
from traceql_shop import BASE, SHOP_HEX, shop_spans

from spanscope.api.app import create_app
from spanscope.store.duckdb import DuckDBStore

WINDOW = {"start": str(BASE // 10**9 - 60), "end": str(BASE // 10**9 + 60)}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    store = DuckDBStore(":memory:")
    store.write(shop_spans())
    with TestClient(create_app(store)) as c:
        yield c


def search(client: TestClient, q: str, **params: str) -> dict:
    r = client.get("/tempo/api/search", params={"q": q, **WINDOW, **params})
    assert r.status_code == 200, r.text
    return r.json()


def test_search_answers_tempo_shape(client: TestClient) -> None:
    body = search(client, "{ status = error }")
    (t,) = body["traces"]
    assert t["traceID"] == SHOP_HEX
    assert t["rootServiceName"] == "frontend" and t["rootTraceName"] == "GET /checkout"
    assert t["startTimeUnixNano"] == str(BASE) and t["durationMs"] == 1000
    assert t["serviceStats"]["checkout"] == {"spanCount": 1, "errorCount": 1}
    assert t["serviceStats"]["payments"] == {"spanCount": 3}
    (ss,) = t["spanSets"]
    assert t["spanSet"] == ss
    assert ss["matched"] == 1
    assert ss["spans"] == [
        {
            "spanID": "0000000000000003",
            "name": "POST /pay",
            "startTimeUnixNano": str(BASE + 110_000_000),
            "durationNanos": "780000000",
            "attributes": [{"key": "status", "value": {"stringValue": "error"}}],
        }
    ]


def test_spss_limits_spans_not_matched(client: TestClient) -> None:
    (t,) = search(client, '{ name = "db.query" }', spss="2")["traces"]
    (ss,) = t["spanSets"]
    assert ss["matched"] == 3 and len(ss["spans"]) == 2


def test_by_attributes_and_select(client: TestClient) -> None:
    (t,) = search(client, "{ kind = client } | by(resource.service.name) | select(span.db.system)")[
        "traces"
    ]
    labels = [ss["attributes"] for ss in t["spanSets"]]
    assert labels == [
        [{"key": "by(resource.service.name)", "value": {"stringValue": "frontend"}}],
        [{"key": "by(resource.service.name)", "value": {"stringValue": "payments"}}],
    ]
    db = t["spanSets"][1]["spans"][0]["attributes"]
    assert {"key": "db.system", "value": {"stringValue": "postgresql"}} in db


def test_structural_and_no_match(client: TestClient) -> None:
    assert len(search(client, '{ name = "POST /pay" } > { name = "db.query" }')["traces"]) == 1
    assert search(client, '{ name = "db.query" } > { name = "POST /pay" }')["traces"] == []


def test_bad_query_is_400_in_tempo_words(client: TestClient) -> None:
    r = client.get("/tempo/api/search", params={"q": "{ span.http.status_code = }"})
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("text/plain")
    assert (
        r.text == "invalid TraceQL query: parse error at line 1, col 27: "
        "expected a value after '=', found '}'"
    )


def test_tag_search_and_durations(client: TestClient) -> None:
    found = client.get(
        "/api/search", params={"tags": "service.name=checkout", "minDuration": "500ms", **WINDOW}
    ).json()
    assert [t["traceID"] for t in found["traces"]] == [SHOP_HEX]
    none = client.get(
        "/api/search", params={"tags": "service.name=checkout", "maxDuration": "10ms", **WINDOW}
    ).json()
    assert none["traces"] == []
    assert client.get("/api/search", params={"minDuration": "soon"}).status_code == 400


def test_trace_by_id_json_and_protobuf(client: TestClient) -> None:
    v1 = client.get(f"/tempo/api/traces/{SHOP_HEX}").json()
    spans = [s for rs in v1["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
    assert len(spans) == 7
    pay = next(s for s in spans if s["name"] == "POST /pay")
    assert base64.b64decode(pay["traceId"]).hex() == SHOP_HEX
    assert pay["kind"] == "SPAN_KIND_SERVER" and pay["status"]["code"] == "STATUS_CODE_ERROR"
    v2 = client.get(f"/tempo/api/v2/traces/{SHOP_HEX}").json()
    assert v2["trace"] == v1
    pb = client.get(f"/tempo/api/traces/{SHOP_HEX}", headers={"Accept": "application/protobuf"})
    assert pb.headers["content-type"] == "application/protobuf"
    decoded = TracesData.FromString(pb.content)
    assert sum(len(ss.spans) for rs in decoded.resource_spans for ss in rs.scope_spans) == 7
    pb2 = client.get(f"/tempo/api/v2/traces/{SHOP_HEX}", headers={"Accept": "application/protobuf"})
    assert pb2.content.endswith(pb.content) and pb2.content[0] == 0x0A
    assert client.get("/tempo/api/v2/traces/" + "ab" * 16).status_code == 404
    assert client.get("/tempo/api/v2/traces/xyz").status_code == 400


def test_root_api_traces_stays_jaeger(client: TestClient) -> None:
    assert "data" in client.get(f"/api/traces/{SHOP_HEX}").json()


def test_tags(client: TestClient) -> None:
    v1 = client.get("/api/search/tags", params=WINDOW).json()
    assert {"http.status_code", "host.name", "service.name"} <= set(v1["tagNames"])
    v2 = client.get("/api/v2/search/tags", params=WINDOW).json()
    scopes = {s["name"]: s["tags"] for s in v2["scopes"]}
    assert "db.system" in scopes["span"] and "deployment.environment" in scopes["resource"]
    assert scopes["event"] == ["exception.type"] and scopes["link"] == ["link.kind"]
    assert "span:status" in scopes["intrinsic"]
    only = client.get("/api/v2/search/tags", params={"scope": "resource", **WINDOW}).json()
    assert [s["name"] for s in only["scopes"]] == ["resource"]
    assert client.get("/api/v2/search/tags", params={"scope": "nope"}).status_code == 400


def test_tag_values(client: TestClient) -> None:
    v1 = client.get("/api/search/tag/http.method/values", params=WINDOW).json()
    assert v1["tagValues"] == ["GET", "POST"]
    v2 = client.get("/api/v2/search/tag/resource.service.name/values", params=WINDOW).json()
    assert {"type": "string", "value": "payments"} in v2["tagValues"]
    codes = client.get("/api/v2/search/tag/span.http.status_code/values", params=WINDOW).json()
    assert codes["tagValues"] == [
        {"type": "int", "value": "200"},
        {"type": "int", "value": "500"},
        {"type": "string", "value": "500"},
    ]
    names = client.get("/api/v2/search/tag/name/values").json()["tagValues"]
    assert {"type": "string", "value": "db.query"} in names and len(names) == 5
    status = client.get("/api/v2/search/tag/status/values").json()["tagValues"]
    assert {"type": "keyword", "value": "error"} in status
    narrowed = client.get(
        "/api/v2/search/tag/resource.service.name/values",
        params={"q": '{ kind = client && span.db.system = "postgresql" }', **WINDOW},
    ).json()
    assert narrowed["tagValues"] == [{"type": "string", "value": "payments"}]


def test_bad_tags_are_400(client: TestClient) -> None:
    for tag in (".a } && { .b", "1 + 2", "{", ".a != nil } | count() > 1 | { .b"):
        r = client.get(f"/api/v2/search/tag/{tag}/values")
        assert r.status_code == 400 and "invalid tag" in r.text, (tag, r.text)
    assert (
        client.get(
            "/api/search", params={"q": "{ }", "limit": "0", "spss": "0", **WINDOW}
        ).status_code
        == 200
    )


def test_echo_and_buildinfo(client: TestClient) -> None:
    assert client.get("/api/echo").text == "echo"
    info = client.get("/tempo/api/status/buildinfo").json()
    assert set(info) == {"version", "revision", "branch", "buildDate", "buildUser", "goVersion"}


def test_tenant_isolation(client: TestClient) -> None:
    r = client.get(
        "/tempo/api/search", params={"q": "{ }", **WINDOW}, headers={"X-Scope-OrgID": "other"}
    )
    assert r.status_code == 200 and r.json()["traces"] == []


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(
        st.sampled_from(
            list('{}()|&!=~<>.,"` ')
            + [
                "span.",
                "resource.",
                "name",
                "duration",
                "status",
                "error",
                "1",
                "5ms",
                "count()",
                "by",
                "&&",
                "||",
                "nil",
                "a",
                "rate()",
                "select(",
                "=~",
                '"a+"',
            ]
        ),
        max_size=24,
    ).map("".join)
)
def test_fuzzed_queries_never_500(client: TestClient, q: str) -> None:
    r = client.get("/tempo/api/search", params={"q": q, **WINDOW})
    assert r.status_code in (200, 400), (q, r.status_code, r.text)

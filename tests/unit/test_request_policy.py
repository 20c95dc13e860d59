"""The request policy (spanscope/request_policy.py) on the in-process query API: what a
browser on another origin is refused, what curl and SDKs still get, the headers on every
answer, and /docs served from the package."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from spanscope.api.app import create_app
from spanscope.request_policy import (
    browser_checks,
    default_allowed_hosts,
    host_name,
    parse_allowed_hosts,
)
from tests.support.memory_store import MemoryStore

BASE = "http://127.0.0.1:16686"
NOT_SERVE = "sampling endpoints need `spanscope serve`"  # the handler ran: not refused


@pytest.fixture
def client() -> TestClient:
    app = create_app(MemoryStore(), allowed_hosts=default_allowed_hosts("127.0.0.1"))
    return TestClient(app, base_url=BASE)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Localhost:16686", "localhost"),
        ("127.0.0.1", "127.0.0.1"),
        ("[::1]:4318", "[::1]"),
        ("::1", "[::1]"),
        ("spanscope.example.com.", "spanscope.example.com"),
    ],
)
def test_host_name_strips_the_port_as_a_host_header_carries_it(given: str, expected: str) -> None:
    assert host_name(given) == expected


def test_default_hosts_are_loopback_plus_a_named_bind_address() -> None:
    assert default_allowed_hosts("127.0.0.1") == ("localhost", "127.0.0.1", "[::1]")
    assert default_allowed_hosts("0.0.0.0") == ("localhost", "127.0.0.1", "[::1]")
    assert default_allowed_hosts("::") == ("localhost", "127.0.0.1", "[::1]")
    assert default_allowed_hosts("10.0.0.5")[-1] == "10.0.0.5"
    assert default_allowed_hosts("fd00::5")[-1] == "[fd00::5]"


def test_allowed_hosts_flag_parses_and_names_a_bad_entry() -> None:
    assert parse_allowed_hosts("a.example, 10.0.0.5,[::1]") == ("a.example", "10.0.0.5", "[::1]")
    assert parse_allowed_hosts("*") == ("*",)
    for bad in ("http://a.example", "a.example/x", " , "):
        with pytest.raises(ValueError, match="--allowed-hosts"):
            parse_allowed_hosts(bad)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/retention"),
        ("PUT", "/api/v1/sampling/rules?service=checkout"),
        ("DELETE", "/api/v1/sampling/rules?service=checkout"),
    ],
)
@pytest.mark.parametrize(
    ("headers", "named"),
    [
        ({"Origin": "http://evil.example"}, "Origin 'http://evil.example'"),
        ({"Origin": "null"}, "Origin 'null'"),
        ({"Origin": "http://127.0.0.1:8000"}, "Origin 'http://127.0.0.1:8000'"),
        ({"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}, "'cross-site'"),
        (
            {"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:8000"},
            "Sec-Fetch-Site is 'same-site'",
        ),
    ],
)
def test_state_changes_from_another_origin_are_refused_naming_the_header(
    client: TestClient, method: str, path: str, headers: dict[str, str], named: str
) -> None:
    answer = client.request(method, path, headers=headers, content=b"{}")
    assert answer.status_code == 403, answer.text
    message = answer.json()["error"]["message"]
    assert named in message and "non-browser client" in message and "docs/security.md" in message
    assert answer.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "headers",
    [
        {},  # curl, SDK exporters, Grafana's server-side proxy
        {"Origin": BASE, "Sec-Fetch-Site": "same-origin"},  # the UI or /docs itself
        {"Origin": "http://127.0.0.1:16686"},
        {"Sec-Fetch-Site": "none"},
    ],
)
def test_state_changes_without_browser_headers_or_from_the_same_origin_pass(
    client: TestClient, headers: dict[str, str]
) -> None:
    answer = client.post("/api/v1/retention", headers=headers)
    assert answer.status_code == 404 and NOT_SERVE in answer.text, answer.text


def test_cross_site_reads_are_refused_but_links_still_open(client: TestClient) -> None:
    fetched = client.get(
        "/api/v1/services", headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"}
    )
    assert fetched.status_code == 403 and "Sec-Fetch-Site" in fetched.text
    linked = client.get(
        "/search",
        headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Origin": "null"},
    )
    assert linked.status_code == 200
    embedded = client.get(
        "/search",
        headers={
            "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "embed"
        },
    )  # fmt: skip
    assert embedded.status_code == 403
    same_site_read = client.get("/api/v1/services", headers={"Sec-Fetch-Site": "same-site"})
    assert same_site_read.status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:16686", "192.168.1.9"])
def test_a_host_not_allowed_is_421_naming_it_and_the_flag(client: TestClient, host: str) -> None:
    answer = client.get("/api/v1/services", headers={"Host": host})
    assert answer.status_code == 421
    message = answer.json()["error"]["message"]
    assert f"Host {host!r}" in message and "--allowed-hosts" in message
    assert "DNS rebinding" in message


@pytest.mark.parametrize("host", ["localhost:16686", "127.0.0.1", "[::1]:16686", "LOCALHOST"])
def test_loopback_hosts_are_answered(client: TestClient, host: str) -> None:
    assert client.get("/api/v1/services", headers={"Host": host}).status_code == 200


def test_star_allows_any_host() -> None:
    client = TestClient(create_app(MemoryStore(), allowed_hosts=["*"]), base_url=BASE)
    assert client.get("/api/v1/services", headers={"Host": "anything.example"}).status_code == 200


@pytest.mark.parametrize(
    "path", ["/", "/search", "/docs", "/api/v1/services", "/no/such", "/ui/app.js"]
)
def test_every_answer_has_the_security_headers(client: TestClient, path: str) -> None:
    headers = client.get(path).headers
    csp = headers["content-security-policy"]
    for directive in (
        "default-src 'self'", "script-src 'self'", "object-src 'none'",
        "frame-ancestors 'none'", "base-uri 'none'",
    ):  # fmt: skip
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"


def test_docs_page_loads_swagger_ui_from_the_package_with_no_inline_script(
    client: TestClient,
) -> None:
    page = client.get("/docs").text
    assert "cdn." not in page and "https://" not in page
    assert not re.search(r"<script>|<script [^>]*>[^<]", page), "inline script under CSP"
    for src in re.findall(r'(?:src|href)="(/[^"]+)"', page):
        asset = client.get(src)
        assert asset.status_code == 200, src
        assert len(asset.content) > 100, src
    assert client.get("/redoc").status_code == 404  # FastAPI's CDN-loaded Redoc is off


HEADER_TEXT = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=80),
    st.sampled_from(["http://[abc", "http://[::1", "http://a:b:c", "null", "", "[", ":"]),
    st.builds(lambda s: "x" * 5000 + s, st.text(max_size=5)),
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(origin=HEADER_TEXT, host=HEADER_TEXT, site=HEADER_TEXT)
def test_any_header_values_get_an_answer_never_an_exception(
    origin: str, host: str, site: str
) -> None:
    headers = {"origin": origin, "host": host, "sec-fetch-site": site}
    for check in browser_checks(["localhost"]):
        refusal = check({"method": "POST", "type": "http"}, headers)
        if refusal is not None:
            assert refusal.status in (403, 421)
            assert len(refusal.message) < 1000  # a 5 kB header is not echoed whole


def test_a_further_check_slots_in_with_its_own_status_and_headers() -> None:
    """How a later check (tokens, say) joins: one more Check, answered in the API's shape."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from spanscope.request_policy import Refusal, RequestPolicy

    def needs_token(scope: object, headers: dict[str, str]) -> Refusal | None:
        if "authorization" in headers:
            return None
        return Refusal(401, "no token", ((b"www-authenticate", b'Bearer realm="spanscope"'),))

    inner = Starlette(routes=[Route("/", lambda request: PlainTextResponse("ok"))])
    app = RequestPolicy(inner, [*browser_checks(["testserver"]), needs_token])
    client = TestClient(app)
    refused = client.get("/")
    assert refused.status_code == 401 and refused.text == "no token"
    assert refused.headers["www-authenticate"] == 'Bearer realm="spanscope"'
    assert refused.headers["x-content-type-options"] == "nosniff"
    assert client.get("/", headers={"Authorization": "Bearer x"}).text == "ok"
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 421  # first wins

"""Token auth (spanscope/auth.py): the auth file's errors, the scope table, the check on
the in-process query API, and the loopback rule without tokens."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi import Request
from fastapi.testclient import TestClient

from spanscope.api.app import create_app
from spanscope.auth import (
    Authenticator,
    AuthFileError,
    api_scopes,
    bearer_token,
    fingerprint,
    is_loopback,
    listen_refusal,
    load_auth_file,
)
from spanscope.principal import PRINCIPAL_KEY, Principal
from tests.support.auth import write_auth_file
from tests.support.memory_store import MemoryStore

INGEST = "ingest-token-0123456789"
QUERY = "query-token-0123456789ab"
ADMIN = "admin-token-0123456789ab"

GOOD = f"""
[[tokens]]
name = "shop-ingest"
token = "{INGEST}"
scopes = ["ingest"]
tenant = "shop"

[[tokens]]
token = "{QUERY}"
scopes = ["query"]

[[tokens]]
name = "oncall"
token = "{ADMIN}"
scopes = ["query", "admin"]
"""


def test_a_good_file_gives_one_principal_per_token_and_keeps_no_token(tmp_path: Path) -> None:
    entries = load_auth_file(write_auth_file(tmp_path, GOOD))
    assert [e.principal for e in entries] == [
        Principal("shop-ingest", frozenset({"ingest"}), "shop"),
        Principal(fingerprint(QUERY), frozenset({"query"}), None),  # no name: a fingerprint
        Principal("oncall", frozenset({"query", "admin"}), None),
    ]
    assert QUERY not in repr(entries) and QUERY not in fingerprint(QUERY)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[[tokens]]\ntoken = 'x'\n", "entry 1, key 'token': expected at least 16"),
        (f"[[tokens]]\ntoken = '{QUERY}'\n", "entry 1, key 'scopes'"),
        (f"[[tokens]]\ntoken = '{QUERY}'\nscopes = ['read']\n", "'read' is not a scope"),
        (f"[[tokens]]\ntoken = '{QUERY}'\nscopes = []\n", "key 'scopes': expected a non-empty"),
        (GOOD + "[[tokens]]\nscopes = ['query']\n", "entry 4, key 'token': missing"),
        (GOOD + f"[[tokens]]\ntoken = '{QUERY}'\nscopes = ['query']\n",
         "entry 4, key 'token': the same token as entry 2"),
        (GOOD + f"[[tokens]]\ntoken = '{QUERY}x'\nscopes = ['query']\nscope = 1\n",
         "entry 4, key 'scope': unknown key"),
        (f"[[tokens]]\ntoken = '{QUERY}'\nscopes = ['query']\ntenant = ''\n", "key 'tenant'"),
        ("[[tokens]]\ntoken = 'tökén-0123456789abc'\nscopes = ['query']\n", "printable ASCII"),
        ("[[tokens]]\ntoken = 'has a space in it!!'\nscopes = ['query']\n", "without spaces"),
        ("tokens = 'abc'\n", "no [[tokens]] tables"),
        ("", "no [[tokens]] tables"),
        ("[token]\n", "unknown key 'token'"),
        ("[[tokens]\n", "not valid TOML"),
    ],
)  # fmt: skip
def test_a_bad_file_names_the_file_the_entry_and_the_key(
    tmp_path: Path, text: str, named: str
) -> None:
    path = write_auth_file(tmp_path, text)
    with pytest.raises(AuthFileError) as caught:
        load_auth_file(path)
    assert str(path) in str(caught.value) and named in str(caught.value)
    assert QUERY not in str(caught.value)  # a token is never echoed


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(AuthFileError, match="nope.toml: cannot read it"):
        load_auth_file(tmp_path / "nope.toml")


def test_identify_and_authorize(tmp_path: Path) -> None:
    auth = Authenticator.from_file(write_auth_file(tmp_path, GOOD))
    assert auth.identify(ADMIN) == Principal("oncall", frozenset({"query", "admin"}))
    assert auth.identify(ADMIN[:-1]) is None and auth.identify("") is None
    assert auth.authorize(INGEST, ["ingest"], "POST /v1/traces", "hint") == auth.identify(INGEST)
    missing = auth.authorize(None, ["query"], "GET /api/v1/services", "send it")
    unknown = auth.authorize("nope" * 5, ["query"], "GET /api/v1/services", "send it")
    scope = auth.authorize(INGEST, ["query"], "GET /api/v1/services", "send it")
    assert (missing.status, unknown.status, scope.status) == (401, 401, 403)  # type: ignore[union-attr]
    assert "needs a token of scope 'query'" in missing.message  # type: ignore[union-attr]
    assert "'shop-ingest' has ingest" in scope.message  # type: ignore[union-attr]
    assert dict(auth.refusals) == {"missing": 1, "unknown": 1, "scope": 1}


def test_reload_swaps_tokens_and_a_bad_file_keeps_the_old_ones(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_auth_file(tmp_path, GOOD)
    auth = Authenticator.from_file(path)
    path.write_text(f"[[tokens]]\nname = 'new'\ntoken = '{QUERY}new'\nscopes = ['query']\n")
    assert auth.reload() is True
    assert auth.identify(QUERY) is None and auth.identify(QUERY + "new") is not None
    path.write_text("[[tokens]]\nscopes = ['query']\n")
    with caplog.at_level(logging.ERROR, logger="spanscope.auth"):
        assert auth.reload() is False
    assert "entry 1, key 'token'" in caplog.text and "still using the 1 tokens" in caplog.text
    assert auth.identify(QUERY + "new") is not None


def test_a_file_others_can_read_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_auth_file(tmp_path, GOOD)
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="spanscope.auth"):
        Authenticator.from_file(path)
    assert "chmod 600" in caplog.text


@pytest.mark.parametrize(
    ("header", "token"),
    [("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic abc", None), ("Bearer", None),
     (None, None), ("abc", None)],
)  # fmt: skip
def test_bearer_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


@pytest.mark.parametrize(
    ("method", "path", "scopes"),
    [
        ("GET", "/healthz", ()), ("GET", "/readyz", ()), ("GET", "/", ()),
        ("GET", "/search", ()), ("GET", "/trace/abc", ()), ("GET", "/ui/app.js", ()),
        ("GET", "/services/checkout", ()), ("GET", "/services", ()), ("GET", "/logs", ()),
        ("GET", "/quality", ()), ("GET", "/open", ()),
        ("GET", "/api/v1/services", ("query",)), ("GET", "/api/services", ("query",)),
        ("GET", "/metrics", ("query",)), ("GET", "/docs", ("query",)),
        ("GET", "/openapi.json", ("query",)), ("GET", "/no/such", ("query",)),
        ("GET", "/api/v1/retention", ("query",)),
        ("GET", "/api/v1/sampling/rules", ("query", "ingest")),
        ("PUT", "/api/v1/sampling/rules", ("admin",)),
        ("DELETE", "/api/v1/sampling/rules", ("admin",)),
        ("POST", "/api/v1/retention", ("admin",)),
        ("POST", "/search", ("admin",)),
    ],
)  # fmt: skip
def test_the_query_api_scope_table(method: str, path: str, scopes: tuple[str, ...]) -> None:
    assert api_scopes(method, path) == scopes


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    auth = Authenticator.from_file(write_auth_file(tmp_path, GOOD))
    app = create_app(MemoryStore(), authenticator=auth)

    @app.get("/api/v1/whoami")
    def whoami(request: Request) -> dict[str, object]:  # what the tenants helper will read
        principal = request.scope[PRINCIPAL_KEY]
        return {"name": principal.name, "tenant": principal.tenant}

    return TestClient(app, base_url="http://127.0.0.1:16686")


def test_the_api_answers_401_403_200_and_sets_the_principal(client: TestClient) -> None:
    refused = client.get("/api/v1/services")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Bearer realm="spanscope"'
    assert "Authorization: Bearer" in refused.json()["error"]["message"]
    assert refused.headers["x-content-type-options"] == "nosniff"  # still the policy's headers
    wrong = client.get("/api/v1/services", headers={"Authorization": "Bearer " + "x" * 20})
    assert wrong.status_code == 401 and "not one this server knows" in wrong.text
    basic = client.get("/api/v1/services", headers={"Authorization": "Basic eDp5"})
    assert basic.status_code == 401 and "not of the form 'Bearer <token>'" in basic.text
    scope = client.get("/api/v1/services", headers={"Authorization": f"Bearer {INGEST}"})
    assert scope.status_code == 403 and "scope 'query'" in scope.json()["error"]["message"]
    assert "www-authenticate" not in scope.headers
    ok = client.get("/api/v1/services", headers={"Authorization": f"Bearer {QUERY}"})
    assert ok.status_code == 200
    me = client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {ADMIN}"})
    assert me.json() == {"name": "oncall", "tenant": None}
    retention = client.post("/api/v1/retention", headers={"Authorization": f"Bearer {QUERY}"})
    assert retention.status_code == 403 and "scope 'admin'" in retention.text
    admin = client.post("/api/v1/retention", headers={"Authorization": f"Bearer {ADMIN}"})
    assert admin.status_code == 404  # past the check: this app has no sampling runtime


def test_probes_and_the_ui_shell_stay_open(client: TestClient) -> None:
    pages = ("/services", "/logs", "/quality", "/open", "/ui/vendor/dagre/dagre.esm.js")
    for path in ("/healthz", "/readyz", "/", "/search", "/ui/app.js", "/ui/api.js", *pages):
        assert client.get(path).status_code == 200, path


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True),
     ("localhost", True), ("0.0.0.0", False), ("::", False), ("192.168.1.5", False),
     ("fd00::5", False), ("spanscope.example", False), ("", False)],
)  # fmt: skip
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_without_tokens_only_loopback_unless_insecure_listen() -> None:
    message = listen_refusal("0.0.0.0", auth_on=False, insecure_listen=False)
    assert message is not None
    assert "--auth-file" in message and "--insecure-listen" in message and "0.0.0.0" in message
    assert listen_refusal("0.0.0.0", auth_on=True, insecure_listen=False) is None
    assert listen_refusal("0.0.0.0", auth_on=False, insecure_listen=True) is None
    assert listen_refusal("127.0.0.1", auth_on=False, insecure_listen=False) is None


def test_insecure_listen_warns_at_start_and_tokens_in_clear_are_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """serve()'s first step, without binding anything (tests bind 127.0.0.1 only)."""
    from spanscope.config import Settings
    from spanscope.server import load_authenticator

    with pytest.raises(SystemExit, match="refusing to listen on 192.168.1.5"):
        load_authenticator(Settings(host="192.168.1.5"))
    with caplog.at_level(logging.WARNING):
        assert load_authenticator(Settings(host="0.0.0.0", insecure_listen=True)) is None
    assert "--insecure-listen: serving 0.0.0.0 with no tokens" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        auth = load_authenticator(Settings(host="::", auth_file=write_auth_file(tmp_path, GOOD)))
    assert auth is not None and "tokens travel in clear text" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        load_authenticator(Settings(host="127.0.0.1", insecure_listen=True))
    assert not caplog.text

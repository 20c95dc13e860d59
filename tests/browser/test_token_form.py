"""The UI on a server with tokens (``spanscope serve --auth-file``), in real Chromium: the
page asks for a query token in its own form, says so again when a token is refused, lists
the services once a good one is entered, and does not ask again after a reload of the tab.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.auth import Token, bearer, write_auth_file
from tests.support.waiting import wait_until

INGEST = "ingest-1b2c3d4e5f60718293a4"
QUERY = "query-9a8b7c6d5e4f30211203"
TOKENS = (Token("apps", INGEST, ("ingest",)), Token("reader", QUERY, ("query",)))
SERVICE = "token-form-checkout"


@pytest.fixture
def ui_with_tokens(tmp_path: Path, start_spanscope: Any) -> str:
    auth = write_auth_file(tmp_path, *TOKENS)
    server = start_spanscope(tmp_path / "data", {"SPANSCOPE_AUTH_FILE": str(auth)})
    # A span of now: one from years ago is what the retention job (first run at start,
    # racing this send) deletes, and the page would rightly list no service.
    span = [{"traceId": "7af7183fb1d4cf5f5af7183fb1d4cf5f", "id": "7b221d5bc9e6496c",
             "name": "get /cart", "timestamp": time.time_ns() // 1000 - 1000, "duration": 1000,
             "localEndpoint": {"serviceName": SERVICE}}]  # fmt: skip
    sent = httpx.post(server.zipkin_url + "/api/v2/spans", json=span,
                      headers=bearer(INGEST))  # fmt: skip
    assert sent.status_code == 202, sent.text
    wait_until(  # stored before the page asks: the form is what this tests, not ack latency
        lambda: SERVICE in httpx.get(server.api_url + "/api/v1/services",
                                     headers=bearer(QUERY)).json()["services"],
        f"{SERVICE} listed by /api/v1/services",
    )  # fmt: skip
    return str(server.api_url)


@pytest.fixture
def tab(browser: Any) -> Iterator[Any]:
    """A page that fails the test on any script error or console error other than the 401s
    Chromium logs for the refused API calls (those are the point here)."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []

    def on_console(msg: Any) -> None:
        if msg.type == "error" and "status of 401" not in msg.text:
            errors.append(f"console: {msg.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    yield page
    context.close()
    assert not errors, "\n".join(errors)


def services_listed(page: Any) -> None:
    page.wait_for_selector(f'#search-form select[name=service] option[value="{SERVICE}"]',
                           state="attached")  # fmt: skip


def test_the_page_asks_for_a_token_once_per_tab(tab: Any, ui_with_tokens: str) -> None:
    sent: list[str | None] = []
    tab.on("request", lambda r: sent.append(r.headers.get("authorization"))
           if "/api/v1/services" in r.url else None)  # fmt: skip
    tab.goto(f"{ui_with_tokens}/search")
    tab.wait_for_selector("#token-form")
    assert "needs a token of scope 'query'" in tab.inner_text(".token-reason")

    tab.fill("#token-input", "not-the-right-token-000")  # refused: asked again, saying why
    tab.press("#token-input", "Enter")
    tab.wait_for_selector(".token-reason:has-text('not one this server knows')")
    tab.fill("#token-input", QUERY)
    tab.click("#token-form button[type=submit]")
    services_listed(tab)
    assert tab.query_selector("#token-form") is None
    assert sent[0] is None and sent[-1] == f"Bearer {QUERY}"

    tab.reload()  # the same tab: the token is in sessionStorage
    services_listed(tab)
    assert tab.query_selector("#token-form") is None
    assert tab.evaluate("sessionStorage.getItem('spanscope.token')") == QUERY

"""The web UI in a real browser: Debian's Chromium driven by Playwright, against the real
``spanscope serve`` (tests/support/server.py's fixtures) seeded over OTLP/HTTP.

Fixtures:

``ui``        the server's UI base URL once the seeded traces are queryable (module scope);
``browser``   one headless Chromium per module (Playwright's own browser download does not
              work here, so /usr/bin/chromium is launched);
``page``      a fresh page per test that records console errors and uncaught exceptions,
              and fails the test if any happened; ``page.dialogs`` lists alert()/confirm().

Screenshots go to tests/artifacts/ (git-ignored).

Seeded traces are built by seed.py's :func:`dataset`; tests assert on what the API says
about them, so the UI and its JSON twin must agree.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from seed import CHECKOUT, HUGE, HUGE_SPANS, MS, WIDE, WIDE_SPANS, TraceBuilder, dataset

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip


def send(server: Any, builder: TraceBuilder) -> None:
    sent = httpx.post(
        server.otlp_http_url + "/v1/traces",
        content=builder.request(),
        headers={"Content-Type": "application/x-protobuf"},
        timeout=60,
    )
    assert sent.status_code == 200, sent.text


def wait_for(url: str, trace_id: str, spans: int) -> None:
    deadline = time.monotonic() + 60
    while True:
        found = httpx.get(f"{url}/api/v1/traces/{trace_id}", timeout=30)
        if found.status_code == 200 and len(found.json()["spans"]) == spans:
            return
        assert time.monotonic() < deadline, f"seeded trace not queryable: {found.text[:300]}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def ui(spanscope_server: Any) -> str:
    t0 = (time.time_ns() - 10 * 60 * 1_000_000_000) // MS * MS  # ten minutes ago
    url = str(spanscope_server.api_url)
    # The 10,000-span trace goes in a request of its own, as an SDK's batches would send it.
    everything = dataset(t0)
    huge = TraceBuilder(t0)
    huge.by_service = {"bulk": everything.by_service.pop("bulk")}
    send(spanscope_server, huge)
    wait_for(url, HUGE, HUGE_SPANS)
    send(spanscope_server, everything)
    wait_for(url, WIDE, WIDE_SPANS)
    wait_for(url, CHECKOUT, 6)
    return url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/test.sh does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    errors: list[str] = []
    pg.dialogs = []

    def on_console(msg: Any) -> None:
        if msg.type != "error":
            return
        # Every analysis endpoint exists now: a 404 from one is a failure, not "unavailable".
        where = (msg.location or {}).get("url", "")
        errors.append(f"console: {msg.text} ({where})")

    def on_dialog(dialog: Any) -> None:
        pg.dialogs.append(dialog.message)
        dialog.dismiss()

    pg.on("console", on_console)
    pg.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    pg.on("dialog", on_dialog)
    yield pg
    context.close()
    assert not errors, "the page logged errors:\n" + "\n".join(errors)

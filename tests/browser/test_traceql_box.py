"""The search page's TraceQL box in headless Chromium against the real server: attribute
names and values autocompleted from Tempo's tags endpoints, the query run through the
native search's q=, and the form showing the TraceQL it amounts to, which finds the same
traces. Fails on any console error (conftest's ``page``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from seed import CHECKOUT, api

pytestmark = pytest.mark.timeout(180)
ARTIFACTS = Path(__file__).parents[1] / "artifacts"


def listed(page: Any) -> list[str]:
    return page.eval_on_selector_all(".result", "els => els.map(e => e.dataset.traceId)")


def traceql_results(page: Any) -> None:
    """Wait for the list of a q= search. Not just ".result-list": after the client-side
    navigation the previous search's list stays on the page until the router has the view
    module, so that selector can match the old list, which is then cleared (listed: [])."""
    page.wait_for_selector(".results:has(a.json-twin[href*='q=']) .result-list")


def suggestions(page: Any) -> list[str]:
    page.wait_for_selector("#traceql-suggestions:not(.hidden) li")
    return page.eval_on_selector_all(
        "#traceql-suggestions li", "els => els.map(e => e.textContent)"
    )


def test_traceql_box_autocompletes_names_and_values_and_runs(page: Any, ui: str) -> None:
    page.goto(f"{ui}/search")
    page.wait_for_selector(".result-list")
    box = page.locator("#traceql-input")
    box.click()
    box.press_sequentially("{ resource.")
    assert "resource.host.name" in suggestions(page)
    # Typing on after a pause: the list must not keep offering the shorter prefix's names.
    box.press_sequentially("ser")
    names = suggestions(page)
    assert names[0] == "resource.service.name", names
    box.press("ArrowDown")
    box.press("Enter")
    assert box.input_value() == "{ resource.service.name"
    box.press_sequentially(' = "pay')
    page.wait_for_selector("#traceql-suggestions li:text-is('\"payments\"')")
    page.click("#traceql-suggestions li:text-is('\"payments\"')")
    assert box.input_value() == '{ resource.service.name = "payments"'
    box.press_sequentially(" && status = error }")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-traceql-box.png"))
    box.press("Enter")
    page.wait_for_url("**/search?*q=*")
    traceql_results(page)
    q = parse_qs(urlparse(page.url).query)["q"][0]
    assert q == '{ resource.service.name = "payments" && status = error }'
    expected = [t["trace_id"] for t in api(ui, "/api/v1/traces", q=q)["traces"]]
    assert listed(page) == expected == [CHECKOUT]
    assert page.locator("#traceql-input").input_value() == q  # the shared URL restores it


def test_the_form_shows_its_traceql_which_finds_the_same_traces(page: Any, ui: str) -> None:
    page.goto(f"{ui}/search?service=payments&status=error&lookback=6h")
    page.wait_for_selector(".result-list")
    code = page.locator("#form-traceql")
    page.wait_for_selector("#form-traceql:has-text('payments')")
    assert code.inner_text() == '{ resource.service.name = "payments" && status = error }'
    by_form = listed(page)
    page.fill("input[name=min_duration]", "250ms")
    assert code.inner_text().endswith("&& duration >= 250ms }")
    page.fill("input[name=min_duration]", "")
    page.click(".use-traceql")
    assert page.locator("#traceql-input").input_value() == code.inner_text()
    page.click("#traceql-form button[type=submit]")
    page.wait_for_url("**q=*")
    traceql_results(page)
    assert "lookback=6h" in page.url
    assert listed(page) == by_form == [CHECKOUT]

"""The web UI in headless Chromium against a real server seeded with known traces.

What a user checks: search finds the traces and the scatter plot and list agree with the
API; a trace shows every span, its critical path as the API computes it, and a span's
attributes; the service map shows the expected edges; shared URLs restore what was on
screen; untrusted values stay text. Every test fails on a console error (conftest's
``page``) and saves a screenshot to tests/artifacts/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from seed import CHECKOUT, HOME, HUGE, HUGE_SPANS, WIDE, WIDE_SPANS, XSS, api

pytestmark = pytest.mark.timeout(180)
ARTIFACTS = Path(__file__).parents[1] / "artifacts"


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"ui-{name}.png"))


def span_ids_in_view(page: Any) -> list[str]:
    return page.eval_on_selector_all(
        ".wf-viewport .wf-row", "rows => rows.map(r => r.dataset.spanId)"
    )


def test_search_lists_the_traces_the_api_finds(page: Any, ui: str) -> None:
    expected = api(ui, "/api/v1/traces", lookback="1h", limit=50)["traces"]
    page.goto(f"{ui}/search?limit=50")
    page.wait_for_selector(".result-list")
    listed = page.eval_on_selector_all(".result", "els => els.map(e => e.dataset.traceId)")
    assert listed == [t["trace_id"] for t in expected]
    assert {CHECKOUT, HOME, WIDE, HUGE} <= set(listed)
    dots = page.eval_on_selector_all(
        ".scatter .dot", "els => els.map(e => [e.dataset.traceId, e.classList.contains('error')])"
    )
    assert sorted(dots) == sorted([t["trace_id"], t["error_count"] > 0] for t in expected)
    checkout = page.locator(f'.result[data-trace-id="{CHECKOUT}"]')
    assert "frontend: GET /checkout" in checkout.locator(".result-title").inner_text()
    assert "6 spans" in checkout.inner_text()
    assert checkout.locator('.pill[data-service="payments"] .pill-errors').inner_text() == "!1"
    screenshot(page, "search")
    page.click(f'.scatter .dot[data-trace-id="{HOME}"]')
    page.wait_for_url(f"**/trace/{HOME}")
    page.wait_for_selector(".waterfall[data-ready]")


def test_search_deep_link_restores_the_form_and_filters(page: Any, ui: str) -> None:
    page.goto(f"{ui}/search?service=payments&status=error&lookback=6h&order=slowest")
    page.wait_for_selector(".result-list")
    form = page.locator("#search-form")
    page.wait_for_function(
        "document.querySelector('#search-form select[name=service]').value === 'payments'"
    )
    assert form.locator("select[name=status]").input_value() == "error"
    assert form.locator("select[name=lookback]").input_value() == "6h"
    assert form.locator("select[name=order]").input_value() == "slowest"
    listed = page.eval_on_selector_all(".result", "els => els.map(e => e.dataset.traceId)")
    assert listed == [CHECKOUT]
    # Changing the form changes the URL, which re-runs the search.
    page.fill("input[name=min_duration]", "5s")
    page.click("#search-form button[type=submit]")
    page.wait_for_selector(".empty")
    assert "min_duration=5s" in page.url


def test_trace_view_shows_every_span(page: Any, ui: str) -> None:
    expected = {s["span_id"] for s in api(ui, f"/api/v1/traces/{WIDE}")["spans"]}
    page.goto(f"{ui}/trace/{WIDE}")
    page.wait_for_selector(".waterfall[data-ready]")
    assert page.inner_text(".trace-span-count") == f"{WIDE_SPANS} spans"
    seen: set[str] = set()
    viewport = page.locator(".wf-viewport")
    for _ in range(100):  # scroll down a page at a time until the end
        seen.update(span_ids_in_view(page))
        at_end = viewport.evaluate(
            "v => { const end = v.scrollTop + v.clientHeight >= v.scrollHeight - 1;"
            " v.scrollTop += v.clientHeight; return end; }"
        )
        if at_end:
            break
        page.wait_for_function("() => new Promise(r => requestAnimationFrame(() => r(true)))")
    assert seen == expected
    screenshot(page, "trace")


def test_a_10000_span_trace_opens_and_scrolls(page: Any, ui: str) -> None:
    spans = api(ui, f"/api/v1/traces/{HUGE}")["spans"]
    page.goto(f"{ui}/trace/{HUGE}")
    page.wait_for_selector(".waterfall[data-ready]")
    assert page.inner_text(".trace-span-count") == f"{HUGE_SPANS} spans"
    rendered = page.locator(".wf-viewport .wf-row").count()
    assert 0 < rendered < 200  # only what is on screen exists
    page.locator(".wf-viewport").evaluate("v => { v.scrollTop = v.scrollHeight; }")
    # The last row in tree order: the deepest-last child of the root's last child.
    page.wait_for_function(
        "n => { const rows = [...document.querySelectorAll('.wf-viewport .wf-row')];"
        " return rows.some(r => parseInt(r.style.top) >= (n - 1) * 24); }",
        arg=HUGE_SPANS,
    )
    assert {s["span_id"] for s in spans} >= set(span_ids_in_view(page))
    screenshot(page, "trace-10000")


def test_span_detail_shows_typed_attributes_events_and_links(page: Any, ui: str) -> None:
    trace = api(ui, f"/api/v1/traces/{CHECKOUT}")
    span = next(s for s in trace["spans"] if s["name"] == "POST /checkout")
    page.goto(f"{ui}/trace/{CHECKOUT}?span={span['span_id']}")  # a deep link to the span
    detail = page.wait_for_selector(f'.span-detail[data-span-id="{span["span_id"]}"]')
    assert detail.query_selector(".detail-name").inner_text() == "POST /checkout"
    rows = page.eval_on_selector_all(
        ".span-detail .attributes tr",
        "trs => trs.map(tr => [tr.dataset.key, tr.children[1].textContent,"
        " tr.children[2].textContent])",
    )
    assert [r[0] for r in rows] == [a["key"] for a in span["attributes"]]
    shown = {key: (typ, val) for key, typ, val in rows}
    assert shown["retry.count"] == ("int", "2")
    assert shown["cart.total"] == ("double", "12.5")
    assert shown["cart.gift"] == ("bool", "true")
    assert shown["cart.skus"] == ("array", "[a1, b2]")
    assert "service.name" in page.inner_text(".span-detail .resource")
    assert "cart loaded" in page.inner_text(".span-detail .events")
    screenshot(page, "span-detail")
    page.click(".span-detail .links a.trace-link")  # the link leads to the linked trace
    page.wait_for_url(f"**/trace/{HOME}?span=0000000000000001")
    page.wait_for_selector('.span-detail[data-span-id="0000000000000001"]')


def test_untrusted_values_render_as_text(page: Any, ui: str) -> None:
    trace = api(ui, f"/api/v1/traces/{CHECKOUT}")
    span = next(s for s in trace["spans"] if s["name"] == "POST /checkout")
    page.goto(f"{ui}/trace/{CHECKOUT}?span={span['span_id']}&find=onerror")
    page.wait_for_selector(".span-detail")
    cell = page.locator('.span-detail .attributes tr[data-key="xss.probe"] td.attr-value')
    assert cell.inner_text() == XSS
    # The operation named with markup shows its text in the waterfall, search and detail.
    assert XSS in page.inner_text(".wf-viewport")
    page.goto(f"{ui}/search?service=payments")
    page.wait_for_selector(".result-list")
    assert page.locator("main img").count() == 0
    page.goto(f"{ui}/trace/{CHECKOUT}?tab=json")
    page.wait_for_selector(".raw-json")
    assert XSS in page.inner_text(".raw-json")
    assert page.locator("main img").count() == 0
    assert page.dialogs == []


def test_critical_path_is_the_apis(page: Any, ui: str) -> None:
    answer = httpx.get(f"{ui}/api/v1/traces/{CHECKOUT}/critical-path", timeout=30)
    page.goto(f"{ui}/trace/{CHECKOUT}")
    page.wait_for_selector(".waterfall[data-ready]")
    assert answer.status_code == 200, answer.text
    path = answer.json()
    page.wait_for_selector(".waterfall[data-critical-path]")
    highlighted = page.eval_on_selector_all(
        ".wf-row.critical", "rows => rows.map(r => r.dataset.spanId)"
    )
    assert set(highlighted) == {s["span_id"] for s in path["spans"]}
    assert page.inner_text(".trace-page > .headline") == path["headline"]
    screenshot(page, "critical-path")


def test_service_map_shows_the_expected_edges(page: Any, ui: str) -> None:
    page.goto(f"{ui}/map")
    page.wait_for_selector(".service-map")
    edges = page.eval_on_selector_all(
        ".service-map .edge", "els => els.map(e => [e.dataset.parent, e.dataset.child])"
    )
    assert sorted(edges) == [
        ["checkout", "payments"],
        ["checkout", "postgres"],
        ["etl", "store"],  # WIDE calls both ways: a cycle the layout must survive
        ["frontend", "catalog"],
        ["frontend", "checkout"],
        ["store", "etl"],
    ]
    table = page.eval_on_selector_all(
        ".edge-table tbody tr", "trs => trs.map(t => [t.dataset.parent, t.dataset.child])"
    )
    assert sorted(table) == sorted(edges)
    screenshot(page, "map")
    page.click('.service-map .node[data-service="payments"]')
    page.wait_for_url("**/search?service=payments*")
    page.wait_for_selector(f'.result[data-trace-id="{CHECKOUT}"]')


def test_trace_state_survives_a_reload(page: Any, ui: str) -> None:
    page.goto(f"{ui}/trace/{WIDE}")
    page.wait_for_selector(".waterfall[data-ready]")
    page.fill(".find-input", "step 42")
    page.wait_for_selector(".find-count:text('1 match')")
    page.click(".tab[data-tab=table]")
    page.wait_for_selector(".table-row")
    assert "find=step+42" in page.url and "tab=table" in page.url
    page.reload()
    page.wait_for_selector(".table-row")
    assert page.get_attribute(".tab[data-tab=table]", "aria-selected") == "true"
    page.click(".tab[data-tab=timeline]")
    page.wait_for_selector(".waterfall[data-ready]")
    assert page.input_value(".find-input") == "step 42"
    assert page.inner_text(".find-count") == "1 match"
    page.press(".find-input", "Enter")  # jumps to the match: scrolled to, selected, detailed
    page.wait_for_selector(".wf-row.match.selected")
    assert page.inner_text(".span-detail .detail-name") == "step 42"
    assert "span=000000000000002a" in page.url
    screenshot(page, "trace-find")


def twin(page: Any, ui: str, link: str) -> Any:
    """The JSON the page's "JSON" link points at: the API answer the view was drawn from."""
    answer = httpx.get(ui + page.get_attribute(link, "href"), timeout=30)
    answer.raise_for_status()
    return answer.json()


def shows_the_diff(page: Any, ui: str) -> None:
    answer = twin(page, ui, ".compare-result .json-twin")
    assert answer["headline"] and page.inner_text(".compare-result .headline") == answer["headline"]
    assert answer["paths"]
    assert page.locator(".diff-table tbody tr").count() == len(answer["paths"])


def shows_the_groups(page: Any, ui: str) -> None:
    answer = twin(page, ui, ".compare-result .json-twin")
    assert answer["headline"] and page.inner_text(".compare-result .headline") == answer["headline"]
    assert answer["operations"]
    assert page.locator(".ops-table tbody tr").count() == len(answer["operations"])


def shows_red_totals(page: Any, ui: str) -> None:
    totals = twin(page, ui, ".page-head .json-twin")["series"][0]["totals"]
    assert totals["rate_per_s"] > 0
    text = page.inner_text(".red-totals")
    assert f"{totals['rate_per_s']:.2f} req/s" in text
    assert f"{100 * totals['error_ratio']:.2f} % errors" in text


def shows_the_breakdown(page: Any, ui: str) -> None:
    answer = api(ui, f"/api/v1/traces/{CHECKOUT}/breakdown")
    assert answer["headline"] and page.inner_text(".breakdown-tab .headline") == answer["headline"]
    by_service = page.locator(".breakdown-tab .share-table").first.locator("tbody tr")
    assert answer["services"] and by_service.count() == len(answer["services"])


@pytest.mark.parametrize(
    "path,view,content,shows",
    [
        (f"/compare?a={HOME}&b={CHECKOUT}", ".compare-result", ".headline", shows_the_diff),
        (
            "/compare?service=frontend&slowest_percent=50",
            ".compare-result",
            ".headline",
            shows_the_groups,
        ),
        ("/services/payments", ".service-body", ".red-totals", shows_red_totals),
        (f"/trace/{CHECKOUT}?tab=breakdown", ".breakdown-tab", ".headline", shows_the_breakdown),
    ],
)
def test_analysis_views_show_what_the_api_answers(
    page: Any, ui: str, path: str, view: str, content: str, shows: Any
) -> None:
    page.goto(ui + path)
    # The view settles on its content, on "not available", on an error box or on "no data":
    # only the first passes; the others fail here, saying what the view said instead.
    instead = f"{view} > :is(.unavailable, .error-box, .empty)"
    page.wait_for_selector(f"{view} > {content}, {instead}")
    other = page.locator(instead)
    assert other.count() == 0, f"{path} says: {other.first.inner_text()}"
    shows(page, ui)
    name = path.strip("/").split("?")[0].replace("/", "-")[:40]
    screenshot(page, name + ("-groups" if "service=" in path else ""))

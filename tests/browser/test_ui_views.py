"""The trace page's newer views and the index pages, in headless Chromium, against the real
server seeded with seed.py's traces (conftest's ``ui``) plus, here, an in-flight trace.

What a user checks: the flame graph draws every span and shares the selected span with the
timeline; a trace downloads as Jaeger and as OTLP JSON, and either file opens again at
/open (OTLP through the server's POST /api/transform) without being stored; span filters,
keys (/ j k ?), the minimap of a 2-span trace, span flags in words, dark mode; the search
scatter covers the time range beyond the listed traces; a trace with no root yet is
"incomplete"; /services lists every service with sparklines; /quality shows the server's
trace-quality checks. conftest's ``page`` fails a test on any console error.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from seed import CHECKOUT, HOME, HUGE, MS, WIDE, TraceBuilder, api

pytestmark = pytest.mark.timeout(180)
ARTIFACTS = Path(__file__).parents[1] / "artifacts"
INFLIGHT = "9e9e9e9e9e9e9e9e9e9e9e9e9e9e9e9e"  # two spans whose parent (root) never arrives
MESH = "3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c"  # ten services below a gateway


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"ui-{name}.png"), full_page=True)


def sid(n: int) -> str:
    return n.to_bytes(8, "big").hex()


@pytest.fixture(scope="module")
def live(ui: str, spanscope_server: Any) -> str:
    """``ui`` plus INFLIGHT: spans 11 and 12 under a root span 10 that has not arrived;
    span 11 has the flags an OTel SDK writes for a local parent (256)."""
    b = TraceBuilder((time.time_ns() - 5 * 60 * 1_000_000_000) // MS * MS)
    b.span(INFLIGHT, 11, 10, "worker", "process job", 0, 40)
    b.by_service["worker"].scope_spans[0].spans[-1].flags = 256
    b.span(INFLIGHT, 12, 11, "worker", "save result", 10, 20)
    # MESH: a gateway fanning out over ten services, so the map has layers to get right.
    server, client = 2, 3
    calls = [(1, None, "gateway"), (2, 1, "auth"), (3, 1, "orders"), (4, 1, "search"),
             (5, 3, "inventory"), (6, 3, "payments"), (7, 5, "postgres"), (8, 4, "catalog"),
             (9, 4, "postgres"), (10, 8, "cache"), (11, 6, "fraud"), (12, 3, "postgres"),
             (13, 2, "cache")]  # fmt: skip
    for span_id, parent, service in calls:
        b.span(MESH, span_id, parent, service, f"{service} work", span_id, 50 - span_id,
               server if parent is None or span_id % 2 else client)  # fmt: skip
    sent = httpx.post(spanscope_server.otlp_http_url + "/v1/traces", content=b.request(),
                      headers={"Content-Type": "application/x-protobuf"}, timeout=30)  # fmt: skip
    assert sent.status_code == 200, sent.text
    deadline = time.monotonic() + 60
    while any(
        httpx.get(f"{ui}/api/v1/traces/{t}", timeout=30).status_code != 200
        for t in (INFLIGHT, MESH)
    ):
        assert time.monotonic() < deadline, "the in-flight trace is not queryable"
        time.sleep(0.2)
    return ui


def upload(page: Any, name: str, body: bytes) -> None:
    page.set_input_files(
        ".trace-file", files=[{"name": name, "mimeType": "application/json", "buffer": body}]
    )


def row_ids(page: Any) -> list[str]:
    return page.eval_on_selector_all(  # type: ignore[no-any-return]
        ".wf-viewport .wf-row", "rs => rs.map(r => r.dataset.spanId)"
    )


BOX_GEOMETRY = """gs => gs.map(g => { const r = g.querySelector('rect');
    return [g.dataset.spanId, +r.getAttribute('width'), +r.getAttribute('y')]; })"""


def selected_row(page: Any) -> str:
    return page.get_attribute(".wf-row.selected", "data-span-id") or ""


def test_flame_graph_draws_every_span_and_shares_the_selection(page: Any, ui: str) -> None:
    spans = api(ui, f"/api/v1/traces/{CHECKOUT}")["spans"]
    page.goto(f"{ui}/trace/{CHECKOUT}?tab=flame")
    page.wait_for_selector(".flame-view[data-ready] svg.trace-flame")
    boxes = page.eval_on_selector_all(
        ".trace-flame .flame-box", "gs => gs.map(g => g.dataset.spanId)"
    )
    assert sorted(boxes) == sorted(s["span_id"] for s in spans)
    # The root is the widest box, drawn at the bottom; the error span is outlined.
    geometry = page.eval_on_selector_all(".trace-flame .flame-box", BOX_GEOMETRY)
    root = max(geometry, key=lambda g: g[1])
    assert root[0] == sid(1) and root[2] == max(g[2] for g in geometry)
    assert page.locator(f'.trace-flame .flame-box.error[data-span-id="{sid(5)}"]').count() == 1
    # Select payments' charge in the flame graph: the detail, the icicle and the timeline agree.
    page.click(f'.trace-flame .flame-box[data-span-id="{sid(5)}"]')
    assert page.get_attribute(".span-detail", "data-span-id") == sid(5)
    assert f"span={sid(5)}" in page.url
    icicle = page.eval_on_selector_all(".icicle .flame-box", "gs => gs.map(g => g.dataset.spanId)")
    assert sorted(icicle) == [sid(5), sid(6)], "the icicle is the selected span's subtree"
    assert "Icicle: payments: charge" in page.inner_text(".icicle-title")
    screenshot(page, "flame")
    page.click('.tab[data-tab="timeline"]')
    page.wait_for_selector(".waterfall[data-ready]")
    assert selected_row(page) == sid(5)
    # ... and the other way: a row selected in the timeline is the flame graph's selection.
    page.click(f'.wf-row[data-span-id="{sid(4)}"]')
    page.click('.tab[data-tab="flame"]')
    assert page.get_attribute(".trace-flame .flame-box.selected", "data-span-id") == sid(4)
    assert sorted(
        page.eval_on_selector_all(".icicle .flame-box", "gs => gs.map(g => g.dataset.spanId)")
    ) == [sid(4)]


def test_flame_graph_of_a_10000_span_trace_says_what_it_left_out(page: Any, ui: str) -> None:
    page.goto(f"{ui}/trace/{HUGE}?tab=flame")
    page.wait_for_selector(".flame-view[data-ready]")
    drawn = page.locator(".trace-flame .flame-box").count()
    caption = page.inner_text(".flame-caption")
    assert caption.startswith("10000 spans")
    hidden = int(caption.split(" spans too narrow")[0].rsplit(" ", 1)[1])
    assert drawn + hidden == 10_000 and 0 < drawn < 10_000


def download(page: Any, button: str, tmp_path: Path) -> Any:
    with page.expect_download() as info:
        page.click(button)
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(str(path))
    return info.value.suggested_filename, json.loads(path.read_text())


def test_download_both_formats_and_open_them_again_unstored(
    page: Any, ui: str, tmp_path: Path
) -> None:
    stored = api(ui, f"/api/v1/traces/{CHECKOUT}")
    page.goto(f"{ui}/trace/{CHECKOUT}")
    page.wait_for_selector(".waterfall[data-ready]")
    jaeger_name, jaeger = download(page, ".download-jaeger", tmp_path)
    otlp_name, otlp = download(page, ".download-otlp", tmp_path)
    assert jaeger_name == f"{CHECKOUT}.jaeger.json" and otlp_name == f"{CHECKOUT}.otlp.json"
    # The Jaeger file is what the server's own Jaeger API says about the trace.
    served = api(ui, f"/api/traces/{CHECKOUT}")["data"][0]
    key = lambda s: s["spanID"]  # noqa: E731
    for mine, theirs in zip(
        sorted(jaeger["data"][0]["spans"], key=key), sorted(served["spans"], key=key), strict=True
    ):
        for field in ("spanID", "operationName", "references", "startTime", "duration", "flags"):
            assert mine[field] == theirs[field], field
        assert sorted(json.dumps(t) for t in mine["tags"]) == sorted(
            json.dumps(t) for t in theirs["tags"]
        )
    # The OTLP file is OTLP the server's decoder accepts: the same spans come back.
    back = httpx.post(f"{ui}/api/transform", content=json.dumps(otlp), timeout=30).json()
    assert back["errors"] is None
    assert sorted(s["spanID"] for s in back["data"][0]["spans"]) == sorted(
        s["span_id"] for s in stored["spans"]
    )

    before = api(ui, "/api/v1/traces", lookback="1h", limit=1000)["traces"]
    for name, body in ((otlp_name, otlp), (jaeger_name, jaeger)):
        page.goto(f"{ui}/open")
        upload(page, name, json.dumps(body).encode())
        page.wait_for_selector(".open-trace .waterfall[data-ready]")
        assert page.inner_text(".open-trace h1") == "frontend: GET /checkout"
        assert f"from {name}, not stored" in page.inner_text(".trace-facts")
        rows = page.eval_on_selector_all(
            ".wf-viewport .wf-row", "rs => rs.map(r => r.dataset.spanId)"
        )
        assert sorted(rows) == sorted(s["span_id"] for s in stored["spans"])
        assert page.locator('.tab[data-tab="logs"]').count() == 0, "nothing stored to ask about"
        page.click(f'.wf-row[data-span-id="{sid(5)}"]')
        detail = page.inner_text(".span-detail")
        assert "payment declined" in detail and "card.brand" in detail
        assert page.locator(".span-detail .span-logs").count() == 0, "no stored logs to ask for"
    screenshot(page, "open-file")
    after = api(ui, "/api/v1/traces", lookback="1h", limit=1000)["traces"]
    assert len(after) == len(before), "opening a file stores nothing"


def test_open_a_file_that_is_no_trace_says_why(page: Any, ui: str) -> None:
    page.goto(f"{ui}/open")
    upload(page, "notes.json", b'{"hello": "world"}')
    page.wait_for_selector(".open-status .error-box")
    text = page.inner_text(".open-status")
    assert "Cannot open notes.json" in text and "found keys hello" in text
    bad = {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}
    upload(page, "bad.otlp.json", json.dumps(bad).encode())
    # the error box of THIS file (the previous one's said notes.json); the page's CSP
    # forbids eval, so wait through a locator rather than a JS string
    page.locator(".open-status .error-box", has_text="bad.otlp.json").wait_for()
    assert "Cannot open bad.otlp.json" in page.inner_text(".open-status")


def test_span_filters_keep_matches_and_their_parents(page: Any, ui: str) -> None:
    page.goto(f"{ui}/trace/{CHECKOUT}")
    page.wait_for_selector(".waterfall[data-ready]")
    ids = lambda: row_ids(page)  # noqa: E731
    page.select_option(".span-filters select[name=service]", "postgres")
    assert ids() == [sid(1), sid(2), sid(3), sid(4)]
    assert page.inner_text(".filter-count").startswith("1 of 6 spans match")
    page.select_option(".span-filters select[name=service]", "")
    page.select_option(".span-filters select[name=status]", "error")
    assert ids() == [sid(1), sid(2), sid(3), sid(5)]
    page.select_option(".span-filters select[name=status]", "")
    page.fill(".span-filters input[name=min]", "1.2s")
    page.press(".span-filters input[name=min]", "Enter")
    assert set(ids()) == {sid(1), sid(2), sid(3), sid(5)}  # 1500, 1480, 1460, 1250 ms
    page.fill(".span-filters input[name=min]", "")
    page.fill(".span-filters input[name=attribute]", "card.brand=visa")
    page.press(".span-filters input[name=attribute]", "Enter")
    assert ids()[-1] == sid(5) and len(ids()) == 4
    page.click("text=Clear filters")
    assert len(ids()) == 6


def test_keyboard_find_next_previous_and_help(page: Any, ui: str) -> None:
    page.goto(f"{ui}/trace/{CHECKOUT}")
    page.wait_for_selector(".waterfall[data-ready]")
    page.keyboard.press("j")
    assert selected_row(page) == sid(1)
    page.keyboard.press("j")
    page.keyboard.press("j")
    assert selected_row(page) == sid(3)
    page.keyboard.press("k")
    assert selected_row(page) == sid(2)
    page.keyboard.press("?")
    assert page.is_visible(".shortcut-help")
    assert "find in trace" in page.inner_text(".shortcut-help")
    page.keyboard.press("Escape")
    assert not page.is_visible(".shortcut-help")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.classList.contains('find-input')")
    page.keyboard.type("j")  # typed into the find box: no span step
    assert selected_row(page) == sid(2)


def test_minimap_of_a_two_span_trace_draws_thin_bars(page: Any, ui: str) -> None:
    page.goto(f"{ui}/trace/{HOME}")
    page.wait_for_selector(".waterfall[data-ready]")
    painted = page.evaluate("""() => { const c = document.querySelector('.minimap-canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let rows = 0;
        for (let y = 0; y < c.height; y++) {
          let any = false;
          for (let x = 0; x < c.width; x++) if (d[(y * c.width + x) * 4 + 3]) { any = true; break; }
          rows += any;
        }
        return [rows, c.height]; }""")
    rows, height = painted
    assert 2 <= rows <= 12 < height, f"two spans paint {rows} of {height} pixel rows"


def test_flags_in_words_and_an_in_flight_trace_is_incomplete(page: Any, live: str) -> None:
    page.goto(f"{live}/trace/{INFLIGHT}?span={sid(11)}")
    page.wait_for_selector(".span-detail")
    flags = page.inner_text(".span-detail .flags")
    assert flags == "not sampled · parent in this process (local) (256)"
    assert page.inner_text(".trace-header h1") == "Incomplete trace: worker: process job"
    assert "root span has not arrived" in page.inner_text(".incomplete-note")
    page.goto(f"{live}/search?service=worker")
    result = page.locator(f'.result[data-trace-id="{INFLIGHT}"]')
    result.wait_for()
    assert result.locator(".badge.incomplete").inner_text() == "incomplete"
    assert result.locator(".result-title").inner_text() == "worker · root span not received yet"
    assert "root span missing" not in page.inner_text(".results")


def test_search_scatter_covers_the_time_range_not_only_the_list(page: Any, live: str) -> None:
    everything = api(live, "/api/v1/traces", lookback="1h", limit=1000)["traces"]
    page.goto(f"{live}/search?limit=2")
    page.wait_for_selector(".scatter-wrap[data-count]")
    assert page.locator(".result").count() == 2
    dots = page.eval_on_selector_all(".scatter .dot", "ds => ds.map(d => d.dataset.traceId)")
    assert sorted(dots) == sorted(t["trace_id"] for t in everything)
    assert {CHECKOUT, HOME, WIDE, HUGE, INFLIGHT} <= set(dots)
    # The x axis runs over the last hour: the oldest seeded trace (ten minutes ago) sits right
    # of the middle, not at the left edge.
    xs = page.eval_on_selector_all(".scatter .dot", "ds => ds.map(d => +d.getAttribute('cx'))")
    width = float(page.get_attribute(".scatter", "width") or 0)
    assert min(xs) > width * 0.6
    assert f"{len(everything)} traces in the window; the list shows 2." in page.inner_text(
        ".scatter-caption"
    )


def test_dark_mode_follows_the_system(browser: Any, ui: str) -> None:
    colours = {}
    for scheme in ("light", "dark"):
        context = browser.new_context(color_scheme=scheme, viewport={"width": 1400, "height": 900})
        pg = context.new_page()
        pg.goto(f"{ui}/trace/{CHECKOUT}")
        pg.wait_for_selector(".waterfall[data-ready]")
        colours[scheme] = pg.evaluate("""() => [getComputedStyle(document.body).backgroundColor,
            getComputedStyle(document.querySelector('.waterfall')).backgroundColor,
            getComputedStyle(document.body).color]""")
        if scheme == "dark":
            screenshot(pg, "dark")
        context.close()

    def brightness(rgb: str) -> float:
        r, g, b = (int(x) for x in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3])
        return (r + g + b) / 3

    assert brightness(colours["light"][0]) > 200 and brightness(colours["light"][1]) > 200
    assert brightness(colours["dark"][0]) < 60 and brightness(colours["dark"][1]) < 60
    assert brightness(colours["dark"][2]) > 180, "light text on the dark page"


def test_services_page_lists_every_service_with_sparklines(page: Any, live: str) -> None:
    services = api(live, "/api/v1/services")["services"]
    red = api(live, "/api/v1/red", service=services, lookback="1h", span_kind="any")
    page.goto(f"{live}/services")
    page.wait_for_selector(".services-table")
    rows = page.eval_on_selector_all(".service-row", "rs => rs.map(r => r.dataset.service)")
    assert rows == services
    by = {s["service"]: s for s in red["series"]}
    payments = page.locator('.service-row[data-service="payments"]')
    assert payments.locator("td.p99").inner_text() == page.evaluate(
        "async (ns) => (await import('/ui/units.js')).formatDuration(ns)",
        by["payments"]["totals"]["p99_ns"],
    )
    assert (
        payments.locator("td.errors").inner_text()
        == f"{100 * by['payments']['totals']['error_ratio']:.1f} %"
    )
    assert payments.locator(".sparkline polyline, .sparkline circle").count() >= 3
    screenshot(page, "services")
    payments.locator(".service-link").click()
    page.wait_for_selector(".service-page h1")
    assert page.url.split("?")[0].endswith("/services/payments")


def test_quality_page_shows_the_servers_checks(page: Any, live: str) -> None:
    report = api(live, "/api/quality-metrics")
    page.goto(f"{live}/quality")
    page.wait_for_selector(".quality-table")
    checks = page.eval_on_selector_all(".quality-check", "rs => rs.map(r => r.dataset.check)")
    assert checks == [m["name"] for m in report["metrics"]]
    for m in report["metrics"]:
        row = page.locator(f'.quality-check[data-check="{m["name"]}"]')
        assert row.locator(".fail").inner_text() == str(m["failureCount"])
        assert row.locator(".pass").inner_text().startswith(str(m["passCount"]))
    scores = page.eval_on_selector_all(
        ".score", "ss => ss.map(s => [s.dataset.key, s.querySelector('.score-value').textContent])"
    )
    assert scores == [[s["key"], str(round(s["value"]))] for s in report["scores"]]
    failing = [m for m in report["metrics"] if m["failureExamples"]]
    assert failing, "the in-flight trace's orphan spans fail a check"
    screenshot(page, "quality")
    page.locator(f'.quality-check[data-check="{failing[0]["name"]}"] a.example').first.click()
    page.wait_for_selector(".waterfall[data-ready]")
    assert failing[0]["failureExamples"][0]["traceID"] in page.url


MAP_GEOMETRY = """() => ({
  nodes: [...document.querySelectorAll('.service-map .node')].map(g => {
    const r = g.querySelector('rect');
    return {name: g.dataset.service, x: +r.getAttribute('x'), y: +r.getAttribute('y'),
            w: +r.getAttribute('width'), h: +r.getAttribute('height'), stroke: r.style.stroke};
  }),
  edges: [...document.querySelectorAll('.service-map .edge')].map(g => ({
    parent: g.dataset.parent, child: g.dataset.child, points: JSON.parse(g.dataset.points)})),
  labels: [...document.querySelectorAll('.service-map .edge-label')].map(t => {
    const b = t.getBBox();
    return {parent: t.dataset.parent, child: t.dataset.child,
            x: b.x, y: b.y, w: b.width, h: b.height};
  }),
  error: getComputedStyle(document.documentElement).getPropertyValue('--error'),
})"""


def hits(a: list[float], b: list[float], box: tuple[float, float, float, float]) -> bool:
    """Whether segment a-b passes through the box (x0, y0, x1, y1): Liang-Barsky clipping."""
    t0, t1 = 0.0, 1.0
    dx, dy = b[0] - a[0], b[1] - a[1]
    for p, q in (
        (-dx, a[0] - box[0]),
        (dx, box[2] - a[0]),
        (-dy, a[1] - box[1]),
        (dy, box[3] - a[1]),
    ):
        if p == 0:
            if q < 0:
                return False
            continue
        t = q / p
        if p < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 > t1:
            return False
    return True


def test_service_map_is_layered_with_no_edge_through_a_node_and_labels_off_lines(
    page: Any, live: str
) -> None:
    edges = api(live, "/api/v1/service-map", lookback="1h")["edges"]
    page.goto(f"{live}/map")
    page.wait_for_selector(".service-map .edge-label")
    g = page.evaluate(MAP_GEOMETRY)
    screenshot(page, "map-layered")
    assert sorted([e["parent"], e["child"]] for e in g["edges"]) == sorted(
        [e["parent"], e["child"]] for e in edges
    )
    nodes = {n["name"]: n for n in g["nodes"]}
    assert {"gateway", "auth", "orders", "inventory", "fraud", "cache"} <= set(nodes)
    # Layers: every call from the gateway's subtree goes left to right.
    for e in g["edges"]:
        if e["parent"] == "gateway" or e["child"] in ("fraud", "inventory"):
            assert nodes[e["parent"]]["x"] < nodes[e["child"]]["x"], e
    # No edge passes through a node other than its own two ends (1 px inside the border).
    for e in g["edges"]:
        if e["parent"] == e["child"]:
            continue
        for name, n in nodes.items():
            if name in (e["parent"], e["child"]):
                continue
            box = (n["x"] + 1, n["y"] + 1, n["x"] + n["w"] - 1, n["y"] + n["h"] - 1)
            for a, b in zip(e["points"], e["points"][1:], strict=False):
                assert not hits(a, b, box), f"{e['parent']} -> {e['child']} crosses {name}"
    # Every label clear of every line and every node.
    segments = [
        (a, b) for e in g["edges"] for a, b in zip(e["points"], e["points"][1:], strict=False)
    ]
    for lb in g["labels"]:
        box = (lb["x"], lb["y"], lb["x"] + lb["w"], lb["y"] + lb["h"])
        assert not any(hits(a, b, box) for a, b in segments), (
            f"label of {lb['parent']} -> {lb['child']} is on a line"
        )
        for n in nodes.values():
            assert not (
                box[0] < n["x"] + n["w"]
                and n["x"] < box[2]
                and box[1] < n["y"] + n["h"]
                and n["y"] < box[3]
            )
    # Colours: one per service, none of them the error red.
    strokes = [n["stroke"] for n in nodes.values()]
    assert len(set(strokes)) == len(strokes)
    for colour in strokes:
        r, gr, b = (
            int(x) for x in colour[colour.index("(") + 1 : colour.index(")")].split(",")[:3]
        )
        assert not (r > 150 and gr < 110 and b < 110), f"{colour} looks like the error red"

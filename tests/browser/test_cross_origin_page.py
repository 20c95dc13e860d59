"""A page on another origin, in real Chromium, can neither write spans nor change sampling
rules nor run retention; /docs loads nothing from outside 127.0.0.1; the UI runs under the
Content-Security-Policy with no violation.

The attacker is a tiny ``http.server`` on another loopback port: its page is served from
``http://127.0.0.1:<port>`` (another port of the same host: ``Sec-Fetch-Site: same-site``)
or ``http://localhost:<port>`` (``cross-site``), and it fires the requests a malicious
page can fire without reading the answers (``mode: "no-cors"``).
"""

from __future__ import annotations

import http.server
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

DAY_NS = 86_400 * 1_000_000_000
ATTACKER_PAGE = b"<!doctype html><html><head><title>attacker</title></head><body>hi</body></html>"


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(ATTACKER_PAGE)))
        self.end_headers()
        self.wfile.write(ATTACKER_PAGE)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def attacker_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(10)


def zipkin_spans(service: str, trace_id: str, end_ns: int) -> list[dict[str, Any]]:
    return [
        {
            "traceId": trace_id, "id": secrets.token_hex(8), "name": "get /", "kind": "SERVER",
            "timestamp": (end_ns - 2_000_000) // 1000, "duration": 1500,
            "localEndpoint": {"serviceName": service},
        }
    ]  # fmt: skip


def post_zipkin(server: Any, spans: list[dict[str, Any]]) -> None:
    sent = httpx.post(
        server.zipkin_url + "/api/v2/spans",
        content=orjson.dumps(spans),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert sent.status_code == 202, sent.text


def trace_status(server: Any, trace_id: str) -> int:
    return httpx.get(f"{server.api_url}/api/v1/traces/{trace_id}", timeout=30).status_code


def wait_stored(server: Any, trace_id: str) -> None:
    deadline = time.monotonic() + 30
    while trace_status(server, trace_id) != 200:
        assert time.monotonic() < deadline, f"trace {trace_id} never became queryable"
        time.sleep(0.1)


def rules(server: Any, service: str) -> Any:
    answer = httpx.get(
        server.api_url + "/api/v1/sampling/rules", params={"service": service}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


# Every request a page can send without the server's consent; each catches its own failure
# so one refusal does not stop the others.
ATTACK = """async ([zipkin, otlp, api, body]) => {
  const tries = {
    zipkinText: () => fetch(zipkin, {method: "POST", mode: "no-cors", body}),
    zipkinBlob: () => fetch(zipkin, {method: "POST", mode: "no-cors", body: new Blob([body])}),
    otlpBlob: () => fetch(otlp, {method: "POST", mode: "no-cors", body: new Blob(["{}"])}),
    rulesPut: () => fetch(api + "/api/v1/sampling/rules?service=victim", {method: "PUT",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({default_rate: 0, rules: []})}),
    rulesDelete: () => fetch(api + "/api/v1/sampling/rules?service=victim", {method: "DELETE"}),
    retention: () => fetch(api + "/api/v1/retention", {method: "POST", mode: "no-cors"}),
    retentionForm: () => fetch(api + "/api/v1/retention", {method: "POST", mode: "no-cors",
      headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: "a=1"}),
  };
  const out = {};
  for (const [name, run] of Object.entries(tries)) {
    try { const r = await run(); out[name] = r.type === "opaque" ? "opaque" : r.status; }
    catch (e) { out[name] = "blocked: " + e.message; }
  }
  return out;
}"""


@pytest.mark.parametrize("attacker_host", ["127.0.0.1", "localhost"])
def test_a_page_on_another_origin_cannot_write_spans_rules_or_run_retention(
    spanscope_server: Any, browser: Any, attacker_port: int, attacker_host: str
) -> None:
    server = spanscope_server
    victim_rules = {"default_rate": 0.5, "rules": []}
    put = httpx.put(
        server.api_url + "/api/v1/sampling/rules", params={"service": "victim"},
        json=victim_rules, timeout=30,
    )  # fmt: skip
    assert put.status_code == 200, put.text
    before = rules(server, "victim")
    # A trace older than the default 7-day retention of ordinary traces: a retention run
    # now would delete it (the server's own run happened at start, before it came).
    old_trace = secrets.token_hex(16)
    post_zipkin(server, zipkin_spans("archive", old_trace, time.time_ns() - 10 * DAY_NS))
    wait_stored(server, old_trace)
    dry_run = httpx.get(server.api_url + "/api/v1/retention", timeout=30).json()
    assert sum(c["traces"] for c in dry_run["classes"]) >= 1, dry_run

    attacked = secrets.token_hex(16)
    service = f"attacker-{attacker_host.replace('.', '-')}"
    body = orjson.dumps(zipkin_spans(service, attacked, time.time_ns())).decode()
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"http://{attacker_host}:{attacker_port}/")
        outcome = page.evaluate(
            ATTACK,
            [server.zipkin_url + "/api/v2/spans", server.otlp_http_url + "/v1/traces",
             server.api_url, body],
        )  # fmt: skip
    finally:
        context.close()
    assert set(outcome) >= {"zipkinText", "zipkinBlob", "retention", "rulesPut"}, outcome

    # A span the server does take, sent after the attack, is queryable: had the attack's
    # spans been taken, they would be too by now (one writer, in order).
    marker = secrets.token_hex(16)
    post_zipkin(server, zipkin_spans("marker", marker, time.time_ns()))
    wait_stored(server, marker)
    assert trace_status(server, attacked) == 404, f"the page stored spans: {outcome}"
    assert service not in httpx.get(server.api_url + "/api/v1/services").text
    assert rules(server, "victim") == before, f"the page changed sampling rules: {outcome}"
    assert trace_status(server, old_trace) == 200, f"the page ran retention: {outcome}"


def test_docs_render_from_the_package_with_nothing_leaving_loopback(
    spanscope_server: Any, page: Any
) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.add_init_script(CSP_RECORDER)
    page.goto(spanscope_server.api_url + "/docs")
    page.wait_for_selector(".swagger-ui .information-container .title")
    page.wait_for_selector("#operations-tag-sampling")  # rendered from /openapi.json
    assert "Spanscope query API" in page.inner_text(".information-container .title")
    assert requested, "no request seen"
    outside = [
        u for u in requested
        if not u.startswith(spanscope_server.api_url + "/") and not u.startswith("data:")
    ]  # fmt: skip
    assert not outside, f"/docs fetched from outside 127.0.0.1: {outside}"
    assert any("/ui/vendor/swagger-ui/swagger-ui-bundle.js" in u for u in requested)
    # "Try it out" runs under the policy: Swagger UI's own fetch to the API is same-origin.
    page.click(".opblock-summary-path[data-path='/api/v1/services']")
    page.click("button.try-out__btn")
    page.click("button.execute")
    status = page.wait_for_selector(".live-responses-table tbody td.response-col_status")
    assert status.inner_text().strip() == "200"
    # And a state change from the server's own origin is allowed (the policy only turns
    # away other origins).
    changed = page.evaluate(
        """() => fetch("/api/v1/sampling/rules?service=docs-page", {method: "PUT",
             headers: {"Content-Type": "application/json"},
             body: JSON.stringify({default_rate: 0.25, rules: []})}).then((r) => r.status)"""
    )
    assert changed == 200
    assert rules(spanscope_server, "docs-page")["default_rate"] == 0.25
    assert page.evaluate("window.__cspViolations") == []


CSP_RECORDER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


def test_the_ui_renders_under_the_content_security_policy(spanscope_server: Any, page: Any) -> None:
    server = spanscope_server
    trace_id = secrets.token_hex(16)
    post_zipkin(server, zipkin_spans("csp-shop", trace_id, time.time_ns() - 60_000_000_000))
    wait_stored(server, trace_id)
    page.add_init_script(CSP_RECORDER)
    csp = httpx.get(server.api_url + "/").headers["content-security-policy"]
    assert "script-src 'self'" in csp  # the policy is on: what follows runs under it
    for path, ready in (
        ("/search?service=csp-shop&lookback=1h", ".result, .trace-row, a[href*='/trace/']"),
        (f"/trace/{trace_id}", ".wf-bar"),
        ("/map", "svg, .muted"),
        ("/services/csp-shop", "h1"),
        (f"/compare?a={trace_id}&b={trace_id}", "main#view > *"),
    ):
        page.goto(server.api_url + path)
        page.wait_for_selector(ready)
        page.wait_for_load_state("networkidle")
        violations = page.evaluate("window.__cspViolations")
        assert violations == [], f"{path}: CSP violations {violations}"
    # The page fixture fails the test on any console error, CSP reports included.

"""A Jaeger UI build served by ``spanscope serve --jaeger-ui`` shows the Monitor tab, in
real Chromium under the page's Content-Security-Policy (issue 15).

No Node build runs in the tests, so the build is a stand-in that behaves as jaeger-ui does
where it matters: its index.html sets ``<base>`` from the URL with an inline script and
keeps the config functions Jaeger's query service fills in (jaeger-ui
``packages/jaeger-ui/index.html``), and its module script offers Monitor only when
``getJaegerBackendCapabilities().metricsStorage`` (``src/components/App/TopNav.tsx``),
then calls the API relative to the base, as ``src/api/jaeger.ts`` does. Any CSP violation
is a console error, which fails the test (conftest's ``page``).
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8" />
<script>
  (function () {
    var known = ['/deep-dependencies', '/quality-metrics', '/monitor', '/search', '/trace/'];
    var path = window.location.pathname || '/';
    var best = -1;
    for (var i = 0; i < known.length; i++) {
      var idx = path.lastIndexOf(known[i]);
      if (idx > best) best = idx;
    }
    var prefix = best !== -1 ? path.slice(0, best + 1) : path.slice(0, path.lastIndexOf('/') + 1);
    document.currentScript.insertAdjacentHTML('afterend', '<base href="' + prefix + '" />');
  })();
</script>
<link rel="icon" href="data:," /><title>Jaeger UI</title>
<script>
  function getJaegerUiConfig() {
    const DEFAULT_CONFIG = null;
    const JAEGER_CONFIG = DEFAULT_CONFIG;
    return JAEGER_CONFIG;
  }
  function getJaegerBackendCapabilities() {
    const DEFAULT_BACKEND_CAPABILITIES = { archiveStorage: false, metricsStorage: false };
    const JAEGER_BACKEND_CAPABILITIES = DEFAULT_BACKEND_CAPABILITIES;
    return JAEGER_BACKEND_CAPABILITIES;
  }
</script>
<script type="module" crossorigin src="./static/index.js"></script>
</head><body><nav id="nav"></nav><pre id="out"></pre></body></html>
"""

APP = """
const nav = document.getElementById('nav');
const items = ['Search'];
if (getJaegerBackendCapabilities().metricsStorage) items.push('Monitor');
const config = getJaegerUiConfig() || {};
if (config.deepDependencies && config.deepDependencies.menuEnabled) items.push('Deep Dependencies');
if (config.qualityMetrics && config.qualityMetrics.menuEnabled) items.push('Trace Quality');
for (const label of items) {
  const a = document.createElement('a');
  a.textContent = label;
  nav.appendChild(a);
}
const end = Date.now();
Promise.all([
  fetch('api/services').then(r => r.json()),
  fetch(`api/metrics/calls?service=orders&endTs=${end}&groupByOperation=true&step=60000`)
    .then(r => r.json()),
  fetch('api/transform', {method: 'POST', body: document.body.dataset.otlp}).then(r => r.json()),
]).then(([services, calls, transformed]) => {
  document.getElementById('out').textContent = JSON.stringify({
    services: services.data, calls: calls.name, spans: transformed.data[0].spans.length,
  });
});
"""

OTLP = {
    "resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "up"}}]},
        "scopeSpans": [{"spans": [{
            "traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "spanId": "00f067aa0ba902b7",
            "name": "GET /", "kind": 2, "startTimeUnixNano": "1700000000000000000",
            "endTimeUnixNano": "1700000000004000000",
        }]}],
    }]
}  # fmt: skip


@pytest.fixture(scope="module")
def jaeger_ui(tmp_path_factory: pytest.TempPathFactory, spanscope_launcher: Any) -> Any:
    build = tmp_path_factory.mktemp("jaeger-ui-build")
    otlp = orjson.dumps(OTLP).decode().replace('"', "&quot;")
    (build / "index.html").write_text(INDEX.replace("<body>", f'<body data-otlp="{otlp}">'))
    (build / "static").mkdir()
    (build / "static" / "index.js").write_text(APP)
    server = spanscope_launcher(
        tmp_path_factory.mktemp("jaeger-ui") / "data", env={"SPANSCOPE_JAEGER_UI": str(build)}
    )
    yield server
    assert server.stop() == 0, server.log()


@pytest.mark.parametrize("route", ["/jaeger/search", "/jaeger/monitor", "/jaeger/trace/ab12"])
def test_jaeger_ui_shows_monitor_and_reaches_the_api(jaeger_ui: Any, page: Any, route: str) -> None:
    page.goto(jaeger_ui.api_url + route)
    page.wait_for_selector("#out:not(:empty)")
    nav = page.locator("#nav a").all_inner_texts()
    assert nav == ["Search", "Monitor", "Deep Dependencies", "Trace Quality"]
    out = orjson.loads(page.locator("#out").inner_text())
    assert out == {
        "services": httpx.get(jaeger_ui.api_url + "/api/services", timeout=10).json()["data"],
        "calls": "service_operation_call_rate",
        "spans": 1,
    }
    assert page.evaluate("document.baseURI") == jaeger_ui.api_url + "/jaeger/"

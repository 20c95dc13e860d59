"""``spanscope serve --jaeger-ui DIR``: a Jaeger UI build served under /jaeger/ with the
runtime config Jaeger's query service would inject (issue 15).

The build here is a stand-in holding the lines jaeger-ui's ``packages/jaeger-ui/index.html``
marks "Do not alter the following line; Jaeger looks for that exact pattern"; the real UI
in a browser is tests/browser/test_jaeger_ui.py.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

INDEX = """<!doctype html>
<html><head><script>
  function getJaegerUiConfig() {
    const DEFAULT_CONFIG = null;
    // Important! Do not alter the following line; Jaeger looks for that exact pattern.
    const JAEGER_CONFIG = DEFAULT_CONFIG;
    return JAEGER_CONFIG;
  }
  function _getJaegerStorageCapabilities() {
    const DEFAULT_STORAGE_CAPABILITIES = { archiveStorage: false, metricsStorage: false };
    const JAEGER_STORAGE_CAPABILITIES = DEFAULT_STORAGE_CAPABILITIES;
    return JAEGER_STORAGE_CAPABILITIES;
  }
  function getJaegerBackendCapabilities() {
    const DEFAULT_BACKEND_CAPABILITIES = { ..._getJaegerStorageCapabilities(), aiAssistant: false };
    const JAEGER_BACKEND_CAPABILITIES = DEFAULT_BACKEND_CAPABILITIES;
    return JAEGER_BACKEND_CAPABILITIES;
  }
  function getJaegerVersion() {
    const DEFAULT_VERSION = { gitCommit: '', gitVersion: '', buildDate: '' };
    const JAEGER_VERSION = DEFAULT_VERSION;
    return JAEGER_VERSION;
  }
</script></head><body><div id="jaeger-ui-root"></div>
<script type="module" src="./static/index-abc.js"></script></body></html>
"""


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("jaeger-ui-build")
    (root / "index.html").write_text(INDEX)
    (root / "static").mkdir()
    (root / "static" / "index-abc.js").write_text("console.log('jaeger ui');\n")
    return root


@pytest.fixture(scope="module")
def server(spanscope_launcher: Any, tmp_path_factory: pytest.TempPathFactory, build: Path) -> Any:
    running = spanscope_launcher(
        tmp_path_factory.mktemp("jaeger-ui") / "data", env={"SPANSCOPE_JAEGER_UI": str(build)}
    )
    yield running
    assert running.stop() == 0, running.log()


def injected(html: str, name: str) -> Any:
    found = re.search(rf"const {name} = (.*?);\n", html)
    assert found, f"{name} not injected"
    return orjson.loads(found.group(1))


def test_index_carries_spanscope_config(server: Any) -> None:
    for path in (
        "/jaeger/",
        "/jaeger/monitor",
        "/jaeger/search?service=orders",
        "/jaeger/trace/ab",
    ):
        r = httpx.get(server.api_url + path, timeout=10)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        caps = injected(r.text, "JAEGER_BACKEND_CAPABILITIES")
        assert caps["metricsStorage"] is True and caps["archiveStorage"] is False
        assert injected(r.text, "JAEGER_STORAGE_CAPABILITIES")["metricsStorage"] is True
        config = injected(r.text, "JAEGER_CONFIG")
        assert config["monitor"]["menuEnabled"] and config["deepDependencies"]["menuEnabled"]
        assert config["qualityMetrics"]["menuEnabled"]
        assert injected(r.text, "JAEGER_VERSION")["gitVersion"].startswith("spanscope ")


def test_index_csp_allows_exactly_its_inline_script(server: Any) -> None:
    r = httpx.get(server.api_url + "/jaeger/", timeout=10)
    csp = r.headers["content-security-policy"]
    [body] = re.findall(r"<script>(.*?)</script>", r.text, re.S)
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in csp and "'unsafe-inline'" not in csp.split("style-src")[0]
    assert r.headers.get_list("content-security-policy") == [csp]  # not doubled by the policy


def test_build_files_and_api_under_the_prefix(server: Any) -> None:
    js = httpx.get(server.api_url + "/jaeger/static/index-abc.js", timeout=10)
    assert js.status_code == 200 and "jaeger ui" in js.text
    assert httpx.get(server.api_url + "/jaeger/static/gone.js", timeout=10).status_code == 404
    # the UI calls api/... relative to its <base href="/jaeger/">: the same answers
    for path in ("/api/services", "/api/metrics/minstep", "/api/quality-metrics?hours=1"):
        prefixed = httpx.get(server.api_url + "/jaeger" + path, timeout=10)
        assert (
            prefixed.status_code == 200
            and prefixed.json() == httpx.get(server.api_url + path, timeout=10).json()
        )
    bad = httpx.get(server.api_url + "/jaeger/analytics/v1/dependencies", timeout=10)
    assert bad.status_code == 400 and "service" in bad.json()["errors"][0]["msg"]
    transform = httpx.post(server.api_url + "/jaeger/api/transform", content=b"{", timeout=10)
    assert transform.status_code == 400 and transform.json()["errors"][0]["code"] == 400


def test_no_file_outside_the_build(server: Any, build: Path) -> None:
    (build.parent / "secret.txt").write_text("not for you")
    for path in (
        "/jaeger/../secret.txt",
        "/jaeger/%2e%2e/secret.txt",
        "/jaeger/static/%2e%2e/%2e%2e/secret.txt",
    ):
        r = httpx.get(server.api_url + path, timeout=10)
        assert "not for you" not in r.text


def test_a_directory_without_index_html_stops_the_start(
    start_spanscope: Any, tmp_path: Path
) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(RuntimeError, match="no index.html"):
        start_spanscope(tmp_path / "data", env={"SPANSCOPE_JAEGER_UI": str(tmp_path / "empty")})


def test_without_the_setting_nothing_is_served(spanscope_server: Any) -> None:
    r = httpx.get(spanscope_server.api_url + "/jaeger/", timeout=10)
    assert r.status_code == 404

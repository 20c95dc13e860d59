"""Serve a Jaeger UI build under ``/jaeger/``, configured the way Jaeger's query service does.

The Jaeger UI reads its runtime configuration from functions in its own ``index.html``
(jaeger-ui ``packages/jaeger-ui/index.html``, read by ``src/utils/config/get-config.ts``):
``getJaegerUiConfig()`` returns ``JAEGER_CONFIG``, ``getJaegerBackendCapabilities()``
returns ``JAEGER_BACKEND_CAPABILITIES``. Their defaults are ``null`` and "no metrics
storage", and the Monitor tab is only offered when ``backendCapabilities.metricsStorage``
is true (``src/components/App/TopNav.tsx``). Jaeger's query service fills them in by
search-and-replace on the served page (jaegertracing/jaeger ``cmd/jaeger/internal/
extension/jaegerquery/internal/static_handler.go``: ``JAEGER_CONFIG = DEFAULT_CONFIG;``,
``JAEGER_BACKEND_CAPABILITIES = DEFAULT_BACKEND_CAPABILITIES;``, ``JAEGER_VERSION =
DEFAULT_VERSION;``; older UIs read ``JAEGER_STORAGE_CAPABILITIES``). So do we::

    spanscope serve --jaeger-ui ~/src/jaeger-ui/packages/jaeger-ui/build
    # open http://127.0.0.1:16686/jaeger/search : Search, Monitor (SPM), Deep Dependencies,
    # Trace Quality and the OTLP file upload all answered by Spanscope

Spanscope says it has metrics (``/api/metrics/*`` are computed from the spans), can search
without a service, and has no archive; the UI config turns on the Deep Dependencies and
Trace Quality menus, which Spanscope also answers (:mod:`spanscope.api.jaeger_ui_api`).

The UI calls its API relative to its ``<base>`` (``/jaeger/``), so ``/jaeger/api/...`` and
``/jaeger/analytics/...`` are the app's own ``/api/...`` and ``/analytics/...`` (same
checks, same answers). Any other path under ``/jaeger/`` is a file of the build if there is
one, else ``index.html`` (the UI routes in the browser) — but a missing ``static/`` file is
a 404. The page's inline scripts run
under a Content-Security-Policy that allows exactly them (by hash) — nothing else inline.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import orjson
from starlette.responses import HTMLResponse, RedirectResponse
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

PREFIX = "/jaeger"
API_PREFIXES = (PREFIX + "/api/", PREFIX + "/analytics/")

UI_CONFIG = {
    "archiveEnabled": False,
    "deepDependencies": {"menuEnabled": True},
    "qualityMetrics": {"menuEnabled": True},
    "monitor": {"menuEnabled": True},
}
"""``JAEGER_CONFIG``: jaeger-ui ``src/types/config.ts`` (``Config``)."""

BACKEND_CAPABILITIES = {
    "archiveStorage": False,
    "metricsStorage": True,
    "searchWithoutServiceName": True,
    "aiAssistant": False,
}
"""``JAEGER_BACKEND_CAPABILITIES``: static_handler.go's ``BackendCapabilities``."""

_PATTERNS = (
    (re.compile(r"JAEGER_CONFIG *= *DEFAULT_CONFIG;"), "JAEGER_CONFIG", UI_CONFIG),
    (
        re.compile(r"JAEGER_BACKEND_CAPABILITIES *= *DEFAULT_BACKEND_CAPABILITIES;"),
        "JAEGER_BACKEND_CAPABILITIES",
        BACKEND_CAPABILITIES,
    ),
    (
        re.compile(r"JAEGER_STORAGE_CAPABILITIES *= *DEFAULT_STORAGE_CAPABILITIES;"),
        "JAEGER_STORAGE_CAPABILITIES",
        {"archiveStorage": False, "metricsStorage": True},
    ),
)
_VERSION = re.compile(r"JAEGER_VERSION *= *DEFAULT_VERSION;")
_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)


def configured_index(html: str, version: str) -> str:
    """``index.html`` with Spanscope's config, capabilities and version filled in."""
    jaeger_version = {"gitCommit": "", "gitVersion": f"spanscope {version}", "buildDate": ""}
    for pattern, name, value in (*_PATTERNS, (_VERSION, "JAEGER_VERSION", jaeger_version)):
        # str.replace on the one match: a JSON value may hold backslashes re.sub would read
        found = pattern.search(html)
        if found:
            html = html.replace(found.group(0), f"{name} = {_js(value)};", 1)
    return html


def _js(value: object) -> str:
    # JSON is a JS literal; "</" escaped so no value can close the <script> element.
    return orjson.dumps(value).decode().replace("</", "<\\/")


def content_security_policy(html: str) -> str:
    """The page's CSP: its own inline scripts by hash, files from this origin only.
    Inline styles are allowed: the UI's component library sets them at run time."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; object-src 'none'; "
        "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    )


def build_problem(directory: Path) -> str | None:
    """Why ``directory`` is not a Jaeger UI build we can serve (None: it is one)."""
    if not (directory / "index.html").is_file():
        return (
            f"--jaeger-ui {directory}: no index.html there; point it at a Jaeger UI build "
            "(the directory `npm run build` writes, with index.html and static/)"
        )
    return None


class JaegerUI:
    """ASGI middleware: serve the Jaeger UI build in ``directory`` under ``/jaeger/``,
    pass everything else (and the UI's API calls, prefix removed) to ``app``."""

    def __init__(self, app: ASGIApp, directory: Path, version: str) -> None:
        problem = build_problem(directory)
        if problem:
            raise ValueError(problem)
        index = directory / "index.html"
        self.app = app
        self.root = directory.resolve()
        self.files = StaticFiles(directory=self.root)
        self.page = configured_index(index.read_text(encoding="utf-8"), version)
        self.csp = content_security_policy(self.page)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        if path.startswith(API_PREFIXES):
            inner = path[len(PREFIX) :]
            raw = scope.get("raw_path")
            await self.app(
                {**scope, "path": inner, "raw_path": raw[len(PREFIX) :] if raw else None},
                receive,
                send,
            )
            return
        if scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)  # not a page: the app's own 404/405
            return
        if path == PREFIX:
            await RedirectResponse(PREFIX + "/")(scope, receive, send)
            return
        rest = path[len(PREFIX) + 1 :]
        if rest and self._is_file(rest):
            await self.files({**scope, "path": "/" + rest, "root_path": ""}, receive, send)
            return
        if rest.startswith("static/"):  # a missing asset is a 404, not the page
            await self.app(scope, receive, send)
            return
        page = HTMLResponse(
            self.page,
            headers={"Cache-Control": "no-cache", "Content-Security-Policy": self.csp},
        )
        await page(scope, receive, send)

    def _is_file(self, rest: str) -> bool:
        try:
            target = (self.root / rest).resolve()
        except (OSError, ValueError):
            return False
        return target.is_relative_to(self.root) and target.is_file()

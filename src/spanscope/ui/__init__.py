"""The web UI: a single-page app served by the query API's own process, at ``/``.

``spanscope serve`` answers the UI on the API port (16686 by default)::

    spanscope serve --data-dir spanscope-data
    # open http://127.0.0.1:16686/            -> search
    #      http://127.0.0.1:16686/trace/<id>  -> one trace, as in Jaeger

Every route a user can type or share answers the same HTML shell; the JavaScript in
``static/`` reads the URL and draws the view, calling only the public API (docs/api.md,
docs/jaeger.md), so every page has a JSON twin. There is no Node build step: the assets
are hand-written ES modules and CSS shipped as package data, and nothing is fetched from
a CDN, so the UI works offline. docs/ui.md describes each view.

Routes (all ``GET``, all answering the shell):

- ``/`` and ``/search?...`` — search form, scatter plot, result list;
- ``/trace/{trace_id}`` — waterfall, span detail, tabs;
- ``/compare?...`` — two traces side by side, or a slow group against a baseline;
- ``/map`` — the service dependency graph;
- ``/services`` — every service with RED sparklines;
- ``/services/{service}`` — RED charts and a latency histogram with exemplars;
- ``/logs`` — log search, each record linking to its span;
- ``/quality`` — trace quality per service (Jaeger's quality checks);
- ``/open`` — a trace from a Jaeger or OTLP JSON file, shown and not stored.

Assets are served under ``/ui/``; nothing here shadows ``/api/...``, ``/healthz`` or
``/openapi.json``. ``/docs`` is Swagger UI from the package's own copy in
``static/vendor/swagger-ui/`` (swagger-ui-dist, Apache-2.0, its LICENSE beside it), so
it too loads nothing from a CDN and runs under the API's Content-Security-Policy.
"""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import FastAPI
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
ASSET_PREFIX = "/ui"
SHELL_ROUTES = (
    "/",
    "/search",
    "/trace/{trace_id}",
    "/compare",
    "/map",
    "/services",
    "/services/{service}",
    "/logs",
    "/quality",
    "/open",
)

# The shell never changes per route: the app reads location.pathname itself. It is sent
# with no-cache so a deploy's new assets are picked up; the assets carry a version query.
_SHELL = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Spanscope</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{prefix}/style.css?v={version}">
<script type="module" src="{prefix}/app.js?v={version}"></script>
</head>
<body>
<header class="topbar">
  <a class="brand" href="/search">Spanscope</a>
  <nav>
    <a href="/search" data-nav="search">Search</a>
    <a href="/compare" data-nav="compare">Compare</a>
    <a href="/map" data-nav="map">Service map</a>
    <a href="/services" data-nav="services">Services</a>
    <a href="/logs" data-nav="logs">Logs</a>
    <a href="/quality" data-nav="quality">Quality</a>
    <a href="/open" data-nav="open">Open file</a>
  </nav>
  <form class="jump" id="jump" role="search">
    <input id="jump-id" name="trace_id" placeholder="Trace id" aria-label="Jump to trace id"
           autocomplete="off" spellcheck="false">
    <button type="submit">Open</button>
  </form>
</header>
<main id="view" aria-live="polite"><p class="muted">Loading…</p></main>
<noscript>The Spanscope UI needs JavaScript; the same data is at <a href="/docs">/docs</a>.
</noscript>
</body>
</html>
"""


_DOCS = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{prefix}/vendor/swagger-ui/swagger-ui.css?v={version}">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi}"></div>
<script src="{prefix}/vendor/swagger-ui/swagger-ui-bundle.js?v={version}"></script>
<script src="{prefix}/docs.js?v={version}"></script>
</body>
</html>
"""
SWAGGER_UI_DIR = STATIC_DIR / "vendor" / "swagger-ui"


def docs_html(title: str, openapi_url: str, version: str) -> str:
    """The /docs page: Swagger UI started by static/docs.js, no inline script."""
    return (
        _DOCS.replace("{prefix}", ASSET_PREFIX)
        .replace("{version}", version)
        .replace("{title}", html.escape(title))
        .replace("{openapi}", html.escape(openapi_url))
    )


def shell_html(version: str) -> str:
    """The single-page shell every UI route answers."""
    return _SHELL.replace("{prefix}", ASSET_PREFIX).replace("{version}", version)


def mount_ui(app: FastAPI, version: str) -> None:
    """Serve the UI on ``app``: the shell on each route in SHELL_ROUTES, assets at /ui/."""
    if not (STATIC_DIR / "app.js").is_file() or not (SWAGGER_UI_DIR / "swagger-ui.css").is_file():
        raise RuntimeError(
            f"web UI assets missing from {STATIC_DIR}: reinstall spanscope "
            "(pip install spanscope) so its package data is present"
        )
    page = shell_html(version)

    async def shell() -> HTMLResponse:
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    docs_page = docs_html(f"{app.title} - Swagger UI", app.openapi_url or "/openapi.json", version)

    async def docs() -> HTMLResponse:
        return HTMLResponse(docs_page, headers={"Cache-Control": "no-cache"})

    for route in SHELL_ROUTES:
        app.add_api_route(route, shell, methods=["GET"], include_in_schema=False)
    app.add_api_route("/docs", docs, methods=["GET"], include_in_schema=False)
    app.mount(ASSET_PREFIX, StaticFiles(directory=STATIC_DIR), name="ui")

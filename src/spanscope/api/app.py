"""The query API as one ASGI app: native ``/api/v1``, Jaeger ``/api`` and ``/api/v3``.

Run it over any Store::

    from spanscope.api.app import create_app
    app = create_app(DuckDBStore("spanscope-data/spans.duckdb"))
    uvicorn.run(app, host="127.0.0.1", port=16686)

What it serves:

- ``GET /healthz`` (liveness): ``200 {"status": "ok", "reasons": []}`` once ``ready()``
  says so (503 before), then 503 ``{"status": "unavailable", "reasons": [...]}`` while
  ``health()`` reports a dead or wedged store writer — restart the process;
- ``GET /readyz`` (readiness): the same, plus 503 while the store is failing or being
  reopened, the WAL cannot write, or the pending queue is at its bound — send elsewhere
  for now (``IngestPipeline.health``, docs/serving.md);
- ``/api/v1/...``: the native API (docs/api.md), described at ``/openapi.json`` and
  browsable at ``/docs``;
- ``/api/...``, ``/api/v3/...`` and ``/analytics/v1/dependencies``: the Jaeger query
  APIs, for Grafana's Jaeger data source and the Jaeger UI (docs/jaeger.md);
- ``/``, ``/search``, ``/trace/{id}``, ``/compare``, ``/map``, ``/services/{name}``: the web
  UI's single-page shell, its assets under ``/ui/`` (:mod:`spanscope.ui`, docs/ui.md);
- ``/jaeger/...`` (with ``jaeger_ui_dir``): a Jaeger UI build, configured to use all of
  the above (:mod:`spanscope.api.jaeger_ui`).

Every answer carries the browser-safety headers (Content-Security-Policy, nosniff,
``X-Frame-Options: DENY``, ``Referrer-Policy``), and state changes sent by a page of another
origin are refused 403, as is (with ``allowed_hosts``) a ``Host`` not allowed: see
:mod:`spanscope.request_policy` and docs/security.md. With an ``authenticator``
(``--auth-file``) a request without a token of the route's scope is refused 401/403
(:mod:`spanscope.auth`).

Errors, including FastAPI's own validation errors (which would be 422) and unknown paths,
answer in the shape of the API the request was for; see :mod:`spanscope.api.errors`. A
parameter over its bounds is a 400 naming it, a read past ``query_timeout_s`` and any
unexpected error a 503 with a request id (never the engine's text); see
:mod:`spanscope.api.guard`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

import spanscope
from spanscope.api import (
    analysis,
    jaeger,
    jaeger_spm,
    jaeger_ui_api,
    jaeger_v3,
    native,
    sampling,
    signals,
    tempo,
)
from spanscope.api.errors import ApiError, OrjsonResponse, error_body, error_response
from spanscope.api.guard import RequestGuard
from spanscope.api.jaeger_ui import JaegerUI, build_problem
from spanscope.auth import Authenticator, api_scopes, http_check
from spanscope.config import DEFAULT_QUERY_TIMEOUT_S
from spanscope.query.durations import shown
from spanscope.request_policy import API_HEADERS, RequestPolicy, browser_checks
from spanscope.store.base import Store
from spanscope.ui import mount_ui

logger = logging.getLogger(__name__)


def create_app(
    store: Store,
    ready: Callable[[], bool] | None = None,
    query_timeout_s: float | None = DEFAULT_QUERY_TIMEOUT_S,
    health: Callable[[], Any] | None = None,
    allowed_hosts: Iterable[str] | None = None,
    authenticator: Authenticator | None = None,
    tenants: Any = None,
    jaeger_ui_dir: Path | None = None,
) -> FastAPI:
    """Build the API over ``store``; ``ready`` (if given) gates ``/healthz`` and ``/readyz``,
    ``health`` (if given) returns an object with ``live`` and ``ready`` lists of reasons
    (``spanscope.ingest.pipeline.Health``); a read still running ``query_timeout_s``
    after its request came is cancelled (503; None: no limit). ``allowed_hosts``: the
    ``Host`` names answered (``spanscope serve`` always passes them; None, for an app
    embedded elsewhere or a test client, leaves the Host check to whoever serves it).
    ``authenticator`` (``--auth-file``): every route but the probes and the UI shell needs a
    token of the right scope (:func:`spanscope.auth.api_scopes`); None: open.
    ``tenants`` (``spanscope serve`` passes its :class:`spanscope.tenants.Tenants`):
    ``tenants.store(id)`` is the store a request of tenant ``id`` reads; ``store`` is the
    default tenant's. Without it, a request naming another tenant reads an empty store
    (:func:`spanscope.api.deps.store_of`).
    ``jaeger_ui_dir``: a Jaeger UI build to serve, configured, under ``/jaeger/``
    (:mod:`spanscope.api.jaeger_ui`)."""
    app = FastAPI(
        title="Spanscope query API",
        version=_version(),
        description="Search traces, fetch them whole, list services, operations and "
        "dependencies. The Jaeger-compatible endpoints live under /api and /api/v3.",
        default_response_class=OrjsonResponse,
        docs_url=None,  # /docs is served from the package by mount_ui, not from a CDN
        redoc_url=None,
    )
    app.state.store = store
    app.state.tenants = tenants
    app.state.auth = authenticator  # /metrics counts its refusals

    def answer(kind: str) -> Response:
        if ready is not None and not ready():
            reasons = ["the server is starting (or stopping)"]
        else:
            reasons = list(getattr(health(), kind)) if health is not None else []
        if not reasons:
            return OrjsonResponse({"status": "ok", "reasons": []})
        return OrjsonResponse({"status": "unavailable", "reasons": reasons}, status_code=503)

    @app.get("/healthz", tags=["health"], summary="Liveness: 503 with reasons if wedged")
    def healthz() -> Response:
        return answer("live")

    @app.get("/readyz", tags=["health"], summary="Readiness: 503 with reasons if not taking data")
    def readyz() -> Response:
        return answer("ready")

    app.include_router(analysis.router)  # before native: /traces/{id}/... paths
    app.include_router(sampling.router)  # before jaeger: /api/sampling
    app.include_router(signals.router)  # logs and metrics, linked to traces
    app.include_router(tempo.root_router)  # before jaeger_spm: /api/metrics/query_range
    app.include_router(tempo.router, prefix="/tempo")  # Grafana's Tempo data source
    app.include_router(jaeger_spm.router)
    app.include_router(jaeger_ui_api.router)  # /api/transform, /analytics/v1/..., quality
    app.include_router(native.router)
    app.include_router(jaeger_v3.router)
    app.include_router(jaeger.router)
    # The web UI's shell and assets; after the API routers so nothing shadows /api/...
    mount_ui(app, _version())

    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, exc: ApiError) -> Response:
        return error_response(request.url.path, exc.status, exc.message, exc.trace_id)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> Response:
        # FastAPI says 422 with a list of dicts; our clients expect one readable 400.
        return error_response(request.url.path, 400, _validation_message(request, exc))

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such endpoint: {request.method} {request.url.path} (see /docs)"
        return error_response(request.url.path, exc.status_code, message)

    if jaeger_ui_dir is not None:  # innermost: its /jaeger/api/... calls get every check
        problem = build_problem(Path(jaeger_ui_dir))
        if problem:  # now, not at the first request, when Starlette builds the middleware
            raise ValueError(problem)
        app.add_middleware(JaegerUI, directory=Path(jaeger_ui_dir), version=_version())
    # Bounds, the time limit, request ids, and a 503 without the engine's text for anything
    # unexpected (a DuckDB error, a bug): see api/guard.py.
    app.add_middleware(RequestGuard, query_timeout_s=query_timeout_s)
    # Outermost, so its headers are on every answer, the guard's 503s included; the token
    # check after the browser checks, so a rebinding page learns nothing about tokens.
    checks = browser_checks(allowed_hosts)
    if authenticator is not None:
        checks.append(http_check(authenticator, api_scopes))
    app.add_middleware(
        RequestPolicy,
        checks=checks,
        response_headers=API_HEADERS,
        render=_render_refusal,
    )
    return app


def _render_refusal(path: str, status: int, message: str) -> tuple[bytes, str]:
    return orjson.dumps(error_body(path, status, message)), "application/json"


def _validation_message(request: Request, exc: RequestValidationError) -> str:
    parts = []
    errors = exc.errors()
    for err in errors[:3]:  # a value repeated 64 times need not be explained 64 times
        loc = [p for p in err.get("loc", ()) if p not in ("query", "path", "body")]
        # A repeatable parameter's error ends in the index of the bad value: name the value.
        index = loc.pop() if len(loc) > 1 and isinstance(loc[-1], int) else None
        name = ".".join(str(p) for p in loc) or "request"
        repeated = request.query_params.getlist(name)
        if index is not None and index < len(repeated):
            given: str | None = repeated[index]
        else:
            given = request.query_params.get(name, request.path_params.get(name))
        shown_value = f"={shown(given)}" if given is not None else ""
        parts.append(f"parameter {name}{shown_value}: {_problem(err)}")
    if len(errors) > 3:
        parts.append(f"and {len(errors) - 3} more")
    return "; ".join(parts) or "invalid request"


def _problem(err: Any) -> str:
    """Pydantic's sentence for one error; for a value outside a ``Literal``, ours: "expected
    'newest' or 'slowest'", as every other parameter error words it."""
    expected = (err.get("ctx") or {}).get("expected")
    if err.get("type") == "literal_error" and expected:
        return f"expected {expected}"
    return str(err.get("msg", "invalid"))


def _version() -> str:
    return str(getattr(spanscope, "__version__", "0.0.0"))

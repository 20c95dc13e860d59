"""Sampling endpoints: head-sampling rules (native and Jaeger), retention, ``/metrics``.

- ``GET /api/v1/sampling/rules?service=checkout`` -> ``{"service", "source", "default_rate",
  "rules"}`` (``source`` is the service whose rules apply: its own or ``*``); without
  ``service``, ``{"services": {name: rules}}``. ``PUT`` with a JSON body
  ``{"default_rate": 0.05, "rules": [...]}`` replaces a service's rules (validated as the
  SDK's PrioritySampler validates them); ``DELETE`` removes them.
- ``GET /api/sampling?service=checkout``: the same rules in Jaeger's remote sampling shape
  (``probabilisticSampling``, ``operationSampling.perOperationStrategies``).
- ``GET /api/v1/retention`` reports what retention would delete now (nothing is deleted);
  ``POST /api/v1/retention`` applies it now (the server also runs it every interval);
  both act on the request's tenant (``X-Scope-OrgID``) only.
- ``GET /metrics``: Prometheus text written by prometheus_client
  (:mod:`spanscope.sampling.metrics`), every tenant's series (``tenant="id"``; the default
  tenant's carry no label).

Head-sampling rules are the server's, not a tenant's: they configure SDKs, hold no span;
a token confined to a tenant may read them but not change them (403).

Only ``spanscope serve`` has a data dir and a pipeline; an app built without them (see
:class:`spanscope.sampling.runtime.SamplingRuntime`) answers 404 with that reason.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from spanscope.api.deps import store_of
from spanscope.api.errors import ApiError, OrjsonResponse
from spanscope.principal import principal_of
from spanscope.sampling.metrics import CONTENT_TYPE, render, render_sources
from spanscope.sampling.retention import run_retention
from spanscope.sampling.runtime import SamplingRuntime
from spanscope.tenancy import DEFAULT_TENANT

router = APIRouter()


def _server_wide(request: Request) -> None:
    """Refuse a change of the server's own settings to a token confined to one tenant: the
    head-sampling rules are every tenant's (:mod:`spanscope.tenancy`)."""
    principal = principal_of(request.scope)
    if principal is not None and principal.tenant is not None:
        raise ApiError(
            403,
            f"the token {principal.name!r} is confined to tenant {principal.tenant!r}, and "
            "head-sampling rules are the server's (every tenant's SDKs read them): change "
            "them with a token that names no tenant",
        )


def _runtime(request: Request) -> SamplingRuntime:
    runtime: SamplingRuntime | None = getattr(request.app.state, "sampling", None)
    if runtime is None:
        raise ApiError(404, "sampling endpoints need `spanscope serve` (no data dir here)")
    return runtime


@router.get("/api/v1/sampling/rules", tags=["sampling"], summary="Head-sampling rules")
def get_rules(request: Request, service: str | None = None) -> Response:
    rules = _runtime(request).rules
    if service is None:
        return OrjsonResponse({"services": rules.all()})
    source, found = rules.get(service)
    return OrjsonResponse({"service": service, "source": source, **found})


@router.put("/api/v1/sampling/rules", tags=["sampling"], summary="Replace a service's rules")
async def put_rules(request: Request, service: str = Query(...)) -> Response:
    runtime = _runtime(request)
    _server_wide(request)
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"request body: not JSON ({exc}); send {{\"default_rate\": 0.05, "
                       "\"rules\": [...]}}") from None  # fmt: skip
    try:
        stored = runtime.rules.set(service, body)
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    return OrjsonResponse({"service": service, "source": service, **stored})


@router.delete("/api/v1/sampling/rules", tags=["sampling"], summary="Remove a service's rules")
def delete_rules(request: Request, service: str = Query(...)) -> Response:
    runtime = _runtime(request)
    _server_wide(request)
    if not runtime.rules.delete(service):
        raise ApiError(404, f"service {service!r} has no rules of its own (see GET ...rules)")
    return OrjsonResponse({"service": service, "deleted": True})


@router.get("/api/sampling", tags=["jaeger"], summary="Jaeger remote sampling strategy")
def jaeger_sampling(request: Request, service: str = Query(...)) -> Response:
    from spanscope.sampling.rules import jaeger_strategy

    _, found = _runtime(request).rules.get(service)
    return OrjsonResponse(jaeger_strategy(found))


def _retention(request: Request, dry_run: bool) -> Response:
    runtime = _runtime(request)
    # The request's tenant's store: retention reports and deletes in that tenant only.
    report: dict[str, Any] = run_retention(
        store_of(request), runtime.config.retention, time.time_ns(), dry_run=dry_run
    )
    return OrjsonResponse(report)


@router.get("/api/v1/retention", tags=["sampling"], summary="What retention would delete now")
def retention_report(request: Request) -> Response:
    return _retention(request, dry_run=True)


@router.post("/api/v1/retention", tags=["sampling"], summary="Apply retention now")
def retention_apply(request: Request) -> Response:
    return _retention(request, dry_run=False)


@router.get("/metrics", tags=["health"], summary="Prometheus metrics (text format)")
def metrics(request: Request) -> Response:
    runtime: SamplingRuntime | None = getattr(request.app.state, "sampling", None)
    auth = getattr(request.app.state, "auth", None)
    refusals = dict(auth.refusals) if auth is not None else None
    tenants = getattr(request.app.state, "tenants", None)
    if tenants is not None and hasattr(tenants, "metrics_sources"):
        # Every tenant's numbers: the default's unlabelled, the others' with tenant="id";
        # a token confined to a tenant sees that tenant's only.
        sources = tenants.metrics_sources()
        principal = principal_of(request.scope)
        if principal is not None and principal.tenant is not None:
            own = None if principal.tenant == DEFAULT_TENANT else principal.tenant
            sources = [src for src in sources if src[0] == own]
        text = render_sources(sources, refusals)
    else:
        text = render(
            runtime.pipeline if runtime else None, runtime.sampler if runtime else None, refusals
        )
    return Response(text, media_type=CONTENT_TYPE)

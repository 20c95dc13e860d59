"""spanscope.sdk: a thin OpenTelemetry distro for sending traces to Spanscope.

One call sets up the OpenTelemetry Python SDK the way Spanscope expects (resource, OTLP
exporter, W3C propagation, auto-instrumentation, log correlation, exemplars)::

    from spanscope.sdk import configure, span, traced

    configure("orders", service_version="1.4.2", environment="prod")

    @traced
    def load_cart(user_id: str) -> list[str]: ...

    with span("reserve-stock", sku="A-1"):
        ...

Sampling by priority (ordered rules, consistent across services)::

    from spanscope.sdk import PrioritySampler, Rule
    configure("gateway", sampler=PrioritySampler(
        [Rule(0.001, route="/health*"), Rule(0.5, name="POST /checkout*")], default_rate=0.05))

Modules: :mod:`~spanscope.sdk.config` (configure), :mod:`~spanscope.sdk.spans` (span,
traced), :mod:`~spanscope.sdk.sampling` (PrioritySampler), :mod:`~spanscope.sdk.logs`
(trace ids in log records, JsonFormatter), :mod:`~spanscope.sdk.metrics` (exemplars),
:mod:`~spanscope.sdk.instrument` (auto-instrumentation), :mod:`~spanscope.sdk.semconv`
(attribute helpers), :mod:`~spanscope.sdk.propagation` (W3C Trace Context Level 2,
``OTEL_PROPAGATORS=spanscope_tracecontext``), :mod:`~spanscope.sdk.distro`
(``opentelemetry-instrument``).
Needs the ``sdk`` extra: ``pip install 'spanscope[sdk]'``. Docs: docs/sdk.md.
"""

from spanscope.sdk.config import Handle, configure, current
from spanscope.sdk.instrument import instrument_app
from spanscope.sdk.logs import JsonFormatter
from spanscope.sdk.propagation import W3CTraceContextPropagator, W3CTraceState
from spanscope.sdk.sampling import PrioritySampler, Rule
from spanscope.sdk.semconv import (
    db_attributes,
    http_attributes,
    messaging_attributes,
    rpc_attributes,
    set_db,
    set_http_client,
    set_http_server,
    set_messaging,
    set_rpc,
)
from spanscope.sdk.spans import span, traced

__all__ = [
    "Handle",
    "JsonFormatter",
    "PrioritySampler",
    "Rule",
    "W3CTraceContextPropagator",
    "W3CTraceState",
    "configure",
    "current",
    "db_attributes",
    "http_attributes",
    "instrument_app",
    "messaging_attributes",
    "rpc_attributes",
    "set_db",
    "set_http_client",
    "set_http_server",
    "set_messaging",
    "set_rpc",
    "span",
    "traced",
]

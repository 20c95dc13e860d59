"""Server settings: flags override environment variables (``SPANSCOPE_*``), which override
the defaults a Jaeger or OpenTelemetry user expects (4317, 4318, 9411, 16686 on 127.0.0.1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from spanscope.ingest.limits import Limits

DEFAULT_API_PORT = 16686
DEFAULT_OTLP_GRPC_PORT = 4317
DEFAULT_OTLP_HTTP_PORT = 4318
DEFAULT_ZIPKIN_PORT = 9411
DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_API_PORT}"
DEFAULT_QUERY_TIMEOUT_S = 30.0
DEFAULT_MAX_TENANTS = 32


@dataclass(slots=True)
class Settings:
    data_dir: Path = Path("spanscope-data")
    host: str = "127.0.0.1"
    api_port: int = DEFAULT_API_PORT
    otlp_grpc_port: int = DEFAULT_OTLP_GRPC_PORT
    otlp_http_port: int = DEFAULT_OTLP_HTTP_PORT
    zipkin_port: int = DEFAULT_ZIPKIN_PORT
    limits: Limits = field(default_factory=Limits)
    max_pending_spans: int = 200_000
    """Spans acknowledged but not yet in the store; above this, receivers answer 429/503
    with a retry hint instead of queueing without bound."""
    flush_interval_s: float = 0.25
    """How long the store writer waits to gather a batch (ack -> queryable is ~ this)."""
    query_timeout_s: float = DEFAULT_QUERY_TIMEOUT_S
    """``spanscope serve --query-timeout``: a query API read still running this long after
    its request came is cancelled and answered 503 (0: no limit)."""
    shutdown_timeout_s: float = 30.0
    """``spanscope serve --shutdown-timeout``: the longest SIGTERM -> exit takes, whatever
    the store does; spans it has not stored by then stay in the WAL for replay."""
    config_file: Path | None = None
    """``spanscope serve --config``: a TOML file with ``[tail_sampling]`` and ``[retention]``
    (docs/sampling.md); None keeps every span and the default retention."""
    tls_cert: Path | None = None
    """``spanscope serve --tls-cert``: PEM certificate (chain) for every listener; with
    ``tls_key``, HTTPS and gRPC over TLS only (spanscope/tls.py, docs/security.md)."""
    tls_key: Path | None = None
    """``spanscope serve --tls-key``: the unencrypted PEM private key of ``tls_cert``."""
    allowed_hosts: tuple[str, ...] | None = None
    """``spanscope serve --allowed-hosts``: the ``Host`` names every HTTP listener answers
    (``*``: any); None: the loopback names plus ``host`` unless it is a wildcard
    (:func:`spanscope.request_policy.default_allowed_hosts`, docs/security.md)."""
    max_tenants: int = DEFAULT_MAX_TENANTS
    """``spanscope serve --max-tenants``: tenants besides the default one that writes may
    open (``X-Scope-OrgID`` is the client's choice when auth is off); a write for one more
    is refused 400 naming the limit (spanscope/tenants.py, docs/security.md)."""
    auth_file: Path | None = None
    """``spanscope serve --auth-file``: a TOML file of ``[[tokens]]`` (token, scopes, tenant,
    name); every listener then needs a token (spanscope/auth.py, docs/security.md). Re-read
    on SIGHUP. None: no tokens, and only loopback addresses may be bound."""
    insecure_listen: bool = False
    """``spanscope serve --insecure-listen``: bind a non-loopback ``host`` without
    ``auth_file`` (anyone who reaches it may write, read and change settings)."""
    jaeger_ui_dir: Path | None = None
    """``spanscope serve --jaeger-ui``: a Jaeger UI build served under ``/jaeger/``, told that
    Spanscope has metrics (the Monitor tab), deep dependencies and trace quality
    (:mod:`spanscope.api.jaeger_ui`, docs/jaeger.md); None serves none."""
    peers: tuple[str, ...] = ()
    """``spanscope serve --peers``: every collector's OTLP/HTTP ``host:port``; each span goes
    to the one that owns its trace id (:mod:`spanscope.ingest.forward`, docs/scaling.md).
    Empty: this process keeps every span it receives."""
    peer_self: str | None = None
    """``spanscope serve --peer-self``: this collector's entry in ``peers`` (None: the
    entry equal to ``host:otlp_http_port``)."""
    export_to: str | None = None
    """``spanscope serve --export-to``: OTLP/HTTP base URL of the storage node that gets the
    traces this collector's tail sampler keeps (None: its own DuckDB file keeps them)."""
    forward_queue_spans: int = 100_000
    """``spanscope serve --forward-queue-spans``: spans waiting for peers before receivers
    answer 429 with ``Retry-After``."""

"""Semantic-convention attributes without memorising their names.

Each ``*_attributes`` function returns the OpenTelemetry attribute dict for one kind of
operation; each ``set_*`` puts them on a span (the current one by default)::

    from spanscope.sdk import span
    from spanscope.sdk.semconv import db_attributes, set_http_server

    with span("SELECT orders", kind="client", attributes=db_attributes(
            "sqlite", "SELECT * FROM orders WHERE id = ?", name="shop.db")):
        ...
    set_http_server(method="POST", route="/orders", status_code=201)

HTTP names follow what the installed OpenTelemetry instrumentations emit, so manual and
automatic spans agree: the classic names (``http.method``, ``http.status_code``,
``http.route``, ``http.target``, ``http.url``) by default, the stable ones
(``http.request.method``, ``http.response.status_code``, ``url.path``, ``url.full``) when
``OTEL_SEMCONV_STABILITY_OPT_IN`` contains ``http``, both with ``http/dup``.
An HTTP status >= 500 on a server span (>= 400 on a client span) marks the span as an error,
as the conventions say.
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode


def _http_mode() -> tuple[bool, bool]:
    """(classic names, stable names) per ``OTEL_SEMCONV_STABILITY_OPT_IN``."""
    opt_in = {v.strip() for v in os.environ.get("OTEL_SEMCONV_STABILITY_OPT_IN", "").split(",")}
    if "http/dup" in opt_in:
        return True, True
    if "http" in opt_in:
        return False, True
    return True, False


def http_attributes(
    *,
    method: str,
    route: str | None = None,
    status_code: int | None = None,
    path: str | None = None,
    url: str | None = None,
    server_address: str | None = None,
    server_port: int | None = None,
) -> dict[str, Any]:
    """``http.*`` (and ``url.*``/``server.*``) attributes of one HTTP request."""
    classic, stable = _http_mode()
    out: dict[str, Any] = {}
    if route is not None:
        out["http.route"] = route
    if classic:
        out["http.method"] = method
        if status_code is not None:
            out["http.status_code"] = status_code
        if path is not None:
            out["http.target"] = path
        if url is not None:
            out["http.url"] = url
        if server_address is not None:
            out["net.peer.name"] = server_address
        if server_port is not None:
            out["net.peer.port"] = server_port
    if stable:
        out["http.request.method"] = method
        if status_code is not None:
            out["http.response.status_code"] = status_code
        if path is not None:
            out["url.path"] = path
        if url is not None:
            out["url.full"] = url
        if server_address is not None:
            out["server.address"] = server_address
        if server_port is not None:
            out["server.port"] = server_port
    return out


def db_attributes(
    system: str,
    statement: str | None = None,
    *,
    operation: str | None = None,
    name: str | None = None,
    table: str | None = None,
) -> dict[str, Any]:
    """``db.*`` attributes: ``system`` as in semconv (``sqlite``, ``postgresql``, ``redis``)."""
    out: dict[str, Any] = {"db.system": system}
    if statement is not None:
        out["db.statement"] = statement
        if operation is None:
            operation = statement.split(None, 1)[0].upper() if statement.strip() else None
    if operation is not None:
        out["db.operation"] = operation
    if name is not None:
        out["db.name"] = name
    if table is not None:
        out["db.sql.table"] = table
    return out


def rpc_attributes(system: str, service: str, method: str) -> dict[str, Any]:
    """``rpc.*`` attributes, e.g. ``rpc_attributes("grpc", "shop.Payments", "Charge")``."""
    return {"rpc.system": system, "rpc.service": service, "rpc.method": method}


def messaging_attributes(
    system: str,
    destination: str,
    operation: str,
    *,
    message_id: str | None = None,
) -> dict[str, Any]:
    """``messaging.*`` attributes; ``operation`` is ``publish``, ``receive`` or ``process``."""
    out: dict[str, Any] = {
        "messaging.system": system,
        "messaging.destination.name": destination,
        "messaging.operation": operation,
    }
    if message_id is not None:
        out["messaging.message.id"] = message_id
    return out


def _target(span: Span | None) -> Span:
    return span if span is not None else trace.get_current_span()


def set_http_server(*, span: Span | None = None, **kwargs: Any) -> None:
    """Set :func:`http_attributes` on a server span; status >= 500 marks it an error."""
    s = _target(span)
    s.set_attributes(http_attributes(**kwargs))
    code = kwargs.get("status_code")
    if code is not None and code >= 500:
        s.set_status(Status(StatusCode.ERROR, f"HTTP {code}"))


def set_http_client(*, span: Span | None = None, **kwargs: Any) -> None:
    """Set :func:`http_attributes` on a client span; status >= 400 marks it an error."""
    s = _target(span)
    s.set_attributes(http_attributes(**kwargs))
    code = kwargs.get("status_code")
    if code is not None and code >= 400:
        s.set_status(Status(StatusCode.ERROR, f"HTTP {code}"))


def set_db(*args: Any, span: Span | None = None, **kwargs: Any) -> None:
    """Set :func:`db_attributes` on ``span`` (default: the current span)."""
    _target(span).set_attributes(db_attributes(*args, **kwargs))


def set_rpc(*args: Any, span: Span | None = None, **kwargs: Any) -> None:
    """Set :func:`rpc_attributes` on ``span`` (default: the current span)."""
    _target(span).set_attributes(rpc_attributes(*args, **kwargs))


def set_messaging(*args: Any, span: Span | None = None, **kwargs: Any) -> None:
    """Set :func:`messaging_attributes` on ``span`` (default: the current span)."""
    _target(span).set_attributes(messaging_attributes(*args, **kwargs))

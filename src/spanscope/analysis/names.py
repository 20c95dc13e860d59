"""Operation names a person can act on: outgoing calls named by their target.

HTTP client instrumentations name a CLIENT span by its method alone (``GET``, ``POST``), so
a gateway's five different calls all read ``gateway · GET`` and a headline naming one of
them says nothing. :func:`operation_names` gives each such span the name of what it
called::

    POST → inventory /reservations

The target is, in order: the span's ``peer.service``; the service of its SERVER child; its
``server.address`` (or ``net.peer.name``); the host of its ``url.full``. The route is the
SERVER child's ``http.route`` (or ``url.template``), else the span's own ``url.template`` /
``http.route``, else the path of ``url.full`` with id-like segments templated
(``/charges/8812`` -> ``/charges/{id}``), so the calls of one endpoint share one name.
Spans with any other name keep it::

    names = operation_names(trace)          # span id -> name
    names[span.span_id]                     # "GET → recs /recommendations"
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from spanscope.analysis.tree import span_tree
from spanscope.model.spans import Span, SpanKind, Trace

HTTP_METHODS = frozenset(
    {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "CONNECT", "TRACE"}
)
_ID_SEGMENT = re.compile(
    r"^(?:\d+|[0-9a-fA-F]{8,}|[0-9a-fA-F-]{32,36}|[A-Za-z0-9_-]*\d[A-Za-z0-9_-]{7,})$"
)


def _text(span: Span, *keys: str) -> str | None:
    for key in keys:
        value = span.attributes.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def templated_path(url: str) -> str:
    """The path of ``url`` with id-like segments as ``{id}``: numbers, hex, uuids, and
    tokens with digits that are 8+ characters long."""
    path = urlsplit(url).path if "://" in url else url.split("?", 1)[0]
    parts = [("{id}" if _ID_SEGMENT.match(p) else p) for p in path.split("/")]
    return "/".join(parts) or "/"


def method_of(span: Span) -> str | None:
    """The HTTP method when the span is named by it alone (``GET``, ``HTTP POST``)."""
    name = span.name.strip().upper().removeprefix("HTTP ")
    return name if name in HTTP_METHODS else None


def client_name(span: Span, server: Span | None) -> str:
    """``METHOD → target route`` for a CLIENT span named by its method; else its name."""
    method = method_of(span)
    if method is None:
        return span.name
    target = _text(span, "peer.service")
    if target is None and server is not None:
        target = server.service
    target = target or _text(span, "server.address", "net.peer.name")
    url = _text(span, "url.full", "http.url")
    if target is None and url and "://" in url:
        target = urlsplit(url).hostname
    route = _text(server, "http.route", "url.template") if server is not None else None
    route = route or _text(span, "url.template", "http.route")
    if route is None and url:
        route = templated_path(url)
    if target is None and route is None:
        return span.name
    return " ".join(x for x in (f"{method} →", target, route) if x)


def operation_names(trace: Trace) -> dict[bytes, str]:
    """span id -> the name to show for it (CLIENT calls by target, others unchanged)."""
    tree = span_tree(trace)
    out: dict[bytes, str] = {}
    for s in trace.spans:
        if s.kind == SpanKind.CLIENT and method_of(s) is not None:
            server = next(
                (c for c in tree.children.get(s.span_id, ()) if c.kind == SpanKind.SERVER), None
            )
            out[s.span_id] = client_name(s, server)
        else:
            out[s.span_id] = s.name
    return out


def operation_labels(trace: Trace) -> dict[bytes, str]:
    """span id -> ``service · name`` with :func:`operation_names`' names."""
    names = operation_names(trace)
    return {s.span_id: f"{s.service} · {names[s.span_id]}" for s in trace.spans}

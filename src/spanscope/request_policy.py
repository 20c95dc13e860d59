"""What every HTTP request must pass before any listener reads it: the request policy.

A web page the user happens to have open can make their browser send requests to
``127.0.0.1``: a form or ``fetch(url, {method: "POST", mode: "no-cors", body})`` posts
spans or runs ``POST /api/v1/retention`` without reading the answer, and a DNS-rebinding
page (``evil.example`` re-pointed at 127.0.0.1) reads the whole query API as if it were
same-origin. Loopback binding stops neither. :class:`RequestPolicy` is one ASGI
middleware, wrapped around the query API and both HTTP receivers, that refuses them:

==========================================  ======  =======================================
request                                     answer  why
==========================================  ======  =======================================
``Host`` (port stripped) not in the          421    DNS rebinding: the attacker's name
allow-list (``--allowed-hosts``; default            resolves to us, but the browser still
loopback names + the ``--host`` address)            sends it as ``Host``
``Sec-Fetch-Site: cross-site``, unless a     403    Fetch Metadata's Resource Isolation
top-level ``GET``/``HEAD`` navigation               Policy (https://web.dev/articles/fetch-
                                                    metadata): links into the UI still work
POST/PUT/PATCH/DELETE with ``Sec-Fetch-      403    a state change from a page of another
Site: same-site`` or an ``Origin`` that is          origin; ``same-site`` because another
not this server's own                               port on 127.0.0.1 is the "same site"
==========================================  ======  =======================================

Requests with neither ``Origin`` nor ``Sec-Fetch-*`` pass: curl, the OTel SDK exporters,
Grafana's server-side proxy and the ``spanscope`` CLI are not browsers and send neither.
Every answer gets the policy's ``response_headers`` (the query API's Content-Security-
Policy and friends, :data:`API_HEADERS`; the receivers' ``nosniff``,
:data:`RECEIVER_HEADERS`), refusals included, without replacing a header the app set.

Try it (``spanscope serve`` running)::

    curl -si localhost:16686/api/v1/services -H 'Host: evil.example'        # 421
    curl -si -X POST localhost:16686/api/v1/retention \\
         -H 'Origin: http://evil.example'                                   # 403

More checks slot in beside these (a token check, say): :class:`RequestPolicy` runs its
``checks`` in order and answers the first :class:`Refusal`; docs/security.md is the user's
side of all of it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spanscope.query.durations import shown

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
"""Host names every server answers to unless ``--allowed-hosts`` says otherwise."""

ANY_HOST = "*"
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; "
    # The UI's shell and Swagger UI's CSS use data: images (favicon, icons); nothing else.
    "base-uri 'none'; img-src 'self' data:; form-action 'self'"
)
API_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
"""Headers on every query API and UI answer."""
RECEIVER_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
"""Headers on every OTLP/HTTP and Zipkin answer (they serve no page)."""

Headers = dict[str, str]


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request is not served: the status and a sentence naming the header and the fix."""

    status: int
    message: str
    headers: tuple[tuple[bytes, bytes], ...] = ()
    """Extra answer headers (a token check's ``WWW-Authenticate``, say)."""


Check = Callable[[Scope, Headers], Refusal | None]
Render = Callable[[str, int, str], tuple[bytes, str]]
"""(path, status, message) -> (body, content type): each listener's own error shape."""


def plain_text(path: str, status: int, message: str) -> tuple[bytes, str]:
    return message.encode(), "text/plain; charset=utf-8"


# -- host allow-list ----------------------------------------------------------------


def host_name(host: str) -> str:
    """``Localhost:16686`` -> ``localhost``; ``[::1]:4318`` -> ``[::1]``; a bare IPv6
    address (as ``--host`` takes it) -> ``[::1]``: the form a ``Host`` header carries."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    if host.count(":") > 1:  # an IPv6 address without brackets
        return f"[{host}]"
    return host.split(":", 1)[0].rstrip(".")


def _is_wildcard(bind_host: str) -> bool:
    try:
        return ipaddress.ip_address(bind_host.strip("[]")).is_unspecified
    except ValueError:
        return bind_host == ""


def default_allowed_hosts(bind_host: str) -> tuple[str, ...]:
    """The loopback names, plus the address ``spanscope serve --host`` binds unless it is a
    wildcard (``0.0.0.0``, ``::``), which names no host a client would type."""
    names = list(LOOPBACK_HOSTS)
    if not _is_wildcard(bind_host) and host_name(bind_host) not in names:
        names.append(host_name(bind_host))
    return tuple(names)


def parse_allowed_hosts(text: str, flag: str = "--allowed-hosts") -> tuple[str, ...]:
    """``"a.example, 10.0.0.5"`` -> ``("a.example", "10.0.0.5")``; ``*`` turns the check
    off; a scheme, port or path is refused, naming the entry."""
    names = tuple(host_name(part) for part in text.split(",") if part.strip())
    if not names:
        raise ValueError(f"{flag} {text!r}: give host names separated by commas, or * for any")
    for name, given in zip(names, (p.strip() for p in text.split(",") if p.strip()), strict=True):
        if name == ANY_HOST:
            continue
        bare = name.strip("[]")
        if "/" in given or not bare or not all(c.isalnum() or c in ".-:_" for c in bare):
            raise ValueError(
                f"{flag}: {given!r} is not a host name; give names as a browser's Host "
                "header carries them, without scheme, path or port (spanscope.example.com, "
                "10.0.0.5, [::1]), or * for any"
            )
    return names


def host_check(allowed: Iterable[str]) -> Check:
    """Refuse (421) a request whose ``Host`` is not in ``allowed``; ``*`` allows any."""
    names = frozenset(host_name(n) for n in allowed)
    names_shown = ", ".join(sorted(names))

    def check(scope: Scope, headers: Headers) -> Refusal | None:
        host = headers.get("host")
        if ANY_HOST in names or host is None:  # no Host: HTTP/1.0, never a browser
            return None
        name = host_name(host)
        if name in names:
            return None
        return Refusal(
            421,
            f"Host {shown(host)} is not a name this server answers to (allowed: {names_shown});"
            " this guards against DNS rebinding. If it is this server's own name, start it "
            f"with --allowed-hosts {name if len(name) <= 40 else 'NAME'} (or "
            "SPANSCOPE_ALLOWED_HOSTS), see docs/security.md",
        )

    return check


# -- cross-site requests (Fetch Metadata, Origin) -----------------------------------


def _same_authority(origin: str, host: str) -> bool:
    """Whether ``Origin`` names the authority the request was sent to (``Host``); a
    default port may be written or left out on either side. Schemes are not compared: a
    TLS-terminating proxy in front sees ``https`` origins on plain-HTTP requests."""
    try:
        parts = urlsplit(origin)
    except ValueError:  # "http://[abc": no origin a browser sends, so not ours
        return False
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    authority = parts.netloc.lower()
    port = "443" if parts.scheme == "https" else "80"

    def with_port(a: str) -> str:
        return a if a.rsplit("]", 1)[-1].count(":") else f"{a}:{port}"

    return with_port(authority) == with_port(host.strip().lower())


def cross_site_check(scope: Scope, headers: Headers) -> Refusal | None:
    """Refuse (403) what a page of another origin makes a browser send (table above)."""
    method = scope.get("method", "GET")
    site = headers.get("sec-fetch-site", "").strip().lower()
    if site == "cross-site":
        navigation = headers.get("sec-fetch-mode", "") == "navigate" and method in ("GET", "HEAD")
        if not navigation or headers.get("sec-fetch-dest", "") in ("object", "embed"):
            return Refusal(
                403,
                f"{method} refused: Sec-Fetch-Site is 'cross-site', so a page on another site "
                "sent it through a browser. Call this server from its own UI, or from a "
                "non-browser client (curl, an SDK exporter, a server-side proxy); see "
                "docs/security.md",
            )
    if method not in STATE_CHANGING:
        return None
    if site == "same-site":
        named = f" {shown(headers['origin'])}" if "origin" in headers else ""
        return Refusal(
            403,
            f"{method} refused: Sec-Fetch-Site is 'same-site', so a page of another origin"
            f"{named} (another port of this host counts as the same site) sent it through a "
            "browser. Change state from a non-browser client (curl, an SDK exporter, a "
            "server-side proxy); see docs/security.md",
        )
    origin = headers.get("origin")
    host = headers.get("host", "")
    if origin is not None and not _same_authority(origin, host):
        return Refusal(
            403,
            f"{method} refused: Origin {shown(origin)} is not this server ({shown(host)}), so a "
            "page of another origin sent it through a browser. Change state from a "
            "non-browser client (curl, an SDK exporter, a server-side proxy), which sends "
            "no Origin header; see docs/security.md",
        )
    return None


def browser_checks(allowed_hosts: Iterable[str] | None) -> list[Check]:
    """The host allow-list (None: no host check) and the cross-site check, in that order."""
    checks: list[Check] = []
    if allowed_hosts is not None:
        checks.append(host_check(allowed_hosts))
    checks.append(cross_site_check)
    return checks


# -- the middleware ------------------------------------------------------------------


class RequestPolicy:
    """ASGI middleware: answer the first refusal of ``checks`` (rendered by ``render``),
    else call ``app``; add ``response_headers`` to every answer."""

    def __init__(
        self,
        app: ASGIApp,
        checks: Sequence[Check],
        response_headers: Sequence[tuple[bytes, bytes]] = RECEIVER_HEADERS,
        render: Render = plain_text,
    ) -> None:
        self.app = app
        self.checks = tuple(checks)
        self.response_headers = tuple(response_headers)
        self.render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        for check in self.checks:
            refusal = check(scope, headers)
            if refusal is not None:
                await self._refuse(scope, receive, send, refusal)
                return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = self._with_headers(list(message.get("headers", [])))
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _with_headers(self, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        present = {k.lower() for k, _ in headers}
        return headers + [(k, v) for k, v in self.response_headers if k not in present]

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, refusal: Refusal) -> None:
        body, content_type = self.render(scope.get("path", "/"), refusal.status, refusal.message)
        headers = [
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(body)).encode()),
            *refusal.headers,
        ]
        # The body is not read: close the connection rather than let its bytes be taken
        # for the next request.
        headers.append((b"connection", b"close"))
        await send(
            {
                "type": "http.response.start",
                "status": refusal.status,
                "headers": self._with_headers(headers),
            }
        )
        await send({"type": "http.response.body", "body": body})

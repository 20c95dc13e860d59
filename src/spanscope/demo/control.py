"""The lab's control endpoint: switch incidents over HTTP while the lab runs.

Served by the supervisor on ``--control-port`` (default 18090) on 127.0.0.1 only — there is
no option to bind it elsewhere. A switch needs the lab's own token, which ``spanscope
demo`` makes at each start (``secrets.token_urlsafe(32)``), prints, and writes into
``<data-dir>/lab.json`` (mode 0600) as ``control_token``::

    TOKEN=$(jq -r .control_token spanscope-demo/lab.json)
    curl -s localhost:18090/incidents
    # {"active": [], "incidents": [{"name": "missing-index", "active": false,
    #   "summary": "...", "service": "orders", "route": "POST /orders"}, ...]}
    curl -s -X POST   -H "Authorization: Bearer $TOKEN" localhost:18090/incidents/missing-index
    curl -s -X DELETE -H "Authorization: Bearer $TOKEN" localhost:18090/incidents/missing-index
    curl -s localhost:18090/                   # the lab's URLs (lab.json without the token)

``spanscope demo incident NAME --on/--off`` is a client of these; it reads the token from
``lab.json`` (``--data-dir``), or takes ``--token`` / ``SPANSCOPE_DEMO_TOKEN``.

Every request passes, in order, the checks of :mod:`spanscope.request_policy` the main
server applies, then the token:

=====================================================  ======  ==========================
request                                                answer  why
=====================================================  ======  ==========================
``Host`` not a loopback name (localhost, 127.0.0.1,     421    DNS rebinding
[::1])
``Sec-Fetch-Site: cross-site`` (but a top-level         403    a page of another origin
navigation); on a switch also ``same-site`` or an              (with the token or not)
``Origin`` other than this endpoint's
a switch (POST/PUT/DELETE) with no ``Authorization:     401    ``WWW-Authenticate:
Bearer``                                                       Bearer realm="spanscope-demo"``
a switch with another token                             403    (compared in constant time)
=====================================================  ======  ==========================

Reads (``GET /incidents``, ``/``, ``/healthz``) need no token: they change nothing, tell
only what the tour prints anyway, and the ``Host`` check and the browser's same-origin
policy keep other sites' pages from reading them. So ``curl localhost:18090/incidents``
keeps working as it always has; ``/`` leaves the token out of the ``lab.json`` it shows.
Neither the token nor an ``Authorization`` header is ever logged (there is no access log).

A stdlib HTTP server on a thread is enough for a handful of requests and keeps the
supervisor free of a second event loop.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from spanscope.demo.incidents import INCIDENTS, read_active
from spanscope.request_policy import (
    LOOPBACK_HOSTS,
    STATE_CHANGING,
    Refusal,
    cross_site_check,
    host_check,
)

if TYPE_CHECKING:
    from pathlib import Path

    from spanscope.demo.supervisor import Lab

CONTROL_HOST = "127.0.0.1"
"""The only address the control endpoint listens on."""
REALM = "spanscope-demo"
TOKEN_FIELD = "control_token"
"""The token's key in lab.json."""

_loopback_host = host_check(LOOPBACK_HOSTS)


def new_token() -> str:
    """A fresh control token: 32 random bytes, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


def incidents_payload(active: set[str]) -> dict[str, Any]:
    return {
        "active": sorted(active),
        "incidents": [
            {"name": i.name, "active": i.name in active, "summary": i.summary,
             "service": i.service, "route": i.route}
            for i in INCIDENTS.values()
        ],
    }  # fmt: skip


def bearer_token(authorization: str | None) -> str | None:
    """``Bearer abc`` -> ``abc`` (the scheme in any case); None for anything else."""
    scheme, _, credentials = (authorization or "").strip().partition(" ")
    credentials = credentials.strip()
    return credentials if scheme.lower() == "bearer" and credentials else None


def token_check(token: str, lab_dir: Path) -> Callable[[str, str | None], Refusal | None]:
    """Refuse a state change without ``token`` (401) or with another one (403)."""
    expected = token.encode()
    where = f"{lab_dir / 'lab.json'} (key {TOKEN_FIELD!r})"

    def check(method: str, authorization: str | None) -> Refusal | None:
        if method not in STATE_CHANGING:
            return None
        presented = bearer_token(authorization)
        if presented is None:
            return Refusal(
                401,
                f"{method} needs the lab's control token: send 'Authorization: Bearer <token>'."
                f" `spanscope demo` printed it at start and wrote it to {where}; "
                "`spanscope demo incident NAME --on --data-dir DIR` reads it from there",
                ((b"www-authenticate", f'Bearer realm="{REALM}"'.encode()),),
            )
        if not hmac.compare_digest(presented.encode(), expected):
            return Refusal(
                403,
                f"{method} refused: that is not this lab's control token (a new one is made at "
                f"each start); the running lab's is in {where}",
            )
        return None

    return check


def lab_info(lab_dir: Path) -> dict[str, Any]:
    """lab.json as ``GET /`` shows it: without the token."""
    info: dict[str, Any] = json.loads((lab_dir / "lab.json").read_text())
    info.pop(TOKEN_FIELD, None)
    return info


def start_control_server(lab: Lab, port: int, token: str) -> tuple[ThreadingHTTPServer, str]:
    """Serve the control endpoint on a daemon thread; returns the server and its URL."""
    check_token = token_check(token, lab.dir)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass  # the supervisor's terminal is for the tour, not an access log

        def _answer(
            self, status: int, body: Any, headers: tuple[tuple[bytes, bytes], ...] = ()
        ) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.send_header("X-Content-Type-Options", "nosniff")
            for name, value in headers:
                self.send_header(name.decode(), value.decode())
            self.end_headers()
            self.wfile.write(raw)

        def _refused(self) -> bool:
            """Answer the first refusal (table in the module docs); True if there was one."""
            headers = {k.lower(): v for k, v in self.headers.items()}
            scope = {"method": self.command}
            refusal = (
                _loopback_host(scope, headers)
                or cross_site_check(scope, headers)
                or check_token(self.command, headers.get("authorization"))
            )
            if refusal is None:
                return False
            self.close_connection = True  # any body is left unread
            self._answer(refusal.status, {"error": refusal.message}, refusal.headers)
            return True

        def _incident(self) -> str | None:
            prefix = "/incidents/"
            name = self.path.split("?")[0]
            if not name.startswith(prefix):
                self._answer(404, {"error": f"no {self.path}: try /incidents/<name>"})
                return None
            name = name[len(prefix) :].strip("/")
            if name not in INCIDENTS:
                self._answer(
                    404,
                    {"error": f"unknown incident {name!r}: choose one of {', '.join(INCIDENTS)}"},
                )
                return None
            return name

        def do_GET(self) -> None:
            if self._refused():
                return
            path = self.path.split("?")[0].rstrip("/")
            if path == "/incidents":
                self._answer(200, incidents_payload(read_active(lab.dir)))
            elif path in ("", "/lab"):
                self._answer(200, lab_info(lab.dir))
            elif path == "/healthz":
                self._answer(200, {"status": "ok"})
            else:
                self._answer(404, {"error": f"no {self.path}: try /incidents"})

        def _switch(self, on: bool) -> None:
            if self._refused():
                return
            name = self._incident()
            if name is not None:
                self._answer(200, incidents_payload(lab.set_incident(name, on)))

        def do_POST(self) -> None:
            self._switch(True)

        def do_PUT(self) -> None:
            self._switch(True)

        def do_DELETE(self) -> None:
            self._switch(False)

    try:
        server = ThreadingHTTPServer((CONTROL_HOST, port), Handler)
    except OSError as exc:
        from spanscope.demo.supervisor import LabError

        raise LabError(
            f"cannot listen for the lab's control endpoint on {CONTROL_HOST}:{port} "
            f"({exc.strerror}): pick another with --control-port (0 = any free)"
        ) from None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="lab-control", daemon=True).start()
    return server, f"http://{CONTROL_HOST}:{server.server_address[1]}"

"""The lab's control endpoint: switch incidents over HTTP while the lab runs.

Served by the supervisor on ``--control-port`` (default 18090, 127.0.0.1 only)::

    curl -s localhost:18090/incidents
    # {"active": [], "incidents": [{"name": "missing-index", "active": false,
    #   "summary": "...", "service": "orders", "route": "POST /orders"}, ...]}
    curl -s -X POST localhost:18090/incidents/missing-index     # switch on
    curl -s -X DELETE localhost:18090/incidents/missing-index   # switch off
    curl -s localhost:18090/                                     # the lab's URLs (lab.json)

``spanscope demo incident NAME --on/--off`` is a client of these. A stdlib HTTP server on a
thread is enough for a handful of requests and keeps the supervisor free of a second event
loop.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from spanscope.demo.incidents import INCIDENTS, read_active

if TYPE_CHECKING:
    from spanscope.demo.supervisor import Lab


def incidents_payload(active: set[str]) -> dict[str, Any]:
    return {
        "active": sorted(active),
        "incidents": [
            {"name": i.name, "active": i.name in active, "summary": i.summary,
             "service": i.service, "route": i.route}
            for i in INCIDENTS.values()
        ],
    }  # fmt: skip


def start_control_server(lab: Lab, port: int) -> tuple[ThreadingHTTPServer, str]:
    """Serve the control endpoint on a daemon thread; returns the server and its URL."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass  # the supervisor's terminal is for the tour, not an access log

        def _answer(self, status: int, body: Any) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

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
            path = self.path.split("?")[0].rstrip("/")
            if path == "/incidents":
                self._answer(200, incidents_payload(read_active(lab.dir)))
            elif path in ("", "/lab"):
                self._answer(200, json.loads((lab.dir / "lab.json").read_text()))
            elif path == "/healthz":
                self._answer(200, {"status": "ok"})
            else:
                self._answer(404, {"error": f"no {self.path}: try /incidents"})

        def _switch(self, on: bool) -> None:
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
        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    except OSError as exc:
        from spanscope.demo.supervisor import LabError

        raise LabError(
            f"cannot listen for the lab's control endpoint on 127.0.0.1:{port} "
            f"({exc.strerror}): pick another with --control-port (0 = any free)"
        ) from None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="lab-control", daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"

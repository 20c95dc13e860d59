"""One lab service process: tracing through ``spanscope.sdk``, JSON logs, uvicorn on a socket
the supervisor bound.

The supervisor (:mod:`spanscope.demo.supervisor`) starts each service as::

    python -m spanscope.demo.runtime orders --fd 7 --lab-dir ./spanscope-demo \\
        --peers '{"inventory": "http://127.0.0.1:18083", ...}' --otlp-endpoint http://127.0.0.1:4318

and the process, in this order:

1. calls ``spanscope.sdk.configure(service_name=..., instrument=True, logs=True,
   metrics=True)`` — FastAPI, httpx and sqlite3 are instrumented automatically, so every
   request, outgoing call and query is a span, and ``traceparent`` travels on every hop; the
   FastAPI instrumentation's ``http.server.duration`` histogram goes to ``/v1/metrics`` every
   ``OTEL_METRIC_EXPORT_INTERVAL`` ms (5 s here unless set), each bucket with exemplars
   pointing at the requests' traces; every log record goes to ``/v1/logs`` with the trace
   and span it was written in (all skipped with ``--no-tracing``);
2. logs JSON lines to ``<lab-dir>/logs/<service>.log`` with ``spanscope.sdk.logs``'
   :class:`JsonFormatter`: a line written while serving a request carries its ``trace_id``
   (the same records Spanscope gets over OTLP, for ``grep``);
3. builds the service's FastAPI app (:mod:`spanscope.demo.shop`, :mod:`spanscope.demo.checkout`)
   and serves it with uvicorn on the inherited listening socket ``--fd`` — the supervisor
   bound it, so ports are known before any child starts and no two processes race for one;
4. writes ``<lab-dir>/run/<service>.ready`` once uvicorn accepts (readiness without an HTTP
   probe that would itself be traced);
5. exits on SIGTERM/SIGINT after in-flight requests finish, flushing its spans — and on its
   own if the supervisor disappears (its parent pid changes), so a killed lab leaves no
   stray services behind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from spanscope.demo.incidents import IncidentSwitch

SERVICE_VERSION = "1.4.2"
METRIC_EXPORT_INTERVAL_MS = "5000"
"""How often the services export their metrics, unless ``OTEL_METRIC_EXPORT_INTERVAL`` says:
the SDK's default of 60 s would leave a minute-long incident with one point on the chart."""


@dataclass
class ServiceContext:
    """What a service's app factory gets: who it is, where its peers are, the switches."""

    name: str
    lab_dir: Path
    peers: dict[str, str]
    incidents: IncidentSwitch
    tracing: bool
    log: logging.Logger

    def client(self, peer: str, timeout: float = 10.0) -> httpx.Client:
        """An httpx client for ``peer``; created after ``configure()``, so it is traced."""
        return httpx.Client(base_url=self.peers[peer], timeout=timeout)

    def db_path(self, name: str) -> Path:
        return self.lab_dir / "db" / f"{name}.db"


def setup_logging(lab_dir: Path, service: str) -> logging.Logger:
    """JSON lines to ``<lab-dir>/logs/<service>.log``; the trace ids come from the SDK's
    log correlation (installed by ``configure()``), so lines written without tracing simply
    have none."""
    from spanscope.sdk.logs import JsonFormatter

    log_dir = lab_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_dir / f"{service}.log")
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    # the OTLP exporter's retry chatter would bury the lab's own lines
    logging.getLogger("opentelemetry").setLevel(logging.ERROR)
    return logging.getLogger(service)


def configure_tracing(service: str, endpoint: str) -> Any:
    """Traces, logs and metrics (with exemplars) to the lab's Spanscope at ``endpoint``."""
    from spanscope.sdk import configure

    os.environ.setdefault("OTEL_METRIC_EXPORT_INTERVAL", METRIC_EXPORT_INTERVAL_MS)
    return configure(
        service_name=service,
        service_version=SERVICE_VERSION,
        environment="demo",
        endpoint=endpoint,
        instrument=True,
        logs=True,
        metrics=True,
    )


def _watch_parent(parent: int) -> None:
    """Stop this process when the supervisor is gone (re-parented to init or a reaper)."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)
            return


def app_factories() -> dict[str, Callable[[ServiceContext], Any]]:
    from spanscope.demo import checkout, shop

    return {**shop.FACTORIES, **checkout.FACTORIES}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m spanscope.demo.runtime")
    parser.add_argument("service")
    parser.add_argument("--fd", type=int, required=True, help="inherited listening socket")
    parser.add_argument("--lab-dir", type=Path, required=True)
    parser.add_argument("--peers", default="{}", help="JSON map of service name -> base URL")
    parser.add_argument("--otlp-endpoint", default="http://127.0.0.1:4318")
    parser.add_argument("--no-tracing", action="store_true")
    return parser.parse_args(argv)


async def _serve(server: Any, sock: socket.socket, ready: Path) -> None:
    """Serve, and mark the service ready once uvicorn has started accepting."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.02)
    if server.started:
        ready.parent.mkdir(parents=True, exist_ok=True)
        ready.write_text(str(os.getpid()))
    await task


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    args = parse_args(sys.argv[1:] if argv is None else argv)
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    log = setup_logging(args.lab_dir, args.service)
    handle = None if args.no_tracing else configure_tracing(args.service, args.otlp_endpoint)
    ctx = ServiceContext(
        name=args.service,
        lab_dir=args.lab_dir,
        peers=json.loads(args.peers),
        incidents=IncidentSwitch(args.lab_dir),
        tracing=handle is not None,
        log=log,
    )
    # after configure(): the FastAPI instrumentation patches the class the apps are built from
    factories = app_factories()
    if args.service not in factories:
        raise SystemExit(f"unknown lab service {args.service!r}: one of {', '.join(factories)}")
    app = factories[args.service](ctx)
    ready = args.lab_dir / "run" / f"{args.service}.ready"

    class Server(uvicorn.Server):
        """uvicorn re-raises SIGTERM after its graceful stop, which would kill the process
        before the SDK flushes its last spans; here the loop's handler stops it instead."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    sock = socket.socket(fileno=args.fd)  # family and type read from the socket itself
    server = Server(
        uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=5)
    )
    log.info("service starting", extra={"pid": os.getpid(), "tracing": ctx.tracing})
    try:
        asyncio.run(_serve(server, sock, ready))
    finally:
        ready.unlink(missing_ok=True)
        log.info("service stopped")
        if handle is not None:
            handle.shutdown()  # flush the last spans before the process ends


if __name__ == "__main__":
    main()

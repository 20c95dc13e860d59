"""``spanscope serve``: receivers, write-ahead log, store and query API in one process.

::

    spanscope serve --data-dir ./spanscope-data
    # OTLP/gRPC 127.0.0.1:4317 · OTLP/HTTP :4318 · Zipkin :9411 · API + UI :16686

What happens, in order:

1. open the DuckDB store ``<data-dir>/spanscope.duckdb`` (created if missing) and the
   write-ahead log ``<data-dir>/wal/``; replay every logged request the store has not
   yet absorbed (after a crash or ``kill -9``); the same for every tenant that has a
   ``<data-dir>/tenants/<id>/`` (the default tenant is the root; spanscope/tenants.py);
2. bind every listener (port 0 = any free port), start the store writer, serve the three
   HTTP apps with uvicorn in ONE asyncio loop and the gRPC server on its thread pool;
3. once all answer, print the ports and write ``<data-dir>/ports.json`` atomically:
   ``{"api": 16686, "otlp_grpc": 4317, "otlp_http": 4318, "zipkin": 9411, "tls": false}``
   (``"tls": true``: every listener speaks TLS only, ``--tls-cert``/``--tls-key``, checked
   before anything binds; spanscope/tls.py);
   ``GET /healthz`` (liveness) and ``GET /readyz`` (readiness) on the API port answer 200
   from then on, or 503 with the reasons (``IngestPipeline.health``);
   with ``--auth-file`` every listener needs a token (spanscope/auth.py), re-read on
   SIGHUP; without it only a loopback ``--host`` is bound unless ``--insecure-listen``;
4. on Ctrl-C or SIGTERM: stop accepting, finish in-flight requests, drain the queue into
   the store, checkpoint, exit 0. Everything acknowledged is stored. All of it within
   ``--shutdown-timeout`` (default 30 s) whatever the store does: if the store fails or
   hangs, what it has not stored stays in the write-ahead log (never deleted then), the
   log says how many spans, and the exit code is 3 (``EXIT_LEFT_FOR_REPLAY``); the next
   start replays them.

Two settings have no flag, for tests and tuning: ``SPANSCOPE_MAX_PENDING_SPANS`` (spans
acknowledged but not yet stored before receivers answer 429) and
``SPANSCOPE_FLUSH_INTERVAL_S`` (how long the store writer gathers a batch).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any, cast

import uvicorn

from spanscope.allocator import cap_arenas
from spanscope.api.trace_cache import max_spans_from_env
from spanscope.auth import (
    Authenticator,
    AuthFileError,
    http_check,
    is_loopback,
    listen_refusal,
    receiver_scopes,
)
from spanscope.config import Settings
from spanscope.ingest.decode_worker import DecodePool, default_workers
from spanscope.ingest.forward import ExportStore, Forwarder
from spanscope.ingest.forward_wire import ForwardedReceiver
from spanscope.ingest.grpc import create_grpc_server
from spanscope.ingest.http import OtlpHttpReceiver, ZipkinReceiver, status_json
from spanscope.ingest.limits import limits_from_env
from spanscope.ingest.pipeline import Health, IngestPipeline
from spanscope.ingest.quarantine import Quarantine
from spanscope.ingest.redaction import redactor_for
from spanscope.ingest.ring import Ring
from spanscope.ingest.stats import TimedFsync
from spanscope.ingest.wal import WriteAheadLog
from spanscope.request_policy import (
    RequestPolicy,
    browser_checks,
    default_allowed_hosts,
    host_name,
)
from spanscope.sampling.runtime import SamplingRuntime
from spanscope.store.base import Store
from spanscope.tenancy import DEFAULT_TENANT
from spanscope.tenants import Tenant, Tenants
from spanscope.tls import ServerTls, TlsConfigError, load_server_tls

log = logging.getLogger("spanscope.server")

DB_FILE = "spanscope.duckdb"
PORTS_FILE = "ports.json"
SHUTDOWN_GRACE_S = 10.0
"""Longest wait for in-flight requests at shutdown (less when --shutdown-timeout is short)."""

EXIT_LEFT_FOR_REPLAY = 3
"""Exit code of a shutdown that left acknowledged spans in the WAL (the store failed or
hung past --shutdown-timeout): nothing is lost, the next start stores them."""


def settings_from_env(settings: Settings) -> Settings:
    """Apply the flag-less settings from the environment, naming a bad value."""
    changes: dict[str, Any] = {}
    for name, field, kind in (
        ("SPANSCOPE_MAX_PENDING_SPANS", "max_pending_spans", int),
        ("SPANSCOPE_FLUSH_INTERVAL_S", "flush_interval_s", float),
    ):
        text = os.environ.get(name)
        if text is None:
            continue
        try:
            value = kind(text)
        except ValueError:
            raise SystemExit(f"{name}={text!r}: expected a positive {kind.__name__}") from None
        if value <= 0:
            raise SystemExit(f"{name}={text!r}: expected a positive {kind.__name__}")
        changes[field] = value
    try:
        limits = limits_from_env(settings.limits, os.environ)
        max_spans_from_env()  # the API's trace cache reads it later: refuse a bad one now
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    if limits is not settings.limits:
        changes["limits"] = limits
    return dataclasses.replace(settings, **changes) if changes else settings


def decode_workers_from_env() -> int:
    """``SPANSCOPE_DECODE_WORKERS`` (default: one per core, at most 4, none on one core; see
    ``ingest/decode_worker.py``)."""
    text = os.environ.get("SPANSCOPE_DECODE_WORKERS")
    if text is None:
        return default_workers()
    if not text.strip().isdigit():
        raise SystemExit(
            f"SPANSCOPE_DECODE_WORKERS={text!r}: expected a whole number (0 decodes in-process)"
        )
    return int(text)


def open_store(data_dir: Path) -> Store:
    from spanscope.store.duckdb import DuckDBStore

    return DuckDBStore(data_dir / DB_FILE)


def _peer_token() -> str | None:
    """``SPANSCOPE_PEER_TOKEN``: the ingest token a collector sends to peers and to the
    storage node when they run with --auth-file."""
    return os.environ.get("SPANSCOPE_PEER_TOKEN") or None


def _forwarder(settings: Settings, data_dir: Path) -> Forwarder | None:
    """The forwarder of ``--peers`` (None without), or exit naming what is wrong."""
    if not settings.peers:
        if settings.peer_self is not None:
            raise SystemExit("--peer-self needs --peers (the list it is one of)")
        return None
    me = settings.peer_self or f"{settings.host}:{settings.otlp_http_port}"
    if me not in settings.peers:
        raise SystemExit(
            f"this collector ({me}) is not in --peers {','.join(settings.peers)}: add it, or "
            "say which entry it is with --peer-self host:port"
        )
    return Forwarder(
        Ring(settings.peers), me, Quarantine(data_dir),
        queue_spans=settings.forward_queue_spans, token=_peer_token(),
        scheme="https" if settings.tls_cert else "http",
    )  # fmt: skip


def bind(host: str, port: int, what: str, flag: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=1024)
    except OSError as exc:
        raise SystemExit(
            f"cannot listen for {what} on {host}:{port} ({exc.strerror}): "
            f"stop what uses it or pick another port with {flag}"
        ) from None


def write_ports(data_dir: Path, ports: dict[str, int | bool]) -> None:
    """Write ports.json so readers never see half a file (tmp + fsync + rename)."""
    tmp = data_dir / (PORTS_FILE + ".tmp")
    with open(tmp, "w") as f:
        json.dump(ports, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, data_dir / PORTS_FILE)


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handlers: several servers share one loop and
    ``serve`` stops them all together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _api_app(
    store: Store,
    ready: Callable[[], bool],
    query_timeout_s: float,
    health: Callable[[], Health] | None = None,
    allowed_hosts: tuple[str, ...] | None = None,
    authenticator: Authenticator | None = None,
    tenants: Tenants | None = None,
    jaeger_ui_dir: Path | None = None,
) -> Any:
    from spanscope.api.app import create_app

    return create_app(
        store,
        ready=ready,
        query_timeout_s=query_timeout_s or None,
        health=health,
        allowed_hosts=allowed_hosts,
        authenticator=authenticator,
        tenants=tenants,
        jaeger_ui_dir=jaeger_ui_dir,
    )


@dataclasses.dataclass
class _Shutdown:
    """When SIGTERM came, so the whole shutdown fits in ``settings.shutdown_timeout_s``."""

    timeout_s: float
    started: float | None = None

    def remaining(self) -> float:
        started = self.started if self.started is not None else time.monotonic()
        return max(0.0, started + self.timeout_s - time.monotonic())


def serve(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM; return after a clean shutdown (everything acked stored)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    log.info(cap_arenas())  # before any thread starts: arenas made earlier stay
    settings = settings_from_env(settings)
    try:  # a bad certificate or key stops the start here, before any file or port is touched
        tls = load_server_tls(settings.tls_cert, settings.tls_key)
    except TlsConfigError as exc:
        raise SystemExit(f"cannot serve with TLS: {exc}") from None
    authenticator = load_authenticator(settings)  # exits naming the file, entry and key
    if settings.jaeger_ui_dir is not None:  # a wrong directory stops the start here too
        from spanscope.api.jaeger_ui import build_problem

        problem = build_problem(Path(settings.jaeger_ui_dir))
        if problem:
            raise SystemExit(f"cannot serve the Jaeger UI: {problem}")
    data_dir = Path(settings.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / PORTS_FILE).unlink(missing_ok=True)  # a stale file would point at nothing

    sampling = SamplingRuntime.load(settings.config_file, data_dir)  # exits on a bad config
    try:
        redactor = redactor_for(sampling.config.redaction, data_dir)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"redaction: {exc}") from None
    # Every decoder reads the rules from the limits (decode workers get them with each body).
    settings = dataclasses.replace(
        settings, limits=dataclasses.replace(settings.limits, redaction=redactor)
    )
    store = open_store(data_dir)
    if settings.export_to is not None:  # a collector: kept traces go to the storage node
        store = cast(Store, ExportStore(store, settings.export_to, token=_peer_token()))
    fsync = TimedFsync()
    wal = WriteAheadLog(data_dir / "wal", start_after=store.wal_position() or 0, fsync=fsync)
    workers = decode_workers_from_env()
    pool = DecodePool(workers) if workers else None
    forwarder = _forwarder(settings, data_dir)
    pipeline = IngestPipeline(
        store, wal, settings, decode_pool=pool, tail_sampler=sampling.sampler, forwarder=forwarder
    )
    pipeline.stats.wal_fsync_seconds = fsync.seconds
    pipeline.replay()  # a record the store refuses is quarantined: this always returns
    pipeline.start()
    if forwarder is not None:
        forwarder.start()
    sampling.start(store, pipeline)
    # The default tenant is the stack above, at the data dir's root; every other tenant
    # is one more such stack in <data-dir>/tenants/<id>/ (spanscope/tenants.py).
    tenants = Tenants(data_dir, settings, sampling.config, pool, settings.max_tenants)
    tenants.add(Tenant(DEFAULT_TENANT, data_dir, store, wal, pipeline, sampling.sampler))
    shutdown = _Shutdown(settings.shutdown_timeout_s)
    stored_all = False
    try:
        tenants.open_stored()  # replays each tenant's WAL, as the default's above
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(
                _run(settings, store, pipeline, sampling, shutdown, tls, authenticator, tenants)
            )
    finally:
        sampling.stop()
        tenants.stop_retention()
        # Keep a little of the bound for closing the WAL and the store.
        stopped = tenants.stop_pipelines(timeout_s=max(0.0, shutdown.remaining() - 1.0))
        if pool is not None:
            pool.close()
        stored_all = _release_wals(tenants.all(), stopped)
        busy = [t.id for t in tenants.all() if t.pipeline.writer_busy]
        if busy:
            # The writer is inside a store call that does not return: closing the store
            # would wait for it. The spans are in the WAL; leave without waiting.
            log.error(
                "the store did not finish a write within --shutdown-timeout=%g s%s; exiting "
                "with the WAL kept for replay",
                settings.shutdown_timeout_s,
                "" if busy == [DEFAULT_TENANT] else f" (tenants {', '.join(busy)})",
            )
            logging.shutdown()
            sys.stdout.flush()
            os._exit(EXIT_LEFT_FOR_REPLAY)
        for tenant in tenants.all():
            with contextlib.suppress(Exception):  # an invalidated database may refuse to close
                tenant.store.close()
        (data_dir / PORTS_FILE).unlink(missing_ok=True)
    if not stored_all:
        log.warning("stopped; spans the store did not take stay in the WAL for the next start")
        raise SystemExit(EXIT_LEFT_FOR_REPLAY)
    log.info("stopped cleanly: everything acknowledged is stored")


def _release_wals(tenants: list[Tenant], stopped: dict[str, bool]) -> bool:
    """Close each tenant's WAL and delete it where its store holds everything (the
    pipeline stopped with all stored and the checkpoint covers the log); True if all did."""
    stored_all = True
    for tenant in tenants:
        tenant.wal.close()
        stored = stopped.get(tenant.id, False) and _release_wal(tenant.wal, tenant.store)
        if not stored and tenant.id != DEFAULT_TENANT:
            log.warning("tenant %r: spans not stored stay in its WAL", tenant.id)
        stored_all = stored_all and stored
    return stored_all


def load_authenticator(settings: Settings) -> Authenticator | None:
    """The tokens of ``--auth-file`` (None without it), after the rule that an open server
    binds loopback only; either problem exits with the reason and the fix."""
    refusal = listen_refusal(settings.host, settings.auth_file is not None,
                             settings.insecure_listen)  # fmt: skip
    if refusal is not None:
        raise SystemExit(refusal)
    if settings.auth_file is None:
        if settings.insecure_listen and not is_loopback(settings.host):
            log.warning(
                "--insecure-listen: serving %s with no tokens; anyone who can reach it may "
                "write spans, read every trace and change sampling and retention "
                "(use --auth-file, docs/security.md)", settings.host,
            )  # fmt: skip
        return None
    try:
        authenticator = Authenticator.from_file(settings.auth_file)
    except AuthFileError as exc:
        raise SystemExit(f"cannot serve with --auth-file: {exc}") from None
    log.info("auth file %s: %d tokens (%s); every listener needs one (kill -HUP %d reloads)",
             settings.auth_file, len(authenticator.names), ", ".join(authenticator.names),
             os.getpid())  # fmt: skip
    if settings.tls_cert is None and not is_loopback(settings.host):
        log.warning("tokens travel in clear text to %s: add --tls-cert/--tls-key (or a TLS "
                    "proxy in front), docs/security.md", settings.host)  # fmt: skip
    return authenticator


def _start_line(host: str, ports: dict[str, int], tls: bool, data_dir: Path) -> str:
    if not tls:
        return (
            f"spanscope serving on {host}: API + UI http://{host}:{ports['api']} · "
            f"OTLP/gRPC {ports['otlp_grpc']} · OTLP/HTTP {ports['otlp_http']} · "
            f"Zipkin {ports['zipkin']} · data {data_dir}"
        )
    where = f"[{host}]" if ":" in host else host
    return (
        f"spanscope serving on {host} with TLS: API + UI https://{where}:{ports['api']} · "
        f"OTLP/gRPC (TLS) {where}:{ports['otlp_grpc']} · "
        f"OTLP/HTTP https://{where}:{ports['otlp_http']} · "
        f"Zipkin https://{where}:{ports['zipkin']} · data {data_dir}"
    )


def _release_wal(wal: WriteAheadLog, store: Store) -> bool:
    """Delete the WAL only if the store's checkpoint covers every record in it; True then."""
    try:
        position = store.wal_position() or 0
    except Exception:
        log.exception("cannot read the store's WAL checkpoint: keeping the WAL for replay")
        return False
    if position < wal.last_position:
        log.warning(
            "the store's WAL checkpoint %d is below the last record %d: keeping the WAL",
            position, wal.last_position,
        )  # fmt: skip
        wal.release(position)
        return False
    wal.release(position)  # all stored and checkpointed: drop the log
    return True


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (it and httptools, which uvicorn picks by itself, took the
    event loop's share of server CPU down; docs/performance.md), else asyncio's own."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


async def _run(
    settings: Settings,
    store: Store,
    pipeline: IngestPipeline,
    sampling: SamplingRuntime | None = None,
    shutdown: _Shutdown | None = None,
    tls: ServerTls | None = None,
    authenticator: Authenticator | None = None,
    tenants: Tenants | None = None,
) -> None:
    shutdown = shutdown if shutdown is not None else _Shutdown(settings.shutdown_timeout_s)
    # In-flight requests get at most a third of the shutdown bound; the drain the rest.
    grace_s = min(SHUTDOWN_GRACE_S, settings.shutdown_timeout_s / 3)
    host = settings.host
    sockets = {
        "api": bind(host, settings.api_port, "the query API", "--port"),
        "otlp_http": bind(host, settings.otlp_http_port, "OTLP/HTTP", "--otlp-http-port"),
        "zipkin": bind(host, settings.zipkin_port, "Zipkin", "--zipkin-port"),
    }
    grpc_server, grpc_port = create_grpc_server(
        pipeline,
        settings.limits,
        host,
        settings.otlp_grpc_port,
        tls=(tls.key_pem, tls.cert_pem) if tls else None,
        authenticator=authenticator,
        tenants=tenants,
    )
    ready = False
    # Host allow-list and cross-site refusals on every HTTP listener (docs/security.md).
    hosts = settings.allowed_hosts or default_allowed_hosts(host)
    checks = browser_checks(hosts)
    if authenticator is not None:  # then a token of scope ingest (spanscope/auth.py)
        checks.append(http_check(authenticator, receiver_scopes))
    health = tenants.health if tenants is not None else pipeline.health
    apps = {
        "api": _api_app(
            store,
            lambda: ready,
            settings.query_timeout_s,
            health,
            hosts,
            authenticator,
            tenants,
            settings.jaeger_ui_dir,
        ),
        "otlp_http": RequestPolicy(
            ForwardedReceiver(  # spans other collectors forwarded here (ingest/forward_wire.py)
                OtlpHttpReceiver(pipeline, settings.limits, tenants), pipeline, settings.limits
            ),
            checks,
            render=status_json,
        ),
        "zipkin": RequestPolicy(ZipkinReceiver(pipeline, settings.limits, tenants), checks),
    }
    if sampling is not None:
        sampling.attach(apps["api"])  # rules, retention and /metrics endpoints
    servers = {
        name: _Uvicorn(
            uvicorn.Config(
                apps[name],
                lifespan="auto" if name == "api" else "off",
                log_level="warning",
                access_log=False,
                timeout_graceful_shutdown=max(1, int(grace_s)),
                ssl_certfile=tls.cert_file if tls else None,
                ssl_keyfile=tls.key_file if tls else None,
            )
        )
        for name in sockets
    }
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if authenticator is not None:  # re-read the tokens; a bad file keeps the old ones
        loop.add_signal_handler(signal.SIGHUP, authenticator.reload)

    grpc_server.start()
    tasks = [asyncio.create_task(servers[n].serve(sockets=[sockets[n]])) for n in sockets]
    while not all(s.started for s in servers.values()):
        if any(t.done() for t in tasks):  # a server failed to start: surface its error
            for t in tasks:
                if t.done():
                    t.result()
            raise SystemExit("a listener stopped during start-up")
        await asyncio.sleep(0.01)

    bound = {name: sock.getsockname()[1] for name, sock in sockets.items()}
    bound["otlp_grpc"] = grpc_port
    ports = {k: bound[k] for k in ("api", "otlp_grpc", "otlp_http", "zipkin")}
    write_ports(Path(settings.data_dir), {**ports, "tls": tls is not None})
    ready = True
    print(_start_line(host, ports, tls is not None, settings.data_dir), flush=True)

    if settings.allowed_hosts is None and host_name(host) not in hosts:  # a wildcard
        log.info(
            "listening on every address of %s, but answering only Host %s: add this "
            "machine's names with --allowed-hosts (docs/security.md)", host, ", ".join(hosts)
        )  # fmt: skip

    await stop.wait()
    shutdown.started = time.monotonic()
    log.info(
        "stopping: finishing in-flight requests, then draining into the store "
        "(at most %g s, --shutdown-timeout)",
        settings.shutdown_timeout_s,
    )
    ready = False
    for server in servers.values():
        server.should_exit = True
    grpc_done = grpc_server.stop(grace=grace_s)
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.to_thread(grpc_done.wait, grace_s + 1.0)

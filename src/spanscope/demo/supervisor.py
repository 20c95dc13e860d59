"""The lab's supervisor: starts Spanscope (if none answers), the eight services and the
traffic, serves the control endpoint, and stops every process it started.

Processes, in start order (each in its own process group, so a stop reaches anything a
child may have spawned, and a terminal's Ctrl-C reaches only the supervisor, which then
stops the rest in order)::

    spanscope serve      only if nothing answers GET <SPANSCOPE_URL>/healthz
    payment-provider, notifications, shipping, inventory, users, payments, orders, gateway
    traffic              the load generator, once every service is ready

Stop order is the reverse: traffic first (no new requests), then the services (each
finishes in-flight requests and flushes its spans), then the Spanscope server it started
(which drains everything into its store). Each gets SIGTERM, then SIGKILL after a grace
period; every child is waited for, so none is left running or a zombie. Should the
supervisor itself be killed (SIGKILL), Linux sends every child SIGTERM (``PR_SET_PDEATHSIG``)
and the services also notice their parent is gone: nothing outlives the lab.

Ports: the supervisor binds every service's listening socket itself (``--base-port``: the
gateway on it, the others on the next seven; 0 = any free ports) and hands it to the child
as an inherited file descriptor, so all URLs are known before a process starts and no two
processes race for a port. ``<data-dir>/lab.json`` records them::

    {"gateway": "http://127.0.0.1:18080", "control": "http://127.0.0.1:18090",
     "spanscope": "http://127.0.0.1:16686", "services": {"orders": "http://...", ...},
     "control_token": "...", ...}

(mode 0600: the control token, made fresh at each start, lets ``spanscope demo incident``
switch incidents; :mod:`spanscope.demo.control` says what it guards)

and ``<data-dir>/incidents.log`` the timeline, one JSON line per switch
(``{"incident": "missing-index", "active": true, "time_unix_nano": ...}``).

The control endpoint (:mod:`spanscope.demo.control`) switches incidents; the guided tour
(:mod:`spanscope.demo.tour`) is printed a little after an incident goes on.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from spanscope.config import DEFAULT_URL
from spanscope.demo import data
from spanscope.demo.control import new_token, start_control_server
from spanscope.demo.incidents import INCIDENTS, read_active, write_active

# dependencies first: a service starts after the peers it calls
SERVICES = (
    "payment-provider",
    "notifications",
    "shipping",
    "inventory",
    "users",
    "payments",
    "orders",
    "gateway",
)
PEERS: dict[str, tuple[str, ...]] = {
    "gateway": ("users", "inventory", "orders"),
    "orders": ("inventory", "payments", "shipping", "notifications"),
    "payments": ("payment-provider",),
}
DEFAULT_DATA_DIR = Path("spanscope-demo")
DEFAULT_BASE_PORT = 18080
DEFAULT_CONTROL_PORT = 18090
START_TIMEOUT_S = 90.0
STOP_GRACE_S = 15.0


@dataclass
class LabConfig:
    data_dir: Path = DEFAULT_DATA_DIR
    spanscope_url: str = DEFAULT_URL
    otlp_endpoint: str = "http://127.0.0.1:4318"
    base_port: int = DEFAULT_BASE_PORT
    control_port: int = DEFAULT_CONTROL_PORT
    rate: float = 8.0
    """Requests per second from the traffic; 0 = back to back on ``concurrency`` connections."""
    concurrency: int = 16
    tracing: bool = True
    incidents: list[str] = field(default_factory=list)
    duration_s: float | None = None
    baseline_s: float = 20.0
    """Normal traffic before ``incidents`` are switched on, for the tour's 'before'."""
    tour_after_s: float = 20.0
    """How long after an incident goes on the tour measures it."""


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]

    def signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass  # already gone


class Lab:
    """One running lab. ``start()``, then ``run()`` until stopped, then ``stop()``."""

    def __init__(self, config: LabConfig, say: Callable[[str], None] = print) -> None:
        self.config = config
        self.say = say
        self.dir = config.data_dir
        self.children: list[Child] = []
        self.server: Child | None = None
        self.urls: dict[str, str] = {}
        self.control_url = ""
        self.control_token = new_token()
        """What a switch must send as ``Authorization: Bearer``; printed at start, in lab.json."""
        self.stopping = threading.Event()
        self.events: list[tuple[str, bool, int]] = []  # (incident, on, time ns)
        self.traffic_started_ns = 0
        self._control: object | None = None
        self._lock = threading.Lock()

    # --- start -------------------------------------------------------------------------

    def start(self) -> None:
        for sub in ("db", "logs", "run"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        for stale in (self.dir / "run").glob("*.ready"):
            stale.unlink()
        write_active(self.dir, set())
        self._ensure_spanscope()
        self.say("building the lab's SQLite databases (once per data dir) ...")
        data.build_all(self.dir / "db")
        sockets = self._bind_services()
        self.urls = {name: f"http://127.0.0.1:{s.getsockname()[1]}" for name, s in sockets.items()}
        for name in SERVICES:
            self._spawn_service(name, sockets.pop(name))
        self._wait_ready()
        self.start_control()
        self._spawn_traffic()
        self.write_lab_json()

    def start_control(self) -> None:
        """Serve the control endpoint (127.0.0.1 only, switches need ``control_token``)."""
        self._control, self.control_url = start_control_server(
            self, self.config.control_port, self.control_token
        )

    def _ensure_spanscope(self) -> None:
        url = self.config.spanscope_url.rstrip("/")
        if _answers(url + "/healthz"):
            self.say(f"using the Spanscope server at {url}")
            return
        api, otlp = urlsplit(url), urlsplit(self.config.otlp_endpoint)
        command = [
            sys.executable, "-m", "spanscope", "serve",
            "--data-dir", str(self.dir / "spanscope-data"),
            "--host", api.hostname or "127.0.0.1",
            "--port", str(api.port or 80), "--otlp-http-port", str(otlp.port or 4318),
        ]  # fmt: skip
        output = self.dir / "logs" / "spanscope.stderr"
        self.say(f"no Spanscope answers at {url}: starting one (its output: {output})")
        self.server = self._spawn("spanscope", command)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(url + "/healthz"):
            self._check_alive(self.server)
            if time.monotonic() > deadline or self.stopping.is_set():
                raise LabError(f"Spanscope did not answer at {url} in {START_TIMEOUT_S:.0f} s")
            time.sleep(0.1)

    def _bind_services(self) -> dict[str, socket.socket]:
        base = self.config.base_port
        sockets = {}
        for offset, name in enumerate(("gateway", *[s for s in SERVICES if s != "gateway"])):
            port = 0 if base == 0 else base + offset
            try:
                sockets[name] = socket.create_server(("127.0.0.1", port), backlog=256)
            except OSError as exc:
                for s in sockets.values():
                    s.close()
                raise LabError(
                    f"cannot listen for {name} on 127.0.0.1:{port} ({exc.strerror}): "
                    f"stop what uses it or choose other ports with --base-port (0 = any free)"
                ) from None
        return sockets

    def _spawn_service(self, name: str, sock: socket.socket) -> None:
        peers = {peer: self.urls[peer] for peer in PEERS.get(name, ())}
        command = [
            sys.executable, "-m", "spanscope.demo.runtime", name,
            "--fd", str(sock.fileno()), "--lab-dir", str(self.dir),
            "--peers", json.dumps(peers), "--otlp-endpoint", self.config.otlp_endpoint,
        ]  # fmt: skip
        if not self.config.tracing:
            command.append("--no-tracing")
        self.children.append(self._spawn(name, command, pass_fds=(sock.fileno(),)))
        sock.close()  # the child holds its own copy of the listening socket

    def _spawn_traffic(self) -> None:
        command = [
            sys.executable, "-m", "spanscope.demo.traffic",
            "--gateway", self.urls["gateway"], "--rate", str(self.config.rate),
            "--concurrency", str(self.config.concurrency),
            "--log", str(self.dir / "traffic.jsonl"),
        ]  # fmt: skip
        self.children.append(self._spawn("traffic", command))
        self.traffic_started_ns = time.time_ns()

    def _spawn(self, name: str, command: list[str], pass_fds: tuple[int, ...] = ()) -> Child:
        with open(self.dir / "logs" / f"{name}.stderr", "ab") as out:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                pass_fds=pass_fds,
                process_group=0,  # its own group: see the module docs
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        return Child(name, process)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        waiting = {c.name: c for c in self.children}
        while waiting:
            for name, child in list(waiting.items()):
                self._check_alive(child)
                if (self.dir / "run" / f"{name}.ready").exists():
                    del waiting[name]
            if time.monotonic() > deadline:
                raise LabError(f"not ready after {START_TIMEOUT_S:.0f} s: {', '.join(waiting)}")
            if self.stopping.is_set():
                raise LabError("stopped while starting")
            time.sleep(0.1)

    def _check_alive(self, child: Child) -> None:
        if child.process.poll() is not None:
            log = self.dir / "logs" / f"{child.name}.stderr"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise LabError(f"{child.name} exited with {child.process.returncode}:\n{tail}")

    def write_lab_json(self) -> None:
        """``<data-dir>/lab.json``, readable by this user only: it holds the control token."""
        info = {
            "gateway": self.urls["gateway"],
            "control": self.control_url,
            "spanscope": self.config.spanscope_url.rstrip("/"),
            "otlp_endpoint": self.config.otlp_endpoint,
            "services": self.urls,
            "pids": {c.name: c.process.pid for c in self.all_children()},
            "tracing": self.config.tracing,
            "control_token": self.control_token,
        }
        tmp = self.dir / "lab.json.tmp"
        tmp.unlink(missing_ok=True)  # O_CREAT keeps an existing file's mode
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with open(fd, "w") as out:
            out.write(json.dumps(info, indent=2))
        os.replace(tmp, self.dir / "lab.json")

    # --- incidents ---------------------------------------------------------------------

    def set_incident(self, name: str, on: bool) -> set[str]:
        """Switch ``name`` on or off for every service; returns the active set."""
        with self._lock:
            active = read_active(self.dir)
            if (name in active) != on:
                active = active | {name} if on else active - {name}
                write_active(self.dir, active)
                at = time.time_ns()
                self.events.append((name, on, at))
                with open(self.dir / "incidents.log", "a") as log:  # the lab's own timeline
                    record = {"incident": name, "active": on, "time_unix_nano": at}
                    log.write(json.dumps(record) + "\n")
                self.say(
                    f"incident {name} is ON: {INCIDENTS[name].summary}"
                    if on
                    else f"incident {name} is off"
                )
            return active

    # --- run and stop ------------------------------------------------------------------

    def run(self) -> None:
        """Serve until the duration ends or ``stopping`` is set; switch the configured
        incidents on after the baseline and print the tours when they are due."""
        from spanscope.demo.tour import Tour

        tour = Tour(self)
        started = time.monotonic()
        pending = list(self.config.incidents)
        toured: set[int] = set()
        baseline_due: float | None = self.config.baseline_s if pending else self.config.tour_after_s
        tour.print_welcome()
        while not self.stopping.is_set():
            elapsed = time.monotonic() - started
            if self.config.duration_s is not None and elapsed >= self.config.duration_s:
                break
            if baseline_due is not None and elapsed >= baseline_due and not self.events:
                baseline_due = None
                tour.print_baseline()
            if pending and elapsed >= self.config.baseline_s:
                for name in pending:
                    self.set_incident(name, True)
                pending = []
            for i, (name, on, at_ns) in enumerate(list(self.events)):
                due = at_ns + int(self.config.tour_after_s * 1e9)
                if on and i not in toured and time.time_ns() >= due:
                    toured.add(i)
                    tour.print_incident(name, at_ns)
            for child in self.children:
                if child.process.poll() is not None:
                    self.say(f"{child.name} exited with {child.process.returncode}; stopping")
                    return
            self.stopping.wait(0.25)

    def all_children(self) -> list[Child]:
        return [*self.children, *([self.server] if self.server else [])]

    def stop(self) -> None:
        """Stop everything started, in reverse order; wait for each (no orphans)."""
        if self._control is not None:
            self._control.shutdown()  # type: ignore[attr-defined]
            self._control = None
        traffic = [c for c in self.children if c.name == "traffic"]
        services = [c for c in self.children if c.name != "traffic"]
        for group in (traffic, services, [self.server] if self.server else []):
            _terminate(group)
        self.children, self.server = [], None


def _die_with_parent() -> None:
    """In the child, before exec: have Linux send it SIGTERM when the supervisor dies, even
    by SIGKILL (``PR_SET_PDEATHSIG``), so nothing outlives a killed lab."""
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _terminate(children: list[Child]) -> None:
    for child in children:
        if child.process.poll() is None:
            child.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for child in children:
        try:
            child.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.signal_group(signal.SIGKILL)
            child.process.wait()
        # anything the child itself started in its group goes with it
        child.signal_group(signal.SIGKILL)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


class LabError(RuntimeError):
    pass


def run_lab(config: LabConfig, say: Callable[[str], None] = print) -> int:
    """``spanscope demo``: start, run until Ctrl-C/SIGTERM or the duration, stop. Exit code."""
    for name in config.incidents:
        if name not in INCIDENTS:
            say(f"unknown incident {name!r}: choose one of {', '.join(INCIDENTS)}")
            return 2
    lab = Lab(config, say)
    previous = {
        sig: signal.signal(sig, lambda *_: lab.stopping.set())
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        lab.start()
        lab.run()
        return 0
    except LabError as exc:
        say(f"error: {exc}")
        return 1
    finally:
        say("stopping the lab ...")
        lab.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        say("stopped: every process the lab started has exited")

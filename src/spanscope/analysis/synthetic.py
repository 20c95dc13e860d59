"""Seeded synthetic incidents: populations of traces with one injected cause each.

Root-cause analysis is only as good as the incidents it was measured on. This module
builds them: a *case* is a few hundred traces of one endpoint on one topology, a share of
which (the *fault rate*, 3-20 %) carry one injected fault, under background noise (jitter
on every span, a natural slow tail in random operations, id-like attributes on every span,
errors in an unrelated operation) and decoys (work that grows in the faulty traces but
did not make them slower). The case knows its answer: the operation that was broken::

    case = make_case("slow_query", "chain", seed=7)
    case.truth          # ("s08", "SELECT t8"), the operation a person must be shown first
    case.traces         # list[Trace]; case.faulty holds the ids of the broken ones

Topologies:

- ``fanout``: a gateway calls five services in parallel (only the longest branch is on
  the critical path);
- ``chain``: twelve services, each calling the next, with a database call every 4 levels;
- ``async``: an order request that publishes a message; a worker consumes it after the
  request has answered (as a CONSUMER child of the PRODUCER span, or, every other trace,
  as a parentless span that links to it) and, in the faulty traces, works harder there
  too (a decoy: its time is not the request's latency).

Faults (:data:`FAULTS`): ``slow_query`` (missing index), ``slow_work`` (CPU in a handler),
``slow_external`` (a third-party API), ``network_gap`` (queueing between a client and its
server), ``retry_storm`` (failed attempts plus backoff), ``n_plus_one``, ``cache_miss`` (a
query that only runs when the cache misses), ``clock_skew`` (a slow handler on a host
whose clock runs 2 s ahead), ``parallel_decoy`` (six parallel calls grow, off the critical
path, while one operation on it grows less), ``error_burst`` (errors that start deep and
propagate up, no latency change), ``slow_host`` (one host of six is slow: an attribute
explains it), ``slow_consumer`` (the async worker's own query; compared on the consumer
operation) and ``loop_block`` (a CPU-bound ``POST /reindex`` request on one search instance
holds its event loop, and the home pages whose search call landed there stall: the cause is
the reindex, which is not in the home pages' traces at all). ``benchmarks/rca.py`` runs
compare and explain over every case; unit tests use a few. Nothing here is random without the seed.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from spanscope.model.spans import Link, Span, SpanKind, StatusCode, Trace

MS = 1_000_000
T0 = 1_764_061_200_000_000_000
S, C, N, P, K = (
    SpanKind.SERVER,
    SpanKind.CLIENT,
    SpanKind.INTERNAL,
    SpanKind.PRODUCER,
    SpanKind.CONSUMER,
)
TOPOLOGIES = ("fanout", "chain", "async")
FAULT_RATES = (0.03, 0.05, 0.1, 0.15, 0.2)
HOSTS_PER_SERVICE = 6


@dataclass(slots=True)
class Call:
    """One span to be laid out: its own work, then its children (in a row or at once)."""

    service: str
    name: str
    kind: SpanKind = SpanKind.INTERNAL
    work_ms: float = 1.0
    children: list[Call] = field(default_factory=list)
    parallel: bool = False
    gap_ms: float = 0.0
    """CLIENT calls only: time on the wire and in the callee's queue, around its server."""
    pauses_ms: list[float] = field(default_factory=list)
    """Idle time after child i (a retry's backoff)."""
    stall_ms: float = 0.0
    """Idle time right after the span started (its event loop busy with another request)."""
    consumers: list[Call] = field(default_factory=list)
    """PRODUCER only: work that runs after this span ended."""
    attributes: dict[str, object] = field(default_factory=dict)
    error: bool = False

    def walk(self) -> Iterator[Call]:
        stack = [self]
        while stack:
            c = stack.pop()
            yield c
            stack.extend(c.children)
            stack.extend(c.consumers)

    def find(self, service: str, name: str) -> Call:
        for c in self.walk():
            if c.service == service and c.name == name:
                return c
        raise KeyError(f"no call {service} · {name} in this topology")


def http_call(caller: str, callee: str, route: str, server: Call, method: str = "GET") -> Call:
    """A CLIENT span named by its method only (as HTTP instrumentations name it), whose
    SERVER child carries the route."""
    server.kind = S
    server.attributes.setdefault("http.route", route)
    return Call(
        caller, method, C, 0.4, [server], gap_ms=1.0,
        attributes={"http.request.method": method, "server.address": callee,
                    "url.full": f"http://{callee}:8080{route.replace('{id}', '1234')}"},
    )  # fmt: skip


def db(service: str, statement: str, ms: float) -> Call:
    verb, table = statement.split()[:2]
    system = "postgresql" if verb in ("SELECT", "UPDATE", "INSERT") else "redis"
    attributes: dict[str, object] = {"db.system": system, "db.statement": statement}
    return Call(service, f"{verb} {table}", C, ms, attributes=attributes)


def external(service: str, peer: str, url: str, ms: float, method: str = "POST") -> Call:
    return Call(service, method, C, ms, attributes={"peer.service": peer, "url.full": url,
                                                    "http.request.method": method})  # fmt: skip


def fanout() -> Call:
    return Call("gateway", "GET /home", S, 3, parallel=True, children=[
        http_call("gateway", "recs", "/recommendations", Call("recs", "GET /recommendations",
                  work_ms=20, children=[db("recs", "SELECT items WHERE tag = $1", 15),
                                        db("recs", "GET cache", 1)])),
        http_call("gateway", "ads", "/ads", Call("ads", "GET /ads", work_ms=10, children=[
            external("ads", "adnet", "https://adnet.example.com/bid/88121", 25)])),
        http_call("gateway", "profile", "/profile/{id}", Call("profile", "GET /profile/{id}",
                  work_ms=5, children=[db("profile", "SELECT users WHERE id = $1", 8)])),
        http_call("gateway", "cart", "/cart", Call("cart", "GET /cart", work_ms=5,
                  children=[db("cart", "GET cart", 4)])),
        http_call("gateway", "search", "/search", Call("search", "GET /search", work_ms=12,
                  children=[Call("search", "rank", N, 10)])),
    ])  # fmt: skip


def chain() -> Call:
    def level(i: int) -> Call:
        svc = f"s{i:02d}"
        node = Call(svc, f"POST /{svc}", S, 3)
        if i % 4 == 0:
            node.children.append(db(svc, f"SELECT t{i} WHERE k = $1", 4))
        if i == 9:
            node.children.append(db(svc, "GET cache", 1))
        if i == 12:
            node.children.append(external(svc, "fx-rates", "https://fx.example.com/rate/EUR", 6))
        if i < 12:
            node.children.append(http_call(svc, f"s{i + 1:02d}", f"/s{i + 1:02d}",
                                           level(i + 1), "POST"))  # fmt: skip
        return node

    return level(1)


def async_orders() -> Call:
    consumer = Call("worker", "orders process", K, 5, children=[
        db("worker", "UPDATE orders SET state = $1", 6),
        external("worker", "mailer", "https://mail.example.com/send/51234", 20),
    ])  # fmt: skip
    orders = Call("orders", "POST /orders", S, 4, children=[
        db("orders", "INSERT orders VALUES ($1, $2)", 5),
        db("orders", "SELECT stock WHERE sku = $1", 4),
        external("orders", "psp", "https://psp.example.com/charges/8812", 8),
        Call("orders", "orders publish", P, 1, consumers=[consumer]),
    ])  # fmt: skip
    return Call("api", "POST /orders", S, 3, children=[
        http_call("api", "orders", "/orders", orders, "POST"),
        http_call("api", "pricing", "/prices", Call("pricing", "GET /prices", work_ms=6,
                  children=[db("pricing", "SELECT prices WHERE sku = $1", 3),
                            db("pricing", "GET cache", 1)])),
    ])  # fmt: skip


TEMPLATES: dict[str, Callable[[], Call]] = {"fanout": fanout, "chain": chain, "async": async_orders}

# fault -> topology -> (service, name) of the call it breaks (CLIENT calls by the label a
# person should read: see :func:`spanscope.analysis.names.operation_label`).
TARGETS: dict[str, dict[str, tuple[str, str]]] = {
    "slow_query": {"fanout": ("recs", "SELECT items"), "chain": ("s08", "SELECT t8"),
                   "async": ("orders", "SELECT stock")},
    "slow_work": {"fanout": ("search", "GET /search"), "chain": ("s06", "POST /s06"),
                  "async": ("pricing", "GET /prices")},
    "slow_external": {"fanout": ("ads", "POST"), "chain": ("s12", "POST"),
                      "async": ("orders", "POST")},
    "network_gap": {"fanout": ("gateway", "GET"), "chain": ("s05", "POST"),
                    "async": ("api", "POST")},
    "retry_storm": {"fanout": ("ads", "POST"), "chain": ("s12", "POST"),
                    "async": ("orders", "POST")},
    "n_plus_one": {"fanout": ("cart", "GET cart"), "chain": ("s04", "SELECT t4"),
                   "async": ("orders", "SELECT stock")},
    "cache_miss": {"fanout": ("recs", "SELECT candidates"), "chain": ("s09", "SELECT catalog"),
                   "async": ("pricing", "SELECT price_rules")},
    "clock_skew": {"fanout": ("search", "GET /search"), "chain": ("s07", "POST /s07"),
                   "async": ("pricing", "GET /prices")},
    "parallel_decoy": {"fanout": ("recs", "GET /recommendations"),
                       "chain": ("s10", "POST /s10")},
    "error_burst": {"fanout": ("ads", "POST"), "chain": ("s12", "SELECT t12"),
                    "async": ("orders", "INSERT orders")},
    "slow_host": {"fanout": ("profile", "GET /profile/{id}"), "chain": ("s02", "POST /s02"),
                  "async": ("orders", "POST /orders")},
    "slow_consumer": {"async": ("worker", "UPDATE orders")},
    "loop_block": {"fanout": ("search", "POST /reindex")},
}  # fmt: skip
FAULTS = tuple(TARGETS)
# Which of several same-named calls a fault picks: the CLIENT call to this callee.
_GAP_CALLEE = {"fanout": "profile", "chain": "s06", "async": "orders"}
_SKEWED_HOST_OFFSET_NS = 2_000_000_000


@dataclass(slots=True)
class Case:
    fault: str
    topology: str
    seed: int
    fault_rate: float
    traces: list[Trace]
    faulty: set[bytes]
    truth: tuple[str, str]
    """(service, operation label) of the broken operation, CLIENT calls named by target."""
    subject: tuple[str, str] | None
    """The requests to compare: (service, span name), or None for the root spans."""
    errors: bool = False
    """An error-only incident: compare erroring with healthy requests."""
    truth_attribute: tuple[str, str] | None = None

    @property
    def name(self) -> str:
        return f"{self.fault}/{self.topology}/{self.seed}"


def cases(seeds: range | list[int] = range(2), traces: int = 200) -> list[Case]:
    """Every (fault, topology) pair the fault applies to, for each seed."""
    return [
        make_case(fault, topology, seed, traces)
        for seed in seeds
        for fault in FAULTS
        for topology in TOPOLOGIES
        if topology in TARGETS[fault]
    ]


def make_case(fault: str, topology: str, seed: int = 0, traces: int = 200) -> Case:
    if fault not in TARGETS or topology not in TARGETS[fault]:
        choices = ", ".join(f"{f}/{t}" for f in TARGETS for t in TARGETS[f])
        raise ValueError(f"no synthetic case {fault}/{topology}: choose one of {choices}")
    rng = random.Random(f"{fault}/{topology}/{seed}")
    rate = rng.choice(FAULT_RATES)
    size_ms = rng.uniform(150, 600)
    n_faulty = max(3, round(traces * rate))
    faulty_index = set(rng.sample(range(traces), n_faulty))
    service, name = TARGETS[fault][topology]
    out, faulty = [], set()
    for i in range(traces):
        tree = TEMPLATES[topology]()
        broken = i in faulty_index
        _noise(tree, rng)
        _decoys(tree, fault, topology, broken, rng)
        if broken:
            _inject(tree, fault, topology, rng, size_ms)
        trace = _layout(tree, rng, i, seed, topology, fault, broken)
        if broken:
            faulty.add(trace.trace_id)
            if fault == "loop_block":
                out.append(_hog(trace, rng, i, size_ms))
        out.append(trace)
    truth = (service, name)
    if fault in ("network_gap",):
        truth = (service, _client_label(topology, name))
    elif (service, name) in _CLIENT_TARGETS:
        truth = (service, _CLIENT_TARGETS[(service, name)])
    subject = {"slow_consumer": ("worker", "orders process"),
               "loop_block": ("gateway", "GET /home")}.get(fault)  # fmt: skip
    truth_attr = ("host.name", f"{service}-3") if fault == "slow_host" else None
    return Case(fault, topology, seed, rate, out, faulty, truth, subject,
                fault == "error_burst", truth_attr)  # fmt: skip


_CLIENT_TARGETS = {
    ("ads", "POST"): "POST → adnet /bid/{id}",
    ("s12", "POST"): "POST → fx-rates /rate/EUR",
    ("orders", "POST"): "POST → psp /charges/{id}",
}


def _client_label(topology: str, method: str) -> str:
    callee = _GAP_CALLEE[topology]
    route = {"profile": "/profile/{id}", "s06": "/s06", "orders": "/orders"}[callee]
    return f"{method} → {callee} {route}"


def _noise(tree: Call, rng: random.Random) -> None:
    calls = list(tree.walk())
    for c in calls:
        c.work_ms *= rng.lognormvariate(0, 0.25)
        c.gap_ms *= rng.lognormvariate(0, 0.3)
    if rng.random() < 0.05:  # the natural slow tail, in any operation
        rng.choice(calls).work_ms *= rng.uniform(3, 6)
    for c in calls:  # an unrelated operation fails now and then, and nobody propagates it
        if c.service in ("profile", "s03", "pricing") and c.kind == C and rng.random() < 0.03:
            c.error = True


def _inject(tree: Call, fault: str, topology: str, rng: random.Random, size_ms: float) -> None:
    service, name = TARGETS[fault][topology]
    if fault in ("slow_query", "slow_work", "slow_external", "slow_host", "slow_consumer"):
        tree.find(service, name).work_ms += size_ms
    elif fault == "clock_skew":
        tree.find(service, name).work_ms += size_ms
    elif fault == "network_gap":
        callee = _GAP_CALLEE[topology]
        call = next(c for c in tree.walk() if c.kind == C and c.children
                    and c.children[0].service == callee)  # fmt: skip
        call.gap_ms += size_ms
    elif fault == "retry_storm":
        _retry(tree, service, name, rng)
    elif fault == "n_plus_one":
        _repeat(tree, service, name, rng.randint(30, 60))
    elif fault == "cache_miss":
        parent = next(c for c in tree.walk() if c.service == service and c.kind == S)
        parent.children.append(db(service, f"{name} WHERE id = $1", size_ms))
    elif fault == "parallel_decoy":
        tree.find(service, name).work_ms += size_ms
    elif fault == "error_burst":
        _error_up(tree, service, name)
    elif fault == "loop_block":
        # The home page's search call waits for the loop the reindex holds.
        tree.find("search", "GET /search").stall_ms += size_ms
    if topology == "async" and fault != "slow_consumer":
        # Bigger orders: the worker's job grows too, after the request answered.
        tree.find("worker", "UPDATE orders").work_ms += 2 * size_ms


def _parent_of(tree: Call, target: Call) -> Call:
    return next(c for c in tree.walk() if any(k is target for k in c.children))


def _retry(tree: Call, service: str, name: str, rng: random.Random) -> None:
    call = tree.find(service, name)
    parent = _parent_of(tree, call)
    attempts = rng.randint(3, 4)
    failed = [
        Call(call.service, call.name, C, rng.uniform(5, 30), attributes=dict(call.attributes),
             error=True)
        for _ in range(attempts - 1)
    ]  # fmt: skip
    at = parent.children.index(call)
    parent.children[at:at] = failed
    backoff = [100.0 * 2**k * rng.uniform(0.8, 1.2) for k in range(attempts - 1)]
    pauses = [0.0] * len(parent.children)
    for k, b in enumerate(backoff):
        pauses[at + k] = b
    parent.pauses_ms = pauses


def _repeat(tree: Call, service: str, name: str, times: int) -> None:
    call = tree.find(service, name)
    parent = _parent_of(tree, call)
    at = parent.children.index(call)
    parent.children[at + 1 : at + 1] = [
        Call(call.service, call.name, call.kind, call.work_ms, attributes=call.attributes)
        for _ in range(times - 1)
    ]


def _error_up(tree: Call, service: str, name: str) -> None:
    target = tree.find(service, name)
    target.error = True
    node = target
    while node is not tree:
        node = _parent_of(tree, node)
        node.error = True


def _decoys(tree: Call, fault: str, topology: str, broken: bool, rng: random.Random) -> None:
    if fault == "parallel_decoy":
        where = ("search", "GET /search") if topology == "fanout" else ("s03", "POST /s03")
        host = tree.find(*where)
        host.parallel = True
        grow = 0.5 * 400 if broken else 0.0
        host.children.extend(
            Call(host.service, "GET shard", C, rng.uniform(1, 3) + grow * rng.uniform(0.8, 1.0),
                 attributes={"db.system": "redis"})
            for _ in range(6)
        )  # fmt: skip


class _Clock:
    """Lays a Call tree out in time and emits its spans."""

    def __init__(
        self, rng: random.Random, trace_id: bytes, hosts: dict[str, str], skew: str,
        shared_instances: bool = False,
    ):  # fmt: skip
        self.rng = rng
        self.shared_instances = shared_instances
        self.trace_id = trace_id
        self.hosts = hosts
        self.skewed = skew
        self.spans: list[Span] = []
        self.next_id = 1
        self.resources: dict[str, dict[str, object]] = {}

    def resource(self, service: str) -> dict[str, object]:
        found = self.resources.get(service)
        if found is None:
            found = self.resources[service] = {
                "service.name": service,
                "host.name": self.hosts[service],
                "service.instance.id": self.rng.randbytes(6).hex(),
            }
            if self.shared_instances:  # one process per host, serving many requests
                found["service.instance.id"] = f"{self.hosts[service]}-1"
        return found

    def lay(self, call: Call, start: int, parent: bytes | None, link: bytes | None = None) -> int:
        span_id = self.next_id.to_bytes(8, "big")
        self.next_id += 1
        t = start + int((call.stall_ms + call.work_ms * 0.5 + call.gap_ms * 0.5) * MS)
        ends = []
        for k, child in enumerate(call.children):
            end = self.lay(child, t, span_id)
            ends.append(end)
            if not call.parallel:
                t = end + int(call.pauses_ms[k] * MS if k < len(call.pauses_ms) else 0)
        if call.parallel and ends:
            t = max(ends)
        end = t + int(call.gap_ms * 0.5 * MS) + int(call.work_ms * 0.5 * MS)
        shift = _SKEWED_HOST_OFFSET_NS if call.service == self.skewed else 0
        attrs = dict(call.attributes)
        if call.kind == S:
            attrs["net.peer.port"] = self.rng.randrange(30000, 61000)
            attrs["user.id"] = f"u{self.rng.randrange(5000)}"
            attrs["session.url"] = f"/s/{self.rng.randbytes(4).hex()}"
        self.spans.append(
            Span(
                trace_id=self.trace_id, span_id=span_id, name=call.name,
                start_ns=start + shift, end_ns=end + shift, service=call.service,
                parent_span_id=parent, kind=call.kind,
                status_code=StatusCode.ERROR if call.error else StatusCode.UNSET,
                attributes=attrs, resource=self.resource(call.service),
                links=[Link(self.trace_id, link)] if link else [],
            )
        )  # fmt: skip
        for consumer in call.consumers:
            queued = end + int(self.rng.uniform(20, 200) * MS)
            if self.next_id % 2:
                self.lay(consumer, queued, span_id)
            else:
                self.lay(consumer, queued, None, link=span_id)
        return end


def _layout(
    tree: Call, rng: random.Random, i: int, seed: int, topology: str, fault: str, broken: bool
) -> Trace:
    trace_id = rng.randbytes(16)
    services = {c.service for c in tree.walk()}
    hosts = {s: f"{s}-{rng.randrange(HOSTS_PER_SERVICE)}" for s in sorted(services)}
    target_service = TARGETS[fault][topology][0]
    if fault == "slow_host":
        # The broken host serves every broken request, and only those.
        if broken:
            hosts[target_service] = f"{target_service}-3"
        elif hosts[target_service].endswith("-3"):
            hosts[target_service] = f"{target_service}-{rng.choice([0, 1, 2, 4, 5])}"
    if fault == "loop_block":
        # Every stalled home page's search call landed on the instance the reindex holds.
        if broken:
            hosts["search"] = "search-3"
        elif hosts["search"] == "search-3":
            hosts["search"] = f"search-{rng.choice([0, 1, 2, 4, 5])}"
    skewed = target_service if fault == "clock_skew" else ""
    clock = _Clock(rng, trace_id, hosts, skewed, shared_instances=fault == "loop_block")
    clock.lay(tree, T0 + (seed * 10_000 + i) * 1_000 * MS, None)
    spans = sorted(clock.spans, key=lambda s: (s.start_ns, s.span_id))
    return Trace(trace_id, spans)


def _hog(victim: Trace, rng: random.Random, i: int, stall_ms: float) -> Trace:
    """The request that held the loop: CPU-bound, no child, on the stalled span's instance,
    from just after the stalled span started until it could go on."""
    stalled = next(s for s in victim.spans if s.service == "search" and s.kind == S)
    start = stalled.start_ns + int(rng.uniform(0.05, 0.5) * MS)
    end = stalled.start_ns + int(stall_ms * MS)  # the stalled span goes on from here
    trace_id = rng.randbytes(16)
    span = Span(
        trace_id=trace_id, span_id=(10_000 + i).to_bytes(8, "big"), name="POST /reindex",
        start_ns=start, end_ns=max(start + MS, end), service="search", kind=S,
        attributes={"http.route": "/reindex", "user.id": f"u{rng.randrange(5000)}"},
        resource=dict(stalled.resource),
    )  # fmt: skip
    return Trace(trace_id, [span])

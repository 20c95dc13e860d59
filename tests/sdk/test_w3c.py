"""W3C Trace Context through instrumented services on loopback.

Three FastAPI apps (auto-instrumented by ``configure()``) run in uvicorn on free ports:
``front`` calls ``middle`` calls ``back`` with httpx (also auto-instrumented). Each hop
answers with the ``traceparent``/``tracestate`` it received plus what the next hop saw, so a
test can follow the context through every hop.

The w3c/trace-context harness, replayed: a fourth app is the harness's "test service" (POST
``/test`` with ``[{"url": ..., "arguments": [...]}]`` -> it POSTs to each url), and a plain
``http.server`` plays the harness, sending each case's headers (duplicates and odd casing
included) and reading the headers of the callback it gets. The 41 cases are data in
w3c_harness_cases.py. The same cases run once more with OpenTelemetry's own propagator
installed, to show which of them it fails and that ours passes.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import fastapi
import httpx
import pytest
import uvicorn
from fastapi import Request
from opentelemetry import propagate
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from w3c_harness_cases import CASES, ID, OTEL_FAILS, PARENT_ID, Case, Send

from spanscope.sdk import PrioritySampler, configure

TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def make_app(name: str, downstream: str | None) -> Any:
    # fastapi.FastAPI looked up now: configure() swapped in the instrumented class.
    app = fastapi.FastAPI()

    @app.get("/hop")
    async def hop(request: Request) -> dict[str, Any]:
        seen = {
            "hop": name,
            "traceparent": request.headers.get("traceparent"),
            "tracestate": request.headers.get("tracestate"),
        }
        chain = [seen]
        if downstream is not None:
            async with httpx.AsyncClient() as client:
                chain += (await client.get(downstream + "/hop", timeout=10)).json()["chain"]
        return {"chain": chain}

    return app


class Served:
    def __init__(self, app: Any) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def configured() -> Iterator[InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    handle = configure(
        "w3c",
        sampler=PrioritySampler([], 1.0),
        span_processors=[SimpleSpanProcessor(spans)],
        metrics=False,
        log_processors=[],
    )
    assert {"fastapi", "httpx"} <= set(handle.instrumented.names)
    yield spans
    handle.shutdown()


@pytest.fixture(scope="module")
def chain(configured) -> Iterator[tuple[str, InMemorySpanExporter]]:
    back = Served(make_app("back", None))
    middle = Served(make_app("middle", back.url))
    front = Served(make_app("front", middle.url))
    yield front.url, configured
    for served in (front, middle, back):
        served.stop()


def call(url: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    """GET with exactly these headers: http.client, because this process's httpx is
    instrumented and would replace the traceparent under test with its own."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
    try:
        conn.request("GET", "/hop", headers=headers)
        answer = conn.getresponse()
        assert answer.status == 200
        return json.loads(answer.read())["chain"]
    finally:
        conn.close()


def sampled(flags: str) -> bool:
    return bool(int(flags, 16) & 1)


def test_incoming_context_keeps_trace_id_and_tracestate_through_every_hop(chain) -> None:
    url, _ = chain
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    state = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
    hops = call(url, {"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01", "tracestate": state})
    assert [h["hop"] for h in hops] == ["front", "middle", "back"]
    parents = []
    for h in hops[1:]:  # what each downstream hop received from its caller
        match = TRACEPARENT.match(h["traceparent"])
        assert match, h
        assert match.group(1) == trace_id
        assert sampled(match.group(3))
        assert h["tracestate"] == state
        parents.append(match.group(2))
    assert len(set(parents)) == 2  # each hop is a new parent span id


def test_unsampled_incoming_context_is_followed(chain) -> None:
    url, _ = chain
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    hops = call(url, {"traceparent": f"00-{trace_id}-b7ad6b7169203331-00"})
    for h in hops[1:]:
        match = TRACEPARENT.match(h["traceparent"])
        assert match and match.group(1) == trace_id and not sampled(match.group(3))


@pytest.mark.parametrize(
    "traceparent",
    [
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # short trace id
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero span id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # forbidden version
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper case
        "garbage",
    ],
)
def test_malformed_traceparent_starts_a_new_trace(chain, traceparent: str) -> None:
    url, _ = chain
    hops = call(url, {"traceparent": traceparent, "tracestate": "congo=t61rcWkgMzE"})
    ids = set()
    for h in hops[1:]:
        match = TRACEPARENT.match(h["traceparent"])
        assert match, h
        ids.add(match.group(1))
        # A new trace does not carry a tracestate that belonged to a context we rejected.
        assert "congo" not in (h["tracestate"] or "")
    (new_id,) = ids
    assert new_id not in traceparent.lower()
    assert new_id != "0" * 32


def test_one_trace_spans_all_three_services(chain) -> None:
    url, spans = chain
    spans.clear()
    hops = call(url, {})
    trace_id = TRACEPARENT.match(hops[1]["traceparent"]).group(1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        mine = [s for s in spans.get_finished_spans() if f"{s.context.trace_id:032x}" == trace_id]
        servers = [s for s in mine if s.kind.name == "SERVER"]
        if len(servers) == 3:
            break
        time.sleep(0.05)
    assert len(servers) == 3
    by_id = {s.context.span_id for s in mine}
    roots = [s for s in mine if s.parent is None or s.parent.span_id not in by_id]
    assert len(roots) == 1  # every other span's parent is in the same trace
    assert all(s.context.trace_state.get("ot") == "th:0" for s in mine)


# -- the w3c/trace-context harness's cases -------------------------------------------------


def make_test_service() -> Any:
    """The harness's test service: POST each ``{"url", "arguments"}`` of the body, in order."""
    app = fastapi.FastAPI()

    @app.post("/test")
    async def test(request: Request) -> None:
        async with httpx.AsyncClient() as client:
            for action in await request.json():
                await client.post(action["url"], json=action["arguments"], timeout=10)

    return app


class Harness:
    """The harness's side: a plain (uninstrumented) HTTP server that records the headers of
    every callback, and a client that sends a case's headers exactly as written."""

    def __init__(self) -> None:
        self.seen: dict[str, list[tuple[str, str]]] = {}
        seen = self.seen

        class Callback(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                seen[self.path.rsplit("/", 1)[-1]] = list(self.headers.items())
                self.send_response(200)
                self.send_header("Content-Length", "4")
                self.end_headers()
                self.wfile.write(b"null")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Callback)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.count = 0

    def exchange(self, service: str, send: Send) -> list[list[tuple[str, str]]]:
        """Send one request to the service; the headers of each callback it made."""
        self.count += 1
        ids = [f"{self.count}.{i}" for i in range(send.callbacks)]
        body = json.dumps([{"url": f"{self.url}/cb/{i}", "arguments": []} for i in ids])
        parts = urlsplit(service)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
        try:
            conn.putrequest("POST", "/test", skip_accept_encoding=True)
            for name, value in send.headers:  # http.client sends repeated names as they are
                conn.putheader(name, value)
            conn.putheader("Content-Type", "application/json")
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body.encode())
            answer = conn.getresponse()
            answer.read()
            assert answer.status == 200, answer.status
        finally:
            conn.close()
        return [self.seen.pop(i) for i in ids]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def harness(configured) -> Iterator[tuple[Harness, str]]:
    service = Served(make_test_service())
    side = Harness()
    yield side, service.url + "/test"
    side.stop()
    service.stop()


# The harness's view of a tracestate: its own parser raises on any member that does not
# follow the Level 2 grammar, and keeps the first of duplicated keys.
_MEMBER = re.compile(
    r"([a-z0-9][_0-9a-z\-*/@]{0,255})=([\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e])"
)


def harness_tracestate(fields: list[str]) -> dict[str, str]:
    members: dict[str, str] = {}
    for field in fields:
        for member in re.split(r"[ \t]*,[ \t]*", field):
            if member:
                match = _MEMBER.fullmatch(member)
                assert match, f"the service sent an invalid tracestate member {member[:80]!r}"
                members.setdefault(match.group(1), match.group(2))
    return members


def check(send: Send, callbacks: list[list[tuple[str, str]]]) -> None:
    sent = " ".join(value for _, value in send.headers)
    parents = set()
    for headers in callbacks:
        parents_sent = [v for k, v in headers if k.lower() == "traceparent"]
        assert len(parents_sent) == 1, f"expected one traceparent, got {parents_sent}"
        match = TRACEPARENT.match(parents_sent[0])
        assert match, parents_sent[0]
        trace_id, parent_id, flags = match.groups()
        assert trace_id != "0" * 32 and parent_id != "0" * 16
        parents.add(parent_id)
        fields = [v for k, v in headers if k.lower() == "tracestate"]
        state = harness_tracestate(fields)
        if send.same_trace is True:
            assert trace_id == ID
        if send.same_trace is False:
            assert trace_id not in sent, f"trace id {trace_id} taken from an invalid header"
        if send.new_parent:
            assert parent_id != PARENT_ID
        for key, value in send.has.items():
            allowed = (value,) if isinstance(value, str) else value
            assert state.get(key) in allowed, f"tracestate {state}: {key[:40]} not {allowed}"
        for key in send.lacks:
            assert key not in state, f"tracestate {state}: {key} should be gone"
        if send.members is not None:
            assert len(state) == send.members, state
        if send.in_order:
            text = ",".join(fields)
            positions = [text.index(member) for member in send.in_order]
            assert positions == sorted(positions), text
        if send.random_flag:
            assert int(flags, 16) & 0x02, f"random flag not set in {parents_sent[0]}"
        assert trace_id not in send.none_is
    if send.distinct_parents is not None:
        assert len(parents) == send.distinct_parents


def run_case(side: Harness, service: str, case: Case) -> None:
    for send in case.sends:
        check(send, side.exchange(service, send))


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_w3c_harness_case_passes(harness, case: Case) -> None:
    side, service = harness
    run_case(side, service, case)


def test_plain_opentelemetry_fails_the_cases_our_propagator_fixes(harness) -> None:
    side, service = harness
    ours = propagate.get_global_textmap()
    propagate.set_global_textmap(
        CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
    )
    failed = set()
    try:
        for case in CASES:
            try:
                run_case(side, service, case)
            except AssertionError:
                failed.add(case.name)
    finally:
        propagate.set_global_textmap(ours)
    # Measured: 37 of 41 (36 of the 40 Level 1 cases, and Level 2's random flag) pass with
    # OTel's propagator; all 41 pass with ours (test_w3c_harness_case_passes).
    assert failed == OTEL_FAILS
    assert len(CASES) - len(failed) == 37


def test_an_app_built_before_configure_is_instrumented_explicitly() -> None:
    from fastapi import FastAPI  # bound before configure() swaps the class

    from spanscope.sdk import instrument_app

    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict[str, str]:
        return {"ok": "yes"}

    spans = InMemorySpanExporter()
    handle = configure(
        "early", span_processors=[SimpleSpanProcessor(spans)], metrics=False, instrument=False
    )
    try:
        assert instrument_app(app) is app
        served = Served(app)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", int(served.url.rsplit(":", 1)[1]))
            conn.request("GET", "/ping")
            assert conn.getresponse().status == 200
            conn.close()
        finally:
            served.stop()
    finally:
        handle.shutdown()
    names = {(s.name, s.kind.name) for s in spans.get_finished_spans()}
    assert ("GET /ping", "SERVER") in names

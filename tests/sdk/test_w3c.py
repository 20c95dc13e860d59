"""W3C Trace Context through a chain of instrumented services on loopback.

Three FastAPI apps (auto-instrumented by ``configure()``) run in uvicorn on free ports:
``front`` calls ``middle`` calls ``back`` with httpx (also auto-instrumented). Each hop
answers with the ``traceparent``/``tracestate`` it received plus what the next hop saw, so a
test can follow the context through every hop.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import fastapi
import httpx
import pytest
import uvicorn
from fastapi import Request
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

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
def chain() -> Iterator[tuple[str, InMemorySpanExporter]]:
    spans = InMemorySpanExporter()
    handle = configure(
        "w3c",
        sampler=PrioritySampler([], 1.0),
        span_processors=[SimpleSpanProcessor(spans)],
        metrics=False,
    )
    assert {"fastapi", "httpx"} <= set(handle.instrumented.names)
    back = Served(make_app("back", None))
    middle = Served(make_app("middle", back.url))
    front = Served(make_app("front", middle.url))
    yield front.url, spans
    for served in (front, middle, back):
        served.stop()
    handle.shutdown()


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

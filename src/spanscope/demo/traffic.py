"""The lab's traffic: a steady mix of shoppers against the gateway, one line logged per request.

::

    python -m spanscope.demo.traffic --gateway http://127.0.0.1:18080 --rate 8 \\
        --log spanscope-demo/traffic.jsonl

Requests arrive at ``--rate`` per second on average (a Poisson process, as independent
users do), at most ``--concurrency`` in flight — when the shop slows down, arrivals wait
for a free slot instead of piling up without bound. The mix:

=========  ==========================================  ======
kind       request                                      share
=========  ==========================================  ======
browse     ``GET /products?category=...&page=...``     30 %
product    ``GET /products/{id}``                       15 %
login      ``POST /login`` (5 % with a wrong password)  10 %
checkout   ``POST /orders`` with 1-4 items              20 %
status     ``GET /orders/{order_ref}``                  15 %
health     ``GET /healthz``                             10 %
=========  ==========================================  ======

Each line of the log is the client's view of one request, with the trace id the gateway
sent back in its W3C ``traceresponse`` header — the key to that request's trace::

    {"time_unix_nano": ..., "kind": "checkout", "method": "POST", "path": "/orders",
     "route": "POST /orders", "status": 201, "duration_ms": 41.7, "trace_id": "4bf9..."}

``--rate 0`` sends back to back on ``--concurrency`` connections (a throughput test) and
``--duration`` stops after that many seconds; otherwise it runs until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import signal
import time
import uuid
from pathlib import Path
from typing import Any, TextIO

import httpx

from spanscope.demo import data

MIX = (
    ("browse", 30),
    ("product", 15),
    ("login", 10),
    ("checkout", 20),
    ("status", 15),
    ("health", 10),
)


class Shoppers:
    """The shoppers' state: who is logged in, which orders exist to look up."""

    def __init__(self, client: httpx.AsyncClient, log: TextIO, rng: random.Random) -> None:
        self.client, self.log, self.rng = client, log, rng
        self.tokens: collections.deque[str] = collections.deque(maxlen=200)
        self.orders: collections.deque[str] = collections.deque(maxlen=500)
        self.sent = 0

    def pick(self) -> str:
        kinds, weights = zip(*MIX, strict=True)
        return self.rng.choices(kinds, weights)[0]

    async def one(self, kind: str) -> None:
        rng = self.rng
        if kind in ("checkout", "status") and not self.tokens:
            kind = "login"  # a shopper logs in before buying
        if kind == "browse":
            category = rng.choice(data.CATEGORIES)
            await self.send(kind, "GET", "/products", "GET /products",
                            params={"category": category, "page": rng.randrange(3)})  # fmt: skip
        elif kind == "product":
            product_id = rng.randrange(1, data.PRODUCT_COUNT + 1)
            await self.send(kind, "GET", f"/products/{product_id}", "GET /products/{product_id}")
        elif kind == "login":
            user = data.shopper(rng)  # mostly regulars, who have an order history
            password = data.user_password(user) if rng.random() > 0.05 else "wrong"
            login = {"email": data.user_email(user), "password": password}
            answer = await self.send(kind, "POST", "/login", "POST /login", json=login)
            if answer is not None:
                self.tokens.append(answer["token"])
        elif kind == "checkout":
            order_ref = f"ord-{uuid.uuid4().hex[:12]}"
            items = [
                {"product_id": rng.randrange(1, data.PRODUCT_COUNT + 1),
                 "quantity": rng.randrange(1, 3)}
                for _ in range(rng.randrange(1, 5))
            ]  # fmt: skip
            order = {"order_ref": order_ref, "items": items}
            answer = await self.send(kind, "POST", "/orders", "POST /orders", json=order, auth=True)
            if answer is not None:
                self.orders.append(order_ref)
        elif kind == "status":
            if self.orders and rng.random() < 0.5:
                order_ref = rng.choice(self.orders)
            else:
                order_ref = data.order_ref(rng.randrange(1, data.ORDER_COUNT + 1))
            await self.send(kind, "GET", f"/orders/{order_ref}", "GET /orders/{order_ref}",
                            auth=True)  # fmt: skip
        else:
            await self.send(kind, "GET", "/healthz", "GET /healthz")

    async def send(
        self, kind: str, method: str, path: str, route: str, auth: bool = False, **kwargs: Any
    ) -> Any:
        headers = {"Authorization": f"Bearer {self.rng.choice(self.tokens)}"} if auth else {}
        started = time.time_ns()
        clock = time.perf_counter()
        status, trace_id, answer = 0, None, None
        try:
            response = await self.client.request(method, path, headers=headers, **kwargs)
            status = response.status_code
            parts = response.headers.get("traceresponse", "").split("-")
            trace_id = parts[1] if len(parts) == 4 else None
            if status < 300:
                answer = response.json()
        except httpx.HTTPError as exc:
            status = -1
            kwargs["error"] = repr(exc)
        record = {
            "time_unix_nano": started, "kind": kind, "method": method, "path": path,
            "route": route, "status": status,
            "duration_ms": round((time.perf_counter() - clock) * 1000, 2), "trace_id": trace_id,
        }  # fmt: skip
        if "error" in kwargs:
            record["error"] = kwargs["error"]
        self.log.write(json.dumps(record) + "\n")
        self.sent += 1
        return answer


async def run(
    gateway: str, rate: float, concurrency: int, log_path: Path, duration: float | None, seed: int
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if duration is not None:
        loop.call_later(duration, stop.set)
    parent = os.getppid()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    slots = asyncio.Semaphore(concurrency)
    in_flight: set[asyncio.Task[None]] = set()
    with open(log_path, "a", buffering=1) as log:
        async with httpx.AsyncClient(base_url=gateway, timeout=30.0, limits=limits) as client:
            shoppers = Shoppers(client, log, random.Random(seed))

            async def one(kind: str) -> None:
                try:
                    await shoppers.one(kind)
                finally:
                    slots.release()

            while not stop.is_set():
                if os.getppid() != parent:
                    break  # the supervisor is gone: do not shop forever on our own
                if rate > 0:
                    pause = shoppers.rng.expovariate(rate)
                    try:
                        await asyncio.wait_for(stop.wait(), pause)
                        break
                    except TimeoutError:
                        pass
                await slots.acquire()
                task = asyncio.create_task(one(shoppers.pick()))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            if in_flight:
                await asyncio.wait(in_flight, timeout=10.0)
    return shoppers.sent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m spanscope.demo.traffic")
    parser.add_argument("--gateway", required=True, help="gateway base URL")
    parser.add_argument("--rate", type=float, default=8.0, help="requests/s; 0 = back to back")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--log", type=Path, required=True, help="JSON lines, one per request")
    parser.add_argument("--duration", type=float, default=None, help="seconds, then stop")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    if args.rate < 0 or args.concurrency < 1:
        parser.error(f"--rate {args.rate} / --concurrency {args.concurrency}: need >= 0 / >= 1")
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    sent = asyncio.run(
        run(args.gateway, args.rate, args.concurrency, args.log, args.duration, seed)
    )
    print(f"traffic: {sent} requests sent", flush=True)


if __name__ == "__main__":
    main()

"""The shop's back half: ``orders``, ``payments``, ``payment-provider``, ``shipping`` and
``notifications`` — where the incidents live.

A checkout (``orders POST /orders``) is::

    find-order      SELECT ... FROM orders WHERE order_ref = ?   (idempotency: seen before?)
    order-history   the customer's last 16 orders (by customer_id), each loaded through
                    find-order, to refuse a double-submitted cart   (missing-index)
    inventory       POST /reservations     reserve stock, get prices
    shipping        POST /quotes           carrier quote                 (error-burst)
    payments        POST /charges  ->  payment-provider POST /v1/charges (slow-payment-provider,
                                                                          retry-storm)
    INSERT          the order and its lines
    notifications   POST /notifications    the confirmation e-mail

and an order status page (``orders GET /orders/{ref}``) is ``find-order``, its lines, then
the product names from inventory in one batch call — or one call per line (n-plus-one).

``missing-index`` is applied by orders itself: when the switchboard says so it really drops
``idx_orders_ref`` (and rebuilds it when the incident ends), so each ``find-order`` SELECT
scans the 50,000-row table — up to seventeen of them per checkout, where each took ~0.02 ms —
and orders logs a ``slow query`` WARNING with the statement and its duration whenever the
lookup takes more than :data:`SLOW_QUERY_MS`, as a database's slow-query log would.
payments logs a WARNING per retry (``retrying payment-provider call, attempt 2/5``), so
``retry-storm`` reads in a trace's logs too.

``payment-provider`` stands for a third party: its latency is a sleep, as any stub of
someone else's API is; everything else does its real work.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import fastapi
import httpx
from fastapi import HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from spanscope.demo import data
from spanscope.demo.common import Database, call
from spanscope.demo.runtime import ServiceContext
from spanscope.demo.shop import Item
from spanscope.sdk import span

CHARGE_ATTEMPTS = 5
"""payments' retry budget per charge: generous, and without backoff — the bug that turns
an intermittent provider failure into a retry storm."""
SLOW_QUERY_MS = 10.0
"""orders' slow-query threshold: the indexed lookup takes ~0.02 ms, the scan ~15-25 ms idle."""
ORDER_LOOKUP = "SELECT id, status, total_cents FROM orders WHERE order_ref = ? ORDER BY created_at"
"""ORDER BY: SQLite then reads every matching row before it answers the first, so without
the index the whole scan happens in ``execute()`` — the call the DB-API instrumentation
times as the statement's span. Without it SQLite stops at the match and scans the rest of
the table in ``fetchall()``, outside any span: measured 2.5 ms in execute and 63 ms in fetch
for an early order, so the time showed up as ``find-order``'s own work, not the SELECT's.
With the index, one row is found and "sorted"."""


class NewOrder(BaseModel):
    order_ref: str
    customer_id: int
    email: str
    items: list[Item]


class Charge(BaseModel):
    order_ref: str
    amount_cents: int
    customer_id: int


class Quote(BaseModel):
    items: int
    customer_id: int


class Notification(BaseModel):
    customer_id: int
    email: str
    template: str
    order_ref: str


class OrderIndex:
    """Keeps ``idx_orders_ref`` in the state the ``missing-index`` switch asks for."""

    def __init__(self, ctx: ServiceContext, db: Database) -> None:
        self._ctx, self._db = ctx, db
        self._present: bool | None = None
        self._lock = threading.Lock()

    def sync(self) -> None:
        wanted = not self._ctx.incidents.on("missing-index")
        if wanted == self._present:
            return
        with self._lock:
            if wanted == self._present:
                return
            with span("schema-change", attributes={"db.index": data.ORDER_REF_INDEX}):
                data.set_order_ref_index(self._db.connection(), wanted)
            self._present = wanted
            verb = "rebuilt" if wanted else "dropped"
            self._ctx.log.warning(f"index {data.ORDER_REF_INDEX} {verb}", extra={"index": verb})


def orders(ctx: ServiceContext) -> fastapi.FastAPI:
    app = fastapi.FastAPI(title="orders")
    db = Database(ctx.db_path("orders"))
    index = OrderIndex(ctx, db)
    inventory, payments = ctx.client("inventory"), ctx.client("payments")
    shipping, notifications = ctx.client("shipping"), ctx.client("notifications")

    def find_order(order_ref: str) -> tuple[Any, ...] | None:
        index.sync()
        with span("find-order", attributes={"order.ref": order_ref}):
            started = time.perf_counter()
            rows = db.query(ORDER_LOOKUP, (order_ref,))
            elapsed_ms = (time.perf_counter() - started) * 1000
            if elapsed_ms > SLOW_QUERY_MS:
                ctx.log.warning(
                    "slow query: %.1f ms (threshold %.0f ms): %s",
                    elapsed_ms,
                    SLOW_QUERY_MS,
                    ORDER_LOOKUP,
                    extra={"db.statement": ORDER_LOOKUP, "db.duration_ms": round(elapsed_ms, 2)},
                )
        return rows[0] if rows else None

    def order_history(customer_id: int) -> list[tuple[str, tuple[Any, ...]]]:
        """The customer's latest orders, each loaded by its reference (the one way orders
        loads an order, so every load is one cheap index search — while the index exists)."""
        with span("order-history", attributes={"customer.id": customer_id}):
            refs = db.query(data.HISTORY_QUERY, (customer_id, data.ORDER_HISTORY))
            loaded = [(ref, find_order(ref)) for (ref,) in refs]
        return [(ref, order) for ref, order in loaded if order is not None]

    @app.post("/orders", status_code=201)
    def place_order(body: NewOrder) -> Any:
        existing = find_order(body.order_ref)
        if existing is not None:  # a retried checkout: answer what the first one did
            return {"order_ref": body.order_ref, "status": existing[1], "total": existing[2]}
        history = order_history(body.customer_id)
        items = [item.model_dump() for item in body.items]
        lines = call(inventory, "POST", "/reservations", json=items)["lines"]
        subtotal = sum(line["price_cents"] * line["quantity"] for line in lines)
        quote = call(
            shipping, "POST", "/quotes", json={"items": len(lines), "customer_id": body.customer_id}
        )
        total = subtotal + quote["cost_cents"]
        for ref, (_, status, previous_total) in history:
            if status == "paid" and previous_total == total:  # paid, not shipped yet
                raise HTTPException(
                    409,
                    f"order {ref} has the same total ({total} cents) and is not shipped yet: "
                    f"a double submit? Retry with order_ref {ref!r} to get that order",
                )
        charge = call(
            payments,
            "POST",
            "/charges",
            json={
                "order_ref": body.order_ref,
                "amount_cents": total,
                "customer_id": body.customer_id,
            },
        )
        with span(
            "save-order", attributes={"order.ref": body.order_ref, "order.lines": len(lines)}
        ):
            cursor = db.connection().cursor()
            cursor.execute("BEGIN IMMEDIATE")  # the order and its lines, or nothing
            try:
                cursor.execute(
                    "INSERT INTO orders (order_ref, customer_id, created_at, status, total_cents,"
                    " cart_snapshot) VALUES (?, ?, ?, 'paid', ?, ?)",
                    (body.order_ref, body.customer_id, int(time.time()), total, json.dumps(lines)),
                )
                order_id = cursor.lastrowid
                cursor.executemany(
                    "INSERT INTO order_items (order_id, product_id, quantity, price_cents)"
                    " VALUES (?, ?, ?, ?)",
                    [(order_id, x["product_id"], x["quantity"], x["price_cents"]) for x in lines],
                )
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            finally:
                cursor.close()
        call(
            notifications,
            "POST",
            "/notifications",
            json={"customer_id": body.customer_id, "email": body.email,
                  "template": "order-confirmed", "order_ref": body.order_ref},
        )  # fmt: skip
        ctx.log.info(
            "order placed",
            extra={"order_ref": body.order_ref, "total_cents": total, "charge": charge["id"]},
        )
        return {"order_ref": body.order_ref, "status": "paid", "total": total}

    @app.get("/orders/{order_ref}")
    def order_status(order_ref: str) -> Any:
        found = find_order(order_ref)
        if found is None:
            raise HTTPException(404, f"order {order_ref!r} not found")
        order_id, status, total = found
        lines = db.query(
            "SELECT product_id, quantity, price_cents FROM order_items WHERE order_id = ?",
            (order_id,),
        )
        if ctx.incidents.on("n-plus-one"):
            products = [call(inventory, "GET", f"/products/{line[0]}") for line in lines]
        else:
            ids = ",".join(str(line[0]) for line in lines)
            products = call(inventory, "GET", "/products", params={"ids": ids})["products"]
        names = {p["id"]: p["name"] for p in products}
        ctx.log.info("order looked up", extra={"order_ref": order_ref, "lines": len(lines)})
        return {
            "order_ref": order_ref,
            "status": status,
            "total": total,
            "lines": [
                {"product": names.get(p), "quantity": q, "price_cents": c} for p, q, c in lines
            ],
        }

    return app


def payments(ctx: ServiceContext) -> fastapi.FastAPI:
    app = fastapi.FastAPI(title="payments")
    provider = ctx.client("payment-provider", timeout=5.0)

    @app.post("/charges", status_code=201)
    def charge(body: Charge) -> Any:
        for attempt in range(1, CHARGE_ATTEMPTS + 1):
            with span("charge-attempt", attributes={"payment.attempt": attempt}):
                try:
                    response = provider.post("/v1/charges", json=body.model_dump())
                except httpx.HTTPError as exc:
                    _log_retry(ctx, attempt, body.order_ref, repr(exc))
                    continue
            if response.status_code < 500:
                break
            _log_retry(ctx, attempt, body.order_ref, f"answered {response.status_code}")
        else:
            ctx.log.error(
                "charge failed", extra={"order_ref": body.order_ref, "attempts": CHARGE_ATTEMPTS}
            )
            raise HTTPException(502, f"payment provider failed {CHARGE_ATTEMPTS} attempts")
        if response.status_code == 402:
            raise HTTPException(402, f"card declined for order {body.order_ref}")
        ctx.log.info(
            "charged", extra={"order_ref": body.order_ref, "amount_cents": body.amount_cents}
        )
        return response.json()

    return app


def _log_retry(ctx: ServiceContext, failed: int, order_ref: str, reason: str) -> None:
    """A WARNING for each retry the failed attempt causes (the last failure is an ERROR)."""
    if failed < CHARGE_ATTEMPTS:
        ctx.log.warning(
            "retrying payment-provider call, attempt %d/%d (%s)",
            failed + 1,
            CHARGE_ATTEMPTS,
            reason,
            extra={"payment.attempt": failed + 1, "order_ref": order_ref, "reason": reason},
        )


def payment_provider(ctx: ServiceContext) -> fastapi.FastAPI:
    app = fastapi.FastAPI(title="payment-provider")
    rng = random.Random()

    @app.post("/v1/charges", status_code=201)
    def create_charge(body: Charge) -> Any:
        if ctx.incidents.on("retry-storm") and rng.random() < 0.6:
            return JSONResponse({"error": "temporarily unavailable, retry"}, status_code=503)
        slow = ctx.incidents.on("slow-payment-provider")
        time.sleep(rng.uniform(1.5, 3.0) if slow else rng.uniform(0.003, 0.008))
        if rng.random() < 0.01:
            return JSONResponse({"error": "card_declined"}, status_code=402)
        return {"id": f"ch_{rng.getrandbits(48):012x}", "amount_cents": body.amount_cents}

    return app


class CarrierError(RuntimeError):
    pass


def shipping(ctx: ServiceContext) -> fastapi.FastAPI:
    app = fastapi.FastAPI(title="shipping")
    rng = random.Random()

    @app.post("/quotes")
    def quote(body: Quote) -> dict[str, Any]:
        try:
            with span("carrier-quote", attributes={"shipping.carrier": "parcelco"}):
                if ctx.incidents.on("error-burst") and rng.random() < 0.4:
                    raise CarrierError("carrier parcelco: quote API reset the connection")
                cost = 499 + 150 * body.items
        except CarrierError as exc:
            ctx.log.error("carrier quote failed", extra={"error": str(exc)})
            raise HTTPException(503, str(exc)) from None
        return {"carrier": "parcelco", "cost_cents": cost}

    return app


def notifications(ctx: ServiceContext) -> fastapi.FastAPI:
    app = fastapi.FastAPI(title="notifications")

    @app.post("/notifications", status_code=202)
    def notify(body: Notification) -> dict[str, str]:
        with span("render-template", attributes={"notification.template": body.template}):
            text = f"Dear customer {body.customer_id}, order {body.order_ref} is confirmed."
        ctx.log.info("e-mail queued", extra={"to": body.email, "chars": len(text)})
        return {"status": "queued"}

    return app


FACTORIES: dict[str, Callable[[ServiceContext], Any]] = {
    "orders": orders,
    "payments": payments,
    "payment-provider": payment_provider,
    "shipping": shipping,
    "notifications": notifications,
}

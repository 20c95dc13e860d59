"""The shop's front half: ``gateway``, ``users`` and ``inventory``.

``gateway`` is the only service the traffic generator talks to, so every trace starts
there (its ``GET /healthz`` included)::

    GET  /products?category=books&page=0  -> inventory GET /catalog           (browse)
    GET  /products/{id}                    -> inventory GET /products/{id}     (product page)
    POST /login                            -> users POST /sessions            (login)
    POST /orders                           -> users GET /sessions/{token}      (checkout)
                                              orders POST /orders -> inventory, payments,
                                              shipping, notifications
    GET  /orders/{order_ref}               -> users, orders GET /orders/{ref}  (order status)

Every gateway answer carries a W3C ``traceresponse`` header
(``00-<trace-id>-<span-id>-<flags>``, Trace Context Level 2), so a client can open the
trace of the request it just made — the traffic generator logs it with each request.

``users`` checks passwords (PBKDF2 from SQLite) and tokens (HMAC), with profiles behind a
TTL cache; ``inventory`` serves the catalog (a join with an aggregate over 60,000 reviews,
behind a TTL cache — ``cache-miss`` bypasses it), product pages and stock reservations.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import Any

import fastapi
from fastapi import Header, HTTPException, Request, Response
from opentelemetry import trace
from pydantic import BaseModel

from spanscope.demo import data
from spanscope.demo.common import Database, TtlCache, call
from spanscope.demo.runtime import ServiceContext
from spanscope.sdk import span

TOKEN_SECRET = b"spanscope-demo-not-a-secret"
CATALOG_PAGE = 20


class Login(BaseModel):
    email: str
    password: str


class Item(BaseModel):
    product_id: int
    quantity: int = 1


class Checkout(BaseModel):
    order_ref: str
    items: list[Item]


def _bearer(authorization: str | None) -> str:
    if not authorization or not authorization.startswith("Bearer "):
        raise HTTPException(401, "missing 'Authorization: Bearer <token>': POST /login first")
    return authorization.removeprefix("Bearer ")


def gateway(ctx: ServiceContext) -> fastapi.FastAPI:
    app = fastapi.FastAPI(title="gateway")
    users, inventory, orders = ctx.client("users"), ctx.client("inventory"), ctx.client("orders")

    @app.middleware("http")
    async def traceresponse(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            response.headers["traceresponse"] = (
                f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
            )
        return response

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/products")
    def browse(category: str = "books", page: int = 0) -> Any:
        return call(inventory, "GET", "/catalog", params={"category": category, "page": page})

    @app.get("/products/{product_id}")
    def product(product_id: int) -> Any:
        return call(inventory, "GET", f"/products/{product_id}")

    @app.post("/login")
    def login(body: Login) -> Any:
        return call(users, "POST", "/sessions", json=body.model_dump())

    def customer(authorization: str | None) -> Any:
        return call(users, "GET", f"/sessions/{_bearer(authorization)}")

    @app.post("/orders", status_code=201)
    def checkout(body: Checkout, authorization: str | None = Header(None)) -> Any:
        who = customer(authorization)
        payload = {**body.model_dump(), "customer_id": who["id"], "email": who["email"]}
        order = call(orders, "POST", "/orders", json=payload)
        ctx.log.info("checkout done", extra={"order_ref": body.order_ref, "total": order["total"]})
        return order

    @app.get("/orders/{order_ref}")
    def order_status(order_ref: str, authorization: str | None = Header(None)) -> Any:
        customer(authorization)
        return call(orders, "GET", f"/orders/{order_ref}")

    return app


def _sign(user_id: int) -> str:
    return hmac.new(TOKEN_SECRET, str(user_id).encode(), hashlib.sha256).hexdigest()[:32]


def users(ctx: ServiceContext) -> fastapi.FastAPI:
    app = fastapi.FastAPI(title="users")
    db = Database(ctx.db_path("users"))
    profiles = TtlCache(ttl_s=60)

    @app.post("/sessions", status_code=201)
    def create_session(body: Login) -> dict[str, Any]:
        rows = db.query("SELECT id, salt, password_hash FROM users WHERE email = ?", (body.email,))
        if not rows or not _password_ok(body.password, rows[0][1], rows[0][2]):
            ctx.log.warning("login refused", extra={"email": body.email})
            raise HTTPException(401, f"login for {body.email!r} refused: wrong email or password")
        user_id = rows[0][0]
        ctx.log.info("login ok", extra={"user_id": user_id})
        return {"token": f"{user_id}.{_sign(user_id)}", "user_id": user_id}

    @app.get("/sessions/{token}")
    def session(token: str) -> Any:
        user_id_text, _, signature = token.partition(".")
        if not user_id_text.isdigit() or not hmac.compare_digest(
            signature, _sign(int(user_id_text))
        ):
            raise HTTPException(401, f"token {token[:12]!r}...: not issued here, log in again")
        user_id = int(user_id_text)

        def load() -> dict[str, Any] | None:
            rows = db.query("SELECT id, email, name FROM users WHERE id = ?", (user_id,))
            return dict(zip(("id", "email", "name"), rows[0], strict=True)) if rows else None

        with span("profile-cache", attributes={"user.id": user_id}) as s:
            misses = profiles.misses
            profile = profiles.get_or_load(user_id, load, bypass=ctx.incidents.on("cache-miss"))
            s.set_attribute("cache.hit", profiles.misses == misses)
        if profile is None:
            raise HTTPException(401, f"user {user_id} no longer exists; log in again")
        return profile

    return app


def _password_ok(password: str, salt_hex: str, stored: str) -> bool:
    rounds, _, digest = stored.partition(":")
    salt = bytes.fromhex(salt_hex)
    if rounds == "1":  # a seeded row (see data.build_users): one round, still salted
        expected = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 1).hex()
        # the real check's cost, so a login takes what a login takes
        data.password_hash(password, salt)
    else:
        expected = data.password_hash(password, salt)
    return hmac.compare_digest(expected, digest)


CATALOG_SQL = """
SELECT p.id, p.name, p.price_cents, s.on_hand - s.reserved AS available,
       count(r.id) AS reviews, round(avg(r.stars), 2) AS stars
FROM products p JOIN stock s ON s.product_id = p.id LEFT JOIN reviews r ON r.product_id = p.id
WHERE p.category = ?
GROUP BY p.id ORDER BY reviews DESC, p.id LIMIT ? OFFSET ?
"""


def inventory(ctx: ServiceContext) -> fastapi.FastAPI:
    app = fastapi.FastAPI(title="inventory")
    db = Database(ctx.db_path("inventory"))
    catalog_cache = TtlCache(ttl_s=30)
    columns = ("id", "name", "price_cents", "available")

    @app.get("/catalog")
    def catalog(category: str, page: int = 0) -> dict[str, Any]:
        if category not in data.CATEGORIES:
            raise HTTPException(404, f"category {category!r}: one of {', '.join(data.CATEGORIES)}")

        def load() -> list[dict[str, Any]]:
            rows = db.query(CATALOG_SQL, (category, CATALOG_PAGE, page * CATALOG_PAGE))
            keys = (*columns, "reviews", "stars")
            return [dict(zip(keys, row, strict=True)) for row in rows]

        with span("catalog-cache", attributes={"catalog.category": category}) as s:
            misses = catalog_cache.misses
            bypass = ctx.incidents.on("cache-miss")
            products = catalog_cache.get_or_load((category, page), load, bypass=bypass)
            s.set_attribute("cache.hit", catalog_cache.misses == misses)
        return {"category": category, "page": page, "products": products}

    @app.get("/products/{product_id}")
    def product(product_id: int) -> dict[str, Any]:
        rows = db.query(
            "SELECT p.id, p.name, p.price_cents, s.on_hand - s.reserved FROM products p"
            " JOIN stock s ON s.product_id = p.id WHERE p.id = ?",
            (product_id,),
        )
        if not rows:
            raise HTTPException(404, f"product {product_id} not found")
        return dict(zip(columns, rows[0], strict=True))

    @app.get("/products")
    def products(ids: str) -> dict[str, Any]:
        wanted = [int(i) for i in ids.split(",") if i.strip().isdigit()][:100]
        marks = ",".join("?" * len(wanted))
        rows = db.query(
            f"SELECT p.id, p.name, p.price_cents, s.on_hand - s.reserved FROM products p"
            f" JOIN stock s ON s.product_id = p.id WHERE p.id IN ({marks})",
            tuple(wanted),
        )
        return {"products": [dict(zip(columns, row, strict=True)) for row in rows]}

    @app.post("/reservations", status_code=201)
    def reserve(items: list[Item]) -> dict[str, Any]:
        lines = []
        with span("reserve-stock", attributes={"order.items": len(items)}):
            for item in items:
                changed = db.execute(
                    "UPDATE stock SET reserved = reserved + ? "
                    "WHERE product_id = ? AND on_hand - reserved >= ?",
                    (item.quantity, item.product_id, item.quantity),
                )
                if not changed:
                    raise HTTPException(409, f"product {item.product_id}: out of stock")
                price = db.query(
                    "SELECT price_cents FROM products WHERE id = ?", (item.product_id,)
                )[0][0]
                lines.append({**item.model_dump(), "price_cents": price})
        return {"lines": lines}

    return app


FACTORIES: dict[str, Callable[[ServiceContext], Any]] = {
    "gateway": gateway,
    "users": users,
    "inventory": inventory,
}

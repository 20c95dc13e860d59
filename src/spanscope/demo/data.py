"""The lab's databases: real SQLite files with tens of thousands of rows, one per service.

Each service owns its data, as microservices do, in ``<lab-dir>/db/<service>.db``:

- ``orders.db``: ``orders`` (50,000 rows, ~1.5 KB each: with the address, gift note and a
  JSON snapshot of the cart, the table is ~80 MB, as order tables are) and ``order_items``
  (~225,000 rows). As in any shop, a few customers place most orders: 80 % of the rows
  belong to the first :data:`REGULAR_CUSTOMERS` (~20 orders each), and :func:`shopper`
  picks the lab's shoppers the same way;
- ``users.db``: ``users`` (20,000 rows, salted PBKDF2 password hashes);
- ``inventory.db``: ``products`` (2,000 rows), ``stock`` and ``reviews`` (60,000 rows).

The files are built once, deterministically (seeded ``random``), and reused by later runs
of the lab on the same directory. ``missing-index`` is a real index drop::

    DROP INDEX idx_orders_ref      -- SELECT ... WHERE order_ref = ? now scans 50,000 rows

measured here: ~0.02 ms with the index, ~23 ms without it (a full scan of ~80 MB of pages)
on an idle core — and several times that on a busy one. A checkout makes
``1 + ORDER_HISTORY`` such lookups (its idempotency check, then the customer's last orders,
found through ``idx_orders_customer`` and loaded by reference), so the drop costs it about
seventeen scans (87 % of the regular customers have 16 orders or more).
:func:`set_order_ref_index` puts the index back when the incident ends.
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ORDER_COUNT = 50_000
USER_COUNT = 20_000
PRODUCT_COUNT = 2_000
REVIEW_COUNT = 60_000
CATEGORIES = ("books", "garden", "kitchen", "music", "outdoor", "toys", "games", "tools")
ORDER_REF_INDEX = "idx_orders_ref"
REGULAR_CUSTOMERS = 2_000
"""Customers 1..REGULAR_CUSTOMERS place 80 % of the orders (and of the lab's logins)."""
ORDER_HISTORY = 16
"""How many of a customer's latest orders checkout checks the new one against."""
HISTORY_QUERY = "SELECT order_ref FROM orders WHERE customer_id = ? ORDER BY id DESC LIMIT ?"
PBKDF2_ROUNDS = 2_000  # a login costs ~1 ms of CPU, like a real (if cheap) password check


def order_ref(order_id: int) -> str:
    """The public reference of seeded order ``order_id`` (the traffic generator looks
    orders up by it, so it is derived, not stored elsewhere)."""
    return "ord-" + hashlib.sha1(str(order_id).encode()).hexdigest()[:12]


def shopper(rng: random.Random) -> int:
    """A customer id, a regular one 80 % of the time (the seeded orders are spread so)."""
    if rng.random() < 0.8:
        return rng.randrange(1, REGULAR_CUSTOMERS + 1)
    return rng.randrange(1, USER_COUNT + 1)


def user_email(user_id: int) -> str:
    return f"customer{user_id}@example.com"


def user_password(user_id: int) -> str:
    return f"pw-{user_id}"


def password_hash(password: str, salt: bytes) -> str:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, PBKDF2_ROUNDS).hex()


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _build(path: Path, create: str, fill: Sequence[tuple[str, Sequence[Sequence[object]]]]) -> None:
    """Create ``path`` under a temporary name and rename it: a half-built database (an
    interrupted first run) is never mistaken for a finished one."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".building")
    tmp.unlink(missing_ok=True)
    conn = sqlite3.connect(tmp)
    conn.executescript(create)
    for sql, rows in fill:
        conn.executemany(sql, rows)
    conn.commit()
    conn.close()
    tmp.replace(path)


def build_orders(path: Path) -> None:
    rng = random.Random(5)
    start = 1_735_689_600  # 2025-01-01, orders spread over the year before the lab runs
    orders = []
    items: list[tuple[int, int, int, int]] = []
    for i in range(1, ORDER_COUNT + 1):
        lines: list[dict[str, Any]] = [
            {"product_id": rng.randrange(1, PRODUCT_COUNT + 1), "quantity": rng.randrange(1, 4),
             "price_cents": rng.randrange(199, 9_999),
             "description": "A fine thing. " * rng.randrange(4, 10)}
            for _ in range(rng.randrange(1, 9))
        ]  # fmt: skip
        address = f"{rng.randrange(1, 999)} {rng.choice(('Elm', 'Oak', 'Pine'))} Street"
        note = "".join(rng.choices("abcdefghij ", k=rng.randrange(0, 120)))
        total = sum(line["price_cents"] * line["quantity"] for line in lines)
        orders.append(
            (i, order_ref(i), shopper(rng), start + i * 600, "delivered",
             total, address, note, json.dumps(lines))
        )  # fmt: skip
        items.extend((i, x["product_id"], x["quantity"], x["price_cents"]) for x in lines)
    _build(
        path,
        f"""
        CREATE TABLE orders (id INTEGER PRIMARY KEY, order_ref TEXT NOT NULL,
            customer_id INTEGER NOT NULL, created_at INTEGER NOT NULL, status TEXT NOT NULL,
            total_cents INTEGER NOT NULL, shipping_address TEXT, gift_note TEXT,
            cart_snapshot TEXT);
        CREATE UNIQUE INDEX {ORDER_REF_INDEX} ON orders (order_ref);
        CREATE INDEX idx_orders_customer ON orders (customer_id);
        CREATE TABLE order_items (id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL,
            product_id INTEGER NOT NULL, quantity INTEGER NOT NULL, price_cents INTEGER NOT NULL);
        CREATE INDEX idx_order_items_order ON order_items (order_id);
        """,
        [
            ("INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?)", orders),
            (
                "INSERT INTO order_items (order_id, product_id, quantity, price_cents)"
                " VALUES (?,?,?,?)",
                items,
            ),
        ],
    )


def build_users(path: Path) -> None:
    rng = random.Random(7)
    rows = []
    for i in range(1, USER_COUNT + 1):
        salt = rng.randbytes(8)
        # hashing 20,000 passwords at full cost would take ~20 s: seed with one round and
        # mark the row, users.verify() accepts both (a real migration does the same)
        digest = hashlib.pbkdf2_hmac("sha256", user_password(i).encode(), salt, 1).hex()
        rows.append((i, user_email(i), f"Customer {i}", salt.hex(), "1:" + digest))
    _build(
        path,
        """
        CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT NOT NULL,
            salt TEXT NOT NULL, password_hash TEXT NOT NULL);
        CREATE UNIQUE INDEX idx_users_email ON users (email);
        """,
        [("INSERT INTO users VALUES (?,?,?,?,?)", rows)],
    )


def build_inventory(path: Path) -> None:
    rng = random.Random(11)
    products = [
        (i, f"SKU-{i:05d}", f"Product {i}", CATEGORIES[i % len(CATEGORIES)],
         rng.randrange(199, 9_999), "A fine thing. " * rng.randrange(2, 12))
        for i in range(1, PRODUCT_COUNT + 1)
    ]  # fmt: skip
    stock = [(i, rng.randrange(50, 5_000), 0) for i in range(1, PRODUCT_COUNT + 1)]
    reviews = [
        (rng.randrange(1, PRODUCT_COUNT + 1), rng.randrange(1, 6), "ok " * rng.randrange(1, 30))
        for _ in range(REVIEW_COUNT)
    ]
    _build(
        path,
        """
        CREATE TABLE products (id INTEGER PRIMARY KEY, sku TEXT NOT NULL, name TEXT NOT NULL,
            category TEXT NOT NULL, price_cents INTEGER NOT NULL, description TEXT);
        CREATE INDEX idx_products_category ON products (category);
        CREATE TABLE stock (product_id INTEGER PRIMARY KEY, on_hand INTEGER NOT NULL,
            reserved INTEGER NOT NULL);
        CREATE TABLE reviews (id INTEGER PRIMARY KEY, product_id INTEGER NOT NULL,
            stars INTEGER NOT NULL, body TEXT);
        CREATE INDEX idx_reviews_product ON reviews (product_id);
        """,
        [
            ("INSERT INTO products VALUES (?,?,?,?,?,?)", products),
            ("INSERT INTO stock VALUES (?,?,?)", stock),
            ("INSERT INTO reviews (product_id, stars, body) VALUES (?,?,?)", reviews),
        ],
    )


BUILDERS = {"orders": build_orders, "users": build_users, "inventory": build_inventory}


def build_all(db_dir: Path) -> None:
    """Build every missing database (the supervisor does this once, before any service
    starts, so services never race to create the same file)."""
    for name, build in BUILDERS.items():
        build(db_dir / f"{name}.db")


def set_order_ref_index(conn: sqlite3.Connection, present: bool) -> None:
    """Drop or rebuild the index the ``missing-index`` incident is about (idempotent)."""
    if present:
        conn.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {ORDER_REF_INDEX} ON orders (order_ref)")
    else:
        conn.execute(f"DROP INDEX IF EXISTS {ORDER_REF_INDEX}")

"""Order rows."""

from __future__ import annotations

import json

from . import Anchor, Filters, fetch_all, fetch_one, page, set_metadata
from .db import Cursor, Statement


async def insert(cur: Cursor, order: dict) -> dict:
    return await fetch_one(
        cur,
        """INSERT INTO orders (id, merchant_id, amount, currency, receipt, notes, capture_method)
           VALUES (%(id)s, %(merchant_id)s, %(amount)s, %(currency)s, %(receipt)s, %(notes)s, %(capture_method)s)
           RETURNING *""",
        {**order, "notes": json.dumps(order["notes"])},
    )


_GET = Statement("SELECT * FROM orders WHERE id = %s AND merchant_id = %s")


async def get(cur: Cursor, merchant_id: str, order_id: str) -> dict | None:
    """The merchant's order, or None (another merchant's order is None too)."""
    return await fetch_one(cur, _GET, (order_id, merchant_id))


# Locked in the order of their ids, so that two batches of creates never wait on each other in a cycle. (With
# another writer that locks orders in another order, Postgres rolls one back: a batch of creates is then written
# request by request, a worker's batch claimed again.)
_LOCK_MANY = Statement(
    """SELECT orders.* FROM orders JOIN unnest(%(ids)s::text[], %(merchant_ids)s::text[]) AS k(id, merchant_id)
                                  ON orders.id = k.id AND orders.merchant_id = k.merchant_id
       ORDER BY orders.id FOR UPDATE OF orders""")


async def lock_many(cur: Cursor, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict]:
    """The orders named by (merchant id, order id), locked, by that key; another merchant's order is absent."""
    rows = await fetch_all(cur, _LOCK_MANY, {"ids": [order_id for _, order_id in keys],
                                             "merchant_ids": [merchant_id for merchant_id, _ in keys]})
    return {(row["merchant_id"], row["id"]): row for row in rows}


async def list_page(cur: Cursor, merchant_id: str, *, status=None, receipt=None, metadata=None, created_from=None,
                    created_to=None, limit: int, offset: int | Anchor) -> tuple[list[dict], int]:
    filters = Filters(merchant_id).equal("status", status).equal("receipt", receipt).contains("notes", metadata)
    return await page(cur, "orders", filters.created_between(created_from, created_to), limit, offset)


async def update_metadata(cur: Cursor, merchant_id: str, order_id: str, changes: dict[str, str],
                          removed: list[str]) -> dict | None:
    """An order's metadata is its notes."""
    return await set_metadata(cur, "orders", "notes", merchant_id, order_id, changes, removed)

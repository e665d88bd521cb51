"""Event rows: the outbox, written in the transaction of the change each one reports."""

from __future__ import annotations

import json

from ..crypto import new_id
from ..db import Cursor
from . import Filters, fetch_one, page, webhooks


async def record(cur: Cursor, merchant_id: str, event_type: str, object_id: str, payload: dict) -> dict:
    """The event, and its webhook delivery when the merchant has an endpoint, in the caller's transaction."""
    event = await fetch_one(
        cur,
        """INSERT INTO events (id, merchant_id, type, object_id, payload)
           VALUES (%s, %s, %s, %s, %s) RETURNING *""",
        (new_id("evt"), merchant_id, event_type, object_id, json.dumps(payload)),
    )
    await webhooks.create_for_event(cur, new_id("whd"), event, webhook_body(event))
    return event


def webhook_body(event: dict) -> str:
    """The seed's body plus the event id; stored once, so every attempt sends and signs the same bytes."""
    return json.dumps({
        "id": event["id"],
        "event": event["type"],
        "timestamp": int(event["created_at"].timestamp()),
        "data": event["payload"],
    })


async def get(cur: Cursor, merchant_id: str, event_id: str) -> dict | None:
    return await fetch_one(cur, "SELECT * FROM events WHERE id = %s AND merchant_id = %s", (event_id, merchant_id))


async def list_page(cur: Cursor, merchant_id: str, *, type=None, object_id=None, created_from=None,
                    created_to=None, limit: int, offset: int) -> tuple[list[dict], int]:
    filters = Filters(merchant_id).equal("type", type).equal("object_id", object_id)
    return await page(cur, "events", filters.created_between(created_from, created_to), limit, offset)

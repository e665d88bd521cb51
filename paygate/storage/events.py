"""Event rows: the outbox, written in the transaction of the change each one reports."""

from __future__ import annotations

import json

from ..crypto import new_id
from ..db import Cursor, Statement
from . import Filters, fetch_one, page, webhooks


async def record(cur: Cursor, merchant_id: str, event_type: str, object_id: str, payload: dict) -> dict:
    """The event, and its webhook delivery when the merchant has an endpoint, in the caller's transaction.

    One statement: the event, the delivery (decided by the merchant row as it is now, not as a caller
    remembers it) and the NOTIFY that wakes the workers on commit. The body's timestamp comes from the
    event row, so Python builds the JSON around it.
    """
    row = await fetch_one(cur, *_insert(merchant_id, event_type, object_id, payload))
    del row["notified"]
    return row


def record_later(cur: Cursor, merchant_id: str, event_type: str, object_id: str, payload: dict) -> None:
    """``record``, sent with the transaction's next statement or its COMMIT (``cur`` from ``db.transaction``)."""
    cur.defer(*_insert(merchant_id, event_type, object_id, payload))


_RECORD = Statement(
    """WITH e AS (
           INSERT INTO events (id, merchant_id, type, object_id, payload)
           VALUES (%(event_id)s, %(merchant_id)s, %(type)s, %(object_id)s, %(payload)s) RETURNING *),
       w AS (
           INSERT INTO webhook_logs (id, merchant_id, event_id, event, url, payload, next_retry_at)
           SELECT %(delivery_id)s, m.id, e.id, e.type, m.webhook_url,
                  %(head)s::text || floor(extract(epoch FROM e.created_at))::bigint || %(tail)s::text, now()
           FROM e JOIN merchants m ON m.id = e.merchant_id WHERE m.webhook_url IS NOT NULL
           RETURNING id),
       n AS (SELECT pg_notify(%(channel)s, '') FROM w)
       SELECT e.*, (SELECT count(*) FROM n) AS notified FROM e""")


def _insert(merchant_id: str, event_type: str, object_id: str, payload: dict) -> tuple[Statement, dict]:
    event_id = new_id("evt")
    head, tail = _body_parts(event_id, event_type, payload)
    return _RECORD, {"event_id": event_id, "merchant_id": merchant_id, "type": event_type, "object_id": object_id,
                     "payload": json.dumps(payload), "delivery_id": new_id("whd"), "head": head, "tail": tail,
                     "channel": webhooks.NOTIFY_CHANNEL}


def _body_parts(event_id: str, event_type: str, payload: dict) -> tuple[str, str]:
    """The delivery body (the seed's fields plus the event id) before and after the timestamp's digits.

    Joined, the same bytes as json.dumps({"id", "event", "timestamp", "data"}); stored once, so every
    attempt sends and signs exactly these bytes.
    """
    head = json.dumps({"id": event_id, "event": event_type})[:-1] + ', "timestamp": '
    return head, ', "data": ' + json.dumps(payload) + "}"


async def get(cur: Cursor, merchant_id: str, event_id: str) -> dict | None:
    return await fetch_one(cur, "SELECT * FROM events WHERE id = %s AND merchant_id = %s", (event_id, merchant_id))


async def list_page(cur: Cursor, merchant_id: str, *, type=None, object_id=None, created_from=None,
                    created_to=None, limit: int, offset: int) -> tuple[list[dict], int]:
    filters = Filters(merchant_id).equal("type", type).equal("object_id", object_id)
    return await page(cur, "events", filters.created_between(created_from, created_to), limit, offset)

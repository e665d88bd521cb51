"""Event rows: the outbox, written in the transaction of the change each one reports."""

from __future__ import annotations

import json

from ..infra.crypto import new_id
from . import Filters, fetch_one, page, webhooks
from .db import Cursor, Statement, as_columns


async def record(cur: Cursor, merchant_id: str, event_type: str, object_id: str, payload: dict) -> dict:
    """The event, and its webhook deliveries, in the caller's transaction: one to the merchant's webhook_url (the
    seed's implicit endpoint) if set, and one to each enabled endpoint subscribed to the event's type.

    One statement: the event, the deliveries (decided by the merchant's endpoints as they are now, not as a
    caller remembers them) and the NOTIFY that wakes the workers on commit. The body's timestamp comes from the
    event row, so the statement builds the JSON around it.
    """
    row = _row(merchant_id, event_type, object_id, payload)
    event = await fetch_one(cur, _RECORD, as_columns([row], row))
    del event["notified"]
    return event


def record_later(cur: Cursor, merchant_id: str, event_type: str, object_id: str, payload: dict) -> None:
    """``record``, sent with the transaction's next statement or its COMMIT (``cur`` from ``db.transaction``); the
    events recorded one after another go in one statement (a batch of payments' events, say)."""
    cur.defer_row(_RECORD, _row(merchant_id, event_type, object_id, payload))


# Any number of events, one per element of the arrays. A delivery's body is the seed's fields plus the event id,
# the same bytes as json.dumps({"id", "event", "timestamp", "data"}), stored once so that every attempt sends
# and signs exactly these bytes: ``head`` is the JSON up to the timestamp, which is the event row's.
_RECORD = Statement(
    f"""WITH r AS (SELECT * FROM unnest(%(id)s::text[], %(merchant_id)s::text[], %(type)s::text[],
                                        %(object_id)s::text[], %(payload)s::text[], %(delivery_id)s::text[],
                                        %(head)s::text[])
                   AS r(id, merchant_id, type, object_id, payload, delivery_id, head)),
            e AS (INSERT INTO events (id, merchant_id, type, object_id, payload)
                  SELECT id, merchant_id, type, object_id, payload::jsonb FROM r RETURNING *),
            w AS (INSERT INTO webhook_logs (id, merchant_id, event_id, event, url, payload, next_retry_at, endpoint_id)
                  SELECT coalesce(t.delivery_id, r.delivery_id), e.merchant_id, e.id, e.type, t.url,
                         r.head || floor(extract(epoch FROM e.created_at))::bigint || ', "data": ' || r.payload
                         || '}}', now(), t.endpoint_id
                  FROM e JOIN r ON r.id = e.id CROSS JOIN LATERAL (
                      -- the seed's webhook_url: the implicit endpoint, subscribed to every event
                      SELECT NULL::text AS endpoint_id, NULL::text AS delivery_id, m.webhook_url AS url
                      FROM merchants m WHERE m.id = e.merchant_id AND m.webhook_url IS NOT NULL
                      UNION ALL  -- and each enabled endpoint subscribed to the event's type
                      SELECT x.id, 'whd_' || replace(gen_random_uuid()::text, '-', ''), x.url
                      FROM webhook_endpoints x
                      WHERE x.merchant_id = e.merchant_id AND x.deleted_at IS NULL AND NOT x.disabled
                        AND (e.type = ANY(x.enabled_events)
                             OR ('*' = ANY(x.enabled_events) AND e.type <> 'webhook.test'))) t
                  RETURNING id),
            n AS (SELECT pg_notify('{webhooks.NOTIFY_CHANNEL}', '') WHERE EXISTS (SELECT 1 FROM w))
       SELECT e.*, (SELECT count(*) FROM n) AS notified FROM e""")


def _row(merchant_id: str, event_type: str, object_id: str, payload: dict) -> dict:
    event_id = new_id("evt")
    head = json.dumps({"id": event_id, "event": event_type})[:-1] + ', "timestamp": '
    return {"id": event_id, "merchant_id": merchant_id, "type": event_type, "object_id": object_id,
            "payload": json.dumps(payload), "delivery_id": new_id("whd"), "head": head}


async def get(cur: Cursor, merchant_id: str, event_id: str) -> dict | None:
    return await fetch_one(cur, "SELECT * FROM events WHERE id = %s AND merchant_id = %s", (event_id, merchant_id))


async def list_page(cur: Cursor, merchant_id: str, *, type=None, object_id=None, created_from=None,
                    created_to=None, limit: int, offset: int) -> tuple[list[dict], int]:
    filters = Filters(merchant_id).equal("type", type).equal("object_id", object_id)
    return await page(cur, "events", filters.created_between(created_from, created_to), limit, offset)

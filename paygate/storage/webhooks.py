"""Webhook deliveries (webhook_logs) and their attempts."""

from __future__ import annotations

from ..db import Cursor
from . import Filters, fetch_all, fetch_one, page

NOTIFY_CHANNEL = "paygate_webhooks"


async def take_for_sending(cur: Cursor, delivery_id: str, lease: float) -> dict | None:
    """Hold a due delivery for ``lease`` seconds and return it with its merchant's endpoint and secrets.

    None when it is not due, not pending, held by another worker, or its endpoint is disabled.
    """
    return await fetch_one(
        cur,
        """UPDATE webhook_logs w SET locked_until = now() + make_interval(secs => %(lease)s)
           FROM merchants m
           WHERE w.id = %(id)s AND m.id = w.merchant_id AND w.status = 'pending'
             AND w.next_retry_at <= now() + interval '1 second'
             AND (w.locked_until IS NULL OR w.locked_until < now())
             AND m.webhook_enabled AND m.webhook_url IS NOT NULL
           RETURNING w.*, m.webhook_url, m.webhook_secret_enc, m.webhook_secret_prev_enc,
                     (m.webhook_secret_prev_until > now()) AS previous_secret_valid""",
        {"id": delivery_id, "lease": lease},
    )


async def record_attempt(cur: Cursor, delivery: dict, *, url: str, status: str, delay: float | None,
                         trigger: str, status_code: int | None, body: str | None, error: str | None,
                         duration_ms: int, disable_reason: str | None = None) -> dict:
    """The attempt's row and the delivery's new state (and, given ``disable_reason``, its endpoint
    disabled), all in one statement: atomic without a transaction around it."""
    return await fetch_one(
        cur,
        """WITH a AS (
               INSERT INTO webhook_attempts (webhook_log_id, number, trigger, status_code, response_body, error,
                                             duration_ms)
               VALUES (%(id)s, %(number)s, %(trigger)s, %(code)s, %(body)s, %(error)s, %(duration_ms)s)),
           d AS (
               UPDATE merchants SET webhook_enabled = false, webhook_disabled_reason = %(disable_reason)s,
                      updated_at = now()
               WHERE id = %(merchant_id)s AND %(disable_reason)s::text IS NOT NULL)
           UPDATE webhook_logs SET attempts = %(number)s, status = %(status)s, url = %(url)s,
                  last_attempt_at = now(), response_code = %(code)s, response_body = %(body)s,
                  next_retry_at = CASE WHEN %(status)s = 'pending' THEN now() + make_interval(secs => %(delay)s) END,
                  manual_retry = false, locked_until = NULL, updated_at = now()
           WHERE id = %(id)s RETURNING *""",
        {"number": delivery["attempts"] + 1, "status": status, "url": url, "code": status_code, "body": body,
         "delay": delay or 0, "id": delivery["id"], "trigger": trigger, "error": error, "duration_ms": duration_ms,
         "merchant_id": delivery["merchant_id"], "disable_reason": disable_reason},
    )


async def due(cur: Cursor, limit: int = 1000) -> list[dict]:
    """Pending deliveries whose time has come, not held by a worker, to enabled endpoints."""
    return await fetch_all(
        cur,
        """SELECT w.id, w.attempts FROM webhook_logs w JOIN merchants m ON m.id = w.merchant_id
           WHERE w.status = 'pending' AND w.next_retry_at <= now()
             AND (w.locked_until IS NULL OR w.locked_until < now()) AND m.webhook_enabled
           ORDER BY w.next_retry_at LIMIT %s""",
        (limit,),
    )


async def oldest_due_age(cur: Cursor) -> float:
    row = await fetch_one(
        cur,
        """SELECT coalesce(extract(epoch FROM now() - min(next_retry_at)), 0) AS age
           FROM webhook_logs WHERE status = 'pending' AND next_retry_at <= now()""",
    )
    return float(row["age"])


async def retry_now(cur: Cursor, merchant_id: str | None, delivery_ids: list[str]) -> list[dict]:
    """Reset deliveries to pending, due now, marked as asked for by hand; keeps their attempts."""
    return await fetch_all(
        cur,
        """UPDATE webhook_logs SET status = 'pending', next_retry_at = now(), manual_retry = true,
                  locked_until = NULL, updated_at = now()
           WHERE id = ANY(%(ids)s) AND (%(merchant_id)s::text IS NULL OR merchant_id = %(merchant_id)s)
           RETURNING id, attempts""",
        {"ids": delivery_ids, "merchant_id": merchant_id},
    )


async def failed_between(cur: Cursor, merchant_id: str | None, since, until, limit: int = 10_000) -> list[str]:
    rows = await fetch_all(
        cur,
        """SELECT id FROM webhook_logs WHERE status = 'failed'
             AND (%(merchant_id)s::text IS NULL OR merchant_id = %(merchant_id)s)
             AND created_at >= %(since)s AND (%(until)s::timestamptz IS NULL OR created_at <= %(until)s)
           ORDER BY created_at LIMIT %(limit)s""",
        {"merchant_id": merchant_id, "since": since, "until": until, "limit": limit},
    )
    return [r["id"] for r in rows]


async def get(cur: Cursor, merchant_id: str, delivery_id: str) -> dict | None:
    return await fetch_one(cur, "SELECT * FROM webhook_logs WHERE id = %s AND merchant_id = %s",
                           (delivery_id, merchant_id))


async def for_event(cur: Cursor, event_id: str) -> dict | None:
    return await fetch_one(cur, "SELECT * FROM webhook_logs WHERE event_id = %s", (event_id,))


async def attempts(cur: Cursor, delivery_id: str) -> list[dict]:
    return await fetch_all(cur, "SELECT * FROM webhook_attempts WHERE webhook_log_id = %s ORDER BY number",
                           (delivery_id,))


async def list_page(cur: Cursor, merchant_id: str, *, status=None, event=None, created_from=None, created_to=None,
                    limit: int, offset: int) -> tuple[list[dict], int]:
    filters = Filters(merchant_id).equal("status", status).equal("event", event)
    return await page(cur, "webhook_logs", filters.created_between(created_from, created_to), limit, offset)


async def list_all(cur: Cursor, *, status: str | None, limit: int) -> list[dict]:
    """Across merchants, for operators."""
    return await fetch_all(
        cur,
        """SELECT * FROM webhook_logs WHERE (%(status)s::text IS NULL OR status = %(status)s)
           ORDER BY created_at DESC, id DESC LIMIT %(limit)s""",
        {"status": status, "limit": limit},
    )

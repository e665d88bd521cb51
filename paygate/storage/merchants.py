"""Merchant rows."""

from __future__ import annotations

from . import fetch_all, fetch_one
from .db import Cursor


async def by_api_key(cur: Cursor, api_key: str) -> dict | None:
    return await fetch_one(cur, "SELECT * FROM merchants WHERE api_key = %s", (api_key,))


async def by_id(cur: Cursor, merchant_id: str) -> dict | None:
    return await fetch_one(cur, "SELECT * FROM merchants WHERE id = %s", (merchant_id,))


async def insert_if_absent(cur: Cursor, merchant: dict) -> bool:
    """Insert unless a merchant with this api_key or email exists; True when inserted."""
    row = await fetch_one(
        cur,
        """INSERT INTO merchants (id, name, email, api_key, api_secret_hash, api_secret_enc, webhook_url,
                                  webhook_secret_enc)
           VALUES (%(id)s, %(name)s, %(email)s, %(api_key)s, %(api_secret_hash)s, %(api_secret_enc)s,
                   %(webhook_url)s, %(webhook_secret_enc)s)
           ON CONFLICT DO NOTHING
           RETURNING id""",
        merchant,
    )
    return row is not None


async def update_endpoint(cur: Cursor, merchant_id: str, url: str | None, enabled: bool) -> dict:
    return await fetch_one(
        cur,
        """UPDATE merchants SET webhook_url = %s, webhook_enabled = %s,
                  webhook_disabled_reason = CASE WHEN %s THEN NULL ELSE webhook_disabled_reason END,
                  updated_at = now()
           WHERE id = %s RETURNING *""",
        (url, enabled, enabled, merchant_id),
    )


async def rotate_webhook_secret(cur: Cursor, merchant_id: str, sealed: str, overlap: float) -> dict:
    """The current secret becomes the previous one, honoured for ``overlap`` seconds."""
    return await fetch_one(
        cur,
        """UPDATE merchants SET webhook_secret_prev_enc = webhook_secret_enc, webhook_secret_enc = %s,
                  webhook_secret_prev_until = now() + make_interval(secs => %s), updated_at = now()
           WHERE id = %s RETURNING *""",
        (sealed, overlap, merchant_id),
    )


async def rotate_api_secret(cur: Cursor, merchant_id: str, secret_hash: str, sealed: str,
                            grace: float) -> dict | None:
    """Replace the API secret. With ``grace`` > 0 the current one becomes the previous (its hash kept until
    now + grace); with 0 it stops working with this commit. Either way a previous secret kept by an earlier
    rotation is dropped: the row comes back with ``dropped_prev_until``, that secret's end (None when there was
    none), so that the caller records its expiry, which the scheduler will no longer find."""
    return await fetch_one(
        cur,
        """WITH old AS (SELECT id, api_secret_prev_until FROM merchants WHERE id = %(id)s FOR UPDATE)
           UPDATE merchants m
              SET api_secret_prev_hash = CASE WHEN %(grace)s > 0 THEN m.api_secret_hash END,
                  api_secret_prev_until = CASE WHEN %(grace)s > 0 THEN now() + make_interval(secs => %(grace)s) END,
                  api_secret_hash = %(hash)s, api_secret_enc = %(sealed)s, updated_at = now()
             FROM old WHERE m.id = old.id
           RETURNING m.*, old.api_secret_prev_until AS dropped_prev_until, now() AS rotated_at""",
        {"id": merchant_id, "grace": grace, "hash": secret_hash, "sealed": sealed},
    )


async def expire_previous_secrets(cur: Cursor, limit: int) -> list[dict]:
    """Forget the previous API secrets whose grace has ended (up to ``limit``): each merchant's id and when its
    grace ended. A row another transaction holds is skipped, and one already cleared no longer matches, so two
    schedulers never both return the same expiry."""
    return await fetch_all(
        cur,
        """UPDATE merchants m SET api_secret_prev_hash = NULL, api_secret_prev_until = NULL, updated_at = now()
             FROM (SELECT id, api_secret_prev_until FROM merchants
                    WHERE api_secret_prev_hash IS NOT NULL AND api_secret_prev_until <= now()
                    ORDER BY api_secret_prev_until LIMIT %s
                    FOR UPDATE SKIP LOCKED) due
            WHERE m.id = due.id
        RETURNING m.id, due.api_secret_prev_until AS expired_at""",
        (limit,),
    )


async def set_rate_limit(cur: Cursor, merchant_id: str, rate: int | None, burst: int | None) -> dict | None:
    """The merchant's own API rate limit; None takes the configured one."""
    return await fetch_one(
        cur,
        """UPDATE merchants SET rate_limit = %s, rate_limit_burst = %s, updated_at = now()
           WHERE id = %s RETURNING *""",
        (rate, burst, merchant_id),
    )


async def all_merchants(cur: Cursor) -> list[dict]:
    return await fetch_all(cur, "SELECT * FROM merchants ORDER BY created_at, id")

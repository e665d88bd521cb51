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


async def rotate_api_secret(cur: Cursor, merchant_id: str, secret_hash: str, sealed: str) -> dict | None:
    """Replace the API secret at once; the old one stops working with this commit."""
    return await fetch_one(
        cur,
        """UPDATE merchants SET api_secret_hash = %s, api_secret_enc = %s, updated_at = now()
           WHERE id = %s RETURNING *""",
        (secret_hash, sealed, merchant_id),
    )


async def all_merchants(cur: Cursor) -> list[dict]:
    return await fetch_all(cur, "SELECT * FROM merchants ORDER BY created_at, id")

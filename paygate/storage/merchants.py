"""Merchant rows."""

from __future__ import annotations

from ..db import Cursor

COLUMNS = (
    "id, name, email, api_key, api_secret_hash, webhook_url, webhook_secret_enc, webhook_secret_prev_enc, "
    "webhook_secret_prev_until, webhook_enabled, webhook_disabled_reason, is_active, created_at, updated_at"
)
NAMES = [c.strip() for c in COLUMNS.split(",")]


def _row(row) -> dict | None:
    return dict(zip(NAMES, row, strict=True)) if row else None


async def by_api_key(cur: Cursor, api_key: str) -> dict | None:
    await cur.execute(f"SELECT {COLUMNS} FROM merchants WHERE api_key = %s", (api_key,))
    return _row(await cur.fetchone())


async def by_id(cur: Cursor, merchant_id: str) -> dict | None:
    await cur.execute(f"SELECT {COLUMNS} FROM merchants WHERE id = %s", (merchant_id,))
    return _row(await cur.fetchone())


async def insert_if_absent(cur: Cursor, merchant: dict) -> bool:
    """Insert unless a merchant with this api_key exists; True when inserted."""
    await cur.execute(
        """INSERT INTO merchants (id, name, email, api_key, api_secret_hash, webhook_url, webhook_secret_enc)
           VALUES (%(id)s, %(name)s, %(email)s, %(api_key)s, %(api_secret_hash)s, %(webhook_url)s,
                   %(webhook_secret_enc)s)
           ON CONFLICT (api_key) DO NOTHING
           RETURNING id""",
        merchant,
    )
    return await cur.fetchone() is not None

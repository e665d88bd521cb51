"""A merchant's webhook endpoints (beyond the seed's webhook_url on the merchant row)."""

from __future__ import annotations

from typing import Any

from . import Filters, fetch_one, page
from .db import Cursor

# The columns a merchant may change with PATCH.
UPDATABLE = ("url", "description", "enabled_events", "disabled")


async def count_live(cur: Cursor, merchant_id: str) -> int:
    """How many endpoints the merchant has, its row locked until the caller's transaction ends, so that two
    concurrent creations cannot both pass a limit checked against this count."""
    await cur.execute("SELECT 1 FROM merchants WHERE id = %s FOR UPDATE", (merchant_id,))
    row = await fetch_one(cur, "SELECT count(*) AS n FROM webhook_endpoints WHERE merchant_id = %s "
                               "AND deleted_at IS NULL", (merchant_id,))
    return row["n"]


async def insert(cur: Cursor, endpoint: dict) -> dict:
    return await fetch_one(
        cur,
        """INSERT INTO webhook_endpoints (id, merchant_id, url, description, enabled_events, secret_enc, disabled)
           VALUES (%(id)s, %(merchant_id)s, %(url)s, %(description)s, %(enabled_events)s, %(secret_enc)s,
                   %(disabled)s)
           RETURNING *""",
        endpoint,
    )


async def get(cur: Cursor, merchant_id: str, endpoint_id: str) -> dict | None:
    return await fetch_one(cur, "SELECT * FROM webhook_endpoints WHERE id = %s AND merchant_id = %s "
                                "AND deleted_at IS NULL", (endpoint_id, merchant_id))


async def update(cur: Cursor, merchant_id: str, endpoint_id: str, changes: dict[str, Any]) -> dict | None:
    """Set the given UPDATABLE columns; setting ``disabled`` forgets why paygate disabled it (a 410)."""
    sets = [f"{column} = %({column})s" for column in UPDATABLE if column in changes]
    if "disabled" in changes:
        sets.append("disabled_reason = NULL")
    sets.append("updated_at = now()")
    return await fetch_one(
        cur,
        f"""UPDATE webhook_endpoints SET {", ".join(sets)}
            WHERE id = %(id)s AND merchant_id = %(merchant_id)s AND deleted_at IS NULL RETURNING *""",
        {**changes, "id": endpoint_id, "merchant_id": merchant_id},
    )


async def delete(cur: Cursor, merchant_id: str, endpoint_id: str) -> dict | None:
    """Mark the endpoint deleted; its pending deliveries fail (an attempt in flight is then not recorded)."""
    row = await fetch_one(
        cur,
        """UPDATE webhook_endpoints SET deleted_at = now(), disabled = true, updated_at = now()
           WHERE id = %s AND merchant_id = %s AND deleted_at IS NULL RETURNING *""",
        (endpoint_id, merchant_id),
    )
    if row is not None:
        await cur.execute(
            """UPDATE webhook_logs SET status = 'failed', next_retry_at = NULL, locked_until = NULL,
                      updated_at = now()
               WHERE endpoint_id = %s AND status = 'pending'""", (endpoint_id,))
    return row


async def rotate_secret(cur: Cursor, merchant_id: str, endpoint_id: str, sealed: str, overlap: float) -> dict | None:
    """The current secret becomes the previous one, honoured for ``overlap`` seconds."""
    return await fetch_one(
        cur,
        """UPDATE webhook_endpoints SET secret_prev_enc = secret_enc, secret_enc = %s,
                  secret_prev_until = now() + make_interval(secs => %s), updated_at = now()
           WHERE id = %s AND merchant_id = %s AND deleted_at IS NULL RETURNING *""",
        (sealed, overlap, endpoint_id, merchant_id),
    )


async def list_page(cur: Cursor, merchant_id: str, *, created_from=None, created_to=None, limit: int,
                    offset: int) -> tuple[list[dict], int]:
    filters = Filters(merchant_id).created_between(created_from, created_to)
    filters.clauses.append("deleted_at IS NULL")
    return await page(cur, "webhook_endpoints", filters, limit, offset)

"""Aggregates for the dashboard's overview."""

from __future__ import annotations

from datetime import datetime

from . import fetch_all
from .db import Cursor


async def payments_by_day(cur: Cursor, merchant_id: str, since: datetime) -> list[dict]:
    """Count and amount of the merchant's payments created since ``since``, by UTC day, status and currency."""
    return await fetch_all(
        cur,
        """SELECT (created_at AT TIME ZONE 'UTC')::date AS day, status, currency,
                  count(*) AS count, sum(amount)::bigint AS amount
           FROM payments WHERE merchant_id = %s AND created_at >= %s
           GROUP BY 1, 2, 3""",
        (merchant_id, since),
    )

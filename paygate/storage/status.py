"""Counts for operators: deliveries due and failed, and what failed recently."""

from __future__ import annotations

from ..db import Cursor
from . import fetch_one


async def delivery_counts(cur: Cursor) -> dict[str, int]:
    """Pending deliveries due now, and deliveries that gave up (failed) in all."""
    row = await fetch_one(
        cur,
        """SELECT count(*) FILTER (WHERE status = 'pending' AND next_retry_at <= now()) AS due,
                  count(*) FILTER (WHERE status = 'failed') AS failed
           FROM webhook_logs WHERE status IN ('pending', 'failed')""",
    )
    return {"due": int(row["due"]), "failed": int(row["failed"])}


async def failures_since(cur: Cursor, seconds: float) -> dict[str, int]:
    """Payments, refunds and webhook deliveries that reached ``failed`` in the last ``seconds``."""
    row = await fetch_one(
        cur,
        """WITH since AS (SELECT now() - make_interval(secs => %(age)s) AS t)
           SELECT (SELECT count(*) FROM payments, since WHERE status = 'failed' AND updated_at >= t) AS payments,
                  (SELECT count(*) FROM refunds, since WHERE status = 'failed' AND updated_at >= t) AS refunds,
                  (SELECT count(*) FROM webhook_logs, since WHERE status = 'failed' AND updated_at >= t)
                      AS deliveries""",
        {"age": seconds},
    )
    return {k: int(v) for k, v in row.items()}

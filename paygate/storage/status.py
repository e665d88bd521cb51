"""Counts for operators: deliveries failed, and what failed recently."""

from __future__ import annotations

from ..db import Cursor
from . import fetch_one


async def failed_deliveries(cur: Cursor) -> int:
    """Deliveries that gave up (failed), in all."""
    row = await fetch_one(cur, "SELECT count(*) AS failed FROM webhook_logs WHERE status = 'failed'")
    return int(row["failed"])


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

"""Counts for operators: deliveries failed, what failed recently, and calls at the processor."""

from __future__ import annotations

from ..core.states import IN_FLIGHT
from . import fetch_one
from .db import Cursor


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


async def at_processor(cur: Cursor, overdue_after: float) -> dict:
    """Payments and refunds whose processor call is under way or unanswered: how many, how many for longer than
    ``overdue_after`` seconds (their answer was lost, or their worker stopped), and the oldest one's age."""
    row = await fetch_one(
        cur,
        """WITH calls AS (SELECT updated_at FROM payments WHERE status = ANY(%(payments)s)
                          UNION ALL SELECT updated_at FROM refunds WHERE status = ANY(%(refunds)s))
           SELECT count(*) AS in_flight,
                  count(*) FILTER (WHERE updated_at < now() - make_interval(secs => %(overdue)s)) AS overdue,
                  coalesce(extract(epoch FROM now() - min(updated_at)), 0)::float AS oldest_age_s
           FROM calls""",
        {"payments": sorted(IN_FLIGHT["payment"]), "refunds": sorted(IN_FLIGHT["refund"]), "overdue": overdue_after})
    return {"in_flight": int(row["in_flight"]), "overdue": int(row["overdue"]),
            "oldest_age_s": round(row["oldest_age_s"], 3)}

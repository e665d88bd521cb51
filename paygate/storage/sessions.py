"""Dashboard sessions that were signed out: remembered in Postgres until no cookie of theirs could still be used."""

from __future__ import annotations

from . import fetch_one
from .db import Cursor, Statement

# Every dashboard request runs this: the merchant and the session's sign-out in one round trip, by primary keys.
_MERCHANT_UNLESS_ENDED = Statement(
    """SELECT m.* FROM merchants m
       WHERE m.id = %(merchant_id)s
         AND NOT EXISTS (SELECT 1 FROM dashboard_sessions_ended e WHERE e.session_id = %(session_id)s)"""
)


async def merchant_unless_ended(cur: Cursor, merchant_id: str, session_id: str) -> dict | None:
    """The merchant of a session, or None when there is no such merchant or the session was signed out."""
    return await fetch_one(cur, _MERCHANT_UNLESS_ENDED, {"merchant_id": merchant_id, "session_id": session_id})


async def end(cur: Cursor, session_id: str, merchant_id: str, keep_for: float) -> None:
    """Remember the session as signed out for ``keep_for`` seconds (signing out twice is signing out once)."""
    await cur.execute(
        """INSERT INTO dashboard_sessions_ended (session_id, merchant_id, expires_at)
           VALUES (%s, %s, now() + make_interval(secs => %s))
           ON CONFLICT (session_id) DO NOTHING""",
        (session_id, merchant_id, keep_for),
    )


async def purge_expired(cur: Cursor, limit: int = 5000) -> int:
    """Forget sign-outs whose cookies are past their idle allowance; returns how many."""
    await cur.execute(
        """DELETE FROM dashboard_sessions_ended WHERE ctid IN (
               SELECT ctid FROM dashboard_sessions_ended WHERE expires_at < now() LIMIT %s)""",
        (limit,),
    )
    return cur.rowcount

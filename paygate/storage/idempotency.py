"""Idempotency keys: claimed before work starts, completed in the transaction of the work."""

from __future__ import annotations

from . import fetch_one
from .db import Cursor, Statement, execute

_CLAIM = Statement(
    """INSERT INTO idempotency_keys (merchant_id, key, request_method, request_path, request_hash, claim_token,
                                     expires_at)
       VALUES (%(merchant_id)s, %(key)s, %(method)s, %(path)s, %(hash)s, %(token)s,
               now() + make_interval(secs => %(ttl)s))
       ON CONFLICT (merchant_id, key) DO UPDATE
          SET request_method = EXCLUDED.request_method, request_path = EXCLUDED.request_path,
              claim_token = EXCLUDED.claim_token,
              request_hash = EXCLUDED.request_hash, state = 'in_flight', response_status = NULL,
              response_body = NULL, response_sealed = false, created_at = now(), expires_at = EXCLUDED.expires_at
          WHERE idempotency_keys.expires_at < now()
             OR (idempotency_keys.state = 'in_flight'
                 AND idempotency_keys.created_at < now() - make_interval(secs => %(lease)s))
       RETURNING *""")


async def claim(cur: Cursor, merchant_id: str, key: str, method: str, path: str, request_hash: str,
                token: str, ttl: float, lease: float) -> dict | None:
    """Claim the key as in flight; None if someone holds it (the caller then reads it).

    An expired key, or an in-flight claim older than ``lease`` (its request died), is taken over.
    """
    return await fetch_one(cur, _CLAIM, {"merchant_id": merchant_id, "key": key, "method": method, "path": path,
                                         "hash": request_hash, "token": token, "ttl": ttl, "lease": lease})


async def get(cur: Cursor, merchant_id: str, key: str) -> dict | None:
    return await fetch_one(cur, "SELECT * FROM idempotency_keys WHERE merchant_id = %s AND key = %s",
                           (merchant_id, key))


_COMPLETE = Statement(
    """UPDATE idempotency_keys SET state = 'completed', response_status = %s, response_body = %s,
                                   response_sealed = %s
       WHERE merchant_id = %s AND key = %s AND claim_token = %s AND state = 'in_flight'""")


async def complete(cur: Cursor, merchant_id: str, key: str, token: str, status: int, body: bytes,
                   sealed: bool = False) -> None:
    """Record the response; ``sealed``: ``body`` is the response sealed under the master key, not the bytes."""
    await execute(cur, _COMPLETE, (status, body, sealed, merchant_id, key, token))
    if cur.rowcount != 1:
        # Our claim was taken over after its lease ran out; rolling back keeps the work from happening twice.
        raise RuntimeError(f"idempotency key {key!r} is no longer held by this request")


async def release(cur: Cursor, merchant_id: str, key: str, token: str) -> None:
    await cur.execute(
        """DELETE FROM idempotency_keys
           WHERE merchant_id = %s AND key = %s AND claim_token = %s AND state = 'in_flight'""",
        (merchant_id, key, token),
    )


async def purge_expired(cur: Cursor, limit: int = 5000) -> int:
    await cur.execute(
        """DELETE FROM idempotency_keys WHERE ctid IN (
               SELECT ctid FROM idempotency_keys WHERE expires_at < now() LIMIT %s)""",
        (limit,),
    )
    return cur.rowcount

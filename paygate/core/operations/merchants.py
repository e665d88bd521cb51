"""Creating merchants with fresh credentials, rotating their API secrets, and their own API rate limits."""

from __future__ import annotations

from ...infra import authcache, crypto
from ...infra.errors import BadRequest, Conflict, NotFound
from ...storage import events, merchants
from ...storage.db import Pool, cursor, transaction
from ..models import iso


async def create_merchant(pool: Pool, box: crypto.SecretBox, name: str, email: str,
                          webhook_url: str | None = None) -> dict:
    """A new merchant; the API secret and webhook secret are returned this once and stored hashed / sealed."""
    api_key, api_secret, webhook_secret = crypto.new_api_key(), crypto.new_api_secret(), crypto.new_webhook_secret()
    merchant_id = crypto.new_id("mer")
    async with transaction(pool) as cur:
        created = await merchants.insert_if_absent(cur, {
            "id": merchant_id,
            "name": name,
            "email": email,
            "api_key": api_key,
            "api_secret_hash": crypto.hash_secret(api_secret),
            "api_secret_enc": box.seal(api_secret),
            "webhook_url": webhook_url,
            "webhook_secret_enc": box.seal(webhook_secret),
        })
    if not created:
        raise Conflict(f"a merchant with email {email} exists", field="email")
    return {"merchant_id": merchant_id, "name": name, "email": email, "api_key": api_key,
            "api_secret": api_secret, "webhook_secret": webhook_secret}


async def list_merchants(pool: Pool) -> list[dict]:
    """Every merchant's row (the operator's view; secrets stay sealed or hashed in it)."""
    async with cursor(pool) as cur:
        return await merchants.all_merchants(cur)


# The longest grace a rotation may give the previous secret (Stripe's "roll key" offers up to a week; a month
# leaves room for a slow deploy without keeping a possibly leaked secret alive indefinitely).
MAX_GRACE = 30 * 86400.0
EXPIRY_BATCH = 500  # most previous secrets one scheduler pass forgets
ROTATED, EXPIRED = "merchant.api_secret_rotated", "merchant.api_secret_expired"


async def rotate_api_secret(pool: Pool, box: crypto.SecretBox, merchant_id: str, grace: float = 0) -> dict:
    """A new API secret, returned this once; the previous one keeps working for ``grace`` seconds.

    With no grace the previous secret is refused from the moment this commits by this process, and by servers
    running elsewhere within their ``api.auth_cache_ttl`` (they remember authenticated merchants that long).
    Rotating again while a grace runs: the current secret becomes the previous one and the older previous
    stops working now. ``merchant.api_secret_rotated`` and, for each secret that stops working now,
    ``merchant.api_secret_expired`` are recorded in the rotation's transaction.
    """
    if not 0 <= grace <= MAX_GRACE:
        raise BadRequest(f"grace must be from 0 to {MAX_GRACE:.0f} seconds (30 days)", field="grace")
    api_secret = crypto.new_api_secret()
    async with transaction(pool) as cur:
        row = await merchants.rotate_api_secret(cur, merchant_id, crypto.hash_secret(api_secret),
                                                box.seal(api_secret), grace)
        if row is not None:
            await _record_rotation(cur, row)
    authcache.forget(merchant_id)
    if row is None:
        raise NotFound(f"no merchant {merchant_id!r}", field="merchant_id")
    return {"merchant_id": row["id"], "api_key": row["api_key"], "api_secret": api_secret,
            "previous_secret_expires_at": iso(row["api_secret_prev_until"] or row["rotated_at"])}


async def _record_rotation(cur, row: dict) -> None:
    merchant_id, at = row["id"], row["rotated_at"]
    await events.record(cur, merchant_id, ROTATED, merchant_id, {
        "merchant_id": merchant_id, "rotated_at": iso(at),
        "previous_secret_expires_at": iso(row["api_secret_prev_until"] or at)})
    dropped = row["dropped_prev_until"]
    if dropped is not None:  # the previous secret of an earlier rotation, which the scheduler will not find now
        await _record_expiry(cur, merchant_id, min(dropped, at), "grace_ended" if dropped <= at else "rotated_again")
    if row["api_secret_prev_until"] is None:
        await _record_expiry(cur, merchant_id, at, "no_grace")


async def _record_expiry(cur, merchant_id: str, at, reason: str) -> None:
    await events.record(cur, merchant_id, EXPIRED, merchant_id,
                        {"merchant_id": merchant_id, "expired_at": iso(at), "reason": reason})


async def expire_api_secrets(pool: Pool) -> int:
    """Forget the previous API secrets whose grace has ended, recording ``merchant.api_secret_expired`` for each
    in the same transaction (once, however many schedulers run this at the same time); returns how many.

    Authentication compares the grace's end at every request, so a secret is refused from that moment on; this
    only tidies the row and tells the merchant."""
    async with transaction(pool) as cur:
        expired = await merchants.expire_previous_secrets(cur, EXPIRY_BATCH)
        for row in expired:
            await _record_expiry(cur, row["id"], row["expired_at"], "grace_ended")
    return len(expired)


def rate_limit(api, merchant: dict) -> tuple[int, int] | None:
    """The merchant's API rate limit (per second, burst): its own, else ``api.rate_limit`` and
    ``api.rate_limit_burst``; None when its rate is 0 (no limit)."""
    rate = api.rate_limit if merchant["rate_limit"] is None else merchant["rate_limit"]
    burst = api.rate_limit_burst if merchant["rate_limit_burst"] is None else merchant["rate_limit_burst"]
    return (rate, burst) if rate > 0 else None


async def set_rate_limit(pool: Pool, merchant_id: str, rate: int | None, burst: int | None) -> dict:
    """The merchant's own API rate limit (requests per second, and at once); None takes the configured one,
    a rate of 0 lifts the limit. Servers elsewhere apply it within their ``api.auth_cache_ttl``."""
    if rate is not None and rate < 0:
        raise BadRequest("rate must be 0 (unlimited) or more", field="rate")
    if burst is not None and burst < 1:
        raise BadRequest("burst must be 1 or more", field="burst")
    async with transaction(pool) as cur:
        row = await merchants.set_rate_limit(cur, merchant_id, rate, burst)
    authcache.forget(merchant_id)
    if row is None:
        raise NotFound(f"no merchant {merchant_id!r}", field="merchant_id")
    return {"merchant_id": row["id"], "rate_limit": row["rate_limit"], "rate_limit_burst": row["rate_limit_burst"]}

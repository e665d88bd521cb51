"""Creating merchants with fresh credentials."""

from __future__ import annotations

from ...infra import authcache, crypto
from ...infra.errors import Conflict, NotFound
from ...storage import merchants
from ...storage.db import Pool, cursor, transaction


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


async def rotate_api_secret(pool: Pool, box: crypto.SecretBox, merchant_id: str) -> dict:
    """A new API secret, returned this once.

    The previous one is refused from the moment this commits by this process, and by servers running
    elsewhere within their ``api.auth_cache_ttl`` (they remember authenticated merchants that long).
    """
    api_secret = crypto.new_api_secret()
    async with transaction(pool) as cur:
        row = await merchants.rotate_api_secret(cur, merchant_id, crypto.hash_secret(api_secret), box.seal(api_secret))
    authcache.forget(merchant_id)
    if row is None:
        raise NotFound(f"no merchant {merchant_id!r}", field="merchant_id")
    return {"merchant_id": row["id"], "api_key": row["api_key"], "api_secret": api_secret}

"""Authentication remembers merchants briefly; a rotated API secret stops working at once here, and within
api.auth_cache_ttl in a server that learns of the rotation only from the database."""

from __future__ import annotations

import asyncio

from paygate.core.operations.merchants import rotate_api_secret
from paygate.infra.crypto import SecretBox, hash_secret

from .conftest import MASTER_KEY


async def _status(client, key: str, secret: str) -> int:
    resp = await client.get("/api/v1/payments", headers={"X-Api-Key": key, "X-Api-Secret": secret})
    await resp.read()
    return resp.status


async def test_a_secret_rotated_through_this_process_is_refused_at_once(aiohttp_client, make_app, merchant, pool):
    client = await aiohttp_client(make_app(api__auth_cache_ttl=3600))
    key, old = merchant["api_key"], merchant["api_secret"]
    assert await _status(client, key, old) == 200  # now remembered

    rotated = await rotate_api_secret(pool, SecretBox(MASTER_KEY), merchant["merchant_id"])

    assert await _status(client, key, old) == 401
    assert await _status(client, key, rotated["api_secret"]) == 200


async def test_a_secret_rotated_elsewhere_is_refused_within_the_ttl_and_the_new_one_works_at_once(
        aiohttp_client, make_app, merchant, pool):
    client = await aiohttp_client(make_app(api__auth_cache_ttl=1))
    key, old = merchant["api_key"], merchant["api_secret"]
    assert await _status(client, key, old) == 200
    async with pool.acquire() as conn, conn.cursor() as cur:  # as another process would: no word to this one
        await cur.execute("UPDATE merchants SET api_secret_hash = %s WHERE id = %s",
                          (hash_secret("secret_new_one"), merchant["merchant_id"]))

    assert await _status(client, key, "secret_new_one") == 200  # a refused secret is checked against the row
    assert await _status(client, key, old) == 401  # ... which that check just refreshed
    await asyncio.sleep(1.1)
    assert await _status(client, key, old) == 401


async def test_a_deactivated_merchant_is_refused_within_the_ttl(aiohttp_client, make_app, merchant, pool):
    client = await aiohttp_client(make_app(api__auth_cache_ttl=1))
    key, secret = merchant["api_key"], merchant["api_secret"]
    assert await _status(client, key, secret) == 200
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("UPDATE merchants SET is_active = false WHERE id = %s", (merchant["merchant_id"],))
    await asyncio.sleep(1.1)
    assert await _status(client, key, secret) == 401


async def test_without_a_ttl_every_request_reads_the_merchant(aiohttp_client, make_app, merchant, pool):
    client = await aiohttp_client(make_app(api__auth_cache_ttl=0))
    key, secret = merchant["api_key"], merchant["api_secret"]
    assert await _status(client, key, secret) == 200
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("UPDATE merchants SET is_active = false WHERE id = %s", (merchant["merchant_id"],))
    assert await _status(client, key, secret) == 401


async def test_a_wrong_secret_is_refused_while_the_merchant_is_remembered(aiohttp_client, make_app, merchant):
    client = await aiohttp_client(make_app(api__auth_cache_ttl=3600))
    assert await _status(client, merchant["api_key"], merchant["api_secret"]) == 200
    assert await _status(client, merchant["api_key"], merchant["api_secret"] + "x") == 401


def test_a_read_that_began_before_a_rotation_is_not_remembered():
    """Request A reads the row, a rotation commits and forgets the merchant, then A would remember the old hash."""
    import time

    from paygate.infra.authcache import MerchantCache

    cache = MerchantCache(ttl=60)
    row = {"id": "mer_0123456789abcdef", "api_secret_hash": "old"}
    read_started = time.monotonic()
    cache.forget(row["id"])  # the rotation, committed while A's read was in flight
    cache.put("key_test_x", row, read_started)
    assert cache.get("key_test_x") is None
    cache.put("key_test_x", {**row, "api_secret_hash": "new"}, time.monotonic())  # a read after it is kept
    assert cache.get("key_test_x")["api_secret_hash"] == "new"

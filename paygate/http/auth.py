"""Merchant authentication: X-Api-Key + X-Api-Secret (the seed's) or HTTP Basic key:secret."""

from __future__ import annotations

import base64
import binascii
import time

from aiohttp import web

from ..infra.authcache import MerchantCache
from ..infra.crypto import secret_matches
from ..infra.errors import Unauthorized
from ..storage import merchants
from ..storage.db import Pool, cursor


def _credentials(request: web.Request) -> tuple[str | None, str | None]:
    key, secret = request.headers.get("X-Api-Key"), request.headers.get("X-Api-Secret")
    if key or secret:
        return key, secret
    header = request.headers.get("Authorization", "")
    if header[:6].lower() == "basic ":
        try:
            key, _, secret = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized("Authorization header is not valid Basic credentials") from None
        return key, secret
    return None, None


async def authenticate(request: web.Request, pool: Pool, cache: MerchantCache | None = None) -> dict:
    """The merchant whose key and secret (or, during a rotation's grace, previous secret) the request carries;
    401 otherwise.

    With ``cache``, a merchant looked up in the last ``api.auth_cache_ttl`` seconds is not looked up again
    (see authcache for what that allows); without, the row is read now (for views of the merchant itself).
    """
    key, secret = _credentials(request)
    if not key or not secret:
        raise Unauthorized("send X-Api-Key and X-Api-Secret headers (or HTTP Basic key:secret)")
    return await check_credentials(pool, key, secret, cache, previous=True)


def has_credentials(request: web.Request) -> bool:
    """Whether the request tries API-key auth at all (a dashboard session is used otherwise)."""
    headers = request.headers
    return "X-Api-Key" in headers or "X-Api-Secret" in headers or "Authorization" in headers


async def check_credentials(pool: Pool, key: str, secret: str, cache: MerchantCache | None = None, *,
                            previous: bool = False) -> dict:
    """The active merchant with this key and secret; 401 otherwise.

    With ``previous``, the secret a rotation replaced is accepted too until its grace period ends (the API's
    requests; a dashboard sign-in needs the current one, as its session outlives the grace).
    """
    if not (key.isprintable() and len(key) <= 255):
        raise Unauthorized("invalid API key or secret")
    merchant = cache.get(key) if cache is not None else None
    if merchant is None or not _accepts(merchant, secret, previous):
        # A miss, or a secret the remembered row refuses (perhaps rotated just now): ask the database.
        read_started = time.monotonic()
        async with cursor(pool) as cur:
            merchant = await merchants.by_api_key(cur, key)
        if merchant is not None and cache is not None:
            cache.put(key, merchant, read_started)  # only a fresh read starts the clock, so an entry lives ttl at most
    if merchant is None or not merchant["is_active"] or not _accepts(merchant, secret, previous):
        raise Unauthorized("invalid API key or secret")
    return merchant


def _accepts(merchant: dict, secret: str, previous: bool) -> bool:
    """The current secret, or (``previous``) the one before it while its grace runs. The grace's end is compared
    with the clock now, not when the row was read, so a remembered row never stretches it; the previous hash is
    only looked at when the current one refuses, so the usual request pays one hash compare."""
    if secret_matches(secret, merchant["api_secret_hash"]):
        return True
    until = merchant.get("api_secret_prev_until")
    return (previous and until is not None and until.timestamp() > time.time()
            and secret_matches(secret, merchant["api_secret_prev_hash"]))

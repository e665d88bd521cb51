"""Merchant authentication: X-Api-Key + X-Api-Secret (the seed's) or HTTP Basic key:secret."""

from __future__ import annotations

import base64
import binascii

import aiopg
from aiohttp import web

from .appkeys import MERCHANT_ID
from .crypto import secret_matches
from .db import cursor
from .errors import Unauthorized
from .storage import merchants


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


async def authenticate(request: web.Request, pool: aiopg.Pool) -> dict:
    """The merchant whose key and secret the request carries; 401 otherwise."""
    key, secret = _credentials(request)
    if not key or not secret:
        raise Unauthorized("send X-Api-Key and X-Api-Secret headers (or HTTP Basic key:secret)")
    if not (key.isprintable() and len(key) <= 255):
        raise Unauthorized("invalid API key or secret")
    async with cursor(pool) as cur:
        merchant = await merchants.by_api_key(cur, key)
    if merchant is None or not merchant["is_active"] or not secret_matches(secret, merchant["api_secret_hash"]):
        raise Unauthorized("invalid API key or secret")
    request[MERCHANT_ID] = merchant["id"]
    return merchant

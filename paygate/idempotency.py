"""Idempotency-Key: claim before work, record the response in the work's own transaction, replay it after.

The database decides: the claim is an INSERT on the (merchant_id, key) primary key, so
concurrent duplicates cannot both start, and the response is stored in the transaction
that writes the object, so a crash cannot leave one without the other.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass

from .db import Cursor, cursor, transaction
from .errors import BadRequest, PaygateError
from .services import Services
from .storage import idempotency as keys

KEY_PATTERN = re.compile(r"[\x20-\x7e]{1,255}")
HEADER = "Idempotency-Key"


class IdempotencyConflict(PaygateError):
    code = "IDEMPOTENCY_ERROR"


@dataclass
class Replay:
    status: int
    body: bytes


class Receipt:
    """Handed to an operation; it records the response (status + exact bytes) in the operation's transaction."""

    def __init__(self, status: int, merchant_id: str | None = None, key: str | None = None, token: str | None = None):
        self.status, self.merchant_id, self.key, self.token = status, merchant_id, key, token
        self.body: bytes | None = None

    async def record(self, cur: Cursor, result: dict) -> None:
        self.body = json.dumps(result).encode()
        if self.key is not None:
            await keys.complete(cur, self.merchant_id, self.key, self.token, self.status, self.body)


def check_key(key: str) -> str:
    if not KEY_PATTERN.fullmatch(key):
        raise BadRequest(f"{HEADER} must be 1 to 255 printable ASCII characters", field=HEADER)
    return key


def request_hash(method: str, path: str, body: bytes) -> str:
    """Equal for the same request: JSON bodies are compared by content, not by whitespace or key order."""
    try:
        canonical = json.dumps(json.loads(body or b"{}"), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = body
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + canonical).hexdigest()


async def claim(services: Services, merchant_id: str, key: str | None, method: str, path: str, body: bytes,
                status: int) -> Receipt | Replay:
    """A Receipt to do the work under, or the Replay of the first response; raises on a conflict."""
    if key is None:
        return Receipt(status)
    check_key(key)
    config = services.config.idempotency
    digest, token = request_hash(method, path, body), secrets.token_hex(16)
    async with cursor(services.pool) as cur:  # each statement its own transaction (autocommit)
        claimed = await keys.claim(cur, merchant_id, key, method, path, digest, token, config.ttl, config.lease)
        existing = None if claimed else await keys.get(cur, merchant_id, key)
    if claimed:
        return Receipt(status, merchant_id, key, token)
    if existing is None:  # it expired and was purged between the two statements: try once more
        return await claim(services, merchant_id, key, method, path, body, status)
    if (existing["request_method"], existing["request_path"], existing["request_hash"]) != (method, path, digest):
        raise IdempotencyConflict(
            f"{HEADER} {key!r} was used with a different request; use a new key for a new request",
            status=422, field=HEADER)
    if existing["state"] == "in_flight":
        raise IdempotencyConflict(
            f"a request with {HEADER} {key!r} is still being processed; retry shortly",
            status=409, field=HEADER, headers={"Retry-After": "1"})
    return Replay(existing["response_status"], bytes(existing["response_body"]))


async def release(services: Services, receipt: Receipt) -> None:
    """Free the key after a request that failed: the client may retry with it."""
    if receipt.key is not None:
        async with transaction(services.pool) as cur:
            await keys.release(cur, receipt.merchant_id, receipt.key, receipt.token)


async def purge_expired(services: Services) -> int:
    async with transaction(services.pool) as cur:
        return await keys.purge_expired(cur)

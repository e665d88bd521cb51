"""Idempotency-Key: claim before work, record the response in the work's own transaction, replay it after.

The database decides: the claim is an INSERT on the (merchant_id, key) primary key, so
concurrent duplicates cannot both start, and the response is stored in the transaction
that writes the object, so a crash cannot leave one without the other.

Nothing kept here gives away what it protects. The request hash is an HMAC under a key derived from
the master key, over a body whose card object is first replaced by its own keyed fingerprint: without
the master key, no guess at a card number or CVV can be checked against it. A response that reveals
a secret (a rotated webhook secret) is kept sealed (AES-GCM under the master key) and opened on replay.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from ..infra.crypto import SecretBox
from ..infra.errors import BadRequest, PaygateError, ServiceUnavailable
from ..storage import idempotency as keys
from ..storage.db import Cursor, cursor, transaction
from .services import Services

KEY_PATTERN = re.compile(r"[\x20-\x7e]{1,255}")
HEADER = "Idempotency-Key"
# HKDF labels ("paygate " + purpose) of the two keys: one for the request hash, one for card fingerprints in it.
REQUEST_HASH_PURPOSE = "idempotency request hash v1"
CARD_PURPOSE = "idempotency card fingerprint v1"
VERSION = "v1:"  # prefixes every request hash written now; a value without it was written before keying
# What migration 0004 put in place of an unkeyed hash of a card payment: that request can no longer be
# compared, so a retry with the same method and path replays (rather than a legitimate retry getting a 422).
REDACTED = "redacted"


class IdempotencyConflict(PaygateError):
    code = "IDEMPOTENCY_ERROR"


@dataclass
class Replay:
    status: int
    body: bytes


class Receipt:
    """Handed to an operation; it records the response (status + exact bytes) in the operation's transaction."""

    def __init__(self, status: int, merchant_id: str | None = None, key: str | None = None, token: str | None = None,
                 box: SecretBox | None = None):
        self.status, self.merchant_id, self.key, self.token, self.box = status, merchant_id, key, token, box
        self.body: bytes | None = None
        self.shape: Callable[[dict], dict] | None = None

    def answering(self, shape: Callable[[dict], dict]) -> Receipt:
        """This receipt, recording ``shape(result)`` rather than the operation's whole result.

        For an endpoint whose answer is narrower than the operation it calls (the public checkout's, never
        with the card): what is recorded, and so replayed, is exactly what that endpoint answers.
        """
        self.shape = shape
        return self

    async def record(self, cur: Cursor, result: dict, *, reveals_secret: bool = False) -> None:
        """``reveals_secret``: the response shows a secret, so it is stored sealed, never in the clear."""
        self.body = json.dumps(result if self.shape is None else self.shape(result)).encode()
        if self.key is not None:
            stored = _seal(self.box, self.merchant_id, self.key, self.body) if reveals_secret else self.body
            await keys.complete(cur, self.merchant_id, self.key, self.token, self.status, stored, reveals_secret)


def _context(merchant_id: str, key: str) -> bytes:
    """What a sealed response is bound to: copied into another merchant's or key's row, it does not open."""
    return f"paygate idempotent response\n{merchant_id}\n{key}".encode()


def _seal(box: SecretBox, merchant_id: str, key: str, body: bytes) -> bytes:
    return box.seal(body.decode(), _context(merchant_id, key)).encode()


def _open(box: SecretBox, merchant_id: str, key: str, stored: bytes) -> bytes:
    return box.open(stored.decode(), _context(merchant_id, key)).encode()


def check_key(key: str) -> str:
    if not KEY_PATTERN.fullmatch(key):
        raise BadRequest(f"{HEADER} must be 1 to 255 printable ASCII characters", field=HEADER)
    return key


def _dump(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _canonical(body: bytes, card_fingerprint: Callable[[bytes], str] | None = None) -> bytes:
    """Equal for the same request: JSON bodies are compared by content, not by whitespace or key order.

    With ``card_fingerprint``, a body's card object (number, CVV and all) is replaced by its fingerprint first,
    so the same card compares equal and a card differing in any field, the CVV alone included, does not.
    """
    try:
        data = json.loads(body or b"{}")
        if card_fingerprint is not None and isinstance(data, dict) and "card" in data:
            data["card"] = {"fingerprint": card_fingerprint(_dump(data["card"]))}
        return _dump(data)
    except (ValueError, UnicodeDecodeError, RecursionError):  # not JSON (the request is refused later): as sent
        return body


def _request_bytes(method: str, path: str, canonical: bytes) -> bytes:
    return method.encode() + b" " + path.encode() + b"\n" + canonical


def keyed_request_hash(box: SecretBox, method: str, path: str, body: bytes) -> str:
    """The stored request hash: ``v1:`` + HMAC-SHA256 under the request-hash key, card fields fingerprinted."""
    canonical = _canonical(body, lambda card: box.keyed_hash(CARD_PURPOSE, card))
    return VERSION + box.keyed_hash(REQUEST_HASH_PURPOSE, _request_bytes(method, path, canonical))


def request_hash(method: str, path: str, body: bytes) -> str:
    """The unkeyed SHA-256 that paygate stored before v1, which let anyone who read the table test guesses at
    a card's CVV. Never stored now: it only recognises rows that a process not yet upgraded wrote during a
    rolling upgrade (they expire after ``idempotency.ttl``). Remove it with that upgrade window."""
    return hashlib.sha256(_request_bytes(method, path, _canonical(body))).hexdigest()


def _same_request(existing: dict, method: str, path: str, body: bytes, digest: str) -> bool:
    """Whether the stored claim was made by this request, whatever form its hash was stored in."""
    if (existing["request_method"], existing["request_path"]) != (method, path):
        return False
    stored = existing["request_hash"]
    if stored.startswith(VERSION):
        return hmac.compare_digest(stored, digest)
    if stored == REDACTED:
        return True
    return hmac.compare_digest(stored, request_hash(method, path, body))


def _box(services: Services) -> SecretBox:
    if services.box is None:  # paygate serve and worker refuse to start so; only an app built by hand gets here
        raise ServiceUnavailable(f"{HEADER} is unavailable: security.master_key is not configured", field=HEADER)
    return services.box


async def claim(services: Services, merchant_id: str, key: str | None, method: str, path: str, body: bytes,
                status: int) -> Receipt | Replay:
    """A Receipt to do the work under, or the Replay of the first response; raises on a conflict."""
    if key is None:
        return Receipt(status)
    check_key(key)
    box, config = _box(services), services.config.idempotency
    digest, token = keyed_request_hash(box, method, path, body), secrets.token_hex(16)
    async with cursor(services.pool) as cur:  # each statement its own transaction (autocommit)
        claimed = await keys.claim(cur, merchant_id, key, method, path, digest, token, config.ttl, config.lease)
        existing = None if claimed else await keys.get(cur, merchant_id, key)
    if claimed:
        return Receipt(status, merchant_id, key, token, box)
    if existing is None:  # it expired and was purged between the two statements: try once more
        return await claim(services, merchant_id, key, method, path, body, status)
    if not _same_request(existing, method, path, body, digest):
        raise IdempotencyConflict(
            f"{HEADER} {key!r} was used with a different request; use a new key for a new request",
            status=422, field=HEADER)
    if existing["state"] == "in_flight":
        raise IdempotencyConflict(
            f"a request with {HEADER} {key!r} is still being processed; retry shortly",
            status=409, field=HEADER, headers={"Retry-After": "1"})
    stored = bytes(existing["response_body"])
    response = _open(box, merchant_id, key, stored) if existing["response_sealed"] else stored
    return Replay(existing["response_status"], response)


async def release(services: Services, receipt: Receipt) -> None:
    """Free the key after a request that failed: the client may retry with it."""
    if receipt.key is not None:
        async with transaction(services.pool) as cur:
            await keys.release(cur, receipt.merchant_id, receipt.key, receipt.token)


async def purge_expired(services: Services) -> int:
    async with transaction(services.pool) as cur:
        return await keys.purge_expired(cur)

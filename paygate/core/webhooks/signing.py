"""Signatures: the seed's X-Webhook-Signature and the Standard Webhooks headers."""

from __future__ import annotations

import base64
import hashlib
import hmac

from ... import __version__


def seed_signature(secret: str, body: bytes) -> str:
    """The seed's scheme: hex HMAC-SHA256 of the raw body, keyed by the secret string (paygate.verify checks it)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def standard_signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """Standard Webhooks v1: base64 HMAC-SHA256 of "id.timestamp.body", keyed by the secret's decoded bytes."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def headers(body: bytes, event_id: str, timestamp: int, secrets: list[str]) -> dict[str, str]:
    """Headers for one attempt. ``secrets`` is the current secret first, then a previous one still honoured."""
    current = secrets[0]
    result = {
        "Content-Type": "application/json",
        "User-Agent": f"paygate/{__version__}",
        "X-Webhook-Signature": seed_signature(current, body),
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(standard_signature(s, event_id, timestamp, body) for s in secrets),
    }
    if len(secrets) > 1:
        # Receivers still on the previous secret keep verifying during the overlap.
        result["X-Webhook-Signature-Previous"] = seed_signature(secrets[1], body)
    return result

"""Helpers for merchants' servers: check what paygate sends them.

    from paygate.verify import verify_checkout_signature
    ok = verify_checkout_signature(API_SECRET, order_id, payment_id, signature)
"""

from __future__ import annotations

import hashlib
import hmac

from .webhooks.signing import seed_signature


def checkout_signature(api_secret: str, order_id: str, payment_id: str) -> str:
    """hex HMAC-SHA256(API secret, order_id + "|" + payment_id): what checkout's onSuccess carries."""
    return hmac.new(api_secret.encode(), f"{order_id}|{payment_id}".encode(), hashlib.sha256).hexdigest()


def verify_checkout_signature(api_secret: str, order_id: str, payment_id: str, signature: str) -> bool:
    """True when ``signature`` came from paygate for this order and payment (constant-time compare)."""
    return hmac.compare_digest(checkout_signature(api_secret, order_id, payment_id), signature or "")


def verify_webhook_signature(webhook_secret: str, raw_body: bytes, signature: str) -> bool:
    """Check the seed's X-Webhook-Signature header against the raw request body."""
    return hmac.compare_digest(seed_signature(webhook_secret, raw_body), signature or "")

"""Helpers for merchants' servers: check what paygate sends them.

    from paygate.verify import verify_checkout_signature
    ok = verify_checkout_signature(API_SECRET, order_id, payment_id, signature)

    from paygate.verify import WebhookRejected, verify_webhook
    try:
        event = verify_webhook(WEBHOOK_SECRET, raw_body, request_headers)
    except WebhookRejected as exc:
        ...  # answer 400 with str(exc)

A webhook is refused when its signature does not match, or when its signed time is more than ``tolerance``
seconds (default 300, as Standard Webhooks and Stripe) from now, so a captured delivery cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping

from .core.webhooks.signing import seed_signature, standard_signature

DEFAULT_TOLERANCE = 300.0  # seconds either side of now


class WebhookRejected(ValueError):
    """A delivery not to be trusted; the message says why."""


def checkout_signature(api_secret: str, order_id: str, payment_id: str) -> str:
    """hex HMAC-SHA256(API secret, order_id + "|" + payment_id): what checkout's onSuccess carries."""
    return hmac.new(api_secret.encode(), f"{order_id}|{payment_id}".encode(), hashlib.sha256).hexdigest()


def verify_checkout_signature(api_secret: str, order_id: str, payment_id: str, signature: str) -> bool:
    """True when ``signature`` came from paygate for this order and payment (constant-time compare)."""
    return hmac.compare_digest(checkout_signature(api_secret, order_id, payment_id), signature or "")


def body_timestamp(raw_body: bytes) -> int | None:
    """The ``timestamp`` of a webhook body: the event's time in Unix seconds, covered by X-Webhook-Signature."""
    try:
        value = json.loads(raw_body).get("timestamp")
    except (ValueError, UnicodeDecodeError, AttributeError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def is_fresh(timestamp: int | None, tolerance: float | None = DEFAULT_TOLERANCE, now: float | None = None) -> bool:
    """True when ``timestamp`` (Unix seconds) is within ``tolerance`` seconds of now; ``tolerance=None``: always."""
    if tolerance is None:
        return True
    if timestamp is None:
        return False
    return abs((time.time() if now is None else now) - timestamp) <= tolerance


def _lowered(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names as a plain dict of any framework spells them (a dict is case-sensitive)."""
    return {name.lower(): value for name, value in headers.items()}


def seed_verdict(secret: str, raw_body: bytes, headers: Mapping[str, str]) -> str:
    """X-Webhook-Signature (or, during a secret rotation, X-Webhook-Signature-Previous): valid, invalid or absent."""
    found = [v.strip() for k, v in _lowered(headers).items()
             if k in ("x-webhook-signature", "x-webhook-signature-previous")]
    if not found:
        return "absent"
    expected = seed_signature(secret, raw_body)
    return "valid" if any(hmac.compare_digest(expected, f) for f in found) else "invalid"


def standard_verdict(secret: str, raw_body: bytes, headers: Mapping[str, str], *,
                     tolerance: float | None = DEFAULT_TOLERANCE, now: float | None = None) -> str:
    """Standard Webhooks: any ``v1,<base64>`` entry of webhook-signature over "id.timestamp.body" will do; then
    webhook-timestamp, which that signature covers, must be within ``tolerance``. valid, invalid, stale or absent."""
    lowered = _lowered(headers)
    header = lowered.get("webhook-signature")
    if header is None:
        return "absent"
    message_id, timestamp = lowered.get("webhook-id"), lowered.get("webhook-timestamp", "").strip()
    if message_id is None or not timestamp.isdigit():
        return "invalid"
    expected = standard_signature(secret, message_id, int(timestamp), raw_body)
    if not any(hmac.compare_digest(expected, entry) for entry in header.split()):
        return "invalid"
    return "valid" if is_fresh(int(timestamp), tolerance, now) else "stale"


def verdicts(secret: str, raw_body: bytes, headers: Mapping[str, str], *,
             tolerance: float | None = DEFAULT_TOLERANCE, now: float | None = None) -> tuple[str, str]:
    """(X-Webhook-Signature, webhook-signature) verdicts, each valid, invalid, stale or absent.

    Freshness is judged on a signed time: webhook-timestamp, each attempt's own, when the Standard signature is
    there; without it, the body's timestamp, the only time X-Webhook-Signature covers. That one is the event's,
    so a retry sent later than the tolerance passes only through the Standard signature; and stripping the
    Standard headers off a captured delivery does not get round the window.
    """
    standard = standard_verdict(secret, raw_body, headers, tolerance=tolerance, now=now)
    seed = seed_verdict(secret, raw_body, headers)
    if seed == "valid" and standard == "absent" and not is_fresh(body_timestamp(raw_body), tolerance, now):
        seed = "stale"
    return seed, standard


def verify_webhook(webhook_secret: str, raw_body: bytes, headers: Mapping[str, str], *,
                   tolerance: float | None = DEFAULT_TOLERANCE, now: float | None = None) -> dict:
    """The event of a genuine, fresh delivery (raw body and headers as received); WebhookRejected otherwise.

    Every signature present must match, at least one must be there, and the signed time must be within
    ``tolerance`` seconds of now (``None``: no replay window, e.g. to re-read an archived delivery).
    """
    seed, standard = verdicts(webhook_secret, raw_body, headers, tolerance=tolerance, now=now)
    if seed == standard == "absent":
        raise WebhookRejected("not signed: neither X-Webhook-Signature nor webhook-signature is present")
    if "invalid" in (seed, standard):
        raise WebhookRejected("signature does not match: not sent by paygate with this secret, or altered")
    if "stale" in (seed, standard):
        raise WebhookRejected(f"timestamp more than {tolerance:g} s from now: a replayed or long-delayed delivery")
    return json.loads(raw_body)


def verify_webhook_signature(webhook_secret: str, raw_body: bytes, signature: str, *,
                             tolerance: float | None = None, now: float | None = None) -> bool:
    """The seed's X-Webhook-Signature alone (an HMAC of the raw body), and with ``tolerance`` the body's
    ``timestamp`` within that many seconds of now. Off by default, as in the seed: that timestamp is the event's,
    so every retry sent later than the tolerance (at 5 min, 30 min, 2 h) would be refused and the delivery lost.
    ``verify_webhook``, given the headers, refuses replays and accepts retries through the Standard signature's
    per-attempt time."""
    return (hmac.compare_digest(seed_signature(webhook_secret, raw_body), signature or "")
            and is_fresh(body_timestamp(raw_body), tolerance, now))


def verify_standard_webhook(webhook_secret: str, raw_body: bytes, headers: Mapping[str, str], *,
                            tolerance: float | None = DEFAULT_TOLERANCE, now: float | None = None) -> bool:
    """The Standard Webhooks signature and its webhook-timestamp within ``tolerance`` seconds of now."""
    return standard_verdict(webhook_secret, raw_body, headers, tolerance=tolerance, now=now) == "valid"

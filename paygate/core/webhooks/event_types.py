"""Every event type paygate records: what a webhook endpoint may subscribe to (``enabled_events``)."""

from __future__ import annotations

EVENT_TYPES = (
    "payment.created", "payment.success", "payment.failed", "payment.captured", "payment.capture_failed",
    "payment.voided", "payment.released",
    "refund.created", "refund.processed", "refund.failed",
    "merchant.api_secret_rotated", "merchant.api_secret_expired",
    "webhook.test",
)

# Subscribes to every type but webhook.test, which goes to the endpoint it tests only.
EVERY = "*"

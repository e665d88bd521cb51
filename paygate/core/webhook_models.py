"""The webhook objects, as core.models describes them: deliveries with their attempts, and endpoints."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field

from .models import DeliveryId, EventId, MerchantId, Page, Shape, Timestamp, _id, absent, iso, mask_secret

EndpointId = _id("we", "webhook endpoint")


class Attempt(Shape):
    """One HTTP attempt of a webhook delivery."""

    number: int = Field(ge=1)
    trigger: Literal["initial", "automatic", "manual"]
    status_code: int | None = Field(description="the endpoint's HTTP status; null when it could not be reached")
    response_body: str | None = Field(max_length=1024)
    error: str | None
    duration_ms: int = Field(ge=0)
    created_at: Timestamp

    @staticmethod
    def view(row: dict) -> dict:
        return {
            "number": row["number"],
            "trigger": row["trigger"],
            "status_code": row["status_code"],
            "response_body": row["response_body"],
            "error": row["error"],
            "duration_ms": row["duration_ms"],
            "created_at": iso(row["created_at"]),
        }


class WebhookDelivery(Shape):
    """One event's delivery to one of the merchant's endpoints, over all its attempts."""

    id: DeliveryId
    entity: Literal["webhook_delivery"]
    event: str = Field(examples=["payment.captured"])
    event_id: EventId
    endpoint_id: str | None = Field(description="the webhook endpoint (we_…) it goes to; null for the merchant's "
                                                "webhook_url")
    url: str
    status: Literal["pending", "success", "failed"]
    attempts: int = Field(ge=0)
    next_retry_at: Timestamp | None
    last_attempt_at: Timestamp | None
    response_code: int | None
    response_body: str | None
    payload: dict[str, Any] = Field(description="the signed JSON body sent on every attempt")
    created_at: Timestamp
    updated_at: Timestamp
    attempt_history: list[Attempt] = absent()

    @staticmethod
    def view(row: dict, attempts: list[dict] | None = None) -> dict:
        shaped = {
            "id": row["id"],
            "entity": "webhook_delivery",
            "event": row["event"],
            "event_id": row["event_id"],
            "endpoint_id": row["endpoint_id"],
            "url": row["url"],
            "status": row["status"],
            "attempts": row["attempts"],
            "next_retry_at": iso(row["next_retry_at"]),
            "last_attempt_at": iso(row["last_attempt_at"]),
            "response_code": row["response_code"],
            "response_body": row["response_body"],
            "payload": json.loads(row["payload"]),
            "created_at": iso(row["created_at"]),
            "updated_at": iso(row["updated_at"]),
        }
        if attempts is not None:
            shaped["attempt_history"] = [Attempt.view(a) for a in attempts]
        return shaped


class WebhookDeliveryList(Page[WebhookDelivery]):
    """A page of webhook deliveries."""


class WebhookEndpoint(Shape):
    """Where a merchant receives the events it subscribed to, signed with the endpoint's own secret."""

    id: EndpointId
    entity: Literal["webhook_endpoint"]
    merchant_id: MerchantId
    url: str
    description: str | None
    enabled_events: list[str] = Field(description='event types, or ["*"]: every event but webhook.test')
    secret: str = Field(description="masked (whsec_…abcd) except when created and rotated")
    status: Literal["enabled", "disabled"]
    disabled_reason: str | None = Field(description="why paygate disabled it (a 410 Gone); null when the "
                                                    "merchant did")
    previous_secret_valid_until: Timestamp | None = Field(
        description="after a rotation, deliveries are signed with the previous secret too until then")
    created_at: Timestamp
    updated_at: Timestamp

    @staticmethod
    def view(row: dict, secret: str, reveal: bool = False) -> dict:
        return {
            "id": row["id"],
            "entity": "webhook_endpoint",
            "merchant_id": row["merchant_id"],
            "url": row["url"],
            "description": row["description"],
            "enabled_events": list(row["enabled_events"]),
            "secret": secret if reveal else mask_secret(secret),
            "status": "disabled" if row["disabled"] else "enabled",
            "disabled_reason": row["disabled_reason"],
            "previous_secret_valid_until": iso(row["secret_prev_until"]),
            "created_at": iso(row["created_at"]),
            "updated_at": iso(row["updated_at"]),
        }


class DeletedWebhookEndpoint(Shape):
    id: EndpointId
    entity: Literal["webhook_endpoint"]
    deleted: Literal[True]

    @staticmethod
    def view(row: dict) -> dict:
        return {"id": row["id"], "entity": "webhook_endpoint", "deleted": True}


class WebhookEndpointList(Page[WebhookEndpoint]):
    pass

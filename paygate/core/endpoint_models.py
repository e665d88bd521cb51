"""The webhook endpoint objects (as core.models, in a module of their own)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .models import MerchantId, Page, Shape, Timestamp, _id, iso, mask_secret

EndpointId = _id("we", "webhook endpoint")


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

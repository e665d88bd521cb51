"""The API's objects: each response model (for the OpenAPI document and the tests) with ``view``, which builds
its dict from a database row. One class per object, so a field is added in one place; http.api_models adds the
shapes only HTTP answers have, and core.webhook_models holds the webhook deliveries and endpoints.

``view`` builds plain dicts (on the hot path: every answer, event payload and idempotent receipt), not model
instances; the models describe those dicts field for field (``extra="forbid"``, so a field a view adds without
documenting it shows up as a violation in the tests). A nullable field is ``X | None`` and always present; a field
that may be absent uses ``absent()``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from .schemas import METADATA_KEYS, NOTES, NoteValue
from .states import STATUSES


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with millisecond precision and a Z, as every timestamp in the API."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def refund_status(row: dict) -> str:
    if row["amount_refunded"] == 0:
        return "none"
    return "full" if row["amount_refunded"] == row["amount_captured"] else "partial"


def mask_secret(secret: str) -> str:
    return "whsec_…" + secret[-4:]


def _drop_default(schema: dict) -> None:
    schema.pop("default", None)


def absent() -> Any:
    """A field that is sometimes left out of the object (never null when present)."""
    return Field(default=None, json_schema_extra=_drop_default)


def _id(prefix: str, what: str) -> Any:
    return Annotated[str, Field(pattern=f"^{prefix}_[A-Za-z0-9]{{16,}}$", description=f"{what} id",
                                examples=[f"{prefix}_" + "4fJ2kQ9xLmN7pR1s"])]


OrderId = _id("order", "order")
PaymentId = _id("pay", "payment")
RefundId = _id("rfnd", "refund")
EventId = _id("evt", "event")
DeliveryId = _id("whd", "webhook delivery")
MerchantId = _id("mer", "merchant")
Currency = Annotated[str, Field(pattern="^[A-Z]{3}$", description="ISO 4217 code", examples=["INR"])]
Amount = Annotated[int, Field(gt=0, description="in the currency's minor unit (paise for INR)")]
Minor = Annotated[int, Field(ge=0, description="in the currency's minor unit")]
Timestamp = Annotated[datetime, Field(description="ISO 8601 UTC with milliseconds, e.g. 2025-01-31T12:00:00.000Z")]
Method = Literal["card", "upi"]
CaptureMethod = Literal["automatic", "manual"]
PaymentStatus = Literal[STATUSES["payment"]]


class Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Order(Shape):
    """An order: what the shopper is asked to pay."""

    id: OrderId
    entity: Literal["order"]
    merchant_id: MerchantId
    amount: Amount
    currency: Currency
    receipt: str | None = Field(max_length=40)
    notes: dict[str, NoteValue] = Field(description=f"key-value pairs, as given (up to {NOTES} through notes, "
                                                    f"{METADATA_KEYS} through metadata)")
    metadata: dict[str, NoteValue] = Field(description="the same pairs as notes, under Stripe's name")
    capture_method: CaptureMethod
    status: Literal["created", "attempted", "paid"]
    created_at: Timestamp
    updated_at: Timestamp

    @staticmethod
    def view(row: dict) -> dict:
        return {
            "id": row["id"],
            "entity": "order",
            "merchant_id": row["merchant_id"],
            "amount": row["amount"],
            "currency": row["currency"].strip(),
            "receipt": row["receipt"],
            "notes": row["notes"],
            "metadata": row["notes"],
            "capture_method": row["capture_method"],
            "status": row["status"],
            "created_at": iso(row["created_at"]),
            "updated_at": iso(row["updated_at"]),
        }


class Card(Shape):
    """What is kept of a card: never the number or the CVV."""

    network: str = Field(examples=["visa"])
    last4: str = Field(pattern="^[0-9]{4}$")
    expiry_month: int = Field(ge=1, le=12)
    expiry_year: int
    fingerprint: str | None = Field(description="a keyed hash of the card number: equal for the same card")


class Payment(Shape):
    """One attempt to pay an order, by card or UPI."""

    id: PaymentId
    entity: Literal["payment"]
    order_id: OrderId
    merchant_id: MerchantId
    amount: Amount
    currency: Currency
    method: Method
    vpa: str | None = Field(description="the UPI id, for method upi")
    card: Card | None = Field(description="for method card")
    status: PaymentStatus
    capture_method: CaptureMethod
    captured: bool
    amount_captured: Minor
    amount_refunded: Minor
    refund_status: Literal["none", "partial", "full"]
    captured_at: Timestamp | None
    authorization_released_at: Timestamp | None = Field(
        description="when an uncaptured authorization (or the uncaptured rest of one) was given back")
    void_reason: Literal["requested", "expired"] | None = Field(
        description="why the authorization was voided (status void_pending or voided): cancelled through the API, "
                    "the dashboard or the CLI, or left uncaptured past the authorization window")
    error_code: str | None = Field(description="set when status is failed")
    error_description: str | None
    metadata: dict[str, str] = Field(description=f"the merchant's key-value pairs (up to {METADATA_KEYS})")
    created_at: Timestamp
    updated_at: Timestamp

    @staticmethod
    def view(row: dict) -> dict:
        card = None
        if row["method"] == "card":
            card = {
                "network": row["card_network"],
                "last4": row["card_last4"],
                "expiry_month": row["card_expiry_month"],
                "expiry_year": row["card_expiry_year"],
                "fingerprint": row["card_fingerprint"],
            }
        return {
            "id": row["id"],
            "entity": "payment",
            "order_id": row["order_id"],
            "merchant_id": row["merchant_id"],
            "amount": row["amount"],
            "currency": row["currency"].strip(),
            "method": row["method"],
            "vpa": row["vpa"],
            "card": card,
            "status": row["status"],
            "capture_method": row["capture_method"],
            "captured": row["captured"],
            "amount_captured": row["amount_captured"],
            "amount_refunded": row["amount_refunded"],
            "refund_status": refund_status(row),
            "captured_at": iso(row["captured_at"]),
            "authorization_released_at": iso(row["released_at"]),
            "void_reason": row["void_reason"],
            "error_code": row["error_code"],
            "error_description": row["error_description"],
            "metadata": row["metadata"],
            "created_at": iso(row["created_at"]),
            "updated_at": iso(row["updated_at"]),
        }


class Refund(Shape):
    """Money given back on a captured payment; several may add up to the captured amount."""

    id: RefundId
    entity: Literal["refund"]
    payment_id: PaymentId
    merchant_id: MerchantId
    amount: Amount
    currency: Currency
    reason: str | None = Field(max_length=255)
    status: Literal[STATUSES["refund"]]
    error_code: str | None
    error_description: str | None
    processed_at: Timestamp | None
    metadata: dict[str, str] = Field(description=f"the merchant's key-value pairs (up to {METADATA_KEYS})")
    created_at: Timestamp
    updated_at: Timestamp

    @staticmethod
    def view(row: dict) -> dict:
        return {
            "id": row["id"],
            "entity": "refund",
            "payment_id": row["payment_id"],
            "merchant_id": row["merchant_id"],
            "amount": row["amount"],
            "currency": row["currency"].strip(),
            "reason": row["reason"],
            "status": row["status"],
            "error_code": row["error_code"],
            "error_description": row["error_description"],
            "processed_at": iso(row["processed_at"]),
            "metadata": row["metadata"],
            "created_at": iso(row["created_at"]),
            "updated_at": iso(row["updated_at"]),
        }


class Event(Shape):
    """Something that happened to an object, written in the same transaction as the change."""

    id: EventId
    entity: Literal["event"]
    event: str = Field(pattern=r"^[a-z_]+\.[a-z_]+$", examples=["payment.captured"])
    object_id: str
    data: dict[str, Any] = Field(description="the object as it was after the change, e.g. {\"payment\": {...}}")
    created_at: Timestamp

    @staticmethod
    def view(row: dict) -> dict:
        return {
            "id": row["id"],
            "entity": "event",
            "event": row["type"],
            "object_id": row["object_id"],
            "data": row["payload"],
            "created_at": iso(row["created_at"]),
        }


class RateLimit(Shape):
    per_second: int = Field(ge=1, description="requests per second, sustained (api.rate_limit)")
    burst: int = Field(ge=1, description="requests at once (api.rate_limit_burst)")
    own: bool = Field(description="set for this merchant (paygate merchants set-rate-limit), not the default")


class Merchant(Shape):
    """The authenticated merchant and its webhook endpoint."""

    id: MerchantId
    entity: Literal["merchant"]
    name: str
    email: str
    api_key: str
    webhook_url: str | None
    webhook_secret: str = Field(description="masked (whsec_…abcd) except in the answer to a rotation")
    webhook_enabled: bool
    webhook_disabled_reason: str | None = Field(description="why paygate disabled the endpoint (e.g. a 410 Gone)")
    api_rate_limit: RateLimit | None = Field(description="the merchant's API rate limit; null: none")
    created_at: Timestamp

    @staticmethod
    def view(row: dict, webhook_secret: str, rate_limit: tuple[int, int] | None = None) -> dict:
        return {
            "id": row["id"],
            "entity": "merchant",
            "name": row["name"],
            "email": row["email"],
            "api_key": row["api_key"],
            "webhook_url": row["webhook_url"],
            "webhook_secret": mask_secret(webhook_secret),
            "webhook_enabled": row["webhook_enabled"],
            "webhook_disabled_reason": row["webhook_disabled_reason"],
            "api_rate_limit": None if rate_limit is None else {
                "per_second": rate_limit[0], "burst": rate_limit[1], "own": row["rate_limit"] is not None},
            "created_at": iso(row["created_at"]),
        }


class WebhookSecret(Shape):
    """The webhook signing secret in full."""

    webhook_secret: str = Field(description="whsec_ + base64 of 32 bytes; verify X-Webhook-Signature with it")


class RotatedSecret(Merchant):
    """The merchant with its new webhook secret in full, shown this once."""

    previous_secret_valid_until: Timestamp | None = Field(
        description="until then deliveries are signed with both the new and the previous secret")


T = TypeVar("T")


class Page(Shape, Generic[T]):
    """The list shape: one page of ``data`` and the ``total`` matching the filters."""

    data: list[T]
    total: int = Field(ge=0, description="every object matching the filters, whichever page this is")
    limit: int = Field(ge=0)
    offset: int = Field(ge=0, description="objects skipped; 0 on a page given by starting_after or ending_before")
    has_more: bool = Field(description="more objects follow: older ones, or newer ones on a page from ending_before")

    @staticmethod
    def view(items: list[dict], total: int, limit: int, offset: int, has_more: bool = False) -> dict:
        """The seed's list shape, and whether more follow."""
        return {"data": items, "total": total, "limit": limit, "offset": offset, "has_more": has_more}


class OrderList(Page[Order]):
    """A page of orders."""


class PaymentList(Page[Payment]):
    """A page of payments."""


class RefundList(Page[Refund]):
    """A page of refunds."""


class EventList(Page[Event]):
    """A page of events."""

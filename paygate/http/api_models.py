"""Every response body of the HTTP API as a pydantic model, for the OpenAPI document and its tests.

Documentation and validation only: the handlers answer with the dicts of ``views`` and the
operations, and these models describe those dicts field for field (``extra="forbid"``, so a
field added to a view without being documented here shows up as a violation in the tests).
A nullable field is ``X | None`` and always present; a field that may be absent uses ``absent()``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from ..core.schemas import NoteValue
from ..core.states import STATUSES


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
    notes: dict[str, NoteValue] = Field(description="up to 15 key-value pairs, as given")
    capture_method: CaptureMethod
    status: Literal["created", "attempted", "paid"]
    created_at: Timestamp
    updated_at: Timestamp


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
    created_at: Timestamp
    updated_at: Timestamp


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
    created_at: Timestamp
    updated_at: Timestamp


class Event(Shape):
    """Something that happened to an object, written in the same transaction as the change."""

    id: EventId
    entity: Literal["event"]
    event: str = Field(pattern=r"^[a-z_]+\.[a-z_]+$", examples=["payment.captured"])
    object_id: str
    data: dict[str, Any] = Field(description="the object as it was after the change, e.g. {\"payment\": {...}}")
    created_at: Timestamp


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
    created_at: Timestamp


class WebhookSecret(Shape):
    """The webhook signing secret in full."""

    webhook_secret: str = Field(description="whsec_ + base64 of 32 bytes; verify X-Webhook-Signature with it")


class RotatedSecret(Merchant):
    """The merchant with its new webhook secret in full, shown this once."""

    previous_secret_valid_until: Timestamp | None = Field(
        description="until then deliveries are signed with both the new and the previous secret")


class Attempt(Shape):
    """One HTTP attempt of a webhook delivery."""

    number: int = Field(ge=1)
    trigger: Literal["initial", "automatic", "manual"]
    status_code: int | None = Field(description="the endpoint's HTTP status; null when it could not be reached")
    response_body: str | None = Field(max_length=1024)
    error: str | None
    duration_ms: int = Field(ge=0)
    created_at: Timestamp


class WebhookDelivery(Shape):
    """One event's delivery to the merchant's endpoint, over all its attempts."""

    id: DeliveryId
    entity: Literal["webhook_delivery"]
    event: str = Field(examples=["payment.captured"])
    event_id: EventId
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


T = TypeVar("T")


class Page(Shape, Generic[T]):
    """The list shape: one page of ``data`` and the ``total`` matching the filters."""

    data: list[T]
    total: int = Field(ge=0)
    limit: int = Field(ge=0)
    offset: int = Field(ge=0)


class OrderList(Page[Order]):
    """A page of orders."""


class PaymentList(Page[Payment]):
    """A page of payments."""


class RefundList(Page[Refund]):
    """A page of refunds."""


class EventList(Page[Event]):
    """A page of events."""


class WebhookDeliveryList(Page[WebhookDelivery]):
    """A page of webhook deliveries."""


class ErrorDetail(Shape):
    code: str = Field(description="stable, machine-readable", examples=["BAD_REQUEST_ERROR"])
    description: str = Field(description="for a person; may change between versions")
    field: str = absent()
    request_id: str = Field(description="the X-Request-Id of this request; quote it to support")


class Error(Shape):
    """Every error answer."""

    error: ErrorDetail


class TestWebhook(Shape):
    """The webhook.test event and its delivery, enqueued."""

    __test__ = False  # not a pytest test class

    event: Event
    delivery: WebhookDelivery


class Recovered(Shape):
    requeued: int = Field(ge=0, description="failed deliveries reset to pending and enqueued")


class JobsStatus(Shape):
    """The payment queue as the workers see it."""

    pending: int = Field(ge=0)
    processing: int = Field(ge=0)
    completed: int = Field(ge=0)
    failed: int = Field(ge=0)
    workers: int = Field(ge=0)
    worker_status: Literal["running", "stopped"]


class CheckoutOrderSummary(Shape):
    id: OrderId
    amount: Amount
    currency: Currency
    amount_display: str = Field(examples=["500.00"], description="the amount in major units, as shown to a shopper")
    status: Literal["created", "attempted", "paid"]


class CheckoutMerchant(Shape):
    name: str


class TestInstrument(Shape):
    """A magic test input of the simulator (paygate/processors/testcards.py)."""

    __test__ = False  # its name starts with Test: keep pytest from collecting it where it is imported

    method: Method
    value: str = Field(description="the card number or UPI id", examples=["4000000000000002"])
    outcome: str = Field(description="what happens, for people", examples=["Declined by the issuer"])
    error_code: str | None = Field(description="the payment's error code (for refundfail@paygate, its refunds')",
                                   examples=["CARD_DECLINED"])


class CheckoutOrder(Shape):
    """What the hosted page may know of an order."""

    order: CheckoutOrderSummary
    merchant: CheckoutMerchant
    payable: bool
    test_instruments: list[TestInstrument] = absent()  # only for a test key (key_test_…)


class CheckoutPayment(Shape):
    """A payment just made through checkout: status only."""

    id: PaymentId
    order_id: OrderId
    status: PaymentStatus
    method: Method


class CheckoutPaymentStatus(CheckoutPayment):
    """Status only: no card, no VPA, nothing personal."""

    error_code: str | None
    error_description: str | None
    signature: str | None = Field(
        description="when status is success: hex HMAC-SHA256(API secret, order_id + '|' + id), "
                    "for the merchant's server to verify")


class Health(Shape):
    status: Literal["ok"]


class Check(Shape):
    ok: bool
    reason: str = absent()


class Readiness(Shape):
    status: Literal["ready", "unavailable"]
    checks: dict[str, Check] = Field(description="postgres and redis")


class OpenAPIDocument(BaseModel):
    """An OpenAPI 3.1 document (this one)."""

    model_config = ConfigDict(extra="allow")

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]

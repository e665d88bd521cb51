"""The response bodies only HTTP answers have (errors, test webhooks, recovery, job status, checkout, health), as
pydantic models for the OpenAPI document and its tests. The API's objects (orders, payments, refunds, events,
the merchant, webhook deliveries, their pages) are core.models, each with the ``view`` that builds it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..core.models import (
    Amount,
    Currency,
    Event,
    Method,
    OrderId,
    PaymentId,
    PaymentStatus,
    Shape,
    absent,
)
from ..core.webhook_models import WebhookDelivery


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

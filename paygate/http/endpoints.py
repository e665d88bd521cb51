"""Every route of the HTTP API as documented: its auth, request model (from ``core.schemas``), query
parameters, success status and response model (from ``api_models``), the error statuses it can answer, and an
example, told as one story (an order, its card payment, a partial refund, their events). ``openapi`` builds the
document from this table; the tests check the app's routes against it both ways."""


from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

from pydantic import BaseModel

from ..core import schemas
from ..core.processors import testcards
from ..core.states import STATUSES
from . import api_models

API = "/api/v1"
Auth = Literal["merchant", "public", "none"]


@dataclass(frozen=True)
class Query:
    """One query parameter."""

    name: str
    description: str
    schema: dict
    required: bool = False
    example: object = None


@dataclass(frozen=True)
class Operation:
    """One route of the API, as documented."""

    method: str
    path: str
    operation_id: str
    summary: str
    description: str
    tag: str
    auth: Auth
    status: int
    response: type[BaseModel]
    errors: tuple[int, ...]
    example_response: dict
    request: type[BaseModel] | None = None
    example_request: dict | None = None
    query: tuple[Query, ...] = ()
    # the example of a 202 of the same shape, when the operation may answer one: the processor was asked and no
    # answer came in time
    pending_example: dict | None = None

    @property
    def idempotent(self) -> bool:
        """A POST (a merchant's, or the checkout's payment) runs under the Idempotency-Key header (when sent)."""
        return self.method == "POST" and self.auth in ("merchant", "public")


# -- examples: one coherent story (an order, its card payment, a partial refund, their events) -------------

MERCHANT_ID = "mer_8HsX2aQ4nZ7kLp3W"
ORDER_ID, PAYMENT_ID, REFUND_ID = "order_4fJ2kQ9xLmN7pR1s", "pay_Q7wE3rT5yU8iO1pA", "rfnd_Z2xC4vB6nM8kJ0hG"
EVENT_ID, DELIVERY_ID = "evt_L3kJ5hG7fD9sA1qW", "whd_P0oI9uY8tR7eW6qA"
AT, LATER = "2025-01-31T12:00:00.000Z", "2025-01-31T12:00:02.512Z"

ORDER = {
    "id": ORDER_ID, "entity": "order", "merchant_id": MERCHANT_ID, "amount": 50000, "currency": "INR",
    "receipt": "rcpt_1001", "notes": {"customer": "c_42"}, "capture_method": "automatic", "status": "paid",
    "created_at": AT, "updated_at": LATER,
}
PAYMENT = {
    "id": PAYMENT_ID, "entity": "payment", "order_id": ORDER_ID, "merchant_id": MERCHANT_ID, "amount": 50000,
    "currency": "INR", "method": "card", "vpa": None,
    "card": {"network": "visa", "last4": "1111", "expiry_month": 12, "expiry_year": 2030,
             "fingerprint": "fp_9c1d7e0b54a2"},
    "status": "success", "capture_method": "automatic", "captured": True, "amount_captured": 50000,
    "amount_refunded": 0, "refund_status": "none", "captured_at": LATER, "authorization_released_at": None,
    "void_reason": None, "error_code": None, "error_description": None, "created_at": AT, "updated_at": LATER,
}
MANUAL_AUTHORIZED = {**PAYMENT, "capture_method": "manual", "captured": False, "amount_captured": 0,
                     "captured_at": None}
MANUAL_CAPTURE_PENDING = {**MANUAL_AUTHORIZED, "status": "capture_pending"}
REFUND = {
    "id": REFUND_ID, "entity": "refund", "payment_id": PAYMENT_ID, "merchant_id": MERCHANT_ID, "amount": 10000,
    "currency": "INR", "reason": "one item returned", "status": "pending", "error_code": None,
    "error_description": None, "processed_at": None, "created_at": LATER, "updated_at": LATER,
}
EVENT = {"id": EVENT_ID, "entity": "event", "event": "payment.captured", "object_id": PAYMENT_ID,
         "data": {"payment": PAYMENT}, "created_at": LATER}
MERCHANT = {
    "id": MERCHANT_ID, "entity": "merchant", "name": "Test Merchant", "email": "test@example.com",
    "api_key": "key_test_abc123", "webhook_url": "https://shop.example/hooks/paygate",
    "webhook_secret": "whsec_…Qx8=", "webhook_enabled": True, "webhook_disabled_reason": None, "created_at": AT,
}
ATTEMPT = {"number": 1, "trigger": "initial", "status_code": 200, "response_body": "ok", "error": None,
           "duration_ms": 84, "created_at": LATER}
DELIVERY = {
    "id": DELIVERY_ID, "entity": "webhook_delivery", "event": "payment.captured", "event_id": EVENT_ID,
    "url": "https://shop.example/hooks/paygate", "status": "success", "attempts": 1, "next_retry_at": None,
    "last_attempt_at": LATER, "response_code": 200, "response_body": "ok",
    "payload": {"id": EVENT_ID, "event": "payment.captured", "data": {"payment": {"id": PAYMENT_ID}}},
    "created_at": LATER, "updated_at": LATER,
}
PENDING_DELIVERY = {**DELIVERY, "status": "pending", "attempts": 0, "next_retry_at": LATER,
                    "last_attempt_at": None, "response_code": None, "response_body": None}
CARD_REQUEST = {"number": "4111111111111111", "expiry_month": 12, "expiry_year": 2030, "cvv": "123",
                "name": "Asha Rao"}


def _page(*items: dict, total: int | None = None, limit: int = 10) -> dict:
    return {"data": list(items), "total": len(items) if total is None else total, "limit": limit, "offset": 0}


# -- query parameters ---------------------------------------------------------------------------------------

TEXT = {"type": "string", "minLength": 1, "maxLength": 255}


def _status(*values: str) -> Query:
    return Query("status", "only objects in this status", {"type": "string", "enum": list(values)})


def _text(name: str, description: str, example: str) -> Query:
    return Query(name, description, TEXT, example=example)


def _key(where: str) -> Query:
    return Query("key", f"the merchant's public API key (X-Api-Key); without it, or with another merchant's, "
                        f"the {where} is not found", TEXT, required=True, example="key_test_abc123")


PAGING = (
    Query("limit", "page size", {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}, example=10),
    Query("offset", "objects to skip", {"type": "integer", "minimum": 0, "maximum": 1_000_000_000, "default": 0},
          example=0),
    Query("from", "created at or after: unix seconds or ISO 8601 (naive times are UTC; a UTC offset beyond "
                  "±15:59 is refused)", TEXT, example="2025-01-01T00:00:00Z"),
    Query("to", "created at or before: unix seconds or ISO 8601 (naive times are UTC; a UTC offset beyond "
                "±15:59 is refused)", TEXT, example="1738324800"),
)

LIST_NOTE = ("Newest first. Any query parameter not listed here is refused with 400 naming it.")

# -- the table ----------------------------------------------------------------------------------------------

M = "merchant"
BODY = (400, 413)  # a body that is not JSON, not an object, or breaks a rule; over 1 MiB
IDEMPOTENT = (409, 422)  # Idempotency-Key still in flight; reused for a different request


def _ops() -> tuple[Operation, ...]:
    a = api_models
    return (
        # orders
        Operation("POST", f"{API}/orders", "createOrder", "Create an order",
                  "The amount the shopper will be asked to pay, in the currency's minor unit.", "Orders", M,
                  201, a.Order, (*BODY, 401, *IDEMPOTENT), {**ORDER, "status": "created", "updated_at": AT},
                  schemas.OrderCreate, {"amount": 50000, "currency": "INR", "receipt": "rcpt_1001",
                                        "notes": {"customer": "c_42"}}),
        Operation("GET", f"{API}/orders", "listOrders", "List orders", LIST_NOTE, "Orders", M,
                  200, a.OrderList, (400, 401), _page(ORDER),
                  query=(*PAGING, _status("created", "attempted", "paid"),
                         _text("receipt", "only orders with this receipt", "rcpt_1001"))),
        Operation("GET", f"{API}/orders/{{id}}", "getOrder", "Get an order", "", "Orders", M,
                  200, a.Order, (401, 404), ORDER),
        Operation("GET", f"{API}/orders/{{id}}/payments", "listOrderPayments", "List an order's payments",
                  "Every payment attempted on the order, in one page (limit is the number returned).", "Orders", M,
                  200, a.PaymentList, (401, 404), _page(PAYMENT, limit=1)),
        # payments
        Operation("POST", f"{API}/payments", "createPayment", "Create a payment (server to server)",
                  "Pays an order by card or UPI. The payment starts `pending` and is processed asynchronously: "
                  "poll it or wait for the `payment.success` / `payment.failed` webhook. 404 when the order "
                  "is not this merchant's.", "Payments", M,
                  201, a.Payment, (*BODY, 401, 404, *IDEMPOTENT),
                  {**PAYMENT, "status": "pending", "captured": False, "amount_captured": 0, "captured_at": None,
                   "updated_at": AT},
                  schemas.PaymentCreate, {"order_id": ORDER_ID, "method": "card", "card": CARD_REQUEST}),
        Operation("GET", f"{API}/payments", "listPayments", "List payments", LIST_NOTE, "Payments", M,
                  200, a.PaymentList, (400, 401), _page(PAYMENT),
                  query=(*PAGING, _status(*STATUSES["payment"]),
                         Query("method", "only payments by this method", {"type": "string", "enum": ["card", "upi"]}),
                         _text("order_id", "only payments of this order", ORDER_ID))),
        Operation("GET", f"{API}/payments/{{id}}", "getPayment", "Get a payment", "", "Payments", M,
                  200, a.Payment, (401, 404), PAYMENT),
        Operation("POST", f"{API}/payments/{{id}}/capture", "capturePayment", "Capture an authorized payment",
                  "For an order with `capture_method: manual`: capture the whole authorization or part of it, "
                  "once; the processor releases the uncaptured rest. The payment is `capture_pending` while the "
                  "processor is asked. When no answer comes in time the reply is 202 with the payment still "
                  "`capture_pending`; paygate asks the processor what became of it and the outcome follows as "
                  "`payment.captured` or `payment.capture_failed`. A capture the processor refuses is a 400 with "
                  "its code, and the payment stays authorized. 409 `PAYMENT_OPERATION_IN_PROGRESS` while a capture "
                  "or cancellation of it is pending.", "Payments", M,
                  200, a.Payment, (*BODY, 401, 404, 409, *IDEMPOTENT),
                  {**PAYMENT, "capture_method": "manual", "amount_captured": 40000, "captured_at": LATER},
                  schemas.CaptureRequest, {"amount": 40000}, pending_example=MANUAL_CAPTURE_PENDING),
        Operation("POST", f"{API}/payments/{{id}}/cancel", "cancelPayment", "Cancel (void) an authorized payment",
                  "Releases an uncaptured authorization at the processor, so the shopper's funds are no longer held: "
                  "the payment goes `void_pending`, then `voided` (`void_reason: requested`), with a "
                  "`payment.voided` event, and its order returns to `attempted`. Captured payments are refunded "
                  "instead (400 `PAYMENT_NOT_CANCELLABLE`). When no answer comes in time the reply is 202 with the "
                  "payment still `void_pending`, settled later as for a capture. An authorization left uncaptured "
                  "past the authorization window is voided the same way by paygate (`void_reason: expired`, event "
                  "`payment.released`).", "Payments", M,
                  200, a.Payment, (*BODY, 401, 404, 409, *IDEMPOTENT),
                  {**MANUAL_AUTHORIZED, "status": "voided", "authorization_released_at": LATER,
                   "void_reason": "requested"},
                  schemas.CancelRequest, {}, pending_example={**MANUAL_AUTHORIZED, "status": "void_pending",
                                                              "void_reason": "requested"}),
        # refunds
        Operation("POST", f"{API}/payments/{{id}}/refunds", "createRefund", "Refund a captured payment",
                  "Full (no amount) or partial; several refunds may add up to the captured amount, never more.",
                  "Refunds", M, 201, a.Refund, (*BODY, 401, 404, *IDEMPOTENT), REFUND,
                  schemas.RefundCreate, {"amount": 10000, "reason": "one item returned"}),
        Operation("GET", f"{API}/payments/{{id}}/refunds", "listPaymentRefunds", "List a payment's refunds",
                  "Every refund of the payment, in one page (limit is the number returned).", "Refunds", M,
                  200, a.RefundList, (401, 404), _page(REFUND, limit=1)),
        Operation("GET", f"{API}/refunds", "listRefunds", "List refunds", LIST_NOTE, "Refunds", M,
                  200, a.RefundList, (400, 401), _page(REFUND),
                  query=(*PAGING, _status(*STATUSES["refund"]),
                         _text("payment_id", "only refunds of this payment", PAYMENT_ID))),
        Operation("GET", f"{API}/refunds/{{id}}", "getRefund", "Get a refund", "", "Refunds", M,
                  200, a.Refund, (401, 404), REFUND),
        # events
        Operation("GET", f"{API}/events", "listEvents", "List events", LIST_NOTE, "Events", M,
                  200, a.EventList, (400, 401), _page(EVENT),
                  query=(*PAGING, _text("type", "only events of this type", "payment.captured"),
                         _text("object_id", "only events about this object", PAYMENT_ID))),
        Operation("GET", f"{API}/events/{{id}}", "getEvent", "Get an event", "", "Events", M,
                  200, a.Event, (401, 404), EVENT),
        # the merchant and its webhook endpoint
        Operation("GET", f"{API}/merchant", "getMerchant", "Get the merchant and its webhook endpoint",
                  "The webhook secret is masked.", "Merchant", M, 200, a.Merchant, (401,), MERCHANT),
        Operation("PATCH", f"{API}/merchant", "updateMerchant", "Set the webhook endpoint",
                  "Set or clear (null) `webhook_url`; any update re-enables an endpoint paygate disabled. "
                  "A URL that resolves to a private address is refused (INVALID_WEBHOOK_URL).", "Merchant", M,
                  200, a.Merchant, (*BODY, 401), MERCHANT,
                  schemas.EndpointUpdate, {"webhook_url": "https://shop.example/hooks/paygate"}),
        Operation("GET", f"{API}/merchant/webhook-secret", "revealWebhookSecret", "Reveal the webhook secret",
                  "The current signing secret in full (GET /merchant masks it).", "Merchant", M,
                  200, a.WebhookSecret, (401,), {"webhook_secret": "whsec_MfKQ9r4GNy8c1mX0kW6hY3pZ2sT5vB7dJ4eL1aQx8="}),
        Operation("POST", f"{API}/merchant/webhook-secret/rotate", "rotateWebhookSecret", "Rotate the webhook secret",
                  "Answers the new secret in full, this once. Deliveries are signed with both secrets until "
                  "`previous_secret_valid_until`. No request body.", "Merchant", M,
                  200, a.RotatedSecret, (*BODY, 401, *IDEMPOTENT),
                  {**MERCHANT, "webhook_secret": "whsec_MfKQ9r4GNy8c1mX0kW6hY3pZ2sT5vB7dJ4eL1aQx8=",
                   "previous_secret_valid_until": "2025-02-01T12:00:00.000Z"}),
        # webhook deliveries
        Operation("POST", f"{API}/webhooks/test", "sendTestWebhook", "Send a test webhook",
                  "Records a `webhook.test` event and enqueues its delivery to the merchant's endpoint; 400 "
                  "when no webhook_url is set. No request body.", "Webhooks", M,
                  201, a.TestWebhook, (*BODY, 401, *IDEMPOTENT),
                  {"event": {**EVENT, "event": "webhook.test", "object_id": MERCHANT_ID,
                             "data": {"message": "This is a test event from paygate.", "merchant_id": MERCHANT_ID}},
                   "delivery": {**PENDING_DELIVERY, "event": "webhook.test"}}),
        Operation("POST", f"{API}/webhooks/recover", "recoverWebhooks", "Re-send failed deliveries",
                  "Resets every failed delivery created in [since, until] to pending and enqueues it.",
                  "Webhooks", M, 200, a.Recovered, (*BODY, 401, *IDEMPOTENT), {"requeued": 3},
                  schemas.RecoverRequest, {"since": "2025-01-31T00:00:00Z"}),
        Operation("GET", f"{API}/webhooks", "listWebhookDeliveries", "List webhook deliveries", LIST_NOTE,
                  "Webhooks", M, 200, a.WebhookDeliveryList, (400, 401), _page(DELIVERY),
                  query=(*PAGING, _status("pending", "success", "failed"),
                         _text("event", "only deliveries of this event type", "payment.captured"))),
        Operation("GET", f"{API}/webhooks/{{id}}", "getWebhookDelivery", "Get a webhook delivery and its attempts",
                  "The only answer carrying `attempt_history`.", "Webhooks", M,
                  200, a.WebhookDelivery, (401, 404), {**DELIVERY, "attempt_history": [ATTEMPT]}),
        Operation("POST", f"{API}/webhooks/{{id}}/retry", "retryWebhookDelivery", "Retry a delivery now",
                  "Resets the delivery to pending and sends it at once, keeping its attempt history. No request "
                  "body.", "Webhooks", M, 200, a.WebhookDelivery, (*BODY, 401, 404, *IDEMPOTENT),
                  {**DELIVERY, "status": "pending", "next_retry_at": LATER}),
        # public checkout
        Operation("GET", f"{API}/checkout/orders/{{id}}", "getCheckoutOrder", "Read an order for checkout",
                  "What the hosted page shows: amount, merchant name, whether it can still be paid; with a test "
                  "key (`key_test_…`), also `test_instruments`, the simulator's test cards and UPI ids.", "Checkout",
                  "public", 200, a.CheckoutOrder, (404, 429),
                  {"order": {"id": ORDER_ID, "amount": 50000, "currency": "INR", "amount_display": "500.00",
                             "status": "created"}, "merchant": {"name": "Test Merchant"}, "payable": True,
                   "test_instruments": testcards.as_json()},
                  query=(_key("order"),)),
        Operation("POST", f"{API}/checkout/payments", "createCheckoutPayment", "Pay an order from checkout",
                  "The key travels in the body; amount and currency are the order's. Answers status only.",
                  "Checkout", "public", 201, a.CheckoutPayment, (*BODY, 404, 429, *IDEMPOTENT),
                  {"id": PAYMENT_ID, "order_id": ORDER_ID, "status": "pending", "method": "upi"},
                  schemas.CheckoutPaymentCreate,
                  {"key": "key_test_abc123", "order_id": ORDER_ID, "method": "upi", "vpa": "success@paygate"}),
        Operation("GET", f"{API}/checkout/payments/{{id}}", "getCheckoutPayment", "Poll a checkout payment",
                  "Status only; on success, a signature the merchant's server verifies with its API secret.",
                  "Checkout", "public", 200, a.CheckoutPaymentStatus, (404, 429),
                  {"id": PAYMENT_ID, "order_id": ORDER_ID, "status": "success", "method": "upi",
                   "error_code": None, "error_description": None,
                   "signature": "5d1f0c3b9a7e2d4c6b8a0f1e3d5c7b9a2e4f6a8c0b1d3e5f7a9c2b4d6e8f0a1c"},
                  query=(_key("payment"),)),
        # operations
        Operation("GET", f"{API}/test/jobs/status", "getJobsStatus", "Payment queue status",
                  "Counts of the payment queue and the workers connected (the seed's test endpoint), at most a "
                  "second old. Served only with `api.test_endpoints` on (as under `paygate dev`).", "Operations",
                  "none", 200, a.JobsStatus, (503,),
                  {"pending": 0, "processing": 1, "completed": 42, "failed": 0, "workers": 2,
                   "worker_status": "running"}),
        Operation("GET", f"{API}/openapi.json", "getOpenAPI", "This document", "", "Operations", "none",
                  200, a.OpenAPIDocument, (), {"openapi": "3.1.0", "info": {"title": "paygate", "version": "0.1.0"},
                                               "paths": {}}),
        Operation("GET", "/healthz", "healthz", "Liveness", "The process answers.", "Operations", "none",
                  200, a.Health, (), {"status": "ok"}),
        Operation("GET", "/readyz", "readyz", "Readiness",
                  "Postgres (migrated) and Redis reachable: 200; otherwise 503 with the reasons.", "Operations",
                  "none", 200, a.Readiness, (503,),
                  {"status": "ready", "checks": {"postgres": {"ok": True}, "redis": {"ok": True}}}),
    )


@cache
def operations() -> tuple[Operation, ...]:
    """Every documented operation, in document order."""
    return _ops()

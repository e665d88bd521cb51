"""The OpenAPI 3.1 document of the HTTP API, built from one table of operations.

The table (``operations()``) is the single description of every route: its auth, request
model (from ``schemas``), query parameters, success status and response model (from
``api_models``), the error statuses it can answer, and an example. ``document()`` turns it
into the document served at /api/v1/openapi.json; ``make_validating_middleware`` checks, in
the tests, every answer of the real app against it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cache
from typing import Literal

from aiohttp import web
from aiohttp.payload import BytesPayload
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from . import __version__, api_models, schemas
from .processors import testcards
from .states import STATUSES

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


# -- the document -------------------------------------------------------------------------------------------

ERRORS = {
    400: ("BadRequest", "The request is invalid: `field` names the problem (body, query or Idempotency-Key).",
          {"code": "BAD_REQUEST_ERROR", "description": "amount must be an integer", "field": "amount"}),
    401: ("Unauthorized", "Missing or wrong API key and secret.",
          {"code": "AUTHENTICATION_ERROR", "description": "invalid API key or secret"}),
    403: ("Forbidden", "A request other than GET under a dashboard session, without the session's X-CSRF-Token.",
          {"code": "CSRF_TOKEN_INVALID", "field": "X-CSRF-Token",
           "description": "this request needs the session's X-CSRF-Token header"}),
    404: ("NotFound", "No such object for this merchant (or, at checkout, for this key).",
          {"code": "NOT_FOUND_ERROR", "description": f"no payment '{PAYMENT_ID}'", "field": "id"}),
    409: ("IdempotencyInFlight", "A request with this Idempotency-Key is still running; retry after Retry-After.",
          {"code": "IDEMPOTENCY_ERROR", "field": "Idempotency-Key",
           "description": "a request with Idempotency-Key 'k1' is still being processed; retry shortly"}),
    413: ("PayloadTooLarge", "The body is larger than 1 MiB.",
          {"code": "PAYLOAD_TOO_LARGE", "description": "request body is larger than 1 MiB"}),
    415: ("UnsupportedMediaType", "A body sent without `Content-Type: application/json`.",
          {"code": "UNSUPPORTED_MEDIA_TYPE", "field": "Content-Type",
           "description": "Content-Type must be application/json"}),
    422: ("IdempotencyMismatch", "This Idempotency-Key was used for a different request.",
          {"code": "IDEMPOTENCY_ERROR", "field": "Idempotency-Key",
           "description": "Idempotency-Key 'k1' was used with a different request; use a new key for a new request"}),
    429: ("TooManyRequests", "Too many checkout requests from this address; retry after Retry-After.",
          {"code": "RATE_LIMIT_ERROR", "description": "too many requests; the limit is 60 per 1 minute"}),
    500: ("ServerError", "An unexpected failure; quote the request_id to support.",
          {"code": "SERVER_ERROR", "description": "internal error; quote the request_id to support"}),
    503: ("ServiceUnavailable", "Postgres or Redis cannot be reached just now, or this server is answering as many "
                                "requests as it takes (server.max_in_flight); retry after Retry-After.",
          {"code": "SERVICE_UNAVAILABLE", "description": "the database is unavailable; retry shortly"}),
}
RETRY_AFTER = (409, 429, 503)
CORS_HEADER = {"Access-Control-Allow-Origin": {"$ref": "#/components/headers/AccessControlAllowOrigin"}}

SECURITY = {
    "merchant": [{"ApiKey": [], "ApiSecret": []}, {"BasicAuth": []}, {"DashboardSession": []}],
    "public": [],
    "none": [],
}


def _schemas() -> dict:
    models = {op.response for op in operations()} | {api_models.Error}
    pairs = [(m, "serialization") for m in sorted(models, key=lambda m: m.__name__)]
    requests = {op.request for op in operations() if op.request is not None}
    pairs += [(m, "validation") for m in sorted(requests, key=lambda m: m.__name__)]
    _, defs = models_json_schema(pairs, ref_template="#/components/schemas/{model}")
    return defs["$defs"]


def _ref(model: type[BaseModel]) -> dict:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(schema: dict, example: object) -> dict:
    return {"application/json": {"schema": schema, "example": example}}


def _headers(op: Operation, status: int) -> dict:
    headers = {"X-Request-Id": {"$ref": "#/components/headers/XRequestId"}}
    if op.auth == "public" and status != 500:
        headers.update(CORS_HEADER)
    if status in RETRY_AFTER:
        headers["Retry-After"] = {"$ref": "#/components/headers/RetryAfter"}
    if op.idempotent and (status == op.status or (op.pending_example is not None and status == 202)):
        headers["Idempotent-Replayed"] = {"$ref": "#/components/headers/IdempotentReplayed"}
    return headers


def _responses(op: Operation) -> dict:
    success = {"description": op.response.__doc__.strip().splitlines()[0] if op.response.__doc__ else "OK",
               "headers": _headers(op, op.status), "content": _json(_ref(op.response), op.example_response)}
    responses = {str(op.status): success}
    if op.pending_example is not None:
        responses["202"] = {"description": "No answer from the processor in time: the operation is pending, and "
                                           "its outcome follows as an event",
                            "headers": _headers(op, 202), "content": _json(_ref(op.response), op.pending_example)}
    writes_by_session = {403} if op.auth == "merchant" and op.method != "GET" else set()
    json_body = {415} if op.request is not None else set()  # a body not sent as application/json
    dependencies = {503} if op.auth != "none" else set()  # Postgres or Redis away
    for status in sorted({*op.errors, *writes_by_session, *json_body, *dependencies, 500}):
        if status in ERRORS and op.response is not api_models.Readiness:
            name = ERRORS[status][0]
            if op.auth == "public" or status in RETRY_AFTER or op.idempotent:
                # the same error answer, with this operation's headers
                responses[str(status)] = {**_error_response(status), "headers": _headers(op, status)}
            else:
                responses[str(status)] = {"$ref": f"#/components/responses/{name}"}
        else:  # 503 from /readyz: the same shape as the 200
            example = {"status": "unavailable", "checks": {"postgres": {"ok": True},
                                                           "redis": {"ok": False, "reason": "unreachable"}}}
            responses[str(status)] = {"description": "Not ready", "headers": _headers(op, status),
                                      "content": _json(_ref(op.response), example)}
    return responses


def _error_response(status: int) -> dict:
    _, description, example = ERRORS[status]
    return {"description": description,
            "headers": {"X-Request-Id": {"$ref": "#/components/headers/XRequestId"}},
            "content": _json(_ref(api_models.Error), {"error": {**example, "request_id": "req_5f2c9a1e7b3d4c60"}})}


def _parameters(op: Operation) -> list[dict]:
    params: list[dict] = []
    if "{id}" in op.path:
        params.append({"name": "id", "in": "path", "required": True, "schema": TEXT,
                       "description": "the object's id; one that cannot be of this kind is simply not found"})
    for q in op.query:
        param = {"name": q.name, "in": "query", "required": q.required, "description": q.description,
                 "schema": q.schema}
        if q.example is not None:
            param["example"] = q.example
        params.append(param)
    if op.idempotent:
        params.append({"$ref": "#/components/parameters/IdempotencyKey"})
    return params


def _operation(op: Operation) -> dict:
    built: dict = {"operationId": op.operation_id, "summary": op.summary, "tags": [op.tag],
                   "security": SECURITY[op.auth]}
    if op.description:
        built["description"] = op.description
    if params := _parameters(op):
        built["parameters"] = params
    if op.request is not None:
        built["requestBody"] = {"required": True, "content": _json(_ref(op.request), op.example_request)}
    built["responses"] = _responses(op)
    return built


def _components() -> dict:
    return {
        "schemas": _schemas(),
        "securitySchemes": {
            "ApiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key",
                       "description": "The merchant's API key; with X-Api-Secret."},
            "ApiSecret": {"type": "apiKey", "in": "header", "name": "X-Api-Secret",
                          "description": "The merchant's API secret; with X-Api-Key."},
            "BasicAuth": {"type": "http", "scheme": "basic", "description": "key:secret as HTTP Basic credentials"},
            "DashboardSession": {"type": "apiKey", "in": "cookie", "name": "paygate_session",
                                 "description": "The dashboard's session (sign in at /dashboard/); requests other "
                                                "than GET also send the session's X-CSRF-Token header."},
        },
        "parameters": {
            "IdempotencyKey": {
                "name": "Idempotency-Key", "in": "header", "required": False,
                "schema": {"type": "string", "pattern": "^[\\x20-\\x7e]{1,255}$"},
                "example": "order-1001-attempt-1",
                "description": "Makes the POST safe to retry for 24 h: a replay answers the first response byte "
                               "for byte (with Idempotent-Replayed: true); the same key for a different request "
                               "is 422, and while the first request is still running, 409.",
            },
        },
        "headers": {
            "XRequestId": {"required": True, "schema": {"type": "string"},
                           "description": "The request's id (the client's X-Request-Id, or a new one)."},
            "IdempotentReplayed": {"required": False, "schema": {"type": "string", "enum": ["true"]},
                                   "description": "Present on a replay of an earlier answer."},
            "RetryAfter": {"required": True, "schema": {"type": "string"}, "description": "Seconds to wait."},
            "AccessControlAllowOrigin": {"required": True, "schema": {"type": "string", "enum": ["*"]},
                                         "description": "Checkout endpoints are open to every origin."},
        },
        "responses": {ERRORS[status][0]: _error_response(status) for status in sorted(ERRORS)},
    }


# Leads into the Markdown table in info.description; info["x-test-instruments"] holds the same rows as data.
TEST_CARDS_NOTE = ("Test cards and UPI ids: with a test key these inputs decide the outcome (cards with any future "
                   "expiry and any 3-digit CVV); any other card number or UPI id is approved at the rate "
                   "`processor.success_rate`.")


def _build() -> dict:
    paths: dict[str, dict] = {}
    for op in operations():
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "paygate",
            "version": __version__,
            "summary": "A self-hosted payment gateway: orders, card and UPI payments, refunds, signed webhooks.",
            "description": "Merchant endpoints take `X-Api-Key` + `X-Api-Secret` (or HTTP Basic key:secret, or the "
                           "dashboard's session cookie with X-CSRF-Token on writes). "
                           "Checkout endpoints take the public key alone, as `key`. Money is an integer in the "
                           "currency's minor unit; timestamps are ISO 8601 UTC. Every error is "
                           "`{\"error\": {\"code\", \"description\", \"field\"?, \"request_id\"}}` and every "
                           "answer carries X-Request-Id. A body is JSON sent with `Content-Type: application/json` "
                           "(else 415); bodies over 1 MiB get 413, and bodies that nest arrays and objects more "
                           f"than {schemas.MAX_DEPTH} deep or hold more than {schemas.MAX_CONTAINERS} of them, 400."
                           "\n\n" + TEST_CARDS_NOTE + "\n\n" + testcards.markdown(),
            "x-test-instruments": testcards.as_json(),
        },
        "servers": [{"url": "/"}],
        "security": SECURITY["merchant"],
        "tags": [{"name": name} for name in dict.fromkeys(op.tag for op in operations())],
        "paths": paths,
        "components": _components(),
    }


@cache
def _document() -> dict:
    return _build()


def document() -> dict:
    """The OpenAPI 3.1 document (a copy of the one built at first use)."""
    return copy.deepcopy(_document())


# -- checking the real app against it (tests) ----------------------------------------------------------------

@cache
def _index() -> dict[tuple[str, str], Operation]:
    return {(op.method, op.path): op for op in operations()}


def documented(request: web.Request) -> Operation | None:
    """The operation of the route aiohttp matched for ``request``, if the document has it."""
    resource = request.match_info.route.resource
    if resource is None:
        return None
    return _index().get((request.method, resource.canonical))


@dataclass
class _OperationRequest:
    """The request as openapi-core reads it, located by the route aiohttp matched rather than by parsing the
    path again (an id may hold an encoded '/', which would make the two disagree)."""

    method: str
    path: str
    parameters: object
    host_url: str = "http://paygate"
    body: bytes | None = None
    content_type: str = "application/json"


@dataclass
class _Answer:
    """The response as openapi-core reads it."""

    data: bytes
    status_code: int
    content_type: str
    headers: object


@cache
def _openapi_core():
    from openapi_core import OpenAPI

    return OpenAPI.from_dict(_document())


def _describe(error: Exception) -> str:
    details = getattr(error.__cause__, "schema_errors", None) or getattr(error, "schema_errors", None)
    if not details:
        return str(error)
    return f"{type(error).__name__}: " + "; ".join(
        f"{'/'.join(str(p) for p in e.absolute_path) or '(body)'}: {e.message}" for e in details)


async def _body_bytes(response: web.Response) -> bytes | None:
    body = response.body
    if body is None or isinstance(body, bytes | bytearray):
        return bytes(body or b"")
    if isinstance(body, BytesPayload):  # a str body (common.respond) is a StringPayload, in memory
        return await body.as_bytes()
    return None


async def response_violations(request: web.Request, response: web.StreamResponse) -> list[str]:
    """What is wrong with ``response`` as the answer to ``request``, by the document; [] when it agrees."""
    op = documented(request)
    if op is None:
        return []
    where = f"{request.method} {request.path_qs} ({op.operation_id}) answered {response.status}"
    data = await _body_bytes(response) if isinstance(response, web.Response) else None
    if data is None:
        return [f"{where} with a streamed body, not a JSON document"]
    from openapi_core.datatypes import RequestParameters

    located = _OperationRequest(op.method.lower(), op.path,
                                RequestParameters(query=request.query, header=request.headers))
    answer = _Answer(data, response.status, response.content_type or "", response.headers)
    errors = _openapi_core().iter_response_errors(located, answer)
    return [f"{where}: {_describe(e)}\n    body: {data[:400].decode(errors='replace')}" for e in errors]


def make_validating_middleware(violations: list[str]):
    """An aiohttp middleware that appends to ``violations`` every answer that disagrees with the document.

    Put it outermost (``app.middlewares.insert(0, ...)``) so that it sees the answers as clients do: error
    answers are shaped, and X-Request-Id added, by the middlewares inside it.
    """

    @web.middleware
    async def validate_response(request: web.Request, handler):
        response = await handler(request)
        violations.extend(await response_violations(request, response))
        return response

    return validate_response

"""The HTTP API's endpoints, each declared once, on its handler (``Endpoints.operation``): the declaration adds
the route and the operation the OpenAPI document is built from (its auth, request model from ``core.schemas``,
query parameters, success status, response model from ``api_models``, the error statuses it can answer and an
example). Here: the declaration's types, and the examples every handler module's operations share, told as one
story (an order, its card payment, a partial refund, their events).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aiohttp import web
from pydantic import BaseModel

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


@dataclass(frozen=True, eq=False)  # compared by identity: the document is cached per set of operations
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
    # a write other than a POST that runs under the Idempotency-Key header too (the metadata PATCHes)
    keyed: bool = False

    @property
    def idempotent(self) -> bool:
        """A POST (a merchant's, or the checkout's payment), or a ``keyed`` write, runs under the Idempotency-Key
        header (when sent)."""
        return (self.method == "POST" or self.keyed) and self.auth in ("merchant", "public")


# -- examples: one coherent story (an order, its card payment, a partial refund, their events) -------------

MERCHANT_ID = "mer_8HsX2aQ4nZ7kLp3W"
ORDER_ID, PAYMENT_ID, REFUND_ID = "order_4fJ2kQ9xLmN7pR1s", "pay_Q7wE3rT5yU8iO1pA", "rfnd_Z2xC4vB6nM8kJ0hG"
EVENT_ID, DELIVERY_ID = "evt_L3kJ5hG7fD9sA1qW", "whd_P0oI9uY8tR7eW6qA"
AT, LATER = "2025-01-31T12:00:00.000Z", "2025-01-31T12:00:02.512Z"

ORDER = {
    "id": ORDER_ID, "entity": "order", "merchant_id": MERCHANT_ID, "amount": 50000, "currency": "INR",
    "receipt": "rcpt_1001", "notes": {"customer": "c_42"}, "metadata": {"customer": "c_42"},
    "capture_method": "automatic", "status": "paid",
    "created_at": AT, "updated_at": LATER,
}
PAYMENT = {
    "id": PAYMENT_ID, "entity": "payment", "order_id": ORDER_ID, "merchant_id": MERCHANT_ID, "amount": 50000,
    "currency": "INR", "method": "card", "vpa": None,
    "card": {"network": "visa", "last4": "1111", "expiry_month": 12, "expiry_year": 2030,
             "fingerprint": "fp_9c1d7e0b54a2"},
    "status": "success", "capture_method": "automatic", "captured": True, "amount_captured": 50000,
    "amount_refunded": 0, "refund_status": "none", "captured_at": LATER, "authorization_released_at": None,
    "void_reason": None, "error_code": None, "error_description": None, "metadata": {"order_ref": "A1001"},
    "created_at": AT, "updated_at": LATER,
}
MANUAL_AUTHORIZED = {**PAYMENT, "capture_method": "manual", "captured": False, "amount_captured": 0,
                     "captured_at": None}
MANUAL_CAPTURE_PENDING = {**MANUAL_AUTHORIZED, "status": "capture_pending"}
REFUND = {
    "id": REFUND_ID, "entity": "refund", "payment_id": PAYMENT_ID, "merchant_id": MERCHANT_ID, "amount": 10000,
    "currency": "INR", "reason": "one item returned", "status": "pending", "error_code": None,
    "error_description": None, "processed_at": None, "metadata": {"rma": "RMA-77"}, "created_at": LATER,
    "updated_at": LATER,
}
EVENT = {"id": EVENT_ID, "entity": "event", "event": "payment.captured", "object_id": PAYMENT_ID,
         "data": {"payment": PAYMENT}, "created_at": LATER}
MERCHANT = {
    "id": MERCHANT_ID, "entity": "merchant", "name": "Test Merchant", "email": "test@example.com",
    "api_key": "key_test_abc123", "webhook_url": "https://shop.example/hooks/paygate",
    "webhook_secret": "whsec_…Qx8=", "webhook_enabled": True, "webhook_disabled_reason": None,
    "api_rate_limit": {"per_second": 100, "burst": 200, "own": False}, "created_at": AT,
}
ATTEMPT = {"number": 1, "trigger": "initial", "status_code": 200, "response_body": "ok", "error": None,
           "duration_ms": 84, "created_at": LATER}
DELIVERY = {
    "id": DELIVERY_ID, "entity": "webhook_delivery", "event": "payment.captured", "event_id": EVENT_ID,
    "endpoint_id": None, "url": "https://shop.example/hooks/paygate", "status": "success", "attempts": 1,
    "next_retry_at": None,
    "last_attempt_at": LATER, "response_code": 200, "response_body": "ok",
    "payload": {"id": EVENT_ID, "event": "payment.captured", "data": {"payment": {"id": PAYMENT_ID}}},
    "created_at": LATER, "updated_at": LATER,
}
PENDING_DELIVERY = {**DELIVERY, "status": "pending", "attempts": 0, "next_retry_at": LATER,
                    "last_attempt_at": None, "response_code": None, "response_body": None}
CARD_REQUEST = {"number": "4111111111111111", "expiry_month": 12, "expiry_year": 2030, "cvv": "123",
                "name": "Asha Rao"}


def example_page(*items: dict, total: int | None = None, limit: int = 10) -> dict:
    return {"data": list(items), "total": len(items) if total is None else total, "limit": limit, "offset": 0,
            "has_more": False}


# -- query parameters ---------------------------------------------------------------------------------------

TEXT = {"type": "string", "minLength": 1, "maxLength": 255}


def status_query(*values: str) -> Query:
    return Query("status", "only objects in this status", {"type": "string", "enum": list(values)})


def text_query(name: str, description: str, example: str) -> Query:
    return Query(name, description, TEXT, example=example)


def key_query(where: str) -> Query:
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
    Query("starting_after", "a cursor: the page of objects that come after this one (older); an id from the "
                            "end of the last page. Not with offset or ending_before", TEXT,
          example=PAYMENT_ID),
    Query("ending_before", "a cursor: the page of objects just before this one (newer), still newest first; an "
                           "id from the start of the last page. Not with offset or starting_after", TEXT,
          example=PAYMENT_ID),
)

LIST_NOTE = ("Newest first (by creation time, then id). Page with `limit` and either `offset` or a cursor: "
             "`starting_after=<id>` (the last id of a page) for the next, older page, `ending_before=<id>` (the first "
             "id of a page) for the newer one before it; `has_more` says whether more follow that way. Cursor pages "
             "neither skip nor repeat objects while new ones are created; offset pages may. `total` counts every "
             "match whichever the page. A cursor that is not an object of this list is a 400 naming it. Any query "
             "parameter not listed here is refused with 400 naming it.")

# The PATCH of an object's metadata, as Stripe's: the description its three operations share.
METADATA_UPDATE = ("Only `metadata` may be sent (any other field is a 400 naming it). Keys given are set, a key "
                   "given an empty string is removed, keys not given are kept; at most 20 keys may remain. Records "
                   "no event, and `updated_at` stays (it tells when the status last changed); later events carry "
                   "the metadata as it is then. Another merchant's object is a 404.")

# Lists of objects that carry metadata filter by it: metadata[key]=value, any number of them, all to match.
METADATA_FILTER = Query(
    "metadata[key]", "only objects whose metadata has this value under `key`: written `metadata[order_ref]=A1001` "
                     "(put the key between the brackets); several such parameters must all match. A key of 1 to 40 "
                     "characters without [ or ], a value of 1 to 500", {"type": "string", "minLength": 1,
                                                                         "maxLength": 500}, example="A1001")

# -- the table ----------------------------------------------------------------------------------------------

M = "merchant"
BODY = (400, 413)  # a body that is not JSON, not an object, or breaks a rule; over 1 MiB
IDEMPOTENT = (409, 422)  # Idempotency-Key still in flight; reused for a different request


class Endpoints(web.RouteTableDef):
    """A handler module's routes. Those of the API are declared with ``operation``, whose arguments are an
    ``Operation``'s: the one declaration adds the route and its operation (``operations``), from which the
    OpenAPI document is built. Routes outside the document (static files, the dashboard's own) use the
    RouteTableDef decorators as before."""

    def __init__(self) -> None:
        super().__init__()
        self.operations: list[Operation] = []

    def operation(self, *args, **kwargs):
        op = Operation(*args, **kwargs)

        def register(handler):
            self.operations.append(op)
            return self.route(op.method, op.path)(handler)

        return register

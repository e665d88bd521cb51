"""/api/v1/payments"""

from __future__ import annotations

from aiohttp import web

from ...core import models, schemas
from ...core.operations import payments as ops
from ...core.operations.queries import list_payments
from ...core.schemas import CancelRequest, CaptureRequest, MetadataUpdate, PaymentCreate
from ...core.states import STATUSES
from ..endpoints import (
    API,
    AT,
    BODY,
    CARD_REQUEST,
    IDEMPOTENT,
    LATER,
    LIST_NOTE,
    MANUAL_AUTHORIZED,
    MANUAL_CAPTURE_PENDING,
    METADATA_FILTER,
    METADATA_UPDATE,
    ORDER_ID,
    PAGING,
    PAYMENT,
    Endpoints,
    M,
    Query,
    example_page,
    status_query,
    text_query,
)
from .common import body, idempotent, list_query, merchant, object_id, page, respond, services

routes = Endpoints()

# The list's filters, declared once: documented, and parsed by list_query.
FILTERS = (status_query(*STATUSES["payment"]),
           Query("method", "only payments by this method", {"type": "string", "enum": ["card", "upi"]}),
           text_query("order_id", "only payments of this order", ORDER_ID), METADATA_FILTER)


@routes.operation(
    "POST", f"{API}/payments", "createPayment", "Create a payment (server to server)",
    "Pays an order by card or UPI. The payment starts `pending` and is processed asynchronously: "
    "poll it or wait for the `payment.success` / `payment.failed` webhook. 404 when the order "
    "is not this merchant's.", "Payments", M,
    201, models.Payment, (*BODY, 401, 404, *IDEMPOTENT),
    {**PAYMENT, "status": "pending", "captured": False, "amount_captured": 0, "captured_at": None,
     "updated_at": AT},
    schemas.PaymentCreate, {"order_id": ORDER_ID, "method": "card", "card": CARD_REQUEST,
                            "metadata": {"order_ref": "A1001"}})
async def create(request: web.Request) -> web.Response:
    who = await merchant(request)
    payment = await body(request, PaymentCreate)
    return await idempotent(request, who, 201,
                            lambda receipt: ops.create_payment(services(request), who, payment, receipt))


@routes.operation(
    "GET", f"{API}/payments", "listPayments", "List payments", LIST_NOTE, "Payments", M,
    200, models.PaymentList, (400, 401), example_page(PAYMENT),
    query=(*PAGING, *FILTERS))
async def index(request: web.Request) -> web.Response:
    who = await merchant(request)
    params = list_query(request, FILTERS)
    rows, total = await list_payments(services(request), who, params)
    return page(rows, total, params, models.Payment.view)


@routes.operation(
    "GET", f"{API}/payments/{{id}}", "getPayment", "Get a payment", "", "Payments", M,
    200, models.Payment, (401, 404), PAYMENT)
async def show(request: web.Request) -> web.Response:
    who = await merchant(request)
    return respond(await ops.get_payment(services(request), who, object_id(request, "pay")))


@routes.operation(
    "PATCH", f"{API}/payments/{{id}}", "updatePayment", "Update a payment's metadata",
    METADATA_UPDATE + " In any status.", "Payments", M,
    200, models.Payment, (*BODY, 401, 404, *IDEMPOTENT), {**PAYMENT, "metadata": {"order_ref": "A1001-R"}},
    schemas.MetadataUpdate, {"metadata": {"order_ref": "A1001-R", "gift_note": ""}}, keyed=True)
async def update(request: web.Request) -> web.Response:
    who = await merchant(request)
    changes = await body(request, MetadataUpdate)
    payment_id = object_id(request, "pay")
    return await idempotent(request, who, 200, lambda receipt: ops.update_payment(
        services(request), who, payment_id, changes, receipt))


@routes.operation(
    "POST", f"{API}/payments/{{id}}/capture", "capturePayment", "Capture an authorized payment",
    "For an order with `capture_method: manual`: capture the whole authorization or part of it, "
    "once; the processor releases the uncaptured rest. The payment is `capture_pending` while the "
    "processor is asked. When no answer comes in time the reply is 202 with the payment still "
    "`capture_pending`; paygate asks the processor what became of it and the outcome follows as "
    "`payment.captured` or `payment.capture_failed`. A capture the processor refuses is a 400 with "
    "its code, and the payment stays authorized. 409 `PAYMENT_OPERATION_IN_PROGRESS` while a capture "
    "or cancellation of it is pending.", "Payments", M,
    200, models.Payment, (*BODY, 401, 404, 409, *IDEMPOTENT),
    {**PAYMENT, "capture_method": "manual", "amount_captured": 40000, "captured_at": LATER},
    schemas.CaptureRequest, {"amount": 40000}, pending_example=MANUAL_CAPTURE_PENDING)
async def capture(request: web.Request) -> web.Response:
    who = await merchant(request)
    capture = await body(request, CaptureRequest)
    return await idempotent(request, who, 200, lambda receipt: ops.capture_payment(
        services(request), who, object_id(request, "pay"), capture, receipt))


@routes.operation(
    "POST", f"{API}/payments/{{id}}/cancel", "cancelPayment", "Cancel (void) an authorized payment",
    "Releases an uncaptured authorization at the processor, so the shopper's funds are no longer held: "
    "the payment goes `void_pending`, then `voided` (`void_reason: requested`), with a "
    "`payment.voided` event, and its order returns to `attempted`. Captured payments are refunded "
    "instead (400 `PAYMENT_NOT_CANCELLABLE`). When no answer comes in time the reply is 202 with the "
    "payment still `void_pending`, settled later as for a capture. An authorization left uncaptured "
    "past the authorization window is voided the same way by paygate (`void_reason: expired`, event "
    "`payment.released`).", "Payments", M,
    200, models.Payment, (*BODY, 401, 404, 409, *IDEMPOTENT),
    {**MANUAL_AUTHORIZED, "status": "voided", "authorization_released_at": LATER,
     "void_reason": "requested"},
    schemas.CancelRequest, {}, pending_example={**MANUAL_AUTHORIZED, "status": "void_pending",
                                                "void_reason": "requested"})
async def cancel(request: web.Request) -> web.Response:
    who = await merchant(request)
    await body(request, CancelRequest)
    return await idempotent(request, who, 200, lambda receipt: ops.cancel_payment(
        services(request), who, object_id(request, "pay"), receipt))

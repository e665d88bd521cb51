"""/api/v1/refunds and /api/v1/payments/{id}/refunds"""

from __future__ import annotations

from aiohttp import web

from ...core import models, schemas
from ...core.operations import refunds as ops
from ...core.operations.queries import list_refunds
from ...core.schemas import MetadataUpdate, RefundCreate
from ...core.states import STATUSES
from ..endpoints import (
    API,
    BODY,
    IDEMPOTENT,
    LIST_NOTE,
    METADATA_FILTER,
    METADATA_UPDATE,
    PAGING,
    PAYMENT_ID,
    REFUND,
    Endpoints,
    M,
    example_page,
    status_query,
    text_query,
)
from .common import body, idempotent, list_query, merchant, object_id, page, respond, services

routes = Endpoints()

# The list's filters, declared once: documented, and parsed by list_query.
FILTERS = (status_query(*STATUSES["refund"]),
           text_query("payment_id", "only refunds of this payment", PAYMENT_ID), METADATA_FILTER)


@routes.operation(
    "POST", f"{API}/payments/{{id}}/refunds", "createRefund", "Refund a captured payment",
    "Full (no amount) or partial; several refunds may add up to the captured amount, never more.",
    "Refunds", M, 201, models.Refund, (*BODY, 401, 404, *IDEMPOTENT), REFUND,
    schemas.RefundCreate, {"amount": 10000, "reason": "one item returned", "metadata": {"rma": "RMA-77"}})
async def create(request: web.Request) -> web.Response:
    who = await merchant(request)
    refund = await body(request, RefundCreate)
    return await idempotent(request, who, 201, lambda receipt: ops.create_refund(
        services(request), who, object_id(request, "pay"), refund, receipt))


@routes.operation(
    "GET", f"{API}/payments/{{id}}/refunds", "listPaymentRefunds", "List a payment's refunds",
    "Every refund of the payment, in one page (limit is the number returned).", "Refunds", M,
    200, models.RefundList, (401, 404), example_page(REFUND, limit=1))
async def for_payment(request: web.Request) -> web.Response:
    who = await merchant(request)
    items = await ops.payment_refunds(services(request), who, object_id(request, "pay"))
    return respond(models.Page.view(items, len(items), len(items), 0, False))


@routes.operation(
    "GET", f"{API}/refunds", "listRefunds", "List refunds", LIST_NOTE, "Refunds", M,
    200, models.RefundList, (400, 401), example_page(REFUND),
    query=(*PAGING, *FILTERS))
async def index(request: web.Request) -> web.Response:
    who = await merchant(request)
    params = list_query(request, FILTERS)
    rows, total = await list_refunds(services(request), who, params)
    return page(rows, total, params, models.Refund.view)


@routes.operation(
    "GET", f"{API}/refunds/{{id}}", "getRefund", "Get a refund", "", "Refunds", M,
    200, models.Refund, (401, 404), REFUND)
async def show(request: web.Request) -> web.Response:
    who = await merchant(request)
    return respond(await ops.get_refund(services(request), who, object_id(request, "rfnd")))


@routes.operation(
    "PATCH", f"{API}/refunds/{{id}}", "updateRefund", "Update a refund's metadata",
    METADATA_UPDATE + " In any status.", "Refunds", M,
    200, models.Refund, (*BODY, 401, 404, *IDEMPOTENT), {**REFUND, "metadata": {"rma": "RMA-77", "desk": "B"}},
    schemas.MetadataUpdate, {"metadata": {"desk": "B"}}, keyed=True)
async def update(request: web.Request) -> web.Response:
    who = await merchant(request)
    changes = await body(request, MetadataUpdate)
    refund_id = object_id(request, "rfnd")
    return await idempotent(request, who, 200, lambda receipt: ops.update_refund(
        services(request), who, refund_id, changes, receipt))

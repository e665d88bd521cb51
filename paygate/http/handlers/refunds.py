"""/api/v1/refunds and /api/v1/payments/{id}/refunds"""

from __future__ import annotations

from aiohttp import web

from ...core import views
from ...core.operations import refunds as ops
from ...core.operations.queries import list_refunds
from ...core.schemas import RefundCreate
from ...core.states import STATUSES
from .common import API, body, choice, idempotent, list_query, merchant, object_id, page, respond, services, text

routes = web.RouteTableDef()


@routes.post(f"{API}/payments/{{id}}/refunds")
async def create(request: web.Request) -> web.Response:
    who = await merchant(request)
    refund = await body(request, RefundCreate)
    return await idempotent(request, who, 201, lambda receipt: ops.create_refund(
        services(request), who, object_id(request, "pay"), refund, receipt))


@routes.get(f"{API}/payments/{{id}}/refunds")
async def for_payment(request: web.Request) -> web.Response:
    who = await merchant(request)
    items = await ops.payment_refunds(services(request), who, object_id(request, "pay"))
    return respond(views.page(items, len(items), len(items), 0))


@routes.get(f"{API}/refunds")
async def index(request: web.Request) -> web.Response:
    who = await merchant(request)
    params = list_query(request, {"status": choice(*STATUSES["refund"]), "payment_id": text})
    rows, total = await list_refunds(services(request), who, params)
    return page(rows, total, params, views.refund)


@routes.get(f"{API}/refunds/{{id}}")
async def show(request: web.Request) -> web.Response:
    who = await merchant(request)
    return respond(await ops.get_refund(services(request), who, object_id(request, "rfnd")))

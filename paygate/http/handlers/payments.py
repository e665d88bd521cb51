"""/api/v1/payments"""

from __future__ import annotations

from aiohttp import web

from ...core import views
from ...core.operations import payments as ops
from ...core.operations.queries import list_payments
from ...core.schemas import CancelRequest, CaptureRequest, PaymentCreate
from ...core.states import STATUSES
from .common import API, body, choice, idempotent, list_query, merchant, object_id, page, respond, services, text

routes = web.RouteTableDef()


@routes.post(f"{API}/payments")
async def create(request: web.Request) -> web.Response:
    who = await merchant(request)
    payment = await body(request, PaymentCreate)
    return await idempotent(request, who, 201,
                            lambda receipt: ops.create_payment(services(request), who, payment, receipt))


@routes.get(f"{API}/payments")
async def index(request: web.Request) -> web.Response:
    who = await merchant(request)
    params = list_query(request, {
        "status": choice(*STATUSES["payment"]),
        "method": choice("card", "upi"),
        "order_id": text,
    })
    rows, total = await list_payments(services(request), who, params)
    return page(rows, total, params, views.payment)


@routes.get(f"{API}/payments/{{id}}")
async def show(request: web.Request) -> web.Response:
    who = await merchant(request)
    return respond(await ops.get_payment(services(request), who, object_id(request, "pay")))


@routes.post(f"{API}/payments/{{id}}/capture")
async def capture(request: web.Request) -> web.Response:
    who = await merchant(request)
    capture = await body(request, CaptureRequest)
    return await idempotent(request, who, 200, lambda receipt: ops.capture_payment(
        services(request), who, object_id(request, "pay"), capture, receipt))


@routes.post(f"{API}/payments/{{id}}/cancel")
async def cancel(request: web.Request) -> web.Response:
    who = await merchant(request)
    await body(request, CancelRequest)
    return await idempotent(request, who, 200, lambda receipt: ops.cancel_payment(
        services(request), who, object_id(request, "pay"), receipt))

"""/api/v1/orders"""

from __future__ import annotations

from aiohttp import web

from ...core import views
from ...core.operations import orders as ops
from ...core.operations.queries import list_orders
from ...core.schemas import OrderCreate
from .common import API, body, choice, idempotent, list_query, merchant, object_id, page, respond, services, text

routes = web.RouteTableDef()


@routes.post(f"{API}/orders")
async def create(request: web.Request) -> web.Response:
    who = await merchant(request)
    order = await body(request, OrderCreate)
    return await idempotent(request, who, 201, lambda receipt: ops.create_order(services(request), who, order, receipt))


@routes.get(f"{API}/orders")
async def index(request: web.Request) -> web.Response:
    who = await merchant(request)
    params = list_query(request, {"status": choice("created", "attempted", "paid"), "receipt": text})
    rows, total = await list_orders(services(request), who, params)
    return page(rows, total, params, views.order)


@routes.get(f"{API}/orders/{{id}}")
async def show(request: web.Request) -> web.Response:
    who = await merchant(request)
    return respond(await ops.get_order(services(request), who, object_id(request, "order")))


@routes.get(f"{API}/orders/{{id}}/payments")
async def order_payments(request: web.Request) -> web.Response:
    who = await merchant(request)
    items = await ops.order_payments(services(request), who, object_id(request, "order"))
    return respond(views.page(items, len(items), len(items), 0))

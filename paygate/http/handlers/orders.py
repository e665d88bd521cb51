"""/api/v1/orders"""

from __future__ import annotations

from aiohttp import web

from ...core import models, schemas
from ...core.operations import orders as ops
from ...core.operations.queries import list_orders
from ...core.schemas import MetadataUpdate, OrderCreate
from ..endpoints import (
    API,
    AT,
    BODY,
    IDEMPOTENT,
    LIST_NOTE,
    METADATA_FILTER,
    METADATA_UPDATE,
    ORDER,
    PAGING,
    PAYMENT,
    Endpoints,
    M,
    example_page,
    status_query,
    text_query,
)
from .common import body, idempotent, list_query, merchant, object_id, page, respond, services

routes = Endpoints()

# The list's filters, declared once: documented, and parsed by list_query.
FILTERS = (status_query("created", "attempted", "paid"),
           text_query("receipt", "only orders with this receipt", "rcpt_1001"), METADATA_FILTER)


@routes.operation(
    "POST", f"{API}/orders", "createOrder", "Create an order",
    "The amount the shopper will be asked to pay, in the currency's minor unit. `metadata` is another name for "
    "`notes` (send one of them): as metadata, its rules are metadata's (string values, up to 20 keys); both names "
    "are answered.", "Orders", M,
    201, models.Order, (*BODY, 401, *IDEMPOTENT), {**ORDER, "status": "created", "updated_at": AT},
    schemas.OrderCreate, {"amount": 50000, "currency": "INR", "receipt": "rcpt_1001",
                          "notes": {"customer": "c_42"}})
async def create(request: web.Request) -> web.Response:
    who = await merchant(request)
    order = await body(request, OrderCreate)
    return await idempotent(request, who, 201, lambda receipt: ops.create_order(services(request), who, order, receipt))


@routes.operation(
    "GET", f"{API}/orders", "listOrders", "List orders", LIST_NOTE, "Orders", M,
    200, models.OrderList, (400, 401), example_page(ORDER),
    query=(*PAGING, *FILTERS))
async def index(request: web.Request) -> web.Response:
    who = await merchant(request)
    params = list_query(request, FILTERS)
    rows, total = await list_orders(services(request), who, params)
    return page(rows, total, params, models.Order.view)


@routes.operation(
    "GET", f"{API}/orders/{{id}}", "getOrder", "Get an order", "", "Orders", M,
    200, models.Order, (401, 404), ORDER)
async def show(request: web.Request) -> web.Response:
    who = await merchant(request)
    return respond(await ops.get_order(services(request), who, object_id(request, "order")))


@routes.operation(
    "PATCH", f"{API}/orders/{{id}}", "updateOrder", "Update an order's metadata",
    METADATA_UPDATE + " An order's metadata is its notes.", "Orders", M,
    200, models.Order, (*BODY, 401, 404, *IDEMPOTENT),
    {**ORDER, "notes": {"customer": "c_42", "crm_id": "C-9"}, "metadata": {"customer": "c_42", "crm_id": "C-9"}},
    schemas.MetadataUpdate, {"metadata": {"crm_id": "C-9"}}, keyed=True)
async def update(request: web.Request) -> web.Response:
    who = await merchant(request)
    changes = await body(request, MetadataUpdate)
    order_id = object_id(request, "order")
    return await idempotent(request, who, 200, lambda receipt: ops.update_order(
        services(request), who, order_id, changes, receipt))


@routes.operation(
    "GET", f"{API}/orders/{{id}}/payments", "listOrderPayments", "List an order's payments",
    "Every payment attempted on the order, in one page (limit is the number returned).", "Orders", M,
    200, models.PaymentList, (401, 404), example_page(PAYMENT, limit=1))
async def order_payments(request: web.Request) -> web.Response:
    who = await merchant(request)
    items = await ops.order_payments(services(request), who, object_id(request, "order"))
    return respond(models.Page.view(items, len(items), len(items), 0, False))

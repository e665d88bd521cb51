"""/api/v1/merchant (the webhook endpoint) and /api/v1/webhooks (deliveries)."""

from __future__ import annotations

from aiohttp import web

from ...core import views
from ...core.operations import webhooks as ops
from ...core.operations.queries import list_deliveries
from ...core.schemas import EndpointUpdate, RecoverRequest
from .common import API, body, choice, idempotent, list_query, merchant, object_id, page, respond, services, text

routes = web.RouteTableDef()


@routes.get(f"{API}/merchant")
async def show_merchant(request: web.Request) -> web.Response:
    who = await merchant(request, fresh=True)
    return respond(ops.endpoint_view(services(request), who))


@routes.patch(f"{API}/merchant")
async def update_merchant(request: web.Request) -> web.Response:
    who = await merchant(request, fresh=True)
    update = await body(request, EndpointUpdate)
    return respond(await ops.update_endpoint(services(request), who, update))


@routes.get(f"{API}/merchant/webhook-secret")
async def reveal_secret(request: web.Request) -> web.Response:
    who = await merchant(request, fresh=True)
    return respond({"webhook_secret": ops.webhook_secret(services(request), who)})


@routes.post(f"{API}/merchant/webhook-secret/rotate")
async def rotate_secret(request: web.Request) -> web.Response:
    who = await merchant(request, fresh=True)
    return await idempotent(request, who, 200, lambda receipt: ops.rotate_secret(services(request), who, receipt))


@routes.post(f"{API}/webhooks/test")
async def send_test(request: web.Request) -> web.Response:
    who = await merchant(request, fresh=True)
    return await idempotent(request, who, 201, lambda receipt: ops.send_test(services(request), who, receipt))


@routes.post(f"{API}/webhooks/recover")
async def recover(request: web.Request) -> web.Response:
    who = await merchant(request)
    recover_body = await body(request, RecoverRequest)
    return await idempotent(request, who, 200, lambda receipt: ops.recover_request(
        services(request), who, recover_body, receipt))


@routes.get(f"{API}/webhooks")
async def index(request: web.Request) -> web.Response:
    who = await merchant(request)
    params = list_query(request, {"status": choice("pending", "success", "failed"), "event": text})
    rows, total = await list_deliveries(services(request), who, params)
    return page(rows, total, params, views.delivery)


@routes.get(f"{API}/webhooks/{{id}}")
async def show(request: web.Request) -> web.Response:
    who = await merchant(request)
    return respond(await ops.get_delivery(services(request), who, object_id(request, "whd")))


@routes.post(f"{API}/webhooks/{{id}}/retry")
async def retry(request: web.Request) -> web.Response:
    who = await merchant(request)
    delivery_id = object_id(request, "whd")
    return await idempotent(request, who, 200, lambda receipt: ops.retry_one(
        services(request), who, delivery_id, receipt))

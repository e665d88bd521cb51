"""/api/v1/webhook_endpoints: a merchant's webhook endpoints, each with its own secret and subscribed events."""

from __future__ import annotations

from aiohttp import web

from ...core.operations import webhook_endpoints as ops
from ...core.schemas import Body, WebhookEndpointCreate, WebhookEndpointUpdate
from ...core.webhook_models import DeletedWebhookEndpoint, WebhookEndpoint, WebhookEndpointList
from ...core.webhooks.event_types import EVENT_TYPES
from ..endpoints import API, AT, BODY, IDEMPOTENT, LATER, LIST_NOTE, MERCHANT_ID, PAGING, Endpoints, M, example_page
from .common import body, idempotent, list_query, merchant, object_id, page, respond, services

routes = Endpoints()

ENDPOINT_ID = "we_3xR8sT1vK6mQ2nB9"
SECRET = "whsec_MfKQ9r4GNy8c1mX0kW6hY3pZ2sT5vB7dJ4eL1aQx8="
ENDPOINT = {
    "id": ENDPOINT_ID, "entity": "webhook_endpoint", "merchant_id": MERCHANT_ID,
    "url": "https://shop.example/hooks/refunds", "description": "refunds to the accounting system",
    "enabled_events": ["refund.processed", "refund.failed"], "secret": "whsec_…Qx8=", "status": "enabled",
    "disabled_reason": None, "previous_secret_valid_until": None, "created_at": AT, "updated_at": AT,
}
CREATE_EXAMPLE = {"url": ENDPOINT["url"], "enabled_events": ENDPOINT["enabled_events"],
                  "description": ENDPOINT["description"]}
PATH = f"{API}/webhook_endpoints"
ITEM = f"{PATH}/{{id}}"
TAG = "Webhook endpoints"


@routes.operation(
    "POST", PATH, "createWebhookEndpoint", "Create a webhook endpoint",
    "Every event of a type in `enabled_events` (or every event, with `[\"*\"]`) is delivered to the endpoint, "
    "signed with the endpoint's own secret, as a delivery of its own (attempts, retries, a 410 Gone disables "
    "this endpoint alone). The answer shows the secret in full, this once. Event types: "
    + ", ".join(f"`{t}`" for t in EVENT_TYPES) + " (`webhook.test` only when listed). At most "
    f"{ops.MAX_ENDPOINTS} endpoints per merchant. The merchant's `webhook_url` (PATCH /api/v1/merchant) stays an "
    "endpoint of its own, subscribed to every event.", TAG, M,
    201, WebhookEndpoint, (*BODY, 401, *IDEMPOTENT), {**ENDPOINT, "secret": SECRET},
    WebhookEndpointCreate, CREATE_EXAMPLE)
async def create(request: web.Request) -> web.Response:
    who = await merchant(request)
    created = await body(request, WebhookEndpointCreate)
    return await idempotent(request, who, 201, lambda receipt: ops.create(services(request), who, created, receipt))


@routes.operation(
    "GET", PATH, "listWebhookEndpoints", "List webhook endpoints", LIST_NOTE, TAG, M,
    200, WebhookEndpointList, (400, 401), example_page(ENDPOINT), query=PAGING)
async def index(request: web.Request) -> web.Response:
    who = await merchant(request)
    params = list_query(request, ())
    items, total = await ops.list_page(services(request), who, params)
    return page(items, total, params, lambda item: item)


@routes.operation(
    "GET", ITEM, "getWebhookEndpoint", "Get a webhook endpoint", "The secret is masked.", TAG, M,
    200, WebhookEndpoint, (401, 404), ENDPOINT)
async def show(request: web.Request) -> web.Response:
    who = await merchant(request)
    return respond(await ops.get(services(request), who, object_id(request, "we")))


@routes.operation(
    "GET", f"{ITEM}/secret", "revealWebhookEndpointSecret", "Reveal a webhook endpoint's secret",
    "The endpoint with its current signing secret in full.", TAG, M,
    200, WebhookEndpoint, (401, 404), {**ENDPOINT, "secret": SECRET})
async def reveal(request: web.Request) -> web.Response:
    who = await merchant(request)
    return respond(await ops.get(services(request), who, object_id(request, "we"), reveal=True))


@routes.operation(
    "PATCH", ITEM, "updateWebhookEndpoint", "Update a webhook endpoint",
    "Change its `url`, `enabled_events` or `description`; `disabled: true` stops its deliveries (those pending "
    "wait) and `disabled: false` enables it again, also after paygate disabled it for a 410 Gone, sending what "
    "waited.", TAG, M,
    200, WebhookEndpoint, (*BODY, 401, 404, *IDEMPOTENT), {**ENDPOINT, "enabled_events": ["*"], "updated_at": LATER},
    WebhookEndpointUpdate, {"enabled_events": ["*"]}, keyed=True)
async def update(request: web.Request) -> web.Response:
    who = await merchant(request)
    changes = await body(request, WebhookEndpointUpdate)
    endpoint_id = object_id(request, "we")
    return await idempotent(request, who, 200, lambda receipt: ops.update(
        services(request), who, endpoint_id, changes, receipt))


@routes.operation(
    "DELETE", ITEM, "deleteWebhookEndpoint", "Delete a webhook endpoint",
    "It receives nothing more, and its pending deliveries are marked failed; its past deliveries stay listed.",
    TAG, M, 200, DeletedWebhookEndpoint, (401, 404, *IDEMPOTENT),
    {"id": ENDPOINT_ID, "entity": "webhook_endpoint", "deleted": True}, keyed=True)
async def delete(request: web.Request) -> web.Response:
    who = await merchant(request)
    endpoint_id = object_id(request, "we")
    return await idempotent(request, who, 200, lambda receipt: ops.delete(
        services(request), who, endpoint_id, receipt))


@routes.operation(
    "POST", f"{ITEM}/secret/rotate", "rotateWebhookEndpointSecret", "Rotate a webhook endpoint's secret",
    "Answers the new secret in full, this once. Deliveries to the endpoint are signed with both secrets until "
    "`previous_secret_valid_until`. No request body.", TAG, M,
    200, WebhookEndpoint, (*BODY, 401, 404, *IDEMPOTENT),
    {**ENDPOINT, "secret": SECRET, "previous_secret_valid_until": "2025-02-01T12:00:00.000Z", "updated_at": LATER})
async def rotate(request: web.Request) -> web.Response:
    who = await merchant(request)
    await body(request, Body)  # no fields: any field is refused by name
    endpoint_id = object_id(request, "we")
    return await idempotent(request, who, 200, lambda receipt: ops.rotate_secret(
        services(request), who, endpoint_id, receipt))

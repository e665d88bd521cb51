"""/api/v1/merchant (the webhook endpoint) and /api/v1/webhooks (deliveries)."""

from __future__ import annotations

from aiohttp import web

from ...core import models, schemas, webhook_models
from ...core.operations import webhooks as ops
from ...core.operations.queries import list_deliveries
from ...core.schemas import EndpointUpdate, RecoverRequest
from .. import api_models as a
from ..endpoints import (
    API,
    ATTEMPT,
    BODY,
    DELIVERY,
    EVENT,
    IDEMPOTENT,
    LATER,
    LIST_NOTE,
    MERCHANT,
    MERCHANT_ID,
    PAGING,
    PENDING_DELIVERY,
    Endpoints,
    M,
    example_page,
    status_query,
    text_query,
)
from .common import body, idempotent, list_query, merchant, object_id, page, respond, services

routes = Endpoints()

# The list of deliveries' filters, declared once: documented, and parsed by list_query.
FILTERS = (status_query("pending", "success", "failed"),
           text_query("event", "only deliveries of this event type", "payment.captured"),
           text_query("endpoint_id", "only deliveries to this webhook endpoint", "we_3xR8sT1vK6mQ2nB9"))


@routes.operation(
    "GET", f"{API}/merchant", "getMerchant", "Get the merchant and its webhook endpoint",
    "The webhook secret is masked.", "Merchant", M, 200, models.Merchant, (401,), MERCHANT)
async def show_merchant(request: web.Request) -> web.Response:
    who = await merchant(request, fresh=True)
    return respond(ops.endpoint_view(services(request), who))


@routes.operation(
    "PATCH", f"{API}/merchant", "updateMerchant", "Set the webhook endpoint",
    "Set or clear (null) `webhook_url`; any update re-enables an endpoint paygate disabled. "
    "A URL that resolves to a private address is refused (INVALID_WEBHOOK_URL).", "Merchant", M,
    200, models.Merchant, (*BODY, 401), MERCHANT,
    schemas.EndpointUpdate, {"webhook_url": "https://shop.example/hooks/paygate"})
async def update_merchant(request: web.Request) -> web.Response:
    who = await merchant(request, fresh=True)
    update = await body(request, EndpointUpdate)
    return respond(await ops.update_endpoint(services(request), who, update))


@routes.operation(
    "GET", f"{API}/merchant/webhook-secret", "revealWebhookSecret", "Reveal the webhook secret",
    "The current signing secret in full (GET /merchant masks it).", "Merchant", M,
    200, models.WebhookSecret, (401,), {"webhook_secret": "whsec_MfKQ9r4GNy8c1mX0kW6hY3pZ2sT5vB7dJ4eL1aQx8="})
async def reveal_secret(request: web.Request) -> web.Response:
    who = await merchant(request, fresh=True)
    return respond({"webhook_secret": ops.webhook_secret(services(request), who)})


@routes.operation(
    "POST", f"{API}/merchant/webhook-secret/rotate", "rotateWebhookSecret", "Rotate the webhook secret",
    "Answers the new secret in full, this once. Deliveries are signed with both secrets until "
    "`previous_secret_valid_until`. No request body.", "Merchant", M,
    200, models.RotatedSecret, (*BODY, 401, *IDEMPOTENT),
    {**MERCHANT, "webhook_secret": "whsec_MfKQ9r4GNy8c1mX0kW6hY3pZ2sT5vB7dJ4eL1aQx8=",
     "previous_secret_valid_until": "2025-02-01T12:00:00.000Z"})
async def rotate_secret(request: web.Request) -> web.Response:
    who = await merchant(request, fresh=True)
    return await idempotent(request, who, 200, lambda receipt: ops.rotate_secret(services(request), who, receipt))


@routes.operation(
    "POST", f"{API}/webhooks/test", "sendTestWebhook", "Send a test webhook",
    "Records a `webhook.test` event and enqueues its delivery to the merchant's endpoint; 400 "
    "when no webhook_url is set. No request body.", "Webhooks", M,
    201, a.TestWebhook, (*BODY, 401, *IDEMPOTENT),
    {"event": {**EVENT, "event": "webhook.test", "object_id": MERCHANT_ID,
               "data": {"message": "This is a test event from paygate.", "merchant_id": MERCHANT_ID}},
     "delivery": {**PENDING_DELIVERY, "event": "webhook.test"}})
async def send_test(request: web.Request) -> web.Response:
    who = await merchant(request, fresh=True)
    return await idempotent(request, who, 201, lambda receipt: ops.send_test(services(request), who, receipt))


@routes.operation(
    "POST", f"{API}/webhooks/recover", "recoverWebhooks", "Re-send failed deliveries",
    "Resets every failed delivery created in [since, until] to pending and enqueues it.",
    "Webhooks", M, 200, a.Recovered, (*BODY, 401, *IDEMPOTENT), {"requeued": 3},
    schemas.RecoverRequest, {"since": "2025-01-31T00:00:00Z"})
async def recover(request: web.Request) -> web.Response:
    who = await merchant(request)
    recover_body = await body(request, RecoverRequest)
    return await idempotent(request, who, 200, lambda receipt: ops.recover_request(
        services(request), who, recover_body, receipt))


@routes.operation(
    "GET", f"{API}/webhooks", "listWebhookDeliveries", "List webhook deliveries", LIST_NOTE,
    "Webhooks", M, 200, webhook_models.WebhookDeliveryList, (400, 401), example_page(DELIVERY),
    query=(*PAGING, *FILTERS))
async def index(request: web.Request) -> web.Response:
    who = await merchant(request)
    params = list_query(request, FILTERS)
    rows, total = await list_deliveries(services(request), who, params)
    return page(rows, total, params, webhook_models.WebhookDelivery.view)


@routes.operation(
    "GET", f"{API}/webhooks/{{id}}", "getWebhookDelivery", "Get a webhook delivery and its attempts",
    "The only answer carrying `attempt_history`.", "Webhooks", M,
    200, webhook_models.WebhookDelivery, (401, 404), {**DELIVERY, "attempt_history": [ATTEMPT]})
async def show(request: web.Request) -> web.Response:
    who = await merchant(request)
    return respond(await ops.get_delivery(services(request), who, object_id(request, "whd")))


@routes.operation(
    "POST", f"{API}/webhooks/{{id}}/retry", "retryWebhookDelivery", "Retry a delivery now",
    "Resets the delivery to pending and sends it at once, keeping its attempt history. No request "
    "body.", "Webhooks", M, 200, webhook_models.WebhookDelivery, (*BODY, 401, 404, *IDEMPOTENT),
    {**DELIVERY, "status": "pending", "next_retry_at": LATER})
async def retry(request: web.Request) -> web.Response:
    who = await merchant(request)
    delivery_id = object_id(request, "whd")
    return await idempotent(request, who, 200, lambda receipt: ops.retry_one(
        services(request), who, delivery_id, receipt))

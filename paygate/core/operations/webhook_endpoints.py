"""A merchant's webhook endpoints: created, changed, disabled, deleted, their secrets rotated.

Each endpoint has its own secret (sealed at rest under the master key, as the merchant's) and its own subscribed
event types; storage.events fans every event out to the endpoints subscribed to it, as deliveries of their own.
"""

from __future__ import annotations

from ...infra import crypto
from ...infra.errors import BadRequest, no_such
from ...storage import webhook_endpoints as endpoints
from ...storage import webhooks
from ...storage.db import cursor, transaction
from ..idempotency import Receipt
from ..schemas import WebhookEndpointCreate, WebhookEndpointUpdate
from ..services import Services
from ..webhook_models import DeletedWebhookEndpoint, WebhookEndpoint
from ..webhooks import ssrf
from ..webhooks.event_types import EVENT_TYPES, EVERY
from .webhooks import box_of

MAX_ENDPOINTS = 16  # per merchant, as Stripe's


def _view(services: Services, row: dict, reveal: bool = False) -> dict:
    return WebhookEndpoint.view(row, box_of(services).open(row["secret_enc"]), reveal)


async def _check_url(services: Services, url: str) -> None:
    try:
        await ssrf.check_url(url, services.config.webhooks.allow_private_targets)
    except ssrf.TargetRefused as exc:  # its words name the merchant's field, webhook_url: here the field is url
        raise BadRequest(str(exc).replace("webhook_url", "url"), field="url", code="INVALID_WEBHOOK_URL") from None


def _check_events(events: list[str]) -> list[str]:
    for i, event in enumerate(events):
        if event != EVERY and event not in EVENT_TYPES:
            raise BadRequest(f"enabled_events[{i}] must be \"*\" or an event type: {', '.join(EVENT_TYPES)}",
                             field=f"enabled_events.{i}")
    if EVERY in events and len(events) > 1:
        raise BadRequest('enabled_events may hold "*" alone: it already stands for every event',
                         field="enabled_events")
    return list(dict.fromkeys(events))


async def create(services: Services, merchant: dict, body: WebhookEndpointCreate, receipt: Receipt) -> dict:
    """A new endpoint and its secret, answered in full this once."""
    events = _check_events(body.enabled_events)
    await _check_url(services, body.url)
    secret = crypto.new_webhook_secret()
    async with transaction(services.pool) as cur:
        if await endpoints.count_live(cur, merchant["id"]) >= MAX_ENDPOINTS:
            raise BadRequest(f"a merchant may have at most {MAX_ENDPOINTS} webhook endpoints; delete one first",
                             field="url")
        row = await endpoints.insert(cur, {
            "id": crypto.new_id("we"), "merchant_id": merchant["id"], "url": body.url,
            "description": body.description, "enabled_events": events,
            "secret_enc": box_of(services).seal(secret), "disabled": body.disabled})
        result = _view(services, row, reveal=True)
        await receipt.record(cur, result, reveals_secret=True)
    return result


async def get(services: Services, merchant: dict, endpoint_id: str, reveal: bool = False) -> dict:
    async with cursor(services.pool) as cur:
        row = await endpoints.get(cur, merchant["id"], endpoint_id)
    if row is None:
        raise no_such("webhook endpoint", endpoint_id)
    return _view(services, row, reveal)


async def list_page(services: Services, merchant: dict, params: dict) -> tuple[list[dict], int]:
    async with cursor(services.pool) as cur:
        rows, total = await endpoints.list_page(cur, merchant["id"], **params)
    return [_view(services, row) for row in rows], total


async def update(services: Services, merchant: dict, endpoint_id: str, body: WebhookEndpointUpdate,
                 receipt: Receipt) -> dict:
    changes = {field: getattr(body, field) for field in body.model_fields_set}
    for field in ("url", "enabled_events", "disabled"):
        if field in changes and changes[field] is None:
            raise BadRequest(f"{field} may not be null", field=field)
    if "enabled_events" in changes:
        changes["enabled_events"] = _check_events(changes["enabled_events"])
    if "url" in changes:
        await _check_url(services, changes["url"])
    async with transaction(services.pool) as cur:
        row = await endpoints.update(cur, merchant["id"], endpoint_id, changes)
        if row is None:
            raise no_such("webhook endpoint", endpoint_id)
        if not row["disabled"]:
            await webhooks.announce(cur)  # what waited while it was disabled goes now, not at the next pass
        result = _view(services, row)
        await receipt.record(cur, result)
    return result


async def delete(services: Services, merchant: dict, endpoint_id: str, receipt: Receipt) -> dict:
    """The endpoint receives nothing more; its pending deliveries fail. Its past deliveries stay listed."""
    async with transaction(services.pool) as cur:
        row = await endpoints.delete(cur, merchant["id"], endpoint_id)
        if row is None:
            raise no_such("webhook endpoint", endpoint_id)
        result = DeletedWebhookEndpoint.view(row)
        await receipt.record(cur, result)
    return result


async def rotate_secret(services: Services, merchant: dict, endpoint_id: str, receipt: Receipt) -> dict:
    """A new secret, answered in full this once; the previous one still signs deliveries during the overlap
    (``webhooks.secret_overlap``), as for the merchant's own secret."""
    secret = crypto.new_webhook_secret()
    async with transaction(services.pool) as cur:
        row = await endpoints.rotate_secret(cur, merchant["id"], endpoint_id, box_of(services).seal(secret),
                                            services.config.webhooks.secret_overlap)
        if row is None:
            raise no_such("webhook endpoint", endpoint_id)
        result = _view(services, row, reveal=True)
        await receipt.record(cur, result, reveals_secret=True)
    return result

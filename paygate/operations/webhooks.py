"""Webhooks: the merchant's endpoint, deliveries sent by workers, and retries asked for by hand."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import aiohttp

from .. import authcache, crypto, metrics, views
from ..db import cursor, transaction
from ..errors import BadRequest, NotFound, ServiceUnavailable
from ..idempotency import Receipt
from ..queue import WEBHOOKS
from ..schemas import EndpointUpdate, RecoverRequest
from ..services import Services
from ..storage import events, merchants, webhooks
from ..webhooks import policy, signing, ssrf
from ..webhooks.delivery import send

ENQUEUE_BATCH = 500


def job_id(delivery_id: str, attempts_made: int) -> str:
    """One job per attempt: enqueueing the same attempt twice is a no-op, the next attempt is a new job."""
    return f"{delivery_id}-{attempts_made + 1}"


async def enqueue(services: Services, deliveries: list[dict]) -> None:
    """A job for each delivery's next attempt, unless it has one (a few round trips for any number)."""
    for start in range(0, len(deliveries), ENQUEUE_BATCH):
        await services.dispatcher.enqueue_many(
            WEBHOOKS, [(d["id"], job_id(d["id"], d["attempts"])) for d in deliveries[start:start + ENQUEUE_BATCH]])


# -- the merchant's endpoint ------------------------------------------------------------------------------

def _box(services: Services) -> crypto.SecretBox:
    if services.box is None:  # paygate serve refuses to start so; only an app built by hand gets here
        raise ServiceUnavailable("webhook secrets are unavailable: security.master_key is not configured")
    return services.box


def webhook_secret(services: Services, merchant: dict) -> str:
    """The current signing secret in full (the dashboard's Reveal)."""
    return _box(services).open(merchant["webhook_secret_enc"])


def endpoint_view(services: Services, merchant: dict) -> dict:
    return views.merchant(merchant, webhook_secret(services, merchant))


async def update_endpoint(services: Services, merchant: dict, body: EndpointUpdate) -> dict:
    """Set or clear the URL; any update re-enables an endpoint that was disabled (by a 410)."""
    fields = body.model_fields_set
    url = body.webhook_url if "webhook_url" in fields else merchant["webhook_url"]
    if "webhook_url" in fields and url is not None:
        try:
            await ssrf.check_url(url, services.config.webhooks.allow_private_targets)
        except ssrf.TargetRefused as exc:
            raise BadRequest(str(exc), field="webhook_url", code="INVALID_WEBHOOK_URL") from None
    enabled = body.webhook_enabled if body.webhook_enabled is not None else True
    async with transaction(services.pool) as cur:
        row = await merchants.update_endpoint(cur, merchant["id"], url, enabled)
    authcache.forget(merchant["id"])
    return endpoint_view(services, row)


async def rotate_secret(services: Services, merchant: dict, receipt: Receipt) -> dict:
    """A new secret, shown this once; the previous one still signs deliveries during the overlap."""
    box = _box(services)
    secret = crypto.new_webhook_secret()
    overlap = services.config.webhooks.secret_overlap
    async with transaction(services.pool) as cur:
        row = await merchants.rotate_webhook_secret(cur, merchant["id"], box.seal(secret), overlap)
        result = {**views.merchant(row, secret), "webhook_secret": secret,
                  "previous_secret_valid_until": views.iso(row["webhook_secret_prev_until"])}
        await receipt.record(cur, result)
    authcache.forget(merchant["id"])
    return result


async def send_test(services: Services, merchant: dict, receipt: Receipt) -> dict:
    if not merchant["webhook_url"]:
        raise BadRequest("set webhook_url with PATCH /api/v1/merchant first", field="webhook_url")
    async with transaction(services.pool) as cur:
        event = await events.record(cur, merchant["id"], "webhook.test", merchant["id"], {
            "message": "This is a test event from paygate.", "merchant_id": merchant["id"]})
        delivery = await webhooks.for_event(cur, event["id"])
        if delivery is None:  # the URL was cleared since the merchant row was read
            raise BadRequest("set webhook_url with PATCH /api/v1/merchant first", field="webhook_url")
        result = {"event": views.event(event), "delivery": views.delivery(delivery)}
        await receipt.record(cur, result)
    await enqueue(services, [delivery])
    return result


# -- deliveries -------------------------------------------------------------------------------------------

class EndpointLimiter:
    """At most ``limit`` deliveries in flight to one merchant's endpoint in this process."""

    def __init__(self, limit: int):
        self._semaphores: dict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(limit))

    @asynccontextmanager
    async def hold(self, merchant_id: str) -> AsyncIterator[None]:
        async with self._semaphores[merchant_id]:
            yield


def _secrets(services: Services, delivery: dict) -> list[str]:
    box = _box(services)
    found = [box.open(delivery["webhook_secret_enc"])]
    if delivery["previous_secret_valid"] and delivery["webhook_secret_prev_enc"]:
        found.append(box.open(delivery["webhook_secret_prev_enc"]))
    return found


async def deliver(services: Services, session: aiohttp.ClientSession, limiter: EndpointLimiter,
                  delivery_id: str) -> str:
    """Make the delivery's next attempt if it is due, and record it; return the delivery's status."""
    config = services.config.webhooks
    async with cursor(services.pool) as cur:  # one statement: autocommit is its transaction
        delivery = await webhooks.take_for_sending(cur, delivery_id, lease=config.timeout + 30)
    if delivery is None:
        return "skipped"
    body = delivery["payload"].encode()
    headers = signing.headers(body, delivery["event_id"], int(time.time()), _secrets(services, delivery))
    async with limiter.hold(delivery["merchant_id"]):
        attempt = await send(session, delivery["webhook_url"], body, headers, config.timeout,
                             config.allow_private_targets)
    number = delivery["attempts"] + 1
    trigger = "manual" if delivery["manual_retry"] else ("initial" if number == 1 else "automatic")
    decision = policy.after(attempt, number, config.retry_schedule, config.max_attempts)
    gone = f"the endpoint answered 410 Gone to delivery {delivery_id}" if attempt.gone else None
    async with cursor(services.pool) as cur:  # one statement: autocommit is its transaction
        row = await webhooks.record_attempt(
            cur, delivery, url=delivery["webhook_url"], status=decision.status, delay=decision.delay,
            trigger=trigger, status_code=attempt.status_code, body=attempt.body, error=attempt.error,
            duration_ms=attempt.duration_ms, disable_reason=gone)
    if gone:
        authcache.forget(delivery["merchant_id"])
    metrics.WEBHOOK_DELIVERIES.labels(metrics.delivery_outcome(row["status"])).inc()
    return row["status"]


async def enqueue_due(services: Services) -> int:
    """The scheduler's part: every due delivery gets a job (a no-op for those that have one)."""
    async with cursor(services.pool) as cur:
        due = await webhooks.due(cur)
    await enqueue(services, due)
    return len(due)


# -- retries by hand ----------------------------------------------------------------------------------------

async def retry(services: Services, merchant_id: str | None, delivery_ids: list[str]) -> list[dict]:
    """Reset to pending and deliver now, keeping the attempt history. ``merchant_id`` None: any merchant."""
    async with transaction(services.pool) as cur:
        reset = await webhooks.retry_now(cur, merchant_id, delivery_ids)
    await enqueue(services, reset)
    return reset


async def retry_one(services: Services, merchant: dict, delivery_id: str, receipt: Receipt) -> dict:
    async with transaction(services.pool) as cur:
        reset = await webhooks.retry_now(cur, merchant["id"], [delivery_id])
        if not reset:
            raise NotFound(f"no webhook delivery {delivery_id}", field="id")
        result = views.delivery(await webhooks.get(cur, merchant["id"], delivery_id))
        await receipt.record(cur, result)
    await enqueue(services, reset)
    return result


async def recover(services: Services, merchant_id: str | None, since: datetime, until: datetime | None,
                  receipt: Receipt | None = None) -> int:
    """Re-queue every failed delivery created in [since, until]; ``merchant_id`` None: every merchant's."""
    async with transaction(services.pool) as cur:
        ids = await webhooks.failed_between(cur, merchant_id, since, until)
        reset = await webhooks.retry_now(cur, merchant_id, ids) if ids else []
        if receipt is not None:
            await receipt.record(cur, {"requeued": len(reset)})
    await enqueue(services, reset)
    return len(reset)


async def recover_request(services: Services, merchant: dict, body: RecoverRequest, receipt: Receipt) -> None:
    until = _parse_time(body.until, "until") if body.until else None
    await recover(services, merchant["id"], _parse_time(body.since, "since"), until, receipt)


def _parse_time(value: str, field: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{field} must be an ISO 8601 time", field=field) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_age(text: str) -> timedelta:
    """'90s', '15m', '2h', '7d' for the CLI's --since."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit():
        raise ValueError(f"{text!r} is not an age like 30m, 2h or 7d")
    return timedelta(seconds=int(text[:-1]) * units[text[-1]])


async def get_delivery(services: Services, merchant: dict, delivery_id: str) -> dict:
    async with cursor(services.pool) as cur:
        row = await webhooks.get(cur, merchant["id"], delivery_id)
        if row is None:
            raise NotFound(f"no webhook delivery {delivery_id}", field="id")
        return views.delivery(row, await webhooks.attempts(cur, delivery_id))



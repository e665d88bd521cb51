"""Webhooks: the merchant's endpoint, deliveries sent by workers, and retries asked for by hand."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp

from ...infra import authcache, crypto, metrics
from ...infra.errors import BadRequest, ServiceUnavailable, no_such
from ...storage import events, merchants, webhooks
from ...storage.db import DatabaseUnavailable, OperationalError, cursor, transaction
from .. import models, webhook_models
from ..idempotency import Receipt
from ..schemas import EndpointUpdate, RecoverRequest
from ..services import Services
from ..validation import check_time
from ..webhooks import policy, signing, ssrf
from ..webhooks.delivery import send
from .merchants import rate_limit

log = logging.getLogger("paygate.webhooks")


# -- the merchant's endpoint ------------------------------------------------------------------------------

def box_of(services: Services) -> crypto.SecretBox:
    if services.box is None:  # paygate serve refuses to start so; only an app built by hand gets here
        raise ServiceUnavailable("webhook secrets are unavailable: security.master_key is not configured")
    return services.box


def webhook_secret(services: Services, merchant: dict) -> str:
    """The current signing secret in full (the dashboard's Reveal)."""
    return box_of(services).open(merchant["webhook_secret_enc"])


def endpoint_view(services: Services, merchant: dict) -> dict:
    return models.Merchant.view(merchant, webhook_secret(services, merchant),
                                rate_limit(services.config.api, merchant))


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
        if row["webhook_enabled"] and row["webhook_url"]:
            await webhooks.announce(cur)  # what waited while it was disabled goes now, not at the next pass
    authcache.forget(merchant["id"])
    return endpoint_view(services, row)


async def rotate_secret(services: Services, merchant: dict, receipt: Receipt) -> dict:
    """A new secret, shown this once; the previous one still signs deliveries during the overlap."""
    box = box_of(services)
    secret = crypto.new_webhook_secret()
    overlap = services.config.webhooks.secret_overlap
    async with transaction(services.pool) as cur:
        row = await merchants.rotate_webhook_secret(cur, merchant["id"], box.seal(secret), overlap)
        result = {**endpoint_view(services, row), "webhook_secret": secret,
                  "previous_secret_valid_until": models.iso(row["webhook_secret_prev_until"])}
        # Kept sealed for the replay: a merchant whose connection dropped still learns the new secret.
        await receipt.record(cur, result, reveals_secret=True)
    authcache.forget(merchant["id"])
    return result


async def send_test(services: Services, merchant: dict, receipt: Receipt) -> dict:
    # No field: webhook_url is the merchant's setting, not part of this (bodiless) request.
    if not merchant["webhook_url"]:
        raise BadRequest("set webhook_url with PATCH /api/v1/merchant first")
    async with transaction(services.pool) as cur:
        event = await events.record(cur, merchant["id"], "webhook.test", merchant["id"], {
            "message": "This is a test event from paygate.", "merchant_id": merchant["id"]})
        delivery = await webhooks.for_event(cur, event["id"])
        if delivery is None:  # the URL was cleared since the merchant row was read
            raise BadRequest("set webhook_url with PATCH /api/v1/merchant first")
        result = {"event": models.Event.view(event), "delivery": webhook_models.WebhookDelivery.view(delivery)}
        await receipt.record(cur, result)
    return result


# -- deliveries -------------------------------------------------------------------------------------------

class EndpointLimiter:
    """At most ``total`` deliveries in flight in this process, and at most ``per_endpoint`` to one endpoint."""

    def __init__(self, per_endpoint: int, total: int):
        self._total = asyncio.Semaphore(total)
        self._semaphores: dict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(per_endpoint))

    @asynccontextmanager
    async def hold(self, endpoint: str) -> AsyncIterator[None]:
        async with self._semaphores[endpoint], self._total:
            yield


def endpoint_key(delivery: dict) -> str:
    """What a delivery's endpoint is counted by: its webhook endpoint's id, or its merchant's for the merchant's own
    webhook_url (a delivery or an attempt)."""
    return delivery["endpoint_id"] or delivery["merchant_id"]


def _secrets(services: Services, delivery: dict) -> list[str]:
    box = box_of(services)
    found = [box.open(delivery["webhook_secret_enc"])]
    if delivery["previous_secret_valid"] and delivery["webhook_secret_prev_enc"]:
        found.append(box.open(delivery["webhook_secret_prev_enc"]))
    return found


ROUNDS = 4  # of an endpoint's limit in one merchant's share; a claim's lease covers as many timeouts


def per_merchant(config) -> int:
    """Deliveries of one merchant a claim takes, and of one endpoint a worker process holds before its claims
    pass that endpoint over: what the endpoint's limit lets out in ``ROUNDS`` rounds. Fewer leave a fast
    endpoint idle between claims: draining to one merchant, two rounds made ~1,200 deliveries/s here, four ~1,700."""
    return ROUNDS * config.per_endpoint_concurrency


RECORD_TRIES = 3  # recording attempts is safe to repeat; an attempt not recorded is sent again after its lease


@dataclass
class Batch:
    """Deliveries one claim holds: each is sent only if it can start before ``start_before`` (monotonic time),
    so that it ends within the claim's lease."""

    deliveries: list[dict]
    start_before: float
    more_may_be_due: bool  # the claim was cut short by its size


async def claim(services: Services, size: int, exclude: Collection[str] = ()) -> Batch:
    """Hold up to ``size`` due deliveries, at most ``per_merchant`` of one merchant's and none to the endpoints
    in ``exclude`` (``endpoint_key``s), oldest first.

    The claim holds its deliveries for a lease; an attempt that cannot start early enough to end within it
    (its endpoint's limit being busy) is given up unsent and claimed again once the lease ends, and an
    attempt is recorded only while its claim still holds the delivery, so two workers never send or record
    the same attempt. Attempts made before a crash are sent again: receivers deduplicate by the event id,
    as with any at-least-once delivery.
    """
    config = services.config.webhooks
    share, lease = per_merchant(config), ROUNDS * config.timeout + 30
    start_before = time.monotonic() + lease - config.timeout - 10
    async with cursor(services.pool) as cur:  # one statement: autocommit is its transaction
        claimed = await webhooks.claim_due(cur, size, lease, share, sorted(exclude))
    return Batch(claimed, start_before, len(claimed) == size)


async def record(services: Services, attempts: list[dict]) -> list[dict]:
    """Record attempts made (``attempt``'s results, of any claims) in one statement; return each recorded
    delivery's id, merchant_id and status."""
    recorded = await _record(services, attempts)
    for merchant_id in {a["merchant_id"] for a in attempts if a["disable_reason"] and not a["endpoint_id"]}:
        authcache.forget(merchant_id)
    for row in recorded:
        metrics.WEBHOOK_DELIVERIES.labels(metrics.delivery_outcome(row["status"])).inc()
    if len(recorded) < len(attempts):
        lost = sorted({a["id"] for a in attempts} - {r["id"] for r in recorded})
        log.warning("attempts of webhook deliveries %s were made after their lease ran out and are not recorded; "
                    "the deliveries are sent again", ", ".join(lost))
    return recorded


async def _record(services: Services, attempts: list[dict]) -> list[dict]:
    for _ in range(RECORD_TRIES - 1):
        try:
            async with cursor(services.pool) as cur:  # one statement: autocommit is its transaction
                return await webhooks.record_attempts(cur, attempts)
        except (OperationalError, DatabaseUnavailable) as exc:
            log.warning("recording %d webhook attempts failed (%s); trying again", len(attempts), exc)
            await asyncio.sleep(0.5)
    async with cursor(services.pool) as cur:  # the last try's error reaches the caller
        return await webhooks.record_attempts(cur, attempts)


async def attempt(services: Services, session: aiohttp.ClientSession, limiter: EndpointLimiter, delivery: dict,
                  start_before: float) -> dict | None:
    """Send one claimed delivery; its attempt as ``record`` takes it, None if not sent (its lease running out
    before its endpoint's limit let it start)."""
    config = services.config.webhooks
    body = delivery["payload"].encode()
    async with limiter.hold(endpoint_key(delivery)):
        if time.monotonic() > start_before:
            return None
        headers = signing.headers(body, delivery["event_id"], int(time.time()), _secrets(services, delivery))
        sent = await send(session, delivery["webhook_url"], body, headers, config.timeout,
                          config.allow_private_targets)
    number = delivery["attempts"] + 1
    decision = policy.after(sent, number, config.retry_schedule, config.max_attempts)
    return {
        "id": delivery["id"], "lease": delivery["locked_until"].isoformat(), "merchant_id": delivery["merchant_id"],
        "endpoint_id": delivery["endpoint_id"], "number": number,
        "trigger": "manual" if delivery["manual_retry"] else ("initial" if number == 1 else "automatic"),
        "url": delivery["webhook_url"], "status": decision.status, "delay": decision.delay,
        "code": sent.status_code, "body": sent.body, "error": sent.error,
        "duration_ms": sent.duration_ms,
        "disable_reason": f"the endpoint answered 410 Gone to delivery {delivery['id']}" if sent.gone else None,
    }


# -- retries by hand ----------------------------------------------------------------------------------------

async def retry(services: Services, merchant_id: str | None, delivery_ids: list[str]) -> list[dict]:
    """Reset to pending and deliver now, keeping the attempt history. ``merchant_id`` None: any merchant."""
    async with transaction(services.pool) as cur:
        return await webhooks.retry_now(cur, merchant_id, delivery_ids)


async def retry_one(services: Services, merchant: dict, delivery_id: str, receipt: Receipt) -> dict:
    async with transaction(services.pool) as cur:
        reset = await webhooks.retry_now(cur, merchant["id"], [delivery_id])
        if not reset:
            raise no_such("webhook delivery", delivery_id)
        result = webhook_models.WebhookDelivery.view(await webhooks.get(cur, merchant["id"], delivery_id))
        await receipt.record(cur, result)
    return result


async def recover(services: Services, merchant_id: str | None, since: datetime, until: datetime | None,
                  receipt: Receipt | None = None) -> int:
    """Re-queue every failed delivery created in [since, until]; ``merchant_id`` None: every merchant's."""
    async with transaction(services.pool) as cur:
        ids = await webhooks.failed_between(cur, merchant_id, since, until)
        reset = await webhooks.retry_now(cur, merchant_id, ids) if ids else []
        if receipt is not None:
            await receipt.record(cur, {"requeued": len(reset)})
    return len(reset)


async def recover_request(services: Services, merchant: dict, body: RecoverRequest, receipt: Receipt) -> None:
    until = check_time(body.until, "until") if body.until else None
    await recover(services, merchant["id"], check_time(body.since, "since"), until, receipt)


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
            raise no_such("webhook delivery", delivery_id)
        return webhook_models.WebhookDelivery.view(row, await webhooks.attempts(cur, delivery_id))



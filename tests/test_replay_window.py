"""The replay window: a validly signed delivery whose signed time is too far from now is refused by
``paygate.verify``, by ``paygate webhooks listen`` and by the official ``standardwebhooks`` library alike."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner
from standardwebhooks import Webhook, WebhookVerificationError

from paygate.cli import main
from paygate.commands.listen import Arrival, create_listener_app
from paygate.core.webhooks import signing
from paygate.infra import crypto
from paygate.verify import (
    WebhookRejected,
    verify_standard_webhook,
    verify_webhook,
    verify_webhook_signature,
)

from .api import create_order, pay, wait_final

SECRET = crypto.new_webhook_secret()
TOLERANCE = 300  # the default of verify_webhook and the listener


def delivery(event_at: int, sent_at: int | None = None) -> tuple[bytes, dict[str, str]]:
    """Body and headers as paygate's delivery signs them: the body carries the event's time, webhook-timestamp
    the attempt's (a retry is sent later than its event)."""
    body = json.dumps({"id": "evt_replay1", "event": "payment.success", "timestamp": event_at,
                       "data": {"payment": {"id": "pay_replay1", "status": "success"}}}).encode()
    return body, signing.headers(body, "evt_replay1", event_at if sent_at is None else sent_at, [SECRET])


async def listener_answer(aiohttp_client, body: bytes, headers: dict, **options) -> tuple[int, str, Arrival]:
    printed: list[Arrival] = []
    client = await aiohttp_client(create_listener_app(SECRET, 0.0, None, printed.append, **options))
    resp = await client.post("/hook", data=body, headers=headers)
    (arrival,) = printed
    return resp.status, await resp.text(), arrival


def standard_library_accepts_with(secret: str, body: bytes, headers: dict) -> bool:
    try:
        Webhook(secret).verify(body, headers)
    except WebhookVerificationError:
        return False
    return True


def standard_library_accepts(body: bytes, headers: dict) -> bool:
    return standard_library_accepts_with(SECRET, body, headers)


@pytest.mark.parametrize("age", [TOLERANCE + 5, 3600, -(TOLERANCE + 5)], ids=["just-too-old", "an-hour", "future"])
async def test_a_delivery_outside_the_tolerance_is_refused_by_all_three(aiohttp_client, age):
    body, headers = delivery(int(time.time()) - age)

    with pytest.raises(WebhookRejected, match="timestamp more than 300 s from now"):
        verify_webhook(SECRET, body, headers)
    assert not verify_standard_webhook(SECRET, body, headers)
    assert not verify_webhook_signature(SECRET, body, headers["X-Webhook-Signature"], tolerance=TOLERANCE)

    status, text, arrival = await listener_answer(aiohttp_client, body, headers)
    assert status == 400
    assert text.startswith("stale timestamp: more than 300 s from now")
    assert arrival.standard_signature == "stale" and arrival.seed_signature == "valid"

    assert not standard_library_accepts(body, headers)


async def test_a_fresh_delivery_is_accepted_by_all_three(aiohttp_client):
    body, headers = delivery(int(time.time()) - 5)
    assert verify_webhook(SECRET, body, headers)["id"] == "evt_replay1"
    assert verify_standard_webhook(SECRET, body, headers)
    assert verify_webhook_signature(SECRET, body, headers["X-Webhook-Signature"])
    status, text, arrival = await listener_answer(aiohttp_client, body, headers)
    assert (status, text, arrival.seed_signature, arrival.standard_signature) == (200, "ok", "valid", "valid")
    assert standard_library_accepts(body, headers)


async def test_a_real_delivery_is_accepted_then_its_replay_refused(hooks_client, merchant, receiver, aiohttp_client):
    """What paygate's worker really sent passes all three; the same bytes a tolerance later pass none, and
    bringing webhook-timestamp up to date breaks the signature."""
    headers = merchant["headers"]
    resp = await hooks_client.patch("/api/v1/merchant", json={"webhook_url": receiver.url}, headers=headers)
    assert resp.status == 200, await resp.text()
    order = await create_order(hooks_client, headers)
    await wait_final(hooks_client, headers, (await pay(hooks_client, headers, order["id"]))["id"])
    arrived = (await receiver.wait_for(1))[0]
    secret, body = merchant["webhook_secret"], arrived.body
    sent = {k: v for k, v in arrived.headers.items() if k.lower() not in ("host", "content-length")}

    assert verify_webhook(secret, body, sent)["event"].startswith("payment.")
    Webhook(secret).verify(body, sent)
    printed: list[Arrival] = []
    listener = await aiohttp_client(create_listener_app(secret, 0.0, None, printed.append))
    assert (await listener.post("/", data=body, headers=sent)).status == 200

    later = time.time() + TOLERANCE + 1
    with pytest.raises(WebhookRejected, match="timestamp"):
        verify_webhook(secret, body, sent, now=later)
    # what a replayer would try: a newer time (+1 s keeps it inside the window, so only the signature can fail)
    refreshed = {**sent, "webhook-timestamp": str(int(sent["webhook-timestamp"]) + 1)}
    with pytest.raises(WebhookRejected, match="signature does not match"):
        verify_webhook(secret, body, refreshed)
    assert (await listener.post("/", data=body, headers=refreshed)).status == 400
    assert not standard_library_accepts_with(secret, body, refreshed)


async def test_stripping_the_standard_headers_off_an_old_delivery_does_not_help(aiohttp_client):
    """Then the body's own timestamp, which X-Webhook-Signature covers, is judged."""
    body, headers = delivery(int(time.time()) - 3600)
    seed_only = {"X-Webhook-Signature": headers["X-Webhook-Signature"]}
    with pytest.raises(WebhookRejected, match="timestamp"):
        verify_webhook(SECRET, body, seed_only)
    status, text, arrival = await listener_answer(aiohttp_client, body, seed_only)
    assert (status, arrival.seed_signature, arrival.standard_signature) == (400, "stale", "absent")
    assert "stale" in text


async def test_a_retry_of_an_old_event_passes_on_its_attempt_time(aiohttp_client):
    """An event an hour old, retried now: webhook-timestamp is the attempt's and is signed, so it passes; the seed
    scheme alone has only the event's time, so with a tolerance it refuses (why the seed's helper has none by
    default)."""
    now = int(time.time())
    body, headers = delivery(now - 3600, sent_at=now)
    assert verify_webhook(SECRET, body, headers)["id"] == "evt_replay1"
    assert (await listener_answer(aiohttp_client, body, headers))[0] == 200
    assert standard_library_accepts(body, headers)
    assert not verify_webhook_signature(SECRET, body, headers["X-Webhook-Signature"], tolerance=TOLERANCE)
    assert verify_webhook_signature(SECRET, body, headers["X-Webhook-Signature"]), "the seed's helper: no window"


async def test_the_tolerance_is_configurable(aiohttp_client):
    body, headers = delivery(int(time.time()) - 400)
    assert verify_webhook(SECRET, body, headers, tolerance=600)["id"] == "evt_replay1"
    assert verify_webhook_signature(SECRET, body, headers["X-Webhook-Signature"], tolerance=600)
    assert verify_webhook(SECRET, body, headers, tolerance=None)["id"] == "evt_replay1"
    assert (await listener_answer(aiohttp_client, body, headers, tolerance=600))[0] == 200
    with pytest.raises(WebhookRejected):
        verify_webhook(SECRET, body, headers, tolerance=60)
    status, text, _ = await listener_answer(aiohttp_client, body, headers, tolerance=60)
    assert status == 400 and "more than 60 s" in text


@pytest.mark.parametrize(("body", "headers", "why"), [
    (b'{"timestamp": 1}', {}, "not signed"),
    (delivery(int(time.time()))[0], {"X-Webhook-Signature": "0" * 64}, "signature does not match"),
    (delivery(int(time.time()))[0], {**delivery(int(time.time()))[1], "webhook-id": "evt_other"},
     "signature does not match"),
], ids=["unsigned", "wrong-seed", "wrong-standard"])
def test_verify_webhook_says_why_it_refuses(body, headers, why):
    with pytest.raises(WebhookRejected, match=why):
        verify_webhook(SECRET, body, headers)


def test_listen_takes_a_tolerance_in_seconds():
    result = CliRunner().invoke(main, ["webhooks", "listen", "--tolerance", "-1"])
    assert result.exit_code == 2 and "--tolerance" in result.output
    assert "--tolerance SECONDS" in CliRunner().invoke(main, ["webhooks", "listen", "--help"]).output

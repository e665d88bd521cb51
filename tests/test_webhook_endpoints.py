"""Webhook endpoints as a resource: each with its own secret and subscribed events, deliveries fanned out to each."""

from __future__ import annotations

import asyncio
import json

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from paygate.core.webhooks.event_types import EVENT_TYPES
from paygate.storage import events

from .api import create_order, eventually, get, pay, wait_final
from .receiver import Receiver, statuses

PATH = "/api/v1/webhook_endpoints"


async def _create(client, headers, url: str, events: list[str], expect: int = 201, **extra) -> dict:
    resp = await client.post(PATH, json={"url": url, "enabled_events": events, **extra}, headers=headers)
    assert resp.status == expect, await resp.text()
    return await resp.json()


def _events(receiver: Receiver) -> list[str]:
    return sorted(json.loads(r.body)["event"] for r in receiver.requests)


async def _refund(client, headers, payment_id: str, amount: int) -> dict:
    resp = await client.post(f"/api/v1/payments/{payment_id}/refunds", json={"amount": amount}, headers=headers)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def _paid(client, headers) -> dict:
    order = await create_order(client, headers)
    payment = await wait_final(client, headers, (await pay(client, headers, order["id"]))["id"])
    assert payment["status"] == "success"
    return payment


@pytest.fixture
async def receivers():
    started = [await Receiver().start() for _ in range(3)]
    yield started
    for receiver in started:
        await receiver.stop()


async def test_three_endpoints_each_receive_exactly_their_events_signed_with_their_own_secret(
        hooks_client, merchant, receivers):
    headers = merchant["headers"]
    payments, refunds, everything = receivers
    subscribed = {
        "payments": await _create(hooks_client, headers, payments.url, ["payment.success"]),
        "refunds": await _create(hooks_client, headers, refunds.url, ["refund.created", "refund.processed"]),
        "everything": await _create(hooks_client, headers, everything.url, ["*"]),
    }
    secrets = {name: endpoint["secret"] for name, endpoint in subscribed.items()}
    assert len(set(secrets.values())) == 3 and all(s.startswith("whsec_") for s in secrets.values())

    payment = await _paid(hooks_client, headers)
    refund = await _refund(hooks_client, headers, payment["id"], 10000)
    await eventually(lambda: get(hooks_client, headers, f"/api/v1/refunds/{refund['id']}"),
                     lambda r: r["status"] == "processed")
    all_events = ["payment.captured", "payment.created", "payment.success", "refund.created", "refund.processed"]
    await everything.wait_for(len(all_events))
    await payments.wait_for(1)
    await refunds.wait_for(2)

    assert _events(payments) == ["payment.success"]
    assert _events(refunds) == ["refund.created", "refund.processed"]
    assert _events(everything) == all_events
    for name, receiver in zip(subscribed, receivers, strict=True):
        for request in receiver.requests:
            assert Webhook(secrets[name]).verify(request.body, request.headers)["id"] == request.headers["webhook-id"]
            for other in set(secrets) - {name}:
                with pytest.raises(WebhookVerificationError):
                    Webhook(secrets[other]).verify(request.body, request.headers)
    # the same event (its id) reaches each endpoint subscribed to it, as deliveries of their own
    success = {json.loads(r.body)["event"]: r for r in everything.requests}["payment.success"]
    assert json.loads(success.body) == json.loads(payments.requests[0].body)
    deliveries = await get(hooks_client, headers, f"/api/v1/webhooks?endpoint_id={subscribed['payments']['id']}")
    assert [(d["event"], d["endpoint_id"], d["url"]) for d in deliveries["data"]] == [
        ("payment.success", subscribed["payments"]["id"], payments.url)]

    # A 410 from one endpoint disables that one alone.
    payments.answer = statuses(410)
    second = await _paid(hooks_client, headers)
    gone = await eventually(lambda: get(hooks_client, headers, f"{PATH}/{subscribed['payments']['id']}"),
                            lambda e: e["status"] == "disabled")
    assert "410" in gone["disabled_reason"]
    await everything.wait_for(len(all_events) + 3)
    third = await _paid(hooks_client, headers)
    await everything.wait_for(len(all_events) + 6)
    assert [json.loads(r.body)["data"]["payment"]["id"] for r in payments.requests] == [payment["id"], second["id"]]
    assert (await get(hooks_client, headers, f"{PATH}/{subscribed['everything']['id']}"))["status"] == "enabled"
    assert (await get(hooks_client, headers, f"{PATH}/{subscribed['refunds']['id']}"))["status"] == "enabled"
    assert (await get(hooks_client, headers, "/api/v1/merchant"))["webhook_enabled"] is True
    mine = await get(hooks_client, headers, f"/api/v1/webhooks?endpoint_id={subscribed['payments']['id']}")
    assert third["id"] not in json.dumps(mine)  # a disabled endpoint is not given new deliveries

    # Enabled again, it receives what comes next.
    payments.answer = statuses(200)
    resp = await hooks_client.patch(f"{PATH}/{subscribed['payments']['id']}", json={"disabled": False},
                                    headers=headers)
    assert resp.status == 200 and (await resp.json())["disabled_reason"] is None
    fourth = await _paid(hooks_client, headers)
    await payments.wait_for(3)
    assert json.loads(payments.requests[2].body)["data"]["payment"]["id"] == fourth["id"]


async def _record_events(pool, merchant_id: str, event_type: str, n: int) -> None:
    """``n`` events in one transaction, fanned out to the endpoints subscribed (as the outbox writes them)."""
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("BEGIN")
        for i in range(n):
            await events.record(cur, merchant_id, event_type, f"pay_{i:016d}", {"n": i})
        await cur.execute("COMMIT")


async def test_an_endpoint_that_hangs_holds_up_none_of_its_merchants_other_endpoints(
        aiohttp_client, make_app, merchant, receivers, pool):
    """Concurrency is counted per endpoint: one that does not answer ties up its own share, and the same
    merchant's other endpoints are claimed and sent meanwhile, even behind its older backlog."""
    client = await aiohttp_client(make_app(
        workers=True, webhooks__allow_private_targets=True, scheduler__interval=3600, webhooks__timeout=60,
        webhooks__per_endpoint_concurrency=2, worker__webhook_concurrency=8, worker__webhook_batch=5))
    headers = merchant["headers"]
    hanging, healthy = receivers[:2]
    hanging.hold = asyncio.Event()
    await _create(client, headers, hanging.url, ["payment.success"])
    await _create(client, headers, healthy.url, ["refund.processed"])
    await _record_events(pool, merchant["merchant_id"], "payment.success", 60)  # older: claimed first
    await _record_events(pool, merchant["merchant_id"], "refund.processed", 12)

    await healthy.wait_for(12, timeout=15)
    assert len(hanging.requests) == 2 and not hanging.hold.is_set()  # its limit in flight, no more
    hanging.hold.set()
    await hanging.wait_for(60)
    assert len({json.loads(r.body)["id"] for r in hanging.requests}) == 60


async def test_the_seed_webhook_url_is_an_endpoint_of_its_own_beside_them(hooks_client, merchant, receivers):
    headers = merchant["headers"]
    seed, endpoint = receivers[:2]
    resp = await hooks_client.patch("/api/v1/merchant", json={"webhook_url": seed.url}, headers=headers)
    assert resp.status == 200
    await _create(hooks_client, headers, endpoint.url, ["payment.success"])

    payment = await _paid(hooks_client, headers)
    await seed.wait_for(3)
    await endpoint.wait_for(1)
    assert _events(seed) == ["payment.captured", "payment.created", "payment.success"]
    Webhook(merchant["webhook_secret"]).verify(seed.requests[0].body, seed.requests[0].headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(merchant["webhook_secret"]).verify(endpoint.requests[0].body, endpoint.requests[0].headers)
    assert json.loads(endpoint.requests[0].body)["data"]["payment"]["id"] == payment["id"]

    # webhook.test goes to the merchant's webhook_url only: "*" does not take it
    await _create(hooks_client, headers, receivers[2].url, ["*"])
    resp = await hooks_client.post("/api/v1/webhooks/test", headers=headers)
    assert resp.status == 201
    await seed.wait_for(4)
    assert json.loads(seed.requests[3].body)["event"] == "webhook.test"
    test_event = (await resp.json())["event"]["id"]
    listed = await get(hooks_client, headers, "/api/v1/webhooks?event=webhook.test")
    assert [(d["event_id"], d["endpoint_id"]) for d in listed["data"]] == [(test_event, None)]


async def test_endpoints_are_created_read_changed_rotated_and_deleted(hooks_client, merchant, other_merchant,
                                                                     receiver):
    headers = merchant["headers"]
    created = await _create(hooks_client, headers, receiver.url, ["refund.processed", "refund.processed"],
                            description="accounting")
    assert created["enabled_events"] == ["refund.processed"] and created["status"] == "enabled"
    assert created["id"].startswith("we_") and created["description"] == "accounting"
    item = f"{PATH}/{created['id']}"
    shown = await get(hooks_client, headers, item)
    assert shown["secret"] == "whsec_…" + created["secret"][-4:]
    assert (await get(hooks_client, headers, f"{item}/secret"))["secret"] == created["secret"]
    listed = await get(hooks_client, headers, PATH)
    assert [e["id"] for e in listed["data"]] == [created["id"]] and listed["total"] == 1

    resp = await hooks_client.patch(item, json={"enabled_events": ["*"], "description": None}, headers=headers)
    changed = await resp.json()
    assert resp.status == 200 and changed["enabled_events"] == ["*"] and changed["description"] is None
    resp = await hooks_client.patch(item, json={"disabled": True}, headers=headers)
    assert (await resp.json())["status"] == "disabled"

    # another merchant's endpoint is not found, whatever is asked of it
    other = other_merchant["headers"]
    for method, path in (("GET", item), ("GET", f"{item}/secret"), ("PATCH", item), ("DELETE", item),
                         ("POST", f"{item}/secret/rotate")):
        resp = await hooks_client.request(method, path, headers=other, json={} if method == "PATCH" else None)
        assert resp.status == 404, (method, path, await resp.text())
    assert (await get(hooks_client, other, PATH))["data"] == []

    resp = await hooks_client.post(f"{item}/secret/rotate", headers=headers)
    rotated = await resp.json()
    assert resp.status == 200 and rotated["secret"] != created["secret"]
    assert rotated["previous_secret_valid_until"] is not None

    resp = await hooks_client.delete(item, headers=headers)
    assert resp.status == 200 and await resp.json() == {"id": created["id"], "entity": "webhook_endpoint",
                                                        "deleted": True}
    for path in (item, f"{item}/secret"):
        assert (await hooks_client.get(path, headers=headers)).status == 404
    assert (await hooks_client.delete(item, headers=headers)).status == 404
    assert (await get(hooks_client, headers, PATH))["total"] == 0


async def test_rotated_endpoint_secret_signs_with_both_during_the_overlap(hooks_client, merchant, receiver):
    headers = merchant["headers"]
    created = await _create(hooks_client, headers, receiver.url, ["payment.success"])
    rotated = await (await hooks_client.post(f"{PATH}/{created['id']}/secret/rotate", headers=headers)).json()
    await _paid(hooks_client, headers)
    arrived = (await receiver.wait_for(1))[0]
    assert len(arrived.headers["webhook-signature"].split(" ")) == 2
    for secret in (rotated["secret"], created["secret"]):
        Webhook(secret).verify(arrived.body, arrived.headers)


@pytest.mark.parametrize(("body", "field"), [
    ({"url": "https://shop.example/h", "enabled_events": []}, "enabled_events"),
    ({"url": "https://shop.example/h", "enabled_events": ["payment.success", "payment.nope"]}, "enabled_events.1"),
    ({"url": "https://shop.example/h", "enabled_events": ["*", "payment.success"]}, "enabled_events"),
    ({"url": "https://shop.example/h", "enabled_events": "payment.success"}, "enabled_events"),
    ({"enabled_events": ["*"]}, "url"),
    ({"url": "https://shop.example/h", "enabled_events": ["*"], "secret": "mine"}, "secret"),
    ({"url": "https://shop.example/h", "enabled_events": ["*"], "description": "x" * 501}, "description"),
    ({"url": "http://127.0.0.1:9/h", "enabled_events": ["*"]}, "url"),
])
async def test_a_bad_endpoint_is_refused_naming_the_field(client, merchant, body, field):
    resp = await client.post(PATH, json=body, headers=merchant["headers"])
    error = (await resp.json())["error"]
    assert resp.status == 400 and error["field"] == field, error


async def test_a_patch_may_not_null_what_an_endpoint_needs_and_the_count_is_bounded(hooks_client, merchant,
                                                                                    receiver):
    headers = merchant["headers"]
    created = await _create(hooks_client, headers, receiver.url, ["*"])
    for field in ("url", "enabled_events", "disabled"):
        resp = await hooks_client.patch(f"{PATH}/{created['id']}", json={field: None}, headers=headers)
        assert resp.status == 400 and (await resp.json())["error"]["field"] == field
    for _ in range(15):
        await _create(hooks_client, headers, receiver.url, ["*"])
    refused = await _create(hooks_client, headers, receiver.url, ["*"], expect=400)
    assert "at most 16" in refused["error"]["description"]


async def test_deleting_an_endpoint_fails_its_pending_deliveries(hooks_client, merchant, receiver):
    headers = merchant["headers"]
    receiver.answer = statuses(500)
    created = await _create(hooks_client, headers, receiver.url, ["payment.success"])
    await _paid(hooks_client, headers)
    await receiver.wait_for(1)
    delivery = (await eventually(
        lambda: get(hooks_client, headers, f"/api/v1/webhooks?endpoint_id={created['id']}"),
        lambda page: page["data"] and page["data"][0]["attempts"] == 1))["data"][0]
    assert delivery["status"] == "pending"  # a retry waits

    assert (await hooks_client.delete(f"{PATH}/{created['id']}", headers=headers)).status == 200
    assert (await get(hooks_client, headers, f"/api/v1/webhooks/{delivery['id']}"))["status"] == "failed"


def test_every_event_paygate_records_can_be_subscribed_to():
    """The types an endpoint may subscribe to are those the code records (a new type added without it fails)."""
    import pathlib
    import re

    root = pathlib.Path(__file__).parent.parent / "paygate"
    used = set()
    for path in root.rglob("*.py"):
        used |= set(re.findall(r"\"((?:payment|refund|merchant|webhook|order)\.[a-z_]+)\"", path.read_text()))
    assert used <= set(EVENT_TYPES), used - set(EVENT_TYPES)

"""Webhooks end to end against a real local receiver: signatures, retries, failures, operator actions."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time

import pytest
from standardwebhooks import Webhook

from paygate.core.operations.processing import process_payments
from paygate.http import appkeys

from .api import create_order, eventually, get, pay, wait_final
from .receiver import statuses


async def _set_url(client, headers, url: str, expect: int = 200) -> dict:
    resp = await client.patch("/api/v1/merchant", json={"webhook_url": url}, headers=headers)
    assert resp.status == expect, await resp.text()
    return await resp.json()


async def _deliveries(client, headers, **filters) -> list[dict]:
    query = "&".join(f"{k}={v}" for k, v in {"limit": 100, **filters}.items())
    return (await get(client, headers, f"/api/v1/webhooks?{query}"))["data"]


async def _wait_delivery(client, headers, delivery_id: str, status: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        delivery = await get(client, headers, f"/api/v1/webhooks/{delivery_id}")
        if delivery["status"] == status:
            return delivery
        if time.monotonic() > deadline:
            raise AssertionError(f"{delivery_id} is {delivery['status']}, not {status}, after {timeout}s")
        await asyncio.sleep(0.1)


async def _test_event(client, headers) -> dict:
    resp = await client.post("/api/v1/webhooks/test", headers=headers)
    assert resp.status == 201, await resp.text()
    return (await resp.json())["delivery"]


async def test_payment_success_arrives_with_both_signatures_valid(hooks_client, merchant, receiver):
    headers = merchant["headers"]
    await _set_url(hooks_client, headers, receiver.url)
    order = await create_order(hooks_client, headers)
    payment = await wait_final(hooks_client, headers, (await pay(hooks_client, headers, order["id"]))["id"])

    arrived = await receiver.wait_for(3)  # payment.created, payment.success, payment.captured
    by_event = {json.loads(r.body)["event"]: r for r in arrived}
    success = by_event["payment.success"]
    body = json.loads(success.body)

    assert body["data"]["payment"]["id"] == payment["id"]
    assert body["id"].startswith("evt_") and isinstance(body["timestamp"], int)
    secret = merchant["webhook_secret"]
    assert Webhook(secret).verify(success.body, success.headers)["id"] == body["id"]
    assert success.headers["X-Webhook-Signature"] == hmac.new(secret.encode(), success.body,
                                                              hashlib.sha256).hexdigest()
    assert success.headers["webhook-id"] == body["id"]
    assert success.headers["User-Agent"].startswith("paygate/")
    assert success.headers["Content-Type"] == "application/json"

    # The attempt is recorded after the receiver has answered (batched with others that ended meanwhile).
    (pending,) = await _deliveries(hooks_client, headers, event="payment.success")
    delivered = await _wait_delivery(hooks_client, headers, pending["id"], "success")
    assert (delivered["attempts"], delivered["response_code"]) == (1, 200)
    assert json.loads(success.body) == delivered["payload"]


async def test_each_event_gets_a_delivery_only_while_the_merchant_has_a_url(aiohttp_client, make_app, merchant, pool,
                                                                            receiver):
    client = await aiohttp_client(make_app(webhooks__allow_private_targets=True))
    headers = merchant["headers"]
    without = await pay(client, headers, (await create_order(client, headers))["id"])
    await _set_url(client, headers, receiver.url)
    with_url = await pay(client, headers, (await create_order(client, headers))["id"])

    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("""SELECT e.object_id, e.id, e.type, e.payload, e.created_at, w.payload, w.url, w.status
                             FROM events e LEFT JOIN webhook_logs w ON w.event_id = e.id""")
        rows = {r[0]: r[1:] for r in await cur.fetchall()}
    assert rows[without["id"]][4] is None  # no URL then: no delivery
    event_id, event_type, payload, created_at, body, url, status = rows[with_url["id"]]
    assert (url, status) == (receiver.url, "pending")
    # The stored bytes are the seed's body plus the event id, with the event row's own time.
    assert body == json.dumps({"id": event_id, "event": event_type, "timestamp": int(created_at.timestamp()),
                               "data": json.loads(body)["data"]})
    assert json.loads(body)["data"] == payload == {"payment": with_url}


async def test_a_batch_of_payments_records_each_event_with_its_own_delivery_in_one_statement(
        aiohttp_client, make_app, merchant, pool, receiver):
    """The worker records a batch's outcomes together: its events go in one multi-row insert, and still each
    gets its own delivery, with its own body, id and time."""
    client = await aiohttp_client(make_app(webhooks__allow_private_targets=True))
    headers = merchant["headers"]
    await _set_url(client, headers, receiver.url)
    created = [await pay(client, headers, (await create_order(client, headers))["id"]) for _ in range(4)]
    outcomes = await process_payments(client.app[appkeys.SERVICES], [p["id"] for p in created])
    assert set(outcomes.values()) == {"success"}

    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("""SELECT e.object_id, e.id, e.type, e.payload, e.created_at, w.id, w.payload
                             FROM events e JOIN webhook_logs w ON w.event_id = e.id
                             WHERE e.type <> 'payment.created' ORDER BY e.object_id, e.type""")
        rows = await cur.fetchall()
    assert [(r[0], r[2]) for r in rows] == sorted(
        (p["id"], kind) for p in created for kind in ("payment.captured", "payment.success"))
    assert len({r[1] for r in rows}) == len({r[5] for r in rows}) == 8  # an event id and a delivery id each
    for object_id, event_id, event_type, payload, created_at, _, body in rows:
        assert json.loads(body) == {"id": event_id, "event": event_type, "timestamp": int(created_at.timestamp()),
                                    "data": payload}  # (jsonb keeps the payload's keys in its own order)
        assert payload["payment"]["id"] == object_id and payload["payment"]["status"] == "success"


@pytest.mark.slow
async def test_failing_twice_then_ok_takes_three_attempts_spaced_by_the_schedule(hooks_client, merchant, receiver):
    headers = merchant["headers"]
    receiver.answer = statuses(500, 500, 200)
    await _set_url(hooks_client, headers, receiver.url)
    delivery = await _test_event(hooks_client, headers)

    arrived = await receiver.wait_for(3, timeout=30)
    done = await _wait_delivery(hooks_client, headers, delivery["id"], "success")

    gaps = [arrived[1].at - arrived[0].at, arrived[2].at - arrived[1].at]
    assert 4 <= gaps[0] <= 6 and 9 <= gaps[1] <= 11, gaps
    assert len({r.body for r in arrived}) == 1  # the same bytes every time
    assert done["attempts"] == 3
    assert [(a["number"], a["trigger"], a["status_code"]) for a in done["attempt_history"]] == [
        (1, "initial", 500), (2, "automatic", 500), (3, "automatic", 200)]


async def test_timeouts_connection_errors_and_redirects_are_failed_attempts(hooks_client, merchant, receiver):
    from .conftest import free_port

    headers = merchant["headers"]
    cases = [
        (lambda n: (200, {}, 3.0), receiver.url, "timed out after 2s", None),
        (statuses(302), receiver.url, None, 302),
        (statuses(200), f"http://127.0.0.1:{free_port()}/closed", "Cannot connect", None),
    ]
    for answer, url, error, code in cases:
        receiver.answer = answer
        receiver.requests.clear()
        await _set_url(hooks_client, headers, url)
        delivery = await _test_event(hooks_client, headers)
        deadline = time.monotonic() + 10
        while (current := await get(hooks_client, headers, f"/api/v1/webhooks/{delivery['id']}"))["attempts"] < 1:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        attempt = current["attempt_history"][0]
        assert current["status"] == "pending" and current["next_retry_at"]
        assert attempt["status_code"] == code
        if error:
            assert error in attempt["error"]
        if code == 302:
            assert len(receiver.requests) == 1  # the redirect was not followed


async def test_retry_after_on_503_is_honoured_when_longer_than_the_schedule(hooks_client, merchant, receiver):
    headers = merchant["headers"]
    receiver.answer = lambda n: (503, {"Retry-After": "8"}, 0.0)
    await _set_url(hooks_client, headers, receiver.url)
    delivery = await _test_event(hooks_client, headers)
    await receiver.wait_for(1)
    current = await eventually(lambda: get(hooks_client, headers, f"/api/v1/webhooks/{delivery['id']}"),
                                lambda d: d["attempts"] == 1)  # recorded once the receiver has answered
    from datetime import datetime

    gap = (datetime.fromisoformat(current["next_retry_at"].replace("Z", "+00:00"))
           - datetime.fromisoformat(current["last_attempt_at"].replace("Z", "+00:00"))).total_seconds()
    assert 7.5 <= gap <= 8.5, gap


async def test_410_disables_the_endpoint_until_it_is_re_enabled(hooks_client, merchant, receiver):
    headers = merchant["headers"]
    receiver.answer = statuses(410, 200)
    await _set_url(hooks_client, headers, receiver.url)
    first = await _test_event(hooks_client, headers)
    await receiver.wait_for(1)
    endpoint = await eventually(lambda: get(hooks_client, headers, "/api/v1/merchant"),
                                 lambda m: m["webhook_enabled"] is False)
    assert "410" in endpoint["webhook_disabled_reason"]

    second = await _test_event(hooks_client, headers)
    await asyncio.sleep(1.5)
    assert len(receiver.requests) == 1  # waiting while disabled
    assert (await get(hooks_client, headers, f"/api/v1/webhooks/{second['id']}"))["status"] == "pending"

    resp = await hooks_client.patch("/api/v1/merchant", json={"webhook_enabled": True}, headers=headers)
    assert (await resp.json())["webhook_enabled"] is True
    await _wait_delivery(hooks_client, headers, second["id"], "success")
    assert first["id"] != second["id"]


async def test_secret_rotation_signs_with_both_secrets_during_the_overlap(hooks_client, merchant, receiver):
    headers = merchant["headers"]
    await _set_url(hooks_client, headers, receiver.url)
    resp = await hooks_client.post("/api/v1/merchant/webhook-secret/rotate", headers=headers)
    assert resp.status == 200
    rotated = await resp.json()
    new, old = rotated["webhook_secret"], merchant["webhook_secret"]
    assert new.startswith("whsec_") and new != old and rotated["previous_secret_valid_until"]
    shown = await get(hooks_client, headers, "/api/v1/merchant")
    assert shown["webhook_secret"] == "whsec_…" + new[-4:]

    await _test_event(hooks_client, headers)
    (arrived,) = await receiver.wait_for(1)

    assert len(arrived.headers["webhook-signature"].split(" ")) == 2
    for secret in (new, old):
        Webhook(secret).verify(arrived.body, arrived.headers)
    assert arrived.headers["X-Webhook-Signature"] == hmac.new(new.encode(), arrived.body, hashlib.sha256).hexdigest()
    assert arrived.headers["X-Webhook-Signature-Previous"] == hmac.new(
        old.encode(), arrived.body, hashlib.sha256).hexdigest()


SSRF_TARGETS = [
    ("http://127.0.0.1:9/hook", "loopback"),
    ("http://[::1]:9/hook", "loopback"),
    ("http://10.1.2.3/hook", "private"),
    ("http://192.168.0.10/hook", "private"),
    ("http://172.16.5.4/hook", "private"),
    ("http://169.254.10.10/hook", "link-local"),
    ("http://169.254.169.254/latest/meta-data", "cloud-metadata"),
    ("http://metadata.google.internal/computeMetadata", "cloud-metadata"),
    ("http://0.0.0.0/hook", "reserved"),
    ("ftp://example.com/hook", "http or https"),
    ("http://user:pw@example.com/hook", "credentials"),
]


@pytest.mark.parametrize("url, reason", SSRF_TARGETS, ids=[r for _, r in SSRF_TARGETS])
async def test_non_public_webhook_targets_are_refused_when_configured(client, merchant, url, reason):
    resp = await client.patch("/api/v1/merchant", json={"webhook_url": url}, headers=merchant["headers"])
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert (error["code"], error["field"]) == ("INVALID_WEBHOOK_URL", "webhook_url")
    assert reason in error["description"]


async def test_a_private_target_is_refused_again_when_delivering(aiohttp_client, make_app, merchant, receiver):
    headers = merchant["headers"]
    permissive = await aiohttp_client(make_app(webhooks__allow_private_targets=True))
    await _set_url(permissive, headers, receiver.url)  # accepted while allowed
    strict = await aiohttp_client(make_app(workers=True, scheduler__interval=0.2))
    delivery = await _test_event(strict, headers)

    deadline = time.monotonic() + 10
    while (current := await get(strict, headers, f"/api/v1/webhooks/{delivery['id']}"))["attempts"] < 1:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    assert "refused target" in current["attempt_history"][0]["error"]
    assert "loopback" in current["attempt_history"][0]["error"]
    assert receiver.requests == []


async def test_manual_retry_and_recover_resend_failed_deliveries(aiohttp_client, make_app, merchant, receiver):
    headers = merchant["headers"]
    client = await aiohttp_client(make_app(
        workers=True, webhooks__allow_private_targets=True, webhooks__retry_schedule=[0.2],
        webhooks__max_attempts=2, scheduler__interval=0.1))
    receiver.answer = statuses(500, 500, 500, 500, 200)
    await _set_url(client, headers, receiver.url)
    first = await _test_event(client, headers)
    second = await _test_event(client, headers)
    for delivery in (first, second):
        await _wait_delivery(client, headers, delivery["id"], "failed")
    assert len(receiver.requests) == 4
    assert [d["id"] for d in await _deliveries(client, headers, status="failed")] == [second["id"], first["id"]]

    resp = await client.post(f"/api/v1/webhooks/{first['id']}/retry", headers=headers)
    assert resp.status == 200
    done = await _wait_delivery(client, headers, first["id"], "success")
    assert [a["trigger"] for a in done["attempt_history"]] == ["initial", "automatic", "manual"]

    resp = await client.post("/api/v1/webhooks/recover", json={"since": "2000-01-01T00:00:00Z"}, headers=headers)
    assert (resp.status, await resp.json()) == (200, {"requeued": 1})
    await _wait_delivery(client, headers, second["id"], "success")


async def test_other_merchants_deliveries_are_not_found(hooks_client, merchant, other_merchant, receiver):
    await _set_url(hooks_client, merchant["headers"], receiver.url)
    delivery = await _test_event(hooks_client, merchant["headers"])
    for method, path in (("GET", f"/api/v1/webhooks/{delivery['id']}"),
                         ("POST", f"/api/v1/webhooks/{delivery['id']}/retry")):
        resp = await hooks_client.request(method, path, headers=other_merchant["headers"])
        assert resp.status == 404
    assert await _deliveries(hooks_client, other_merchant["headers"]) == []


async def test_serve_refuses_to_start_without_a_master_key(clean_state):
    from .conftest import paygate_env, run_paygate

    env = paygate_env(*clean_state)
    del env["PAYGATE_SECURITY__MASTER_KEY"]
    result = run_paygate("serve", env=env, timeout=30)
    assert result.returncode == 2
    assert "security.master_key: required" in result.stderr

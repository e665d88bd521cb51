"""Webhook deliveries are claimed, sent and recorded in batches: each attempt is sent once and recorded as it went."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from paygate.core.operations import webhooks as webhook_ops
from paygate.core.webhooks.delivery import new_session
from paygate.http import appkeys
from paygate.storage import events, webhooks

from .test_webhooks import _set_url


async def _record_events(pool, merchant_id: str, n: int, prefix: str) -> None:
    """``n`` events in one transaction, each with a delivery due now (as the event outbox writes them)."""
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("BEGIN")
        for i in range(n):
            await events.record(cur, merchant_id, "webhook.test", f"{prefix}{i:012d}", {"n": i})
        await cur.execute("COMMIT")


async def _wait_none_pending(pool, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute("SELECT count(*) FROM webhook_logs WHERE status = 'pending'")
            (left,) = await cur.fetchone()
        if left == 0:
            return
        assert time.monotonic() < deadline, f"{left} deliveries still pending"
        await asyncio.sleep(0.1)


async def test_two_workers_claiming_small_batches_at_once_send_each_delivery_once(
        aiohttp_client, make_app, merchant, receiver, pool):
    headers = merchant["headers"]
    settings = dict(workers=True, webhooks__allow_private_targets=True, scheduler__interval=0.2,
                    worker__webhook_batch=7, worker__webhook_concurrency=21)
    first = await aiohttp_client(make_app(**settings))
    await aiohttp_client(make_app(**settings))  # a second worker role on the same Postgres and Redis
    receiver.answer = lambda n: (200, {}, 0.01)
    await _set_url(first, headers, receiver.url)

    await _record_events(pool, merchant["merchant_id"], 150, "mer_batch")
    await _wait_none_pending(pool)

    event_ids = [json.loads(r.body)["id"] for r in receiver.requests]
    assert len(event_ids) == 150 and len(set(event_ids)) == 150, "a delivery was sent twice"
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("""SELECT w.status, w.attempts, count(a.id), min(a.number), min(a.status_code)
                             FROM webhook_logs w LEFT JOIN webhook_attempts a ON a.webhook_log_id = w.id
                             GROUP BY w.id""")
        rows = await cur.fetchall()
    assert len(rows) == 150
    assert {tuple(r) for r in rows} == {("success", 1, 1, 1, 200)}


async def test_each_delivery_of_one_batch_records_its_own_outcome(aiohttp_client, make_app, merchant, receiver, pool):
    headers = merchant["headers"]
    client = await aiohttp_client(make_app(workers=True, webhooks__allow_private_targets=True,
                                           webhooks__retry_schedule=[30.0], scheduler__interval=0.2))
    answers = {}

    def answer(n: int):
        code = (200, 500, 503, 404)[n % 4]
        answers[n] = code
        return code, {"Retry-After": "120"} if code == 503 else {}, 0.0

    receiver.answer = answer
    await _set_url(client, headers, receiver.url)
    await _record_events(pool, merchant["merchant_id"], 12, "mer_mixed")
    await receiver.wait_for(12)
    await asyncio.sleep(0.5)  # each attempt is recorded shortly after its answer

    sent = {json.loads(r.body)["id"]: answers[n] for n, r in enumerate(receiver.requests, start=1)}
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("""SELECT w.event_id, w.status, w.attempts, w.response_code, a.status_code, a.trigger,
                                    round(extract(epoch FROM w.next_retry_at - w.last_attempt_at))
                             FROM webhook_logs w JOIN webhook_attempts a ON a.webhook_log_id = w.id""")
        rows = await cur.fetchall()
    assert len(rows) == 12
    for event_id, status, attempts, code, attempt_code, trigger, delay in rows:
        want = sent[event_id]
        assert (attempts, code, attempt_code, trigger) == (1, want, want, "initial")
        # 2xx succeeds; anything else waits for the schedule's 30 s, or a 503's longer Retry-After
        assert (status, delay) == (("success", None) if want == 200 else ("pending", 120 if want == 503 else 30))
    assert len(receiver.requests) == 12  # the pending ones are not due again for 30 s


async def _claim_two_by_hand(aiohttp_client, make_app, merchant, receiver, pool, prefix: str):
    """(services, the two deliveries claimed) of an app without workers, whose endpoint is the receiver."""
    client = await aiohttp_client(make_app(webhooks__allow_private_targets=True))
    await _set_url(client, merchant["headers"], receiver.url)
    await _record_events(pool, merchant["merchant_id"], 2, prefix)
    async with pool.acquire() as conn, conn.cursor() as cur:
        claimed = await webhooks.claim_due(cur, 10, lease=60, per_merchant=10)
    assert len(claimed) == 2
    return client.app[appkeys.SERVICES], claimed


async def test_a_claimed_delivery_is_not_sent_once_its_lease_is_running_out(
        aiohttp_client, make_app, merchant, receiver, pool):
    """A batch queued behind its endpoint's limit gives up what it can no longer start within its lease."""
    services, claimed = await _claim_two_by_hand(aiohttp_client, make_app, merchant, receiver, pool, "mer_lease")
    async with pool.acquire() as conn, conn.cursor() as cur:
        assert await webhooks.claim_due(cur, 10, lease=60, per_merchant=10) == []  # held: a claim gets none

    limiter = webhook_ops.EndpointLimiter(1, 10)
    async with new_session(allow_private=True, per_endpoint=1) as session:
        late = await webhook_ops.attempt(services, session, limiter, claimed[0], start_before=time.monotonic() - 1)
        sent = await webhook_ops.attempt(services, session, limiter, claimed[1], start_before=time.monotonic() + 60)
    assert late is None
    assert len(receiver.requests) == 1 and json.loads(receiver.requests[0].body)["id"] == claimed[1]["event_id"]
    assert (sent["id"], sent["status"], sent["code"], sent["number"]) == (claimed[1]["id"], "success", 200, 1)


@pytest.mark.parametrize("settings", [
    {"worker__webhook_batch": 5},  # each claim is cut short by its size
    # the merchant's share (8) held: passed over, then claimed again as its attempts are recorded
    {"worker__webhook_batch": 50, "webhooks__per_endpoint_concurrency": 2},
], ids=["batch", "share"])
async def test_a_backlog_drains_from_a_single_wake_up(aiohttp_client, make_app, merchant, receiver, pool, settings):
    """A claim cut short is followed by another, and a merchant passed over is claimed again once its attempts
    are recorded: a backlog does not wait for scheduler passes."""
    headers = merchant["headers"]
    client = await aiohttp_client(make_app(workers=True, webhooks__allow_private_targets=True,
                                           scheduler__interval=3600, **settings))
    await _set_url(client, headers, receiver.url)
    async with pool.acquire() as conn, conn.cursor() as cur:  # while disabled, wake-ups find nothing to claim
        await cur.execute("UPDATE merchants SET webhook_enabled = false WHERE id = %s", (merchant["merchant_id"],))
    await _record_events(pool, merchant["merchant_id"], 40, "mer_backlog")
    await asyncio.sleep(1)  # the listener's wake-ups have come and gone
    assert receiver.requests == []
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("UPDATE merchants SET webhook_enabled = true WHERE id = %s", (merchant["merchant_id"],))
        await webhooks.announce(cur)  # one wake-up

    await _wait_none_pending(pool, timeout=30)
    assert len({json.loads(r.body)["id"] for r in receiver.requests}) == len(receiver.requests) == 40


async def test_enabling_an_endpoint_sends_what_waited_without_waiting_for_the_scheduler(
        aiohttp_client, make_app, merchant, receiver):
    headers = merchant["headers"]
    client = await aiohttp_client(make_app(workers=True, webhooks__allow_private_targets=True,
                                           scheduler__interval=3600))
    resp = await client.patch("/api/v1/merchant", json={"webhook_url": receiver.url, "webhook_enabled": False},
                              headers=headers)
    assert resp.status == 200 and (await resp.json())["webhook_enabled"] is False
    for _ in range(3):
        assert (await client.post("/api/v1/webhooks/test", headers=headers)).status == 201
    await asyncio.sleep(1)
    assert receiver.requests == []  # held while disabled

    resp = await client.patch("/api/v1/merchant", json={"webhook_enabled": True}, headers=headers)
    assert resp.status == 200
    await receiver.wait_for(3, timeout=10)


async def test_an_attempt_is_recorded_only_while_its_claim_still_holds_the_delivery(
        aiohttp_client, make_app, merchant, receiver, pool):
    """A worker whose lease ran out (and whose delivery another worker took) records nothing for it."""
    services, (kept, taken) = await _claim_two_by_hand(aiohttp_client, make_app, merchant, receiver, pool,
                                                        "mer_taken")
    async with new_session(allow_private=True, per_endpoint=2) as session:
        limiter = webhook_ops.EndpointLimiter(2, 10)
        attempts = [await webhook_ops.attempt(services, session, limiter, d, time.monotonic() + 60)
                    for d in (kept, taken)]
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("UPDATE webhook_logs SET locked_until = now() + interval '1 hour' WHERE id = %s",
                          (taken["id"],))  # as a second claim would, after the first one's lease
        assert [r["id"] for r in await webhooks.record_attempts(cur, attempts)] == [kept["id"]]
        assert await webhooks.record_attempts(cur, attempts) == []  # and recording again changes nothing
        await cur.execute("""SELECT w.id, w.status, w.attempts, count(a.id) FROM webhook_logs w
                             LEFT JOIN webhook_attempts a ON a.webhook_log_id = w.id GROUP BY w.id""")
        rows = {r[0]: r[1:] for r in await cur.fetchall()}
    assert rows == {kept["id"]: ("success", 1, 1), taken["id"]: ("pending", 0, 0)}


async def test_one_claim_takes_at_most_the_endpoint_limit_of_one_merchants_deliveries(
        aiohttp_client, make_app, merchant, other_merchant, receiver, pool):
    client = await aiohttp_client(make_app(webhooks__allow_private_targets=True))
    for who in (merchant, other_merchant):
        await _set_url(client, who["headers"], receiver.url)
        await _record_events(pool, who["merchant_id"], 6, f"mer_{who['merchant_id'][-6:]}")
    async with pool.acquire() as conn, conn.cursor() as cur:
        first = await webhooks.claim_due(cur, 10, lease=60, per_merchant=3)
        second = await webhooks.claim_due(cur, 10, lease=60, per_merchant=3)
    for claimed in (first, second):
        assert sorted(d["merchant_id"] for d in claimed) == sorted([merchant["merchant_id"]] * 3 +
                                                                   [other_merchant["merchant_id"]] * 3)
    assert not {d["id"] for d in first} & {d["id"] for d in second}


async def test_pending_deliveries_count_what_waits_apart_from_what_is_being_sent(
        aiohttp_client, make_app, merchant, receiver, pool):
    client = await aiohttp_client(make_app(webhooks__allow_private_targets=True))  # no workers: claimed by hand
    await _set_url(client, merchant["headers"], receiver.url)
    await _record_events(pool, merchant["merchant_id"], 3, "mer_age")
    await asyncio.sleep(1.1)

    def states(p: dict) -> tuple[int, int, int]:
        assert p["due"] == 2  # whose time has come, held or not
        return p["waiting"], p["active"], p["delayed"]

    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("""UPDATE webhook_logs SET next_retry_at = now() + interval '1 hour'
                             WHERE id = (SELECT max(id) FROM webhook_logs)""")  # as a retry waiting its turn
        pending = await webhooks.pending(cur)
        assert states(pending) == (2, 0, 1) and pending["oldest_due_age"] >= 1
        assert len(await webhooks.claim_due(cur, 1, lease=60, per_merchant=10)) == 1
        pending = await webhooks.pending(cur)
        assert states(pending) == (1, 1, 1) and pending["oldest_due_age"] >= 1  # the other one still waits
        assert len(await webhooks.claim_due(cur, 1, lease=60, per_merchant=10)) == 1
        pending = await webhooks.pending(cur)
        assert states(pending) == (0, 2, 1) and pending["oldest_due_age"] == 0  # both are being sent


async def test_wake_ups_that_follow_a_claim_closely_wait_for_the_claim_gap_and_are_not_lost(
        aiohttp_client, make_app, merchant, receiver, pool):
    """Under load a worker claims at most once per worker.webhook_claim_gap, so that what becomes due meanwhile
    goes in one batch; the deliveries announced during the gap go with the next claim, not the next pass."""
    headers = merchant["headers"]
    client = await aiohttp_client(make_app(workers=True, webhooks__allow_private_targets=True,
                                           scheduler__interval=3600, worker__webhook_claim_gap=1.5))
    await _set_url(client, headers, receiver.url)
    await asyncio.sleep(1.6)  # the claim that starting the worker makes is more than a gap ago
    await _record_events(pool, merchant["merchant_id"], 1, "mer_first")
    (first,) = await receiver.wait_for(1, timeout=10)
    for n in range(3):  # three wake-ups within the gap
        await _record_events(pool, merchant["merchant_id"], 1, f"mer_next{n}")
    later = [r.at for r in (await receiver.wait_for(4, timeout=10))[1:]]
    assert min(later) - first.at >= 1.2  # claimed no sooner than the gap allows
    assert max(later) - min(later) < 1.0  # all three in the one claim after it


async def test_an_endpoint_that_hangs_holds_up_no_other_merchants_deliveries(
        aiohttp_client, make_app, merchant, other_merchant, receiver, pool):
    """One merchant's endpoint that does not answer ties up only its own share: the worker goes on claiming and
    sending the others' deliveries, even behind a backlog of the hanging one's, and records each as it ends."""
    from .receiver import Receiver

    client = await aiohttp_client(make_app(
        workers=True, webhooks__allow_private_targets=True, scheduler__interval=3600, webhooks__timeout=60,
        webhooks__per_endpoint_concurrency=2, worker__webhook_concurrency=8, worker__webhook_batch=5))
    receiver.hold = asyncio.Event()  # the first merchant's endpoint hangs until released
    healthy = await Receiver().start()
    try:
        await _set_url(client, merchant["headers"], receiver.url)
        await _set_url(client, other_merchant["headers"], healthy.url)
        await _record_events(pool, merchant["merchant_id"], 60, "mer_hangs")  # older: claimed first
        await _record_events(pool, other_merchant["merchant_id"], 12, "mer_healthy")

        await healthy.wait_for(12, timeout=15)
        deadline = time.monotonic() + 5
        while True:  # each recorded shortly after its answer, while the other endpoint still hangs
            async with pool.acquire() as conn, conn.cursor() as cur:
                await cur.execute("SELECT count(*) FROM webhook_logs WHERE merchant_id = %s AND status = 'success'",
                                  (other_merchant["merchant_id"],))
                (recorded,) = await cur.fetchone()
            if recorded == 12 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        assert recorded == 12
        assert len(receiver.requests) == 2 and not receiver.hold.is_set()  # its limit in flight, no more

        receiver.hold.set()
        await _wait_none_pending(pool, timeout=30)
        assert len({json.loads(r.body)["id"] for r in receiver.requests}) == len(receiver.requests) == 60
    finally:
        await healthy.stop()

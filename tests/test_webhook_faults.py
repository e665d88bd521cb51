"""Long webhook fault tests: the full retry schedule, and Redis losing every job while deliveries are due."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import redis as sync_redis

from .api import get
from .receiver import statuses
from .test_webhooks import _set_url, _test_event, _wait_delivery

pytestmark = pytest.mark.slow


async def test_an_endpoint_that_always_fails_gets_exactly_five_attempts_then_manual_retries_deliver(
        hooks_client, merchant, receiver, clean_state):
    from .conftest import paygate_env, run_paygate

    headers = merchant["headers"]
    receiver.answer = statuses(500)
    await _set_url(hooks_client, headers, receiver.url)
    by_api, by_cli = await _test_event(hooks_client, headers), await _test_event(hooks_client, headers)

    for delivery in (by_api, by_cli):
        failed = await _wait_delivery(hooks_client, headers, delivery["id"], "failed", timeout=70)
        assert failed["attempts"] == 5 and failed["next_retry_at"] is None
    await asyncio.sleep(2)  # nothing more comes once they have failed
    assert len(receiver.requests) == 10
    times = [r.at for r in receiver.requests if json.loads(r.body)["id"] == by_api["event_id"]]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(abs(gap - want) <= 1 for gap, want in zip(gaps, [5, 10, 15, 20], strict=True)), gaps

    receiver.answer = statuses(200)
    resp = await hooks_client.post(f"/api/v1/webhooks/{by_api['id']}/retry", headers=headers)
    assert resp.status == 200
    retried = await _wait_delivery(hooks_client, headers, by_api["id"], "success")
    assert retried["attempts"] == 6 and retried["attempt_history"][-1]["trigger"] == "manual"

    result = run_paygate("webhooks", "retry", by_cli["id"], env=paygate_env(*clean_state))
    assert result.returncode == 0, result.stderr
    done = await _wait_delivery(hooks_client, headers, by_cli["id"], "success")
    assert done["attempts"] == 6 and done["attempt_history"][-1]["trigger"] == "manual"
    assert len(receiver.requests) == 12


async def test_every_due_delivery_arrives_once_after_redis_loses_its_jobs(
        aiohttp_client, make_app, merchant, receiver, services, pool):
    headers = merchant["headers"]
    client = await aiohttp_client(make_app(workers=True, webhooks__allow_private_targets=True,
                                           scheduler__interval=0.2))
    receiver.answer = lambda n: (200, {}, 0.05)  # slow enough that many are in flight at the flush
    await _set_url(client, headers, receiver.url)

    async with pool.acquire() as conn, conn.cursor() as cur:
        # 200 events at once, each with its delivery due now, as the event outbox writes them.
        from paygate.storage import events

        await cur.execute("BEGIN")
        for i in range(200):
            await events.record(cur, merchant["merchant_id"], "webhook.test", f"mer_flush{i:012d}", {"n": i})
        await cur.execute("COMMIT")

    await receiver.wait_for(20, timeout=30)
    sync_redis.Redis.from_url(services[1]).flushdb()  # every queued and active job is gone

    deadline = time.monotonic() + 60
    while True:
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute("SELECT count(*) FROM webhook_logs WHERE status <> 'success'")
            (left,) = await cur.fetchone()
        if left == 0:
            break
        assert time.monotonic() < deadline, f"{left} deliveries never arrived"
        await asyncio.sleep(0.2)

    event_ids = [json.loads(r.body)["id"] for r in receiver.requests]
    assert len(set(event_ids)) == 200
    assert len(event_ids) == 200, "a delivery answered 2xx was sent twice"
    listed = await get(client, headers, "/api/v1/webhooks?status=success&limit=1")
    assert listed["total"] == 200

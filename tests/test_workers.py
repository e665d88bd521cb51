"""Workers and the scheduler: exactly one final state per payment, lost jobs found again."""

from __future__ import annotations

import asyncio

import pytest

from .api import create_order, event_types, eventually, get, pay, wait_final
from .conftest import paygate_env


async def _jobs_status(client) -> dict:
    resp = await client.get("/api/v1/test/jobs/status")
    assert resp.status == 200
    return await resp.json()


async def test_a_payment_whose_job_was_lost_is_processed_by_the_scheduler(client, make_app, aiohttp_client,
                                                                         merchant, services):
    import redis as sync_redis

    headers = merchant["headers"]
    payment = await pay(client, headers, (await create_order(client, headers))["id"])
    await eventually(lambda: _jobs_status(client), lambda status: status["pending"] == 1)  # enqueued after the answer
    sync_redis.Redis.from_url(services[1]).flushdb()  # the job is gone; Postgres still has the payment

    workers = await aiohttp_client(make_app(workers=True, payments__stuck_after=1, scheduler__interval=0.2))
    final = await wait_final(workers, headers, payment["id"], timeout=15)

    assert final["status"] == "success"
    assert await event_types(workers, headers, payment["id"]) == [
        "payment.captured", "payment.created", "payment.success"]


async def test_a_payment_enqueued_three_times_reaches_the_processor_once(client, aiohttp_client, make_app, merchant,
                                                                         pool):
    """Delivery is at least once: each entry is handled, and a payment already final is left alone."""
    from paygate.http import appkeys
    from paygate.infra.queue import PAYMENTS

    from .ledger import disagreements

    headers = merchant["headers"]
    payment = await pay(client, headers, (await create_order(client, headers))["id"])
    dispatcher = client.app[appkeys.SERVICES].dispatcher
    await dispatcher.enqueue(PAYMENTS, payment["id"])
    await dispatcher.enqueue(PAYMENTS, payment["id"])
    assert (await _jobs_status(client))["pending"] == 3

    workers = await aiohttp_client(make_app(workers=True))
    assert (await wait_final(workers, headers, payment["id"]))["status"] == "success"
    status = await eventually(lambda: _drained(client), timeout=15)
    assert status["completed"] == 3
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("SELECT calls FROM simulator_ledger WHERE reference = %s", (payment["id"],))
        assert await cur.fetchall() == [(1,)]
    assert await disagreements(pool) == []


async def test_uncaptured_authorizations_are_released_after_the_window(aiohttp_client, make_app, merchant):
    headers = merchant["headers"]
    app = await aiohttp_client(make_app(workers=True, payments__authorization_window=1, scheduler__interval=0.2))
    order = await create_order(app, headers, capture_method="manual")
    payment = await wait_final(app, headers, (await pay(app, headers, order["id"]))["id"])
    assert payment["status"] == "success"

    async def released():
        current = await get(app, headers, f"/api/v1/payments/{payment['id']}")
        return current if current["authorization_released_at"] else None

    current = await eventually(released, timeout=15)
    assert current["captured"] is False
    assert "payment.released" in await event_types(app, headers, payment["id"])
    resp = await app.post(f"/api/v1/payments/{payment['id']}/capture", json={}, headers=headers)
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "AUTHORIZATION_EXPIRED"


@pytest.mark.slow
async def test_two_workers_take_500_payments_each_to_exactly_one_final_state(
        client, merchant, pool, paygate_process, clean_state):
    headers = merchant["headers"]
    assert (await _jobs_status(client))["worker_status"] == "stopped"
    env = paygate_env(*clean_state, PAYGATE_PROCESSOR__SUCCESS_RATE="0.7")
    workers = [paygate_process("worker", env=env) for _ in range(2)]
    await eventually(lambda: _worker_count(client, 2), timeout=30)

    gate = asyncio.Semaphore(50)

    async def one(i: int) -> str:
        async with gate:
            order = await create_order(client, headers, amount=1000 + i)
            # Non-magic cards go through the 70 % success rate; every third payment is UPI.
            if i % 3:
                return (await pay(client, headers, order["id"], number="5555555555554444"))["id"]
            return (await pay(client, headers, order["id"], vpa="success@paygate"))["id"]

    ids = await asyncio.gather(*(one(i) for i in range(500)))
    assert len(set(ids)) == 500

    async def all_final():
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute("SELECT count(*) FROM payments WHERE status IN ('pending', 'processing')")
            return (await cur.fetchone())[0] == 0

    await eventually(all_final, timeout=120, interval=0.5)

    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("""
            SELECT p.id, p.status,
                   count(e.id) FILTER (WHERE e.type IN ('payment.success', 'payment.failed')) AS finals,
                   count(e.id) FILTER (WHERE e.type = 'payment.' || p.status) AS matching
            FROM payments p LEFT JOIN events e ON e.object_id = p.id
            GROUP BY p.id, p.status""")
        rows = await cur.fetchall()
    assert len(rows) == 500
    assert [r for r in rows if r[2] != 1 or r[3] != 1] == []
    statuses = {r[1] for r in rows}
    assert statuses == {"success", "failed"}  # the 70 % success rate gave both

    status = await eventually(lambda: _drained(client), timeout=30)
    assert status["worker_status"] == "running"

    for worker in workers:
        worker.stop()
    await eventually(lambda: _worker_count(client, 0), timeout=30)
    assert (await _jobs_status(client))["worker_status"] == "stopped"


async def _worker_count(client, n: int):
    return (await _jobs_status(client))["workers"] == n


async def _drained(client):
    status = await _jobs_status(client)
    return status if status["pending"] == 0 and status["processing"] == 0 else None


async def test_enqueue_gives_up_quickly_when_redis_is_unreachable():
    """Postgres holds the work; a request must not hang on a reconnect loop."""
    from paygate.infra.queue import ENQUEUE_TIMEOUT, PAYMENTS, Dispatcher

    from .conftest import free_port

    dispatcher = Dispatcher(f"redis://127.0.0.1:{free_port()}/0")
    async with asyncio.timeout(ENQUEUE_TIMEOUT * 10):  # without the bound, redis-py retries for long
        assert await dispatcher.enqueue(PAYMENTS, "pay_unreachable000000") is False
    await dispatcher.close()


async def test_an_enqueue_does_not_wait_behind_another_command(services):
    """With one connection, every command waited for the one before it: under load, enqueues queued past
    ENQUEUE_TIMEOUT and their payments waited for the scheduler. Enqueues made meanwhile go in one round trip."""
    from paygate.infra.queue import ENQUEUE_TIMEOUT, PAYMENTS, Dispatcher, stream

    dispatcher = Dispatcher(services[1])
    try:
        # A command that holds its connection for longer than an enqueue may take.
        blocked = asyncio.ensure_future(dispatcher.client.blpop(["paygate:test:nothing"], timeout=ENQUEUE_TIMEOUT * 2))
        await asyncio.sleep(0.2)
        assert not blocked.done()
        ids = [f"pay_notbehind{n:07d}" for n in range(20)]
        assert await dispatcher.enqueue_many(PAYMENTS, ids) is True
        assert blocked.done() is False
        entries = await dispatcher.client.xrange(stream(PAYMENTS))
        assert [fields["id"] for _, fields in entries] == ids
        await blocked
    finally:
        await dispatcher.close()


async def test_entries_enqueued_without_waiting_are_sent_before_the_dispatcher_closes(services):
    """A create answers before its entry reaches Redis; a process that stops right after still sends it."""
    import redis.asyncio

    from paygate.infra.queue import PAYMENTS, Dispatcher, stream

    dispatcher = Dispatcher(services[1])
    ids = [f"pay_sentatclose{n:05d}" for n in range(2500)]  # more than one pipeline's worth
    for object_id in ids:
        dispatcher.enqueue_soon(PAYMENTS, object_id)
    await dispatcher.close()

    reader = redis.asyncio.Redis.from_url(services[1], decode_responses=True)
    try:
        entries = await reader.xrange(stream(PAYMENTS))
    finally:
        await reader.aclose()
    assert sorted(fields["id"] for _, fields in entries if fields["id"].startswith("pay_sentatclose")) == ids

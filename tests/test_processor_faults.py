"""Exactly once at the processor under faults: lost answers, and workers killed with SIGKILL."""

from __future__ import annotations

import asyncio
import signal
import time

import aiohttp
import pytest

from .api import card, create_order, pay
from .conftest import paygate_env
from .ledger import disagreements, unsettled

PAYMENTS = 300
IN_FLIGHT = {"pending", "processing", "capture_pending", "void_pending"}


class Api:
    """A client of the real `paygate serve` process."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, headers: dict):
        self.session, self.base_url, self.headers = session, base_url, headers

    async def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        async with self.session.request(method, self.base_url + path, json=body, headers=self.headers) as resp:
            return resp.status, await resp.json()

    async def settled(self, payment_id: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            status, payment = await self.call("GET", f"/api/v1/payments/{payment_id}")
            assert status == 200, payment
            if payment["status"] not in IN_FLIGHT:
                return payment
            assert time.monotonic() < deadline, f"{payment_id} still {payment['status']}"
            await asyncio.sleep(0.1)


async def _one(api: Api, i: int) -> dict:
    """A payment's life: paid; for manual capture, captured (in full or in part) or cancelled; some refunds."""
    manual = i % 3 == 0
    status, order = await api.call("POST", "/api/v1/orders", {
        "amount": 50000, "currency": "INR", "capture_method": "manual" if manual else "automatic"})
    assert status == 201, order
    body = {"order_id": order["id"], "method": "upi", "vpa": "success@paygate"} if i % 5 == 0 else \
        {"order_id": order["id"], "method": "card", "card": card("4111111111111111")}
    status, payment = await api.call("POST", "/api/v1/payments", body)
    assert status == 201, payment
    payment = await api.settled(payment["id"])
    assert payment["status"] == "success", payment
    if manual:
        action = ("cancel", {}) if i % 9 == 0 else ("capture", {} if i % 2 else {"amount": 30000})
        status, answer = await api.call("POST", f"/api/v1/payments/{payment['id']}/{action[0]}", action[1])
        assert status in (200, 202), answer
        payment = await api.settled(payment["id"])
    if payment["captured"]:
        for amount in ([None] if i % 4 == 0 else [10000, 5000] if i % 4 == 1 else []):
            status, refund = await api.call("POST", f"/api/v1/payments/{payment['id']}/refunds",
                                            {} if amount is None else {"amount": amount})
            assert status == 201, refund
    return payment


@pytest.mark.slow
async def test_300_payments_with_lost_answers_and_two_killed_workers_agree_with_the_acquirer(
        clean_state, merchant, pool, paygate_process):
    env = paygate_env(*clean_state, PAYGATE_PROCESSOR__TIMEOUT_RATE="0.1", PAYGATE_PAYMENTS__STUCK_AFTER="1",
                      PAYGATE_WORKER__CLAIM_AFTER="1", PAYGATE_SCHEDULER__INTERVAL="0.2",
                      PAYGATE_PROCESSOR__DELAY_MIN="0.005", PAYGATE_PROCESSOR__DELAY_MAX="0.03",
                      PAYGATE_LOGGING__FORMAT="json")
    api_process = await paygate_process("serve", "--no-worker", env=env).ready()
    workers = [paygate_process("worker", env=env)]
    started = 0
    killed: list[int] = []

    async def kill_and_restart() -> None:
        """SIGKILL the worker with work in flight, at a third and at two thirds of the payments."""
        for threshold in (PAYMENTS // 3, 2 * PAYMENTS // 3):
            while started < threshold:
                await asyncio.sleep(0.02)
            workers[-1].signal(signal.SIGKILL)
            killed.append(await asyncio.to_thread(workers[-1].wait))
            workers.append(paygate_process("worker", env=env))

    gate = asyncio.Semaphore(30)

    async def run(api: Api, i: int) -> dict:
        nonlocal started
        async with gate:
            started += 1
            return await _one(api, i)

    async with aiohttp.ClientSession() as session:
        api = Api(session, api_process.base_url, merchant["headers"])
        killer = asyncio.create_task(kill_and_restart())
        results = await asyncio.gather(*(run(api, i) for i in range(PAYMENTS)))
        await killer

    assert killed == [-signal.SIGKILL, -signal.SIGKILL]
    deadline = time.monotonic() + 120
    while await unsettled(pool):  # refunds are settled by the worker after the last request
        assert time.monotonic() < deadline, "payments or refunds still in flight"
        await asyncio.sleep(0.2)
    # Postgres and the acquirer's books agree row for row: one authorization per payment, one capture per
    # captured payment, nothing held that no payment holds, every refund processed once, none twice.
    assert await disagreements(pool) == []
    assert {p["status"] for p in results} == {"success", "voided"}
    lost = sum(p.output().count("no answer from the processor") for p in [api_process, *workers])
    assert lost >= 10, f"the simulator lost only {lost} answers: the faults were not exercised"


@pytest.mark.slow
async def test_a_consumer_killed_holding_100_entries_leaves_them_to_another_within_the_claim_time(
        clean_state, merchant, pool, paygate_process, client):
    """The killed worker read 100 entries and is at the processor with them (slow calls); the next worker claims
    them after worker.claim_after, takes their calls over through fetch, and each payment is final and at the
    acquirer once."""
    import redis.asyncio

    from paygate.infra.queue import GROUP, stream

    env = paygate_env(*clean_state, PAYGATE_WORKER__CLAIM_AFTER="3", PAYGATE_WORKER__CONCURRENCY="100",
                      PAYGATE_WORKER__BATCH="100", PAYGATE_LOGGING__FORMAT="json")
    headers = merchant["headers"]
    orders = [await create_order(client, headers) for _ in range(100)]
    payments = [await pay(client, headers, o["id"]) for o in orders]  # entries wait: no worker runs yet
    # The first worker's processor answers after 30 s: it holds all 100 when it is killed.
    slow = paygate_process("worker", env={**env, "PAYGATE_PROCESSOR__DELAY_MIN": "30",
                                          "PAYGATE_PROCESSOR__DELAY_MAX": "30"})
    redis_client = redis.asyncio.Redis.from_url(clean_state[1], decode_responses=True)
    try:
        deadline = time.monotonic() + 30
        while (await _held(redis_client, stream("payments"), GROUP)) < 100:
            assert time.monotonic() < deadline, "the first worker never read the 100 entries"
            await asyncio.sleep(0.1)
        slow.signal(signal.SIGKILL)
        killed_at = time.monotonic()
        assert await asyncio.to_thread(slow.wait) == -signal.SIGKILL
        paygate_process("worker", env=env)
        while await unsettled(pool):
            assert time.monotonic() - killed_at < 15, "not all final within 15 s of the kill"
            await asyncio.sleep(0.1)
    finally:
        await redis_client.aclose()
    assert await disagreements(pool) == []  # one sale per payment at the acquirer, none twice
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("SELECT count(*) FROM simulator_ledger WHERE calls > 1")
        assert await cur.fetchone() == (0,)
    assert len(await calls_of(pool)) == len(payments)


async def calls_of(pool) -> list[tuple]:
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("SELECT reference FROM simulator_ledger")
        return await cur.fetchall()


async def _held(redis_client, name: str, group: str) -> int:
    try:
        return (await redis_client.xpending(name, group))["pending"]
    except Exception:  # no group yet
        return 0

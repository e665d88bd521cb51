"""A Redis outage delays, never freezes and never 500s: Postgres holds the work, Redis only says "start".

Each test stops a Redis of its own (never the session's): the API answers 2xx or 503 with Retry-After within
``redis.timeout``, the scheduler's Postgres work goes on, and once Redis is back every pending payment and
refund is final within seconds, exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import aiohttp
import pytest

from paygate.http.app import create_app

from .api import card, create_order, get, pay, wait_final
from .conftest import build_config, paygate_env

TIMEOUT = 1.0  # redis.timeout of the apps under test
SLACK = 1.0  # what an answer may take beyond it


async def _timed(call):
    started = time.monotonic()
    resp = await call
    await resp.read()
    return resp, time.monotonic() - started


async def test_while_redis_is_away_creates_answer_at_once_and_what_needs_it_answers_503(
        aiohttp_client, clean_state, merchant, own_redis, caplog):
    config = build_config(clean_state[0], own_redis.url, redis__timeout=TIMEOUT, api__test_endpoints=True)
    client = await aiohttp_client(create_app(config))
    headers = merchant["headers"]
    order = await create_order(client, headers)
    own_redis.stop()
    caplog.set_level(logging.INFO, logger="paygate")

    created = []
    for _ in range(5):
        order = await create_order(client, headers)
        body = {"order_id": order["id"], "method": "card", "card": card("4111111111111111")}
        resp, took = await _timed(client.post("/api/v1/payments", json=body, headers=headers))
        assert resp.status == 201, await resp.text()
        assert took < TIMEOUT + SLACK
        created.append(took)
    assert sorted(created)[2] < TIMEOUT / 2  # once Redis is known to be away, creates do not wait for it

    resp, took = await _timed(client.get("/api/v1/test/jobs/status"))
    assert resp.status == 503 and took < TIMEOUT + SLACK
    assert resp.headers["Retry-After"].isdigit()
    assert (await resp.json())["error"]["code"] == "SERVICE_UNAVAILABLE"

    resp, took = await _timed(client.get("/readyz"))
    assert resp.status == 503 and took < TIMEOUT + SLACK and resp.headers["Retry-After"].isdigit()
    ready = await resp.json()
    assert ready["checks"]["redis"] == {"ok": False, "reason": "unreachable"}
    text = await resp.text()
    assert "127.0.0.1" not in text and str(own_redis.port) not in text and "<" not in text

    resp, took = await _timed(client.get("/metrics"))  # the counters, without the queue figures
    assert resp.status == 200 and took < TIMEOUT + SLACK
    assert "paygate_http_requests_total" in await resp.text()

    warned = [r for r in caplog.records if r.levelno == logging.WARNING and "Redis is unreachable" in r.getMessage()]
    assert len(warned) == 1, [r.getMessage() for r in caplog.records]
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


async def test_the_scheduler_works_on_while_redis_is_away_and_its_return_finishes_what_was_created_meanwhile(
        aiohttp_client, clean_state, merchant, own_redis, caplog):
    """payments.stuck_after is a minute: only the sweep that Redis's return triggers finishes it in time."""
    config = build_config(clean_state[0], own_redis.url, redis__timeout=TIMEOUT, scheduler__interval=0.2,
                          payments__authorization_window=3)
    client = await aiohttp_client(create_app(config, workers=True))
    headers = merchant["headers"]
    manual = await create_order(client, headers, capture_method="manual")
    authorized = await wait_final(client, headers, (await pay(client, headers, manual["id"]))["id"])
    assert authorized["status"] == "success" and authorized["authorization_released_at"] is None
    order = await create_order(client, headers)
    caplog.set_level(logging.INFO, logger="paygate")
    own_redis.stop()
    payment = await pay(client, headers, order["id"])

    # The scheduler's Postgres work goes on: the authorization's window ends while Redis is away.
    deadline = time.monotonic() + 10
    while not (await get(client, headers, f"/api/v1/payments/{authorized['id']}"))["authorization_released_at"]:
        assert time.monotonic() < deadline, "the authorization was not released while Redis was away"
        await asyncio.sleep(0.1)
    assert (await get(client, headers, f"/api/v1/payments/{payment['id']}"))["status"] == "pending"

    own_redis.start()
    back = time.monotonic()
    final = await wait_final(client, headers, payment["id"], timeout=10)
    assert final["status"] == "success"
    assert time.monotonic() - back < 10
    messages = [r.getMessage() for r in caplog.records]
    assert sum("Redis is unreachable" in m for m in messages) == 1
    assert "Redis is reachable again" in messages
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


# -- the fault test: a real `paygate serve`, its own Redis stopped for 20 s under traffic --------------------

@dataclass
class Answer:
    at: float
    what: str
    status: int
    took: float
    retry_after: str | None
    body: str


class Traffic:
    """A few payments a second (and refunds, status reads, readiness) against a server, every answer kept."""

    def __init__(self, http: aiohttp.ClientSession, headers: dict, refundable: list[str]):
        self.http, self.headers, self.refundable = http, headers, refundable
        self.answers: list[Answer] = []
        self.payments: list[str] = []
        self.refunds: list[str] = []

    async def call(self, what: str, method: str, path: str, **kwargs) -> tuple[int, dict]:
        started = time.monotonic()
        async with self.http.request(method, path, headers=self.headers, **kwargs) as resp:
            text = await resp.text()
        self.answers.append(Answer(started, what, resp.status, time.monotonic() - started,
                                   resp.headers.get("Retry-After"), text))
        return resp.status, (await _json(text))

    async def run(self, until: float) -> None:
        """Until ``until`` (monotonic), or ``self.until`` if the caller moves it earlier."""
        self.until, n = until, 0
        while time.monotonic() < self.until:
            n += 1
            status, order = await self.call("create order", "POST", "/api/v1/orders",
                                            json={"amount": 1000 + n, "currency": "INR"})
            if status == 201:
                status, payment = await self.call("create payment", "POST", "/api/v1/payments", json={
                    "order_id": order["id"], "method": "card", "card": card("4111111111111111")})
                if status == 201:
                    self.payments.append(payment["id"])
            if n % 3 == 0 and self.refundable:
                status, refund = await self.call("create refund", "POST",
                                                 f"/api/v1/payments/{self.refundable.pop()}/refunds", json={})
                if status == 201:
                    self.refunds.append(refund["id"])
            if n % 4 == 0:
                await self.call("jobs status", "GET", "/api/v1/test/jobs/status")
                await self.call("readiness", "GET", "/readyz")
                await self.call("metrics", "GET", "/metrics")
            await asyncio.sleep(0.2)


async def _json(text: str):
    import json

    try:
        return json.loads(text)
    except ValueError:
        return None


async def _unfinished(pool, payments: list[str], refunds: list[str]) -> int:
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("""
            SELECT (SELECT count(*) FROM payments WHERE id = ANY(%s) AND status IN ('success', 'failed'))
                 + (SELECT count(*) FROM refunds WHERE id = ANY(%s) AND status IN ('processed', 'failed'))""",
                          (payments, refunds))
        return len(payments) + len(refunds) - (await cur.fetchone())[0]


async def _final_events(pool, ids: list[str]) -> dict[str, int]:
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("""SELECT object_id, count(*) FILTER (WHERE type IN ('payment.success', 'payment.failed',
                                                                          'refund.processed', 'refund.failed'))
                             FROM events WHERE object_id = ANY(%s) GROUP BY object_id""", (ids,))
        return dict(await cur.fetchall())


@pytest.mark.slow
async def test_redis_stopped_for_20_s_under_traffic_delays_nothing_for_long_and_loses_or_doubles_nothing(
        clean_state, merchant, pool, own_redis, receiver, paygate_process):
    env = paygate_env(clean_state[0], own_redis.url,
                      PAYGATE_REDIS__TIMEOUT=str(TIMEOUT), PAYGATE_SCHEDULER__INTERVAL="0.5",
                      # longer than the test waits after Redis is back: the sweep its return triggers must do it
                      PAYGATE_PAYMENTS__STUCK_AFTER="30",
                      PAYGATE_WEBHOOKS__ALLOW_PRIVATE_TARGETS="true", PAYGATE_WEBHOOKS__RETRY_SCHEDULE="5,10,15,20",
                      PAYGATE_WEBHOOKS__TIMEOUT="2", PAYGATE_API__TEST_ENDPOINTS="true")
    server = await paygate_process("serve", env=env).ready()
    headers = merchant["headers"]
    outage = {"down": False}
    # Deliveries before the outage fail, so that their retries fall due while Redis is away.
    receiver.answer = lambda n: (200 if outage["down"] else 500, {}, 0.0)

    async with aiohttp.ClientSession(server.base_url, timeout=aiohttp.ClientTimeout(total=15)) as http:
        resp = await http.patch("/api/v1/merchant", json={"webhook_url": receiver.url}, headers=headers)
        assert resp.status == 200, await resp.text()
        refundable = []
        for _ in range(4):
            order = await create_order(http, headers)
            refundable.append((await pay(http, headers, order["id"]))["id"])
        for payment_id in refundable:
            assert (await wait_final(http, headers, payment_id))["status"] == "success"

        traffic = Traffic(http, headers, refundable)
        running = asyncio.create_task(traffic.run(until=time.monotonic() + 60))
        await asyncio.sleep(4)
        first_attempts = {_webhook_id(r.headers) for r in receiver.requests}
        outage["down"] = True
        await asyncio.to_thread(own_redis.stop)  # SIGTERM; redis-server writes its append-only file and exits
        down_at = time.monotonic()
        await asyncio.sleep(20)
        up_at = time.monotonic()
        await asyncio.to_thread(own_redis.start)  # the same port and data directory
        back_at = time.monotonic()
        traffic.until = back_at + 2
        await running

        deadline = back_at + 10
        while (left := await _unfinished(pool, traffic.payments, traffic.refunds)) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        all_final_after = time.monotonic() - back_at

    answers = traffic.answers
    during = [a for a in answers if down_at <= a.at and a.at + a.took < up_at]
    bad = [a for a in answers if not (200 <= a.status < 300 or (a.status == 503 and a.retry_after))]
    assert not bad, [(a.what, a.status, a.body[:200]) for a in bad]
    slow = [a for a in answers if a.took > TIMEOUT + SLACK]
    assert not slow, [(a.what, a.status, round(a.took, 2)) for a in slow]
    created_meanwhile = [a for a in during if a.what == "create payment"]
    assert len(created_meanwhile) >= 20 and all(a.status == 201 for a in created_meanwhile)
    assert all(a.status == 201 for a in during if a.what == "create refund")
    # (a snapshot read just before the stop may be served for up to a second)
    assert {a.status for a in during if a.what == "jobs status" and a.at > down_at + 1.5} == {503}
    readiness = [a for a in during if a.what == "readiness"]
    assert readiness and {a.status for a in readiness} == {503}
    assert not [a.body for a in readiness if "127.0.0.1" in a.body or "<" in a.body]

    # Webhooks live in Postgres: new ones and retries that fell due went out while Redis was away.
    delivered_meanwhile = [r for r in receiver.requests if down_at <= r.at < up_at]
    assert delivered_meanwhile, "no webhook was delivered while Redis was away"
    assert {_webhook_id(r.headers) for r in delivered_meanwhile} & first_attempts, "no retry was made meanwhile"

    # Nothing lost, nothing late, nothing twice.
    assert left == 0, f"{left} payments or refunds not final {all_final_after:.1f} s after Redis was back"
    assert traffic.refunds, "no refund was created"
    finals = await _final_events(pool, traffic.payments + traffic.refunds)
    assert {i: finals.get(i, 0) for i in traffic.payments + traffic.refunds if finals.get(i, 0) != 1} == {}

    log = server.output()
    assert log.count("Redis is unreachable") == 1, log[-3000:]
    assert "Redis is reachable again" in log
    assert "Traceback" not in log, log[-3000:]


def _webhook_id(headers: dict) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == "webhook-id"), None)

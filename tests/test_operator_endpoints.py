"""/metrics and /api/v1/test/jobs/status: a bearer token for the one, a switch for the other, and a snapshot
at most a second old behind both, so that a flood of them costs no Redis or Postgres read per request."""

from __future__ import annotations

import asyncio
import math
import time

import redis as sync_redis

from paygate.commands.dev import DEV_DEFAULTS
from paygate.infra import config as config_mod

from .api import create_order, pay

TOKEN = "scrape-token-0123456789"
JOBS = "/api/v1/test/jobs/status"


async def test_metrics_need_the_bearer_token_when_one_is_set(aiohttp_client, make_app):
    client = await aiohttp_client(make_app(metrics__token=TOKEN))
    for sent in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": TOKEN},
                 {"Authorization": f"Basic {TOKEN}"}, {"Authorization": f"Bearer {TOKEN}x"}):
        resp = await client.get("/metrics", headers=sent)
        assert resp.status == 401, sent
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        error = (await resp.json())["error"]
        assert error["code"] == "AUTHENTICATION_ERROR" and error["field"] == "Authorization"
        assert TOKEN not in await resp.text()

    resp = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status == 200
    assert "paygate_http_requests_total" in await resp.text()


async def test_metrics_are_open_without_a_token(client):
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert "paygate_queue_depth" in await resp.text()


def _commands(redis_url: str) -> int:
    """Commands the Redis has run so far (this read counts itself in the next one)."""
    client = sync_redis.Redis.from_url(redis_url)
    try:
        return int(client.info("stats")["total_commands_processed"])
    finally:
        client.close()


async def _read_both(client) -> None:
    for path in ("/metrics", JOBS):
        resp = await client.get(path)
        assert resp.status == 200, await resp.text()


async def test_a_flood_of_metrics_and_status_reads_costs_one_read_a_second(aiohttp_client, make_app, services):
    client = await aiohttp_client(make_app(api__test_endpoints=True))  # no workers: nothing else talks to Redis
    redis_url = services[1]

    # What one fresh read of each costs.
    await asyncio.sleep(1.1)
    before = _commands(redis_url)
    await _read_both(client)
    one_read = _commands(redis_url) - before - 1
    assert one_read > 0

    # Many at once share one read ...
    await asyncio.sleep(1.1)
    before = _commands(redis_url)
    started = time.monotonic()
    answers = await asyncio.gather(*(client.get(path) for path in ("/metrics", JOBS) for _ in range(100)))
    took = time.monotonic() - started
    assert {resp.status for resp in answers} == {200}
    flood = _commands(redis_url) - before - 1
    # at most one read a second (one more for a flood that straddles a second), not 200 reads
    assert flood <= (1 + math.ceil(took)) * one_read, (flood, one_read, took)

    # ... and one after another, they are answered from it for a second.
    await asyncio.sleep(1.1)
    before = _commands(redis_url)
    started = time.monotonic()
    for _ in range(40):
        await _read_both(client)
    took = time.monotonic() - started
    in_turn = _commands(redis_url) - before - 1
    assert in_turn <= (1 + math.ceil(took)) * one_read < 40 * one_read, (in_turn, one_read, took)


async def test_status_answers_are_at_most_a_second_old(aiohttp_client, make_app, merchant):
    client = await aiohttp_client(make_app(api__test_endpoints=True))
    headers = merchant["headers"]
    order = await create_order(client, headers)
    assert (await (await client.get(JOBS)).json())["pending"] == 0
    await pay(client, headers, order["id"])  # no workers: its job waits
    paid = time.monotonic()
    deadline = paid + 3
    while (await (await client.get(JOBS)).json())["pending"] != 1:
        assert time.monotonic() < deadline, "the new job never showed"
        await asyncio.sleep(0.05)
    assert time.monotonic() - paid < 1.0 + 0.5  # one snapshot's age, and the read and the polling step


async def test_the_test_endpoint_answers_404_unless_switched_on(aiohttp_client, make_app):
    off = await aiohttp_client(make_app(api__test_endpoints=False))
    resp = await off.get(JOBS)
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "NOT_FOUND_ERROR"

    on = await aiohttp_client(make_app(api__test_endpoints=True))
    assert (await on.get(JOBS)).status == 200


def test_the_test_endpoint_is_off_by_default_and_on_under_paygate_dev():
    urls = {"PAYGATE_DATABASE__URL": "postgresql://127.0.0.1/paygate", "PAYGATE_REDIS__URL": "redis://127.0.0.1/0"}
    assert config_mod.load(environ=urls).api.test_endpoints is False
    assert config_mod.load(environ=urls, role_defaults=DEV_DEFAULTS).api.test_endpoints is True

"""Fair under overload: past server.max_in_flight a request is refused at once with 503 and Retry-After rather
than queued; health, readiness and metrics still answer; the held requests finish and the count returns to 0."""

from __future__ import annotations

import asyncio
from contextlib import contextmanager

import psycopg2

from .metrics_text import scrape

API = "/api/v1"
IN_FLIGHT = "paygate_http_requests_in_flight"


@contextmanager
def merchants_locked(db_url: str):
    """Every merchant lookup waits while this holds the table, as a migration rewriting it would."""
    conn = psycopg2.connect(db_url)
    try:
        with conn.cursor() as cur:
            cur.execute("LOCK TABLE merchants IN ACCESS EXCLUSIVE MODE")  # in a transaction psycopg2 opened
        yield
    finally:
        conn.rollback()
        conn.close()


async def in_flight(client) -> float:
    return (await scrape(client)).value(IN_FLIGHT)


async def until_in_flight(client, count: int) -> None:
    """Until the server is working on ``count`` requests (they reach it a moment after they are sent)."""
    for _ in range(400):
        if await in_flight(client) == count:
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"{IN_FLIGHT} never reached {count}: {await in_flight(client)}")


async def test_past_the_bound_a_request_is_refused_at_once_and_operators_still_see_it(
        aiohttp_client, make_app, merchant, clean_state):
    # No auth cache: each request reads its merchant, and so waits on the lock.
    client = await aiohttp_client(make_app(server__max_in_flight=2, api__auth_cache_ttl=0))
    headers = merchant["headers"]
    assert await in_flight(client) == 0

    with merchants_locked(clean_state[0]):
        held = [asyncio.create_task(client.get(f"{API}/payments", headers=headers)) for _ in range(2)]
        await until_in_flight(client, 2)

        refused = await client.get(f"{API}/orders", headers=headers)
        error = (await refused.json())["error"]
        assert refused.status == 503, error
        assert refused.headers["Retry-After"] == "1"
        assert error["code"] == "SERVICE_UNAVAILABLE" and "2" in error["description"]
        assert error["request_id"] == refused.headers["X-Request-Id"]

        assert (await client.get("/healthz")).status == 200
        ready = await client.get("/readyz")
        assert ready.status == 200, await ready.text()
        scraped = await scrape(client)
        assert scraped.value(IN_FLIGHT) == 2
        assert scraped.value("paygate_http_requests_total", route=f"{API}/orders", method="GET", status="503") == 1
        assert all(not task.done() for task in held), "the held ones still wait"

    for task in held:
        resp = await task
        assert resp.status == 200, await resp.text()
    assert (await client.get(f"{API}/orders", headers=headers)).status == 200
    assert await in_flight(client) == 0


async def test_a_refused_checkout_request_keeps_its_cors_headers(aiohttp_client, make_app, merchant, clean_state):
    """A shopper's browser must be able to read the 503, to wait and try again."""
    client = await aiohttp_client(make_app(server__max_in_flight=1, api__auth_cache_ttl=0))
    with merchants_locked(clean_state[0]):
        held = asyncio.create_task(client.get(f"{API}/payments", headers=merchant["headers"]))
        await until_in_flight(client, 1)
        resp = await client.get(f"{API}/checkout/orders/order_0000000000000000", params={"key": merchant["api_key"]})
        assert resp.status == 503, await resp.text()
        assert resp.headers["Access-Control-Allow-Origin"] == "*" and resp.headers["Retry-After"] == "1"
    assert (await held).status == 200
    assert await in_flight(client) == 0

"""Dashboard sessions stay ended when Redis loses its data, and sign-in refuses (503) rather than runs unlimited
while Redis is down."""

from __future__ import annotations

import asyncio
import time
import warnings

import psycopg2
import pytest
import redis as sync_redis

from paygate.http.sessions import CLOCK_MARGIN, COOKIE
from paygate.infra.embedded import EmbeddedRedis
from paygate.storage import sessions as ended_sessions
from paygate.storage.db import cursor

from .test_dashboard_api import SESSION, Browser, csrf, sign_in

API = "/api/v1"


def flushall(redis_url: str) -> None:
    """What a Redis restart without persistence does to its data."""
    client = sync_redis.Redis.from_url(redis_url)
    try:
        client.flushall()
        assert client.dbsize() == 0
    finally:
        client.close()


def cookie_of(client) -> str:
    return client.session.cookie_jar.filter_cookies(client.make_url("/"))[COOKIE].value


async def with_cookie(client, path: str, cookie: str, method: str = "GET", **kwargs):
    """Send ``cookie`` by hand, as someone holding a copy of it would (the client's own jar is left out)."""
    client.session.cookie_jar.clear()
    return await client.request(method, path, headers={"Cookie": f"{COOKIE}={cookie}", **kwargs.pop("headers", {})},
                                **kwargs)


async def session_of(client, cookie: str) -> dict:
    resp = await with_cookie(client, SESSION, cookie)
    assert resp.status == 200
    return await resp.json()


async def test_a_signed_out_cookie_stays_refused_after_flushall(client, merchant, clean_state):
    session = await sign_in(client, merchant)
    cookie = cookie_of(client)
    assert (await client.delete(SESSION, headers=csrf(session))).status == 204

    flushall(clean_state[1])

    resp = await with_cookie(client, f"{API}/payments", cookie)
    assert resp.status == 401, await resp.text()
    assert await session_of(client, cookie) == {"signed_in": False}
    resp = await with_cookie(client, "/dashboard/api/overview", cookie)
    assert resp.status == 401


async def test_sessions_ended_by_a_rotation_stay_ended_after_flushall(client, merchant, clean_state):
    mine, theirs = Browser(client), Browser(client)
    session = await sign_in(mine, merchant)
    await sign_in(theirs, merchant)
    resp = await mine.post("/dashboard/api/api-secret/rotate", headers=csrf(session))
    assert resp.status == 200, await resp.text()

    flushall(clean_state[1])

    assert (await theirs.get(f"{API}/payments")).status == 401
    assert await (await theirs.get(SESSION)).json() == {"signed_in": False}
    assert (await mine.get(f"{API}/payments")).status == 200, "the session that rotated goes on"
    assert (await (await mine.get(SESSION)).json())["signed_in"] is True


async def test_a_live_session_keeps_working_after_flushall_and_can_still_sign_out(client, merchant, clean_state):
    session = await sign_in(client, merchant)
    cookie = cookie_of(client)

    flushall(clean_state[1])

    assert (await client.get(f"{API}/payments")).status == 200
    assert (await client.get(SESSION)).status == 200
    assert (await client.delete(SESSION, headers=csrf(session))).status == 204
    assert (await with_cookie(client, f"{API}/payments", cookie)).status == 401


async def test_an_idle_cookie_stays_refused_after_flushall(aiohttp_client, make_app, merchant, clean_state):
    client = await aiohttp_client(make_app(dashboard__idle_timeout=1))
    await sign_in(client, merchant)
    cookie = cookie_of(client)
    await asyncio.sleep(1.5)

    flushall(clean_state[1])

    assert (await with_cookie(client, f"{API}/payments", cookie)).status == 401
    assert await session_of(client, cookie) == {"signed_in": False}


async def test_a_sign_out_is_kept_for_the_idle_allowance_then_purged(aiohttp_client, make_app, merchant, pool,
                                                                     clean_state):
    client = await aiohttp_client(make_app(dashboard__idle_timeout=60))
    session = await sign_in(client, merchant)
    assert (await client.delete(SESSION, headers=csrf(session))).status == 204
    with psycopg2.connect(clean_state[0]) as conn, conn.cursor() as cur:
        cur.execute("SELECT merchant_id, extract(epoch FROM expires_at - ended_at) FROM dashboard_sessions_ended")
        [(merchant_id, kept_for)] = cur.fetchall()
    assert merchant_id == merchant["merchant_id"] and float(kept_for) == pytest.approx(60 + CLOCK_MARGIN, abs=1)

    async with cursor(pool) as cur:
        assert await ended_sessions.purge_expired(cur) == 0, "not before its cookies are past their allowance"
        await cur.execute("UPDATE dashboard_sessions_ended "
                          "SET ended_at = now() - interval '2 hours', expires_at = now() - interval '1 second'")
        assert await ended_sessions.purge_expired(cur) == 1
        await cur.execute("SELECT count(*) FROM dashboard_sessions_ended")
        assert await cur.fetchone() == (0,)


@pytest.fixture
def own_redis(tmp_path):
    """A Redis of this test's own, to stop: the session's shared one keeps running."""
    redis = EmbeddedRedis(tmp_path / "redis")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        redis.start()
    yield redis
    redis.stop()


async def test_sign_in_while_redis_is_down_answers_503_and_sessions_go_on(aiohttp_client, make_app, merchant,
                                                                          own_redis):
    client = await aiohttp_client(make_app(redis__url=own_redis.url, dashboard__login_delay=0))
    other = Browser(client)
    session = await sign_in(other, merchant)
    credentials = {"api_key": merchant["api_key"], "api_secret": merchant["api_secret"]}

    own_redis.stop()

    for attempt in range(12):  # more than dashboard.login_attempts allows: none is counted, none gets through
        started = time.monotonic()
        resp = await client.post(SESSION, json=credentials if attempt % 2 else {**credentials, "api_secret": "x"})
        text = await resp.text()
        assert resp.status == 503, text
        assert time.monotonic() - started < 5.0
        assert 1 <= int(resp.headers["Retry-After"]) <= 10
        assert (await resp.json())["error"]["code"] == "SERVICE_UNAVAILABLE"
        for leak in ("127.0.0.1", str(own_redis.port), "redis://", "<", "Error", "Redis"):
            assert leak not in text, f"{leak!r} in {text}"
        assert COOKIE not in resp.cookies, "no session without a counted attempt"

    # sessions need no Redis: the one signed in goes on, and signing it out sticks
    assert (await other.get(f"{API}/payments")).status == 200
    assert (await other.request("DELETE", SESSION, headers=csrf(session))).status == 204
    assert await (await other.get(SESSION)).json() == {"signed_in": False}

    own_redis.start()  # the same port: the limiter reconnects by itself
    deadline = time.monotonic() + 15
    while (resp := await client.post(SESSION, json=credentials)).status == 503 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert resp.status == 200, await resp.text()

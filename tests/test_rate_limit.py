"""The per-merchant API rate limit: counted in Redis across server processes, per merchant, with a per-merchant
override; over it, 429 with Retry-After and X-RateLimit-*; off at 0; open while Redis is away.

Windows are aligned to the clock and every answer names its window (X-RateLimit-Reset), so the tests count
answers per window instead of timing requests: whenever the 11th request of a window comes, it is refused.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass

import aiohttp
import pytest
from click.testing import CliRunner

from paygate.cli import main
from paygate.http.app import create_app
from paygate.http.openapi import document, every_operation

from .conftest import build_config, paygate_env

LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
MAX_TRIES = 300  # requests sent looking for a refusal; each window lets 10 through, so one comes within 11


@dataclass
class Answer:
    server: int
    status: int
    headers: dict
    body: dict


def _by_window(answers: list[Answer], status: int = 200) -> Counter:
    return Counter(a.headers["X-RateLimit-Reset"] for a in answers if a.status == status)


async def _cli(env: dict[str, str], *args: str):
    return await asyncio.to_thread(lambda: CliRunner().invoke(main, list(args), env=env, catch_exceptions=False))


@pytest.fixture
async def two_servers(clean_state, paygate_process):
    """Two `paygate serve` processes sharing the test's Postgres and Redis, at 10 requests a second, 10 at once;
    merchants are read at every request, so that an override applies at once."""
    env = paygate_env(*clean_state, PAYGATE_API__RATE_LIMIT="10", PAYGATE_API__RATE_LIMIT_BURST="10",
                      PAYGATE_API__AUTH_CACHE_TTL="0")
    servers = [paygate_process("serve", "--no-worker", env=env) for _ in range(2)]
    for server in servers:
        await server.ready(timeout=60)
    return [s.base_url for s in servers]


async def _ask(http: aiohttp.ClientSession, servers: list[str], n: int, headers: dict) -> Answer:
    """The n-th request goes to server n % 2: the merchant's requests alternate between the processes."""
    async with http.get(f"{servers[n % 2]}/api/v1/orders", headers=headers) as resp:
        return Answer(n % 2, resp.status, dict(resp.headers), await resp.json())


async def _until_refused(http, servers, headers) -> list[Answer]:
    answers = []
    for n in range(MAX_TRIES):
        answers.append(await _ask(http, servers, n, headers))
        if answers[-1].status == 429:
            return answers
        assert answers[-1].status == 200, answers[-1].body
    raise AssertionError(f"no 429 in {MAX_TRIES} requests: {_by_window(answers)}")


def _check_refusal(answers: list[Answer], limit: int) -> None:
    """The last answer is a 429 whose window let exactly ``limit`` through, and no window let more through."""
    refused = answers[-1]
    assert refused.status == 429
    assert refused.body["error"]["code"] == "RATE_LIMIT_ERROR" and refused.body["error"]["request_id"]
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["X-RateLimit-Limit"] == str(limit) and refused.headers["X-RateLimit-Remaining"] == "0"
    window = refused.headers["X-RateLimit-Reset"]
    in_window = [a for a in answers if a.status == 200 and a.headers["X-RateLimit-Reset"] == window]
    assert sorted(int(a.headers["X-RateLimit-Remaining"]) for a in in_window) == list(range(limit))
    assert max(_by_window(answers).values()) <= limit
    assert all(a.headers["X-RateLimit-Limit"] == str(limit) for a in answers)
    return in_window


async def test_the_eleventh_request_in_a_second_is_refused_across_two_processes_while_another_merchant_is_served(
        two_servers, merchant, other_merchant):
    async with aiohttp.ClientSession() as http:
        answers = await _until_refused(http, two_servers, merchant["headers"])
        # The other merchant, at the same moment, on both processes: its own count.
        others = [await _ask(http, two_servers, n, other_merchant["headers"]) for n in range(2)]

    in_window = _check_refusal(answers, 10)
    # The ten of the refused one's window came through both processes: the count is shared, not per process.
    assert {a.server for a in in_window} == {0, 1}
    assert [a.status for a in others] == [200, 200]
    assert all(a.headers["X-RateLimit-Remaining"] in ("9", "8") for a in others)


async def test_a_merchants_own_limit_is_honoured_and_rate_zero_lifts_it(two_servers, clean_state, merchant,
                                                                        other_merchant):
    env = paygate_env(*clean_state)
    result = await _cli(env, "merchants", "set-rate-limit", merchant["merchant_id"], "--rate", "2", "--burst", "3",
                        "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"merchant_id": merchant["merchant_id"], "rate_limit": 2,
                                         "rate_limit_burst": 3, "effective": {"rate": 2, "burst": 3}}
    async with aiohttp.ClientSession() as http:
        _check_refusal(await _until_refused(http, two_servers, merchant["headers"]), 3)  # 3 per 1.5 s
        other = await _ask(http, two_servers, 0, other_merchant["headers"])
        assert other.headers["X-RateLimit-Limit"] == "10"  # the configured limit still

        assert (await _cli(env, "merchants", "set-rate-limit", merchant["merchant_id"], "--rate", "0")).exit_code == 0
        unlimited = [await _ask(http, two_servers, n, merchant["headers"]) for n in range(30)]
        assert [a.status for a in unlimited] == [200] * 30
        assert not [a for a in unlimited if set(LIMIT_HEADERS) & set(a.headers)]

        assert (await _cli(env, "merchants", "set-rate-limit", merchant["merchant_id"], "--default")).exit_code == 0
        back = await _ask(http, two_servers, 0, merchant["headers"])
        assert back.headers["X-RateLimit-Limit"] == "10"


async def test_answers_to_key_requests_carry_the_headers_and_the_429_is_as_documented(
        aiohttp_client, make_app, merchant):
    # make_app checks every answer against the OpenAPI document, the 429 too.
    client = await aiohttp_client(make_app(api__rate_limit=1, api__rate_limit_burst=2))  # 2 per 2 s
    created = Counter()  # per window
    for _ in range(MAX_TRIES):
        resp = await client.post("/api/v1/orders", json={"amount": 100, "currency": "INR"},
                                 headers=merchant["headers"])
        assert resp.headers["X-RateLimit-Limit"] == "2" and resp.headers["X-RateLimit-Reset"].isdigit()
        if resp.status == 429:
            assert int(resp.headers["Retry-After"]) in (1, 2)
            assert created[resp.headers["X-RateLimit-Reset"]] == 2
            break
        assert resp.status == 201, await resp.text()
        created[resp.headers["X-RateLimit-Reset"]] += 1
    else:
        raise AssertionError(f"no 429 in {MAX_TRIES} requests")
    assert max(created.values()) <= 2


async def test_the_dashboard_is_not_counted(aiohttp_client, make_app, merchant):
    client = await aiohttp_client(make_app(api__rate_limit=1, api__rate_limit_burst=1))
    resp = await client.post("/dashboard/api/session",
                             json={"api_key": merchant["api_key"], "api_secret": merchant["api_secret"]})
    assert resp.status == 200
    for _ in range(5):
        resp = await client.get("/api/v1/orders")  # by the session's cookie
        assert resp.status == 200 and not set(LIMIT_HEADERS) & set(resp.headers)


async def test_a_limit_of_zero_is_off(aiohttp_client, make_app, merchant):
    client = await aiohttp_client(make_app(api__rate_limit=0, api__rate_limit_burst=1))
    for _ in range(20):
        resp = await client.get("/api/v1/orders", headers=merchant["headers"])
        assert resp.status == 200 and not set(LIMIT_HEADERS) & set(resp.headers)


async def test_while_redis_is_away_requests_are_not_limited_and_never_fail(aiohttp_client, clean_state, merchant,
                                                                          own_redis):
    # a burst of 2: after the first request the window is not full, so the next ones must ask Redis (a window
    # known to be full is refused without asking, Redis or not)
    config = build_config(clean_state[0], own_redis.url, redis__timeout=1.0, api__rate_limit=1,
                          api__rate_limit_burst=2)
    client = await aiohttp_client(create_app(config))
    resp = await client.get("/api/v1/orders", headers=merchant["headers"])
    assert resp.status == 200 and resp.headers["X-RateLimit-Remaining"] == "1"
    own_redis.stop()
    for _ in range(5):
        resp = await client.get("/api/v1/orders", headers=merchant["headers"])
        assert resp.status == 200, await resp.text()
        assert "X-RateLimit-Limit" not in resp.headers


def test_the_merchant_operations_document_the_429_and_the_limit_headers():
    merchant_ops = [op for op in every_operation() if op.auth == "merchant"]
    assert merchant_ops
    for op in merchant_ops:
        responses = document()["paths"][op.path][op.method.lower()]["responses"]
        assert {"Retry-After", *LIMIT_HEADERS} <= set(responses["429"]["headers"]), op.operation_id
        assert set(LIMIT_HEADERS) <= set(responses[str(op.status)]["headers"]), op.operation_id
    for op in every_operation():
        if op.auth != "merchant":
            responses = document()["paths"][op.path][op.method.lower()]["responses"]
            assert not set(LIMIT_HEADERS) & set(responses[str(op.status)]["headers"])


async def test_a_busy_merchant_takes_its_places_ahead_and_never_gets_more_than_the_burst(clean_state):
    """Two processes' limiters (two RateLimiters on the same Redis) counting one merchant, 1,000 at once per
    window: never more than 1,000 pass, at most a hundredth of the burst per process is left unused, and the
    places come from Redis a hundredth at a time rather than one round trip each."""
    import redis.asyncio as aioredis

    from paygate.http.ratelimit import RateLimiter
    from paygate.infra.errors import TooManyRequests

    redis_url = clean_state[1]
    limiters = [RateLimiter(redis_url, {}) for _ in range(2)]
    client = aioredis.Redis.from_url(redis_url)
    before = (await client.info("commandstats")).get("cmdstat_evalsha", {}).get("calls", 0)

    async def ask(n: int) -> bool:
        try:  # a window of 1,000 s: the test's requests all fall in one (or, at worst, two)
            await limiters[n % 2].count_merchant("mer_busy", 1, 1000)
        except TooManyRequests:
            return False
        return True

    passed = [await ask(n) for n in range(1200)]
    calls = (await client.info("commandstats")).get("cmdstat_evalsha", {}).get("calls", 0) - before
    await client.aclose()
    windows = {key for key in [k.decode() async for k in aioredis.Redis.from_url(redis_url).scan_iter("*mer_busy*")]}
    if len(windows) == 1:  # the window did not roll over during the test
        assert 1000 - 2 * 10 <= sum(passed) <= 1000
        assert not any(passed[sum(passed) + 2 * 10:])  # once refused, refused (the spare places are used first)
    assert calls <= 1200 // 10 + 10, calls  # not one round trip per request


async def test_the_merchant_sees_its_limit(aiohttp_client, make_app, merchant, pool):
    from paygate.core.operations.merchants import set_rate_limit

    client = await aiohttp_client(make_app(api__rate_limit=10, api__rate_limit_burst=20))
    shown = await (await client.get("/api/v1/merchant", headers=merchant["headers"])).json()
    assert shown["api_rate_limit"] == {"per_second": 10, "burst": 20, "own": False}
    await set_rate_limit(pool, merchant["merchant_id"], 50, 60)
    shown = await (await client.get("/api/v1/merchant", headers=merchant["headers"])).json()
    assert shown["api_rate_limit"] == {"per_second": 50, "burst": 60, "own": True}
    await set_rate_limit(pool, merchant["merchant_id"], 0, 1)
    shown = await (await client.get("/api/v1/merchant", headers=merchant["headers"])).json()
    assert shown["api_rate_limit"] is None

"""Rotating the API secret with a grace period: both secrets work until it ends, the old one is refused after it
(also by a server that remembers the merchant), the new one throughout; the rotation and the expiry are events."""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import datetime

import pytest
from click.testing import CliRunner

from paygate.cli import main
from paygate.core.operations.merchants import expire_api_secrets, rotate_api_secret
from paygate.infra.crypto import SecretBox
from paygate.infra.errors import BadRequest

from .api import eventually, get
from .conftest import MASTER_KEY, paygate_env

ROTATED, EXPIRED = "merchant.api_secret_rotated", "merchant.api_secret_expired"


async def _cli(env: dict[str, str], *args: str):
    """In-process, off the event loop (the command runs its own), so that the app's workers keep running."""
    return await asyncio.to_thread(lambda: CliRunner().invoke(main, list(args), env=env, catch_exceptions=False))


def _headers(merchant: dict, secret: str) -> dict:
    return {"X-Api-Key": merchant["api_key"], "X-Api-Secret": secret}


async def _status(client, merchant: dict, secret: str) -> int:
    resp = await client.get("/api/v1/payments", headers=_headers(merchant, secret))
    await resp.read()
    return resp.status


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


async def _events(client, headers: dict, event_type: str) -> list[dict]:
    return (await get(client, headers, f"/api/v1/events?type={event_type}&limit=100"))["data"]


async def test_with_a_two_second_grace_the_old_secret_works_until_it_ends_even_when_remembered(
        aiohttp_client, make_app, merchant, clean_state):
    # The merchant is remembered for an hour: only the grace's end, compared at each request, refuses the old secret.
    client = await aiohttp_client(make_app(workers=True, scheduler__interval=0.2, api__auth_cache_ttl=3600))
    old = merchant["api_secret"]
    assert await _status(client, merchant, old) == 200

    result = await _cli(paygate_env(*clean_state), "merchants", "rotate-secret", merchant["merchant_id"],
                        "--grace", "2s", "--json")

    assert result.exit_code == 0, result.output
    rotated = json.loads(result.output)
    assert set(rotated) == {"merchant_id", "api_key", "api_secret", "previous_secret_expires_at"}
    assert rotated["merchant_id"] == merchant["merchant_id"] and rotated["api_key"] == merchant["api_key"]
    new, ends = rotated["api_secret"], _epoch(rotated["previous_secret_expires_at"])
    assert new.startswith("secret_") and new != old
    assert 0 < ends - time.time() <= 2.5

    # Poll both secrets until the old one is refused. An answer that came back before the grace's end must be
    # a 200; one to a request sent after it, a 401; one in flight across the end may be either.
    before = after = 0
    deadline = time.monotonic() + 30
    while True:
        sent = time.time()
        status = await _status(client, merchant, old)
        received = time.time()
        if received < ends:
            assert status == 200, "the old secret was refused during its grace"
            before += 1
        if sent > ends:
            assert status == 401, "the old secret was accepted after its grace"
            after += 1
        assert await _status(client, merchant, new) == 200, "the new secret works throughout"
        if after >= 3:
            break
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert before >= 1

    # Once each: the rotation now, the expiry from the scheduler once the grace ended; no secret material in them.
    headers = _headers(merchant, new)
    [expired] = await eventually(lambda: _events(client, headers, EXPIRED))
    [rotation] = await _events(client, headers, ROTATED)
    assert rotation["object_id"] == expired["object_id"] == merchant["merchant_id"]
    assert rotation["data"]["merchant_id"] == merchant["merchant_id"]
    assert rotation["data"]["previous_secret_expires_at"] == rotated["previous_secret_expires_at"]
    assert expired["data"] == {"merchant_id": merchant["merchant_id"], "reason": "grace_ended",
                               "expired_at": rotated["previous_secret_expires_at"]}
    for event in (rotation, expired):
        text = json.dumps(event)
        assert old not in text and new not in text and "hash" not in text
    await asyncio.sleep(0.6)  # three more scheduler passes write nothing more
    assert len(await _events(client, headers, EXPIRED)) == 1
    assert await _status(client, merchant, old) == 401
    assert await _status(client, merchant, new) == 200


async def test_the_expiry_is_written_once_by_schedulers_sweeping_at_the_same_time(client, merchant, pool):
    rotated = await rotate_api_secret(pool, SecretBox(MASTER_KEY), merchant["merchant_id"], grace=3600)
    async with pool.acquire() as conn, conn.cursor() as cur:  # the hour is over
        await cur.execute("UPDATE merchants SET api_secret_prev_until = now() - interval '1 second' WHERE id = %s",
                          (merchant["merchant_id"],))

    swept = await asyncio.gather(*(expire_api_secrets(pool) for _ in range(4)))

    assert sorted(swept) == [0, 0, 0, 1]
    headers = _headers(merchant, rotated["api_secret"])
    assert [e["data"]["reason"] for e in await _events(client, headers, EXPIRED)] == ["grace_ended"]
    assert await _status(client, merchant, merchant["api_secret"]) == 401
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("SELECT api_secret_prev_hash, api_secret_prev_until FROM merchants WHERE id = %s",
                          (merchant["merchant_id"],))
        assert await cur.fetchone() == (None, None)


async def test_rotating_again_during_a_grace_drops_the_older_secret_at_once(client, merchant, pool):
    box, first = SecretBox(MASTER_KEY), merchant["api_secret"]
    second = (await rotate_api_secret(pool, box, merchant["merchant_id"], grace=3600))["api_secret"]
    assert await _status(client, merchant, first) == 200

    third = (await rotate_api_secret(pool, box, merchant["merchant_id"], grace=3600))["api_secret"]

    assert await _status(client, merchant, first) == 401
    assert await _status(client, merchant, second) == 200
    assert await _status(client, merchant, third) == 200
    headers = _headers(merchant, third)
    assert len(await _events(client, headers, ROTATED)) == 2
    assert [e["data"]["reason"] for e in await _events(client, headers, EXPIRED)] == ["rotated_again"]


async def test_without_a_grace_the_old_secret_is_refused_at_once_and_its_expiry_recorded(client, merchant, pool):
    rotated = await rotate_api_secret(pool, SecretBox(MASTER_KEY), merchant["merchant_id"])

    assert await _status(client, merchant, merchant["api_secret"]) == 401
    headers = _headers(merchant, rotated["api_secret"])
    [rotation] = await _events(client, headers, ROTATED)
    [expired] = await _events(client, headers, EXPIRED)
    assert rotation["data"]["previous_secret_expires_at"] == expired["data"]["expired_at"]
    assert expired["data"]["reason"] == "no_grace"


async def test_the_dashboard_does_not_sign_in_with_the_previous_secret(client, merchant, pool):
    """A session would outlive the grace: signing in takes the current secret only."""
    rotated = await rotate_api_secret(pool, SecretBox(MASTER_KEY), merchant["merchant_id"], grace=3600)
    assert await _status(client, merchant, merchant["api_secret"]) == 200  # the API takes it
    for secret, status in ((merchant["api_secret"], 401), (rotated["api_secret"], 200)):
        resp = await client.post("/dashboard/api/session", json={"api_key": merchant["api_key"], "api_secret": secret})
        assert resp.status == status, await resp.text()


@pytest.mark.parametrize("grace", [-1, 30 * 86400 + 1])
async def test_a_grace_out_of_range_is_refused_naming_it(pool, merchant, grace):
    with pytest.raises(BadRequest) as refused:
        await rotate_api_secret(pool, SecretBox(MASTER_KEY), merchant["merchant_id"], grace=grace)
    assert refused.value.field == "grace"


@pytest.mark.parametrize("grace", ["2", "1x", "-5m", "h"])
async def test_the_cli_refuses_a_grace_that_is_not_a_duration(clean_state, merchant, grace):
    result = await _cli(paygate_env(*clean_state), "merchants", "rotate-secret", merchant["merchant_id"],
                        "--grace", grace)
    assert result.exit_code == 2 and "--grace" in result.output and "duration" in result.output


async def test_the_cli_says_until_when_the_old_secret_works(clean_state, merchant):
    result = await _cli(paygate_env(*clean_state), "merchants", "rotate-secret", merchant["merchant_id"],
                        "--grace", "2h")
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert re.search(r"The previous secret works until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\.", said), said

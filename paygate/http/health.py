"""Readiness checks shared by /readyz and the CLI."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from ..infra.broker import describe
from ..storage import migrations
from ..storage.db import Pool


async def _check_postgres(pool: Pool) -> dict:
    if not await migrations.is_current(pool):
        return {"ok": False, "reason": "migrations pending or changed: run paygate migrate"}
    return {"ok": True}


async def _check_redis(client: aioredis.Redis) -> dict:
    await client.ping()
    return {"ok": True}


async def _guard(check, timeout: float) -> dict:
    """The check's answer, or why it failed in words: /readyz is unauthenticated, so a driver's message (an
    internal address, an object's repr such as ``<UVPoll closed=True ...>``) never reaches it; the logs of the
    code that uses the dependency carry the details."""
    try:
        return await asyncio.wait_for(check, timeout)
    except TimeoutError:
        return {"ok": False, "reason": f"timed out (no answer within {timeout:g} s)"}
    except Exception as exc:  # any failure to reach a dependency means "not ready"
        return {"ok": False, "reason": describe(exc)}


async def readiness(pool: Pool, client: aioredis.Redis, timeout: float) -> dict[str, dict]:
    """{"postgres": {"ok": ...}, "redis": {"ok": ...}} checked concurrently, each bounded by timeout."""
    pg, rd = await asyncio.gather(_guard(_check_postgres(pool), timeout), _guard(_check_redis(client), timeout))
    return {"postgres": pg, "redis": rd}

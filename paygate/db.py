"""Postgres through an aiopg pool, and the transaction helper every storage write goes through."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiopg
import psycopg2

from .config import Config, mask_url
from .errors import StartupError

Cursor = aiopg.Cursor


async def create_pool(config: Config) -> aiopg.Pool:
    """Open the pool, or raise StartupError naming the (masked) URL and the reason."""
    url = config.database.url
    try:
        return await asyncio.wait_for(
            aiopg.create_pool(
                url,
                minsize=config.database.min_size,
                maxsize=config.database.max_size,
                timeout=max(config.database.timeout, 30.0),
                pool_recycle=300,
            ),
            timeout=config.database.timeout,
        )
    except (TimeoutError, psycopg2.Error, OSError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise StartupError(f"cannot reach Postgres at {mask_url(url)}: {reason}") from None


@asynccontextmanager
async def transaction(pool: aiopg.Pool) -> AsyncIterator[Cursor]:
    """A cursor inside BEGIN … COMMIT; any exception rolls back and propagates."""
    async with pool.acquire() as conn:
        async with conn.cursor() as cur:
            await cur.execute("BEGIN")
            try:
                yield cur
            except BaseException:
                if not conn.closed:
                    await cur.execute("ROLLBACK")
                raise
            await cur.execute("COMMIT")


@asynccontextmanager
async def cursor(pool: aiopg.Pool) -> AsyncIterator[Cursor]:
    """A cursor in autocommit mode, for single reads."""
    async with pool.acquire() as conn:
        async with conn.cursor() as cur:
            yield cur

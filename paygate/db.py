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


class _TransactionCursor:
    """A cursor whose first statement carries the BEGIN: one round trip less per transaction.

    psycopg2 sends ``BEGIN; <statement>`` as one simple-query message and answers with the last
    statement's result, so callers see the statement's rows and rowcount as before.
    """

    def __init__(self, cur: Cursor):
        self._cur = cur
        self.begun = False

    def __getattr__(self, name: str):
        return getattr(self._cur, name)

    async def execute(self, operation: str, parameters=None, *args, **kwargs):
        if not self.begun:
            self.begun = True
            operation = "BEGIN; " + operation
        return await self._cur.execute(operation, parameters, *args, **kwargs)


@asynccontextmanager
async def transaction(pool: aiopg.Pool) -> AsyncIterator[Cursor]:
    """A cursor inside BEGIN … COMMIT; any exception rolls back and propagates."""
    async with pool.acquire() as conn:
        async with conn.cursor() as raw:
            cur = _TransactionCursor(raw)
            try:
                yield cur
            except BaseException:
                if cur.begun and not conn.closed:
                    await raw.execute("ROLLBACK")
                raise
            if cur.begun:
                await raw.execute("COMMIT")


@asynccontextmanager
async def cursor(pool: aiopg.Pool) -> AsyncIterator[Cursor]:
    """A cursor in autocommit mode, for single reads."""
    async with pool.acquire() as conn:
        async with conn.cursor() as cur:
            yield cur

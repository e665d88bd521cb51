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
    """A cursor that saves round trips: BEGIN travels with the first statement, and statements whose answer
    nobody reads (``defer``) travel with the next one, or with the COMMIT.

    psycopg2 sends ``BEGIN; <deferred>; <statement>`` as one simple-query message and answers with the last
    statement's result, so callers see their statement's rows and rowcount as before. A deferred statement
    that fails raises where it is sent, and the transaction rolls back as for any other error.
    """

    def __init__(self, cur: Cursor):
        self._cur = cur
        self.begun = False
        self._deferred: list[bytes] = []

    def __getattr__(self, name: str):
        return getattr(self._cur, name)

    def defer(self, operation: str, parameters=None) -> None:
        """Send this write with the transaction's next statement, or with its COMMIT."""
        self._deferred.append(self._cur.mogrify(operation, parameters))

    def _ahead(self) -> list[bytes]:
        """What must go before the next statement: BEGIN if not yet sent, and the deferred writes."""
        ahead = [] if self.begun else [b"BEGIN"]
        self.begun = True
        ahead += self._deferred
        self._deferred = []
        return ahead

    async def execute(self, operation, parameters=None, *args, **kwargs):
        if not self._deferred:
            if not self.begun:
                self.begun = True
                operation = "BEGIN; " + operation
            return await self._cur.execute(operation, parameters, *args, **kwargs)
        # Deferred statements are already bound: bind this one too, and send the message unformatted.
        statement = self._cur.mogrify(operation, parameters)
        return await self._cur.execute(b"; ".join([*self._ahead(), statement]), None, *args, **kwargs)

    async def commit(self) -> None:
        if self.begun or self._deferred:
            await self._cur.execute(b"; ".join([*self._ahead(), b"COMMIT"]))


@asynccontextmanager
async def transaction(pool: aiopg.Pool) -> AsyncIterator[_TransactionCursor]:
    """A cursor inside BEGIN … COMMIT; any exception (in the COMMIT too) rolls back and propagates."""
    async with pool.acquire() as conn:
        async with conn.cursor() as raw:
            cur = _TransactionCursor(raw)
            try:
                yield cur
                await cur.commit()
            except BaseException:
                if cur.begun and not conn.closed:
                    await raw.execute("ROLLBACK")
                raise


@asynccontextmanager
async def cursor(pool: aiopg.Pool) -> AsyncIterator[Cursor]:
    """A cursor in autocommit mode, for single reads."""
    async with pool.acquire() as conn:
        async with conn.cursor() as cur:
            yield cur

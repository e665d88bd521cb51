"""Postgres through an aiopg pool: the transaction helper every storage write goes through, and the prepared
statements of the hot paths."""

from __future__ import annotations

import asyncio
import hashlib
import re
import weakref
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
                on_connect=_prepares if config.database.prepared_statements else None,
            ),
            timeout=config.database.timeout,
        )
    except (TimeoutError, psycopg2.Error, OSError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise StartupError(f"cannot reach Postgres at {mask_url(url)}: {reason}") from None


# -- prepared statements ------------------------------------------------------------------------------------

# The statements each pooled connection has prepared; only connections of a pool with prepared statements on.
_prepared: weakref.WeakKeyDictionary[aiopg.Connection, set[str]] = weakref.WeakKeyDictionary()


async def _prepares(conn: aiopg.Connection) -> None:
    _prepared[conn] = set()


class Statement:
    """Fixed SQL on a hot path, prepared once per connection (PREPARE) and then run by name (EXECUTE), so that
    Postgres parses and plans it once per connection instead of at every call (about a third of the Postgres
    CPU of a small write, measured). Placeholders as for psycopg2: ``%(name)s`` or ``%s``.

    Session-level PREPARE needs a connection of its own: behind a transaction-mode pooler (PgBouncer) set
    ``database.prepared_statements: false``, and the same SQL is sent as plain text.
    """

    by_name: dict[str, Statement] = {}  # every statement made, for tools that see only EXECUTE <name>

    def __init__(self, sql: str):
        self.sql = sql
        self.name = "paygate_" + hashlib.sha256(sql.encode()).hexdigest()[:20]
        Statement.by_name[self.name] = self
        self._names: list[str] = []
        self._count = 0
        self._prepare = f"PREPARE {self.name} AS " + _PLACEHOLDER.sub(self._number, sql)
        self._execute = f"EXECUTE {self.name}({', '.join(['%s'] * self._count)})" if self._count else \
            f"EXECUTE {self.name}"

    def _number(self, match: re.Match) -> str:
        name = match.group(1)
        if name is None:  # %s
            self._count += 1
            return f"${self._count}"
        if name not in self._names:
            self._names.append(name)
            self._count += 1
        return f"${self._names.index(name) + 1}"

    def args(self, parameters) -> list:
        """``parameters`` in the order of the EXECUTE form's arguments."""
        if self._names:
            return [parameters[name] for name in self._names]
        return list(parameters or ())

    async def bind(self, cur: Cursor, parameters) -> tuple[str, object]:
        """(SQL, parameters) to send on ``cur``: the EXECUTE form once this connection has prepared the statement
        (which it does here, in a round trip of its own, the first time), the plain SQL where not prepared."""
        done = _prepared.get(cur.connection)
        if done is None:
            return self.sql, parameters
        if self.name not in done:
            await cur.execute(self._prepare)  # a PREPARE that fails is a bug: let it be seen
            done.add(self.name)
        return self._execute, self.args(parameters)


def _stale(exc: BaseException) -> bool:
    """A migration changed a table's columns under a prepared statement, or something deallocated it."""
    return isinstance(exc, psycopg2.errors.InvalidSqlStatementName) or (
        isinstance(exc, psycopg2.errors.FeatureNotSupported) and "cached plan" in str(exc))


def _drop_stale(cur: Cursor) -> None:
    """Close the connection, whose prepared statements are stale (the pool opens a fresh one); the error still
    reaches the caller, like any other."""
    if _prepared.pop(cur.connection, None) is not None:
        cur.connection.close()


async def execute(cur: Cursor, operation: str | Statement, parameters=None) -> None:
    """``cur.execute`` for SQL text or a ``Statement``."""
    if isinstance(operation, Statement) and not isinstance(cur, _TransactionCursor):
        operation, parameters = await operation.bind(cur, parameters)
    try:
        await cur.execute(operation, parameters)
    except psycopg2.Error as exc:
        if _stale(exc):
            _drop_stale(cur)
        raise


_PLACEHOLDER = re.compile(r"(?<!%)%(?:\((\w+)\))?s")


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
        self._deferred: list[tuple[str | Statement, object]] = []

    def __getattr__(self, name: str):
        return getattr(self._cur, name)

    def defer(self, operation: str | Statement, parameters=None) -> None:
        """Send this write with the transaction's next statement, or with its COMMIT."""
        self._deferred.append((operation, parameters))

    async def _ahead(self) -> list[bytes]:
        """What must go before the next statement: BEGIN if not yet sent, and the deferred writes, bound."""
        ahead = [] if self.begun else [b"BEGIN"]
        for operation, parameters in self._deferred:
            if isinstance(operation, Statement):
                operation, parameters = await operation.bind(self._cur, parameters)
            ahead.append(self._cur.mogrify(operation, parameters))
        self.begun = True
        self._deferred = []
        return ahead

    async def execute(self, operation, parameters=None, *args, **kwargs):
        if isinstance(operation, Statement):
            operation, parameters = await operation.bind(self._cur, parameters)
        ahead = await self._ahead()
        if not ahead:
            return await self._cur.execute(operation, parameters, *args, **kwargs)
        # What goes ahead is already bound: bind this one too, and send the message unformatted.
        statement = self._cur.mogrify(operation, parameters)
        return await self._cur.execute(b"; ".join([*ahead, statement]), None, *args, **kwargs)

    async def commit(self) -> None:
        if self.begun or self._deferred:
            await self._cur.execute(b"; ".join([*await self._ahead(), b"COMMIT"]))


@asynccontextmanager
async def transaction(pool: aiopg.Pool) -> AsyncIterator[_TransactionCursor]:
    """A cursor inside BEGIN … COMMIT; any exception (in the COMMIT too) rolls back and propagates."""
    async with pool.acquire() as conn:
        async with conn.cursor() as raw:
            cur = _TransactionCursor(raw)
            try:
                yield cur
                await cur.commit()
            except BaseException as exc:
                if _stale(exc):
                    _drop_stale(raw)
                if cur.begun and not conn.closed:
                    await raw.execute("ROLLBACK")
                raise


@asynccontextmanager
async def cursor(pool: aiopg.Pool) -> AsyncIterator[Cursor]:
    """A cursor in autocommit mode: each statement is its own transaction."""
    async with pool.acquire() as conn:
        async with conn.cursor() as cur:
            yield cur

"""Postgres through an aiopg pool: the transaction helper every storage write goes through, and the prepared
statements of the hot paths."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiopg
import psycopg2

from ..infra.config import Config, mask_url
from ..infra.errors import ServiceUnavailable, StartupError

Cursor = aiopg.Cursor
Pool = aiopg.Pool
# A statement cut off by the connection breaking, for callers that try it again.
OperationalError = psycopg2.OperationalError
log = logging.getLogger("paygate.db")


async def create_pool(config: Config) -> aiopg.Pool:
    """Open the pool, or raise StartupError naming the (masked) URL and the reason."""
    url = config.database.url
    try:
        pool = await asyncio.wait_for(
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
    # The pool's own timeout bounds statements too, so it is at least 30 s; getting a connection is bounded by
    # database.timeout, as documented, so that a client waits that long at most for its 503.
    _acquire_timeouts[pool] = config.database.timeout
    _turns[pool] = asyncio.Semaphore(config.database.max_size)
    return pool


# Turns at the pool's connections, first come first served. aiopg's pool lets a task that arrives just as a
# connection is given back take it, and a waiter that wakes to find it gone queues again: with 64 tasks on 4
# connections, p99 was 3 times the median wait (1.1 times with these turns).
_turns: weakref.WeakKeyDictionary[aiopg.Pool, asyncio.Semaphore] = weakref.WeakKeyDictionary()


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


def as_columns(rows: list[dict], names) -> dict[str, list]:
    """Rows turned into the parameters of a multi-row statement (``unnest`` of arrays): name -> its values, one
    per row. Every row must have every name."""
    return {name: [row[name] for row in rows] for name in names}


class _Rows(dict):
    """The parameters of a deferred multi-row write: column -> its values, one per row."""


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

    def defer_row(self, statement: Statement, row: dict) -> None:
        """``defer`` one row of a multi-row write whose parameters are arrays (``unnest``), one element per row:
        rows deferred one after another go in one statement."""
        if self._deferred and self._deferred[-1][0] is statement and isinstance(self._deferred[-1][1], _Rows):
            for column, value in row.items():
                self._deferred[-1][1][column].append(value)
        else:
            self._deferred.append((statement, _Rows(as_columns([row], row))))

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
    """A cursor inside BEGIN … COMMIT; any exception (in the COMMIT too) rolls back and propagates.

    Postgres out of reach, before or during the transaction, raises ``DatabaseUnavailable``."""
    async with _connection(pool) as conn:
        async with conn.cursor() as raw:
            cur = _TransactionCursor(raw)
            try:
                yield cur
                try:
                    await cur.commit()
                except BaseException as exc:
                    if broken(exc):  # the COMMIT may have been applied before the connection broke
                        raise CommitUnknown() from exc
                    raise
            except BaseException as exc:
                if _stale(exc):
                    _drop_stale(raw)
                if cur.begun and not conn.closed and not broken(_cause(exc)):  # a broken one has nothing to undo
                    await raw.execute("ROLLBACK")
                raise


@asynccontextmanager
async def cursor(pool: aiopg.Pool) -> AsyncIterator[Cursor]:
    """A cursor in autocommit mode: each statement is its own transaction. Postgres out of reach raises
    ``DatabaseUnavailable``."""
    async with _connection(pool) as conn:
        async with conn.cursor() as cur:
            yield cur


# -- Postgres out of reach ----------------------------------------------------------------------------------



class DatabaseUnavailable(ServiceUnavailable):
    """Postgres cannot be reached, a connection broke, or the pool had none free in time. Says nothing about
    where Postgres is: the reason is in the log, and in ``__cause__``."""

    def __init__(self, description: str = "the database is unavailable; retry shortly"):
        super().__init__(description)


class CommitUnknown(Exception):
    """The connection broke during COMMIT: the transaction may or may not have been applied."""


# A blind retry of a request whose COMMIT was cut off could make a second refund: the client is told to look first.
COMMIT_UNKNOWN = ("the database went away while this request was being committed, so it may or may not have taken "
                  "effect: look the object up, or retry with the same Idempotency-Key, before trying again")


def _cause(exc: BaseException) -> BaseException:
    return exc.__cause__ if isinstance(exc, CommitUnknown) and exc.__cause__ is not None else exc


# SQLSTATEs of a server that is going away or not yet back: admin_shutdown, crash_shutdown, cannot_connect_now.
_GOING_AWAY = frozenset({"57P01", "57P02", "57P03"})


def broken(exc: BaseException) -> bool:
    """The connection to Postgres failed or broke: a fault of the service, not of the statement.

    An error without an SQLSTATE came from the client library (refused, reset, "server closed the
    connection unexpectedly"); class 08 is a connection exception; a query error (constraint, syntax,
    serialization, statement timeout) is none of these."""
    if isinstance(exc, psycopg2.InterfaceError):  # "connection already closed"
        return True
    if isinstance(exc, psycopg2.OperationalError):
        code = exc.pgcode
        return code is None or code.startswith("08") or code in _GOING_AWAY
    return False


@asynccontextmanager
async def _connection(pool: aiopg.Pool) -> AsyncIterator[aiopg.Connection]:
    """A pooled connection. A broken one is closed before it goes back, so the pool opens a fresh one rather
    than handing it out again; a connect that fails or a pool with none free in time is ``DatabaseUnavailable``."""
    turns = _turns.get(pool)
    try:
        async with asyncio.timeout(_acquire_timeouts.get(pool)):  # waiting for a free one, and connecting
            if turns is not None:
                await turns.acquire()
            try:
                conn = await pool.acquire()
            except BaseException:
                if turns is not None:
                    turns.release()
                raise
    except (TimeoutError, psycopg2.Error) as exc:
        if isinstance(exc, psycopg2.Error) and not broken(exc):
            raise
        raise _unavailable(pool, exc) from exc
    try:
        yield conn
    except DatabaseUnavailable:  # from another connection, used inside this one's block: counted there
        raise
    except BaseException as exc:
        cause = _cause(exc)
        if not broken(cause):
            raise
        conn.close()
        unavailable = _unavailable(pool, cause)
        if cause is not exc:
            unavailable = DatabaseUnavailable(COMMIT_UNKNOWN)
        raise unavailable from cause
    finally:
        try:
            await pool.release(conn)
        finally:
            if turns is not None:
                turns.release()
    _outage(pool).ended()


class _Outage:
    """One warning when Postgres goes out of reach, a reminder at most every ``REMIND`` seconds while it stays
    away, and one line when it answers again; not a traceback per request."""

    REMIND = 60.0

    def __init__(self):
        self.since: float | None = None
        self.warned = 0.0
        self.refused = 0

    def began(self, exc: BaseException, timeout: float) -> DatabaseUnavailable:
        now = time.monotonic()
        self.refused += 1
        reason = f"no connection within {timeout:g} s" if isinstance(exc, TimeoutError) else _reason(exc)
        if self.since is None:
            self.since = self.warned = now
            log.warning("Postgres is out of reach (%s); answering 503 until it is back", reason)
        elif now - self.warned >= self.REMIND:
            self.warned = now
            log.warning("Postgres still out of reach after %.0f s, %d operations refused (%s)",
                        now - self.since, self.refused, reason)
        return DatabaseUnavailable()

    def ended(self) -> None:
        if self.since is not None:
            log.warning("Postgres is back after %.1f s; %d operations were refused meanwhile",
                        time.monotonic() - self.since, self.refused)
            self.since, self.refused = None, 0


_outages: weakref.WeakKeyDictionary[aiopg.Pool, _Outage] = weakref.WeakKeyDictionary()


def _outage(pool: aiopg.Pool) -> _Outage:
    outage = _outages.get(pool)
    if outage is None:
        outage = _outages[pool] = _Outage()
    return outage


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _unavailable(pool: aiopg.Pool, exc: BaseException) -> DatabaseUnavailable:
    return _outage(pool).began(exc, _acquire_timeouts.get(pool, pool.timeout))


_acquire_timeouts: weakref.WeakKeyDictionary[aiopg.Pool, float] = weakref.WeakKeyDictionary()

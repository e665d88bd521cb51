"""Schema migrations: sql/NNNN_name.sql applied in order, once each, under an advisory lock."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import aiopg

from ..infra.resources import sql_dir

# Any constant works; it only has to be the same in every paygate process.
ADVISORY_LOCK_KEY = 0x7061_7967  # "payg"

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    name       text PRIMARY KEY,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


class MigrationError(Exception):
    """The database and the migration files disagree in a way paygate will not paper over."""


@dataclass(frozen=True)
class Migration:
    name: str
    path: Path
    checksum: str


@dataclass(frozen=True)
class MigrationState:
    name: str
    checksum: str
    state: str  # applied | pending | changed | unknown (in the database, no file)
    applied_at: datetime | None

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "checksum": self.checksum,
            "state": self.state,
            "applied_at": self.applied_at.isoformat() if self.applied_at else None,
        }


def discover(directory: Path | None = None) -> list[Migration]:
    """The migration files, in the order they apply."""
    directory = directory or sql_dir()
    found = []
    for path in sorted(directory.glob("[0-9][0-9][0-9][0-9]_*.sql")):
        checksum = hashlib.sha256(path.read_bytes()).hexdigest()
        found.append(Migration(path.stem, path, checksum))
    return found


async def _applied(cur: aiopg.Cursor) -> dict[str, tuple[str, datetime]]:
    await cur.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
    (exists,) = await cur.fetchone()
    if not exists:
        return {}
    await cur.execute("SELECT name, checksum, applied_at FROM schema_migrations ORDER BY name")
    return {name: (checksum, applied_at) for name, checksum, applied_at in await cur.fetchall()}


def _states(files: list[Migration], applied: dict[str, tuple[str, datetime]]) -> list[MigrationState]:
    states = []
    for m in files:
        if m.name not in applied:
            states.append(MigrationState(m.name, m.checksum, "pending", None))
        else:
            checksum, at = applied[m.name]
            states.append(MigrationState(m.name, m.checksum, "applied" if checksum == m.checksum else "changed", at))
    known = {m.name for m in files}
    for name, (checksum, at) in applied.items():
        if name not in known:
            states.append(MigrationState(name, checksum, "unknown", at))
    return states


async def status(pool: aiopg.Pool, directory: Path | None = None) -> list[MigrationState]:
    """Each migration with its state, without changing anything."""
    async with pool.acquire() as conn, conn.cursor() as cur:
        return _states(discover(directory), await _applied(cur))


async def is_current(pool: aiopg.Pool, directory: Path | None = None) -> bool:
    return all(s.state == "applied" for s in await status(pool, directory))


def _refuse_drift(states: list[MigrationState]) -> None:
    changed = [s.name for s in states if s.state == "changed"]
    if changed:
        raise MigrationError(
            f"applied migration {', '.join(changed)} has changed on disk since it was applied; "
            "restore the file and add a new migration instead"
        )


async def migrate(pool: aiopg.Pool, directory: Path | None = None) -> list[str]:
    """Apply every pending file in its own transaction; return the names applied by this call.

    A session-level advisory lock serialises concurrent runs: the second waits, then
    finds nothing pending.
    """
    files = discover(directory)
    applied_now = []
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        try:
            await cur.execute(CREATE_TABLE)
            states = _states(files, await _applied(cur))
            _refuse_drift(states)
            pending = {s.name for s in states if s.state == "pending"}
            for m in files:
                if m.name not in pending:
                    continue
                await cur.execute("BEGIN")
                try:
                    await cur.execute(m.path.read_text())
                    await cur.execute(
                        "INSERT INTO schema_migrations (name, checksum) VALUES (%s, %s)", (m.name, m.checksum)
                    )
                except BaseException:
                    await cur.execute("ROLLBACK")
                    raise
                await cur.execute("COMMIT")
                applied_now.append(m.name)
        finally:
            await cur.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
    return applied_now

"""Storage: SQL and rows to dicts. No HTTP here."""

from __future__ import annotations

from typing import Any

from .db import Cursor, Statement, execute


def _dicts(cur: Cursor, rows) -> list[dict]:
    names = [d.name for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in rows]


async def fetch_one(cur: Cursor, sql: str | Statement, params: Any = None) -> dict | None:
    await execute(cur, sql, params)
    row = await cur.fetchone()
    return _dicts(cur, [row])[0] if row else None


async def fetch_all(cur: Cursor, sql: str | Statement, params: Any = None) -> list[dict]:
    await execute(cur, sql, params)
    return _dicts(cur, await cur.fetchall())


class Filters:
    """AND-ed WHERE clauses with their parameters, built from a list request's filters."""

    def __init__(self, merchant_id: str):
        self.clauses = ["merchant_id = %(merchant_id)s"]
        self.params: dict[str, Any] = {"merchant_id": merchant_id}

    def equal(self, column: str, value: Any) -> Filters:
        if value is not None:
            self.clauses.append(f"{column} = %({column})s")
            self.params[column] = value
        return self

    def created_between(self, start: Any, end: Any) -> Filters:
        if start is not None:
            self.clauses.append("created_at >= %(created_from)s")
            self.params["created_from"] = start
        if end is not None:
            self.clauses.append("created_at <= %(created_to)s")
            self.params["created_to"] = end
        return self

    @property
    def where(self) -> str:
        return " AND ".join(self.clauses)


async def page(cur: Cursor, table: str, filters: Filters, limit: int, offset: int) -> tuple[list[dict], int]:
    """Newest first, with the total count of matches in the same query."""
    rows = await fetch_all(
        cur,
        f"SELECT *, count(*) OVER () AS total_count FROM {table} WHERE {filters.where} "
        "ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s",
        {**filters.params, "limit": limit, "offset": offset},
    )
    if rows:
        total = rows[0]["total_count"]
    elif offset:
        row = await fetch_one(cur, f"SELECT count(*) AS n FROM {table} WHERE {filters.where}", filters.params)
        total = row["n"]
    else:
        total = 0
    for row in rows:
        del row["total_count"]
    return rows, total


async def untouched_since(cur: Cursor, table: str, statuses: tuple[str, ...], seconds: float,
                          limit: int = 500) -> list[str]:
    """Ids of rows still in one of ``statuses`` and unchanged for ``seconds``: their job may have been lost."""
    rows = await fetch_all(
        cur,
        f"""SELECT id FROM {table} WHERE status = ANY(%s)
            AND updated_at < now() - make_interval(secs => %s) ORDER BY updated_at LIMIT %s""",
        (list(statuses), seconds, limit),
    )
    return [r["id"] for r in rows]


async def take_over(cur: Cursor, table: str, row_id: str, statuses: tuple[str, ...], stale_after: float) -> dict | None:
    """The row, if it is in one of ``statuses`` and unchanged for ``stale_after`` seconds; its ``updated_at`` is
    touched, so that nobody else takes it over for as long again. For a processor call that a worker began and
    did not finish (it stopped, or the answer was lost): the one that takes the row over settles the call."""
    return await fetch_one(
        cur,
        f"""UPDATE {table} SET updated_at = now()
            WHERE id = %s AND status = ANY(%s) AND updated_at < now() - make_interval(secs => %s) RETURNING *""",
        (row_id, list(statuses), stale_after))

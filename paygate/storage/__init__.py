"""Storage: SQL and rows to dicts. No HTTP here."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..infra.errors import BadRequest
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

    def contains(self, column: str, pairs: dict[str, str] | None) -> Filters:
        """Rows whose jsonb ``column`` holds every one of ``pairs``: served by the column's GIN index, which holds
        only the rows whose column is not empty (sql/0006_metadata.sql), so the query says so too."""
        if pairs:
            self.clauses.append(f"{column} @> %({column}_contains)s::jsonb AND {column} <> '{{}}'::jsonb")
            self.params[f"{column}_contains"] = json.dumps(pairs)
        return self

    @property
    def where(self) -> str:
        return " AND ".join(self.clauses)


@dataclass(frozen=True)
class Anchor:
    """Where a page starts when it is given by an object rather than by a count of rows to skip: the rows after
    ``object_id`` in the list's order (older ones), or with ``before`` the rows just before it (newer ones).
    ``name`` is what the caller calls it (the query parameter), for the error when there is no such object.

    It travels as the list's ``offset`` (``page``'s), so that every list_page passes it through unchanged."""

    object_id: str
    before: bool
    name: str


# What a list's rows are called in an error ("no payment 'pay_…'"); a table not named here, by its own name.
KINDS = {"orders": "order", "payments": "payment", "refunds": "refund", "events": "event",
         "webhook_logs": "webhook delivery", "webhook_endpoints": "webhook endpoint"}


async def page(cur: Cursor, table: str, filters: Filters, limit: int, offset: int | Anchor) -> tuple[list[dict], int]:
    """One page of the matches, newest first (created_at, then id), and the total count of matches.

    ``offset`` is the number of rows to skip, or an ``Anchor``: the rows after (or before) one of the merchant's
    rows, found by the keyset (created_at, id), so that rows added meanwhile neither shift nor repeat the pages.
    The rows are fetched one beyond ``limit``: when there is that one more (the farthest from where the page
    starts), more follow, and ``trim`` takes it off.
    """
    if isinstance(offset, Anchor):
        return await _page_from(cur, table, filters, limit, offset)
    rows = await fetch_all(
        cur,
        f"SELECT *, count(*) OVER () AS total_count FROM {table} WHERE {filters.where} "
        "ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s",
        {**filters.params, "limit": limit + 1, "offset": offset},
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


async def _page_from(cur: Cursor, table: str, filters: Filters, limit: int, anchor: Anchor) -> tuple[list[dict], int]:
    """``page`` from an anchor: the anchor's keyset and the total (which ignores the anchor) in one statement,
    then the rows beyond it."""
    found = await fetch_one(
        cur,
        f"""SELECT (SELECT count(*) FROM {table} WHERE {filters.where}) AS total, a.created_at, a.id
            FROM (SELECT 1) one LEFT JOIN {table} a ON a.id = %(anchor_id)s AND a.merchant_id = %(merchant_id)s""",
        {**filters.params, "anchor_id": anchor.object_id})
    if found["id"] is None:  # not one of this merchant's rows of this list
        raise BadRequest(f"no {KINDS.get(table, table)} {anchor.object_id!r}", field=anchor.name)
    # Newer rows are read upwards from the anchor (the nearest first), then shown newest first as every page is.
    beyond, order = (">", "ASC") if anchor.before else ("<", "DESC")
    rows = await fetch_all(
        cur,
        f"""SELECT * FROM {table} WHERE {filters.where} AND (created_at, id) {beyond} (%(anchor_at)s, %(anchor_id)s)
            ORDER BY created_at {order}, id {order} LIMIT %(limit)s""",
        {**filters.params, "anchor_at": found["created_at"], "anchor_id": found["id"], "limit": limit + 1})
    if anchor.before:
        rows.reverse()
    return rows, found["total"]


def trim(rows: list, limit: int, offset: int | Anchor) -> tuple[list, bool]:
    """A page as ``page`` fetched it (its rows, or their views, in the same order), without the row that only
    tells that more follow; and whether more follow (in the page's direction: newer ones, from ``ending_before``)."""
    if len(rows) <= limit:
        return rows, False
    before = isinstance(offset, Anchor) and offset.before
    return (rows[len(rows) - limit:] if before else rows[:limit]), True


async def set_metadata(cur: Cursor, table: str, column: str, merchant_id: str, row_id: str,
                       changes: dict[str, str], removed: list[str]) -> dict | None:
    """The merchant's row with ``changes`` set in its jsonb ``column`` and the ``removed`` keys taken out (the
    others kept), in one statement (the row lock serialises two updates); None when there is no such row.
    ``updated_at`` stays: it tells when the state last changed, which the scheduler's timeouts read."""
    return await fetch_one(
        cur,
        f"""UPDATE {table} SET {column} = ({column} || %(changes)s::jsonb) - %(removed)s::text[]
            WHERE id = %(id)s AND merchant_id = %(merchant_id)s RETURNING *""",
        {"changes": json.dumps(changes), "removed": removed, "id": row_id, "merchant_id": merchant_id})


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

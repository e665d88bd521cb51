"""The test-mode simulator's books (table simulator_ledger): what an acquirer keeps on its side of each call.

paygate's own operations never read these rows; the simulator does, and the tests compare them with paygate's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiopg

from . import fetch_all, fetch_one
from .db import Cursor, Statement, as_columns, cursor, transaction

# A call made again with its reference is answered from its row; only the count of calls changes.
_RECORD = Statement(
    """INSERT INTO simulator_ledger (reference, operation, auth_reference, amount, currency, scenario, approved,
                                    error_code, error_description)
       VALUES (%(reference)s, %(operation)s, %(auth_reference)s, %(amount)s, %(currency)s, %(scenario)s,
               %(approved)s, %(error_code)s, %(error_description)s)
       ON CONFLICT (reference) DO UPDATE SET calls = simulator_ledger.calls + 1, updated_at = now()
       RETURNING *""")


async def record(cur: Cursor, entry: dict) -> dict:
    """The call's row: ``entry`` inserted, or the row already kept for its reference (its calls counted)."""
    return await fetch_one(cur, _RECORD, entry)


_COLUMNS = ("reference", "operation", "auth_reference", "amount", "currency", "scenario", "approved", "error_code",
            "error_description")
_BOOK_MANY = Statement(
    """INSERT INTO simulator_ledger (reference, operation, auth_reference, amount, currency, scenario, approved,
                                    error_code, error_description)
       SELECT * FROM unnest(%(reference)s::text[], %(operation)s::text[], %(auth_reference)s::text[],
                            %(amount)s::bigint[], %(currency)s::text[], %(scenario)s::text[], %(approved)s::boolean[],
                            %(error_code)s::text[], %(error_description)s::text[])
       ON CONFLICT (reference) DO UPDATE SET calls = simulator_ledger.calls + 1, updated_at = now()
       RETURNING *""")


async def book_many(pool: aiopg.Pool, entries: list[dict]) -> list[dict]:
    """``record`` for calls that need no other row of their authorization (authorize, sale), in one statement;
    their references must differ."""
    async with cursor(pool) as cur:
        return await fetch_all(cur, _BOOK_MANY, as_columns(entries, _COLUMNS))


async def find(pool: aiopg.Pool, reference: str) -> dict | None:
    async with cursor(pool) as cur:
        return await fetch_one(cur, "SELECT * FROM simulator_ledger WHERE reference = %s", (reference,))


@dataclass
class Books:
    """An authorization's rows, read under its lock, and the balances that follow from the approved ones."""

    rows: list[dict]

    def get(self, reference: str) -> dict | None:
        return next((r for r in self.rows if r["reference"] == reference), None)

    def _approved(self, *operations: str) -> list[dict]:
        return [r for r in self.rows if r["approved"] and r["operation"] in operations]

    @property
    def scenario(self) -> str | None:
        origin = next((r for r in self.rows if r["operation"] in ("authorize", "sale")), None)
        return origin["scenario"] if origin else None

    @property
    def authorized(self) -> int:
        return sum(r["amount"] for r in self._approved("authorize", "sale"))

    @property
    def captured(self) -> int:
        return sum(r["amount"] for r in self._approved("sale", "capture"))

    @property
    def voided(self) -> bool:
        return bool(self._approved("void"))

    @property
    def refunded(self) -> int:
        return sum(r["amount"] for r in self._approved("refund"))

    @property
    def held(self) -> int:
        """What the authorization still holds on the shopper's funds: neither captured nor voided."""
        if self.voided or self.captured:
            return 0  # a capture releases the rest of its authorization
        return sum(r["amount"] for r in self._approved("authorize"))


@asynccontextmanager
async def books(pool: aiopg.Pool, auth_reference: str) -> AsyncIterator[tuple[Cursor, Books]]:
    """The authorization's books in a transaction that holds its lock, so that two calls on one authorization
    (a capture and a void, two refunds) are decided one after the other."""
    async with transaction(pool) as cur:
        rows = await fetch_all(
            cur, "SELECT pg_advisory_xact_lock(hashtext(%(a)s)); "
                 "SELECT * FROM simulator_ledger WHERE auth_reference = %(a)s ORDER BY created_at, reference",
            {"a": auth_reference})
        yield cur, Books(rows)


async def all_books(pool: aiopg.Pool) -> dict[str, Books]:
    """Every authorization's books, by its reference (for tests and reports)."""
    async with cursor(pool) as cur:
        rows = await fetch_all(cur, "SELECT * FROM simulator_ledger ORDER BY created_at, reference")
    found: dict[str, Books] = {}
    for row in rows:
        found.setdefault(row["auth_reference"], Books([])).rows.append(row)
    return found

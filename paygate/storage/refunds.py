"""Refund rows, and the payment's running refunded total that guards them."""

from __future__ import annotations

import json

from ..core.states import IN_FLIGHT, UNFINISHED
from . import Anchor, Filters, fetch_all, fetch_one, page, set_metadata, untouched_since
from . import take_over as _take_over
from .db import Cursor


async def insert(cur: Cursor, refund: dict) -> dict:
    return await fetch_one(
        cur,
        """INSERT INTO refunds (id, payment_id, merchant_id, amount, currency, reason, metadata)
           VALUES (%(id)s, %(payment_id)s, %(merchant_id)s, %(amount)s, %(currency)s, %(reason)s, %(metadata)s)
           RETURNING *""",
        {**refund, "metadata": json.dumps(refund.get("metadata") or {})},
    )


async def reserve(cur: Cursor, payment_id: str, amount: int) -> dict | None:
    """Add ``amount`` to the payment's refunded total if it stays within the captured amount.

    The caller holds the payment's row lock; the CHECK constraint
    payments_refunded_within_captured is the backstop if it did not.
    """
    return await fetch_one(
        cur,
        """UPDATE payments SET amount_refunded = amount_refunded + %(amount)s, updated_at = now()
           WHERE id = %(id)s AND amount_refunded + %(amount)s <= amount_captured RETURNING *""",
        {"id": payment_id, "amount": amount},
    )


async def give_back(cur: Cursor, payment_id: str, amount: int) -> dict:
    """A failed refund's amount becomes refundable again."""
    return await fetch_one(
        cur,
        """UPDATE payments SET amount_refunded = amount_refunded - %s, updated_at = now()
           WHERE id = %s RETURNING *""",
        (amount, payment_id),
    )


async def get(cur: Cursor, merchant_id: str, refund_id: str) -> dict | None:
    return await fetch_one(cur, "SELECT * FROM refunds WHERE id = %s AND merchant_id = %s", (refund_id, merchant_id))


async def by_id(cur: Cursor, refund_id: str) -> dict | None:
    """For workers, which act for whichever merchant owns the refund."""
    return await fetch_one(cur, "SELECT * FROM refunds WHERE id = %s", (refund_id,))


async def start_processing(cur: Cursor, refund_id: str) -> dict | None:
    """pending -> processing, committed before the processor is asked; None if the refund is not pending."""
    return await fetch_one(
        cur,
        """UPDATE refunds SET status = 'processing', updated_at = now()
           WHERE id = %s AND status = 'pending' RETURNING *""",
        (refund_id,))


async def take_over(cur: Cursor, refund_id: str, stale_after: float) -> dict | None:
    """The refund, if its processor call has been in flight for ``stale_after`` seconds (storage.take_over)."""
    return await _take_over(cur, "refunds", refund_id, tuple(IN_FLIGHT["refund"]), stale_after)


async def record_processed(cur: Cursor, refund_id: str) -> dict | None:
    """None when the outcome was recorded already."""
    return await fetch_one(
        cur,
        """UPDATE refunds SET status = 'processed', processed_at = now(), updated_at = now()
           WHERE id = %s AND status = 'processing' RETURNING *""",
        (refund_id,),
    )


async def record_failure(cur: Cursor, refund_id: str, code: str, description: str) -> dict | None:
    """None when the outcome was recorded already."""
    return await fetch_one(
        cur,
        """UPDATE refunds SET status = 'failed', error_code = %s, error_description = %s, updated_at = now()
           WHERE id = %s AND status = 'processing' RETURNING *""",
        (code, description, refund_id),
    )


async def for_payment(cur: Cursor, payment_id: str) -> list[dict]:
    return await fetch_all(cur, "SELECT * FROM refunds WHERE payment_id = %s ORDER BY created_at, id", (payment_id,))


async def list_page(cur: Cursor, merchant_id: str, *, status=None, payment_id=None, metadata=None,
                    created_from=None, created_to=None, limit: int, offset: int | Anchor) -> tuple[list[dict], int]:
    filters = Filters(merchant_id).equal("status", status).equal("payment_id", payment_id)
    filters.contains("metadata", metadata)
    return await page(cur, "refunds", filters.created_between(created_from, created_to), limit, offset)


async def update_metadata(cur: Cursor, merchant_id: str, refund_id: str, changes: dict[str, str],
                          removed: list[str]) -> dict | None:
    return await set_metadata(cur, "refunds", "metadata", merchant_id, refund_id, changes, removed)


async def unfinished_before(cur: Cursor, seconds: float, limit: int = 500) -> list[str]:
    return await untouched_since(cur, "refunds", tuple(UNFINISHED["refund"]), seconds, limit)

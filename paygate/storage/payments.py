"""Payment rows."""

from __future__ import annotations

from ..db import Cursor, Statement
from . import Filters, fetch_all, fetch_one, page, untouched_since

_INSERT = Statement(
    """WITH o AS (UPDATE orders SET status = %(order_status)s, updated_at = now()
                 WHERE id = %(order_id)s AND %(order_status)s::text IS NOT NULL)
       INSERT INTO payments (id, order_id, merchant_id, amount, currency, method, capture_method, vpa, card_network,
                             card_last4, card_expiry_month, card_expiry_year, card_fingerprint, processor_token)
       VALUES (%(id)s, %(order_id)s, %(merchant_id)s, %(amount)s, %(currency)s, %(method)s, %(capture_method)s,
               %(vpa)s, %(card_network)s, %(card_last4)s, %(card_expiry_month)s, %(card_expiry_year)s,
               %(card_fingerprint)s, %(processor_token)s)
       RETURNING *""")
_INSTRUMENT = ("vpa", "card_network", "card_last4", "card_expiry_month", "card_expiry_year", "card_fingerprint")
_COLUMNS = {"id", "order_id", "merchant_id", "amount", "currency", "method", "capture_method", "processor_token",
            *_INSTRUMENT}


async def insert(cur: Cursor, payment: dict, *, order_status: str | None = None) -> dict:
    """The new payment; with ``order_status``, its order moves to that status in the same statement."""
    unknown = set(payment) - _COLUMNS
    if unknown:  # the statement is fixed: a new column must be added to it, not silently dropped
        raise ValueError(f"payments.insert has no column for {sorted(unknown)}")
    return await fetch_one(cur, _INSERT, {**dict.fromkeys(_INSTRUMENT), **payment, "order_status": order_status})


_GET = Statement("SELECT * FROM payments WHERE id = %s AND merchant_id = %s")
_GET_LOCKED = Statement("SELECT * FROM payments WHERE id = %s AND merchant_id = %s FOR UPDATE")


async def get(cur: Cursor, merchant_id: str, payment_id: str, *, lock: bool = False) -> dict | None:
    """The merchant's payment, or None (another merchant's payment is None too)."""
    return await fetch_one(cur, _GET_LOCKED if lock else _GET, (payment_id, merchant_id))


async def by_id(cur: Cursor, payment_id: str, *, lock: bool = False) -> dict | None:
    """For workers, which act for whichever merchant owns the payment."""
    return await fetch_one(cur, "SELECT * FROM payments WHERE id = %s" + (" FOR UPDATE" if lock else ""),
                           (payment_id,))


# The row is found by its key and its status checked once locked. Written as "id = %s AND status = 'pending'",
# the planner may scan payments_unfinished (whose predicate that implies) instead: cheap while statistics say
# few payments are pending, a scan of the whole backlog per payment once thousands are (seen in make bench,
# ~1 500 index entries read per payment processed).
_START_PROCESSING = Statement(
    """WITH p AS (SELECT id, status FROM payments WHERE id = %s FOR UPDATE)
       UPDATE payments SET status = 'processing', updated_at = now()
       FROM p WHERE payments.id = p.id AND p.status = 'pending' RETURNING payments.*""")


async def start_processing(cur: Cursor, payment_id: str) -> dict | None:
    """pending -> processing in one statement; None if the payment is not pending (or does not exist)."""
    return await fetch_one(cur, _START_PROCESSING, (payment_id,))


_WITH_ORDER_LOCKED = Statement(
    """SELECT p.*, o.status AS order_status FROM payments p JOIN orders o ON o.id = p.order_id
       WHERE p.id = %s FOR UPDATE OF p, o""")


async def with_order_locked(cur: Cursor, payment_id: str) -> dict | None:
    """The payment and its order's status (as ``order_status``), both rows locked, payment first."""
    return await fetch_one(cur, _WITH_ORDER_LOCKED, (payment_id,))


_RECORD_SUCCESS = Statement(
    """WITH o AS (UPDATE orders SET status = %(order_status)s, updated_at = now() WHERE id = %(order_id)s)
       UPDATE payments SET status = 'success', updated_at = now(),
              captured = %(capture)s,
              amount_captured = CASE WHEN %(capture)s THEN amount ELSE 0 END,
              captured_at = CASE WHEN %(capture)s THEN now() END
       WHERE id = %(id)s RETURNING *""")


async def record_success(cur: Cursor, payment_id: str, *, capture: bool, order_id: str,
                         order_status: str) -> dict:
    """Authorized; captured in full at once when ``capture``; its order set to ``order_status`` alongside."""
    return await fetch_one(cur, _RECORD_SUCCESS,
                           {"id": payment_id, "capture": capture, "order_id": order_id, "order_status": order_status})


_RECORD_FAILURE = Statement(
    """UPDATE payments SET status = 'failed', error_code = %s, error_description = %s, updated_at = now()
       WHERE id = %s RETURNING *""")


async def record_failure(cur: Cursor, payment_id: str, code: str, description: str) -> dict:
    return await fetch_one(cur, _RECORD_FAILURE, (code, description, payment_id))


async def capture(cur: Cursor, payment_id: str, amount: int) -> dict:
    """Capture ``amount``; whatever is left of the authorization is released."""
    return await fetch_one(
        cur,
        """UPDATE payments SET captured = true, amount_captured = %(amount)s, captured_at = now(),
                  released_at = CASE WHEN %(amount)s < amount THEN now() END, updated_at = now()
           WHERE id = %(id)s RETURNING *""",
        {"id": payment_id, "amount": amount},
    )


async def for_order(cur: Cursor, order_id: str) -> list[dict]:
    return await fetch_all(cur, "SELECT * FROM payments WHERE order_id = %s ORDER BY created_at, id", (order_id,))


async def list_page(cur: Cursor, merchant_id: str, *, status=None, method=None, order_id=None,
                    created_from=None, created_to=None, limit: int, offset: int) -> tuple[list[dict], int]:
    filters = Filters(merchant_id).equal("status", status).equal("method", method).equal("order_id", order_id)
    return await page(cur, "payments", filters.created_between(created_from, created_to), limit, offset)


async def unfinished_before(cur: Cursor, seconds: float, limit: int = 500) -> list[str]:
    return await untouched_since(cur, "payments", ("pending", "processing"), seconds, limit)


async def release_expired_authorizations(cur: Cursor, seconds: float, limit: int = 500) -> list[dict]:
    """Mark uncaptured authorizations older than ``seconds`` released; return the rows changed."""
    return await fetch_all(
        cur,
        """UPDATE payments SET released_at = now(), updated_at = now()
           WHERE id IN (SELECT id FROM payments
                        WHERE status = 'success' AND NOT captured AND released_at IS NULL
                          AND created_at < now() - make_interval(secs => %s)
                        ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED)
           RETURNING *""",
        (seconds, limit),
    )

"""Payment rows."""

from __future__ import annotations

import json

from ..core.states import IN_FLIGHT, UNFINISHED
from . import Anchor, Filters, fetch_all, fetch_one, page, set_metadata, untouched_since
from . import take_over as _take_over
from .db import Cursor, Statement, as_columns

# Any number of payments, each with its order's new status (NULL: unchanged) in the same statement.
_INSERT_MANY = Statement(
    """WITH r AS (SELECT * FROM unnest(%(id)s::text[], %(order_id)s::text[], %(merchant_id)s::text[],
                                      %(amount)s::bigint[], %(currency)s::text[], %(method)s::text[],
                                      %(capture_method)s::text[], %(vpa)s::text[], %(card_network)s::text[],
                                      %(card_last4)s::text[], %(card_expiry_month)s::smallint[],
                                      %(card_expiry_year)s::smallint[], %(card_fingerprint)s::text[],
                                      %(processor_token)s::text[], %(metadata)s::text[],
                                      %(order_status)s::text[])
                AS r(id, order_id, merchant_id, amount, currency, method, capture_method, vpa, card_network,
                     card_last4, card_expiry_month, card_expiry_year, card_fingerprint, processor_token, metadata,
                     order_status)),
            o AS (UPDATE orders SET status = r.order_status, updated_at = now()
                  FROM r WHERE orders.id = r.order_id AND r.order_status IS NOT NULL)
       INSERT INTO payments (id, order_id, merchant_id, amount, currency, method, capture_method, vpa, card_network,
                             card_last4, card_expiry_month, card_expiry_year, card_fingerprint, processor_token,
                             metadata)
       SELECT id, order_id, merchant_id, amount, currency, method, capture_method, vpa, card_network, card_last4,
              card_expiry_month, card_expiry_year, card_fingerprint, processor_token, metadata::jsonb FROM r
       RETURNING *""")
_INSTRUMENT = ("vpa", "card_network", "card_last4", "card_expiry_month", "card_expiry_year", "card_fingerprint")
_COLUMNS = ("id", "order_id", "merchant_id", "amount", "currency", "method", "capture_method", "processor_token",
            "metadata", *_INSTRUMENT)


async def insert_many(cur: Cursor, rows: list[dict]) -> list[dict]:
    """The new payments, in the order given; a row's ``order_status`` (if any) is its order's new status."""
    for payment in rows:
        unknown = set(payment) - {*_COLUMNS, "order_status"}
        if unknown:  # the statement is fixed: a new column must be added to it, not silently dropped
            raise ValueError(f"payments.insert_many has no column for {sorted(unknown)}")
    full = [{**dict.fromkeys(_INSTRUMENT), "order_status": None, **payment,
             "metadata": json.dumps(payment.get("metadata") or {})} for payment in rows]
    columns = as_columns(full, (*_COLUMNS, "order_status"))
    inserted = {row["id"]: row for row in await fetch_all(cur, _INSERT_MANY, columns)}
    return [inserted[payment["id"]] for payment in rows]


_GET = Statement("SELECT * FROM payments WHERE id = %s AND merchant_id = %s")
_GET_LOCKED = Statement("SELECT * FROM payments WHERE id = %s AND merchant_id = %s FOR UPDATE")


async def get(cur: Cursor, merchant_id: str, payment_id: str, *, lock: bool = False) -> dict | None:
    """The merchant's payment, or None (another merchant's payment is None too)."""
    return await fetch_one(cur, _GET_LOCKED if lock else _GET, (payment_id, merchant_id))


async def by_id(cur: Cursor, payment_id: str) -> dict | None:
    """For workers, which act for whichever merchant owns the payment."""
    return await fetch_one(cur, "SELECT * FROM payments WHERE id = %s", (payment_id,))


# Rows are found by their keys and their status checked once locked. Written as "id = %s AND status = 'pending'",
# the planner may scan payments_unfinished (whose predicate that implies) instead: cheap while statistics say
# few payments are pending, a scan of the whole backlog per payment once thousands are (seen in make bench,
# ~1 500 index entries read per payment processed).
# The orders are claimed in the same statement: a payment goes to the processor only while no other payment of
# its order is there (the claim is re-checked on the order's newest row, as UPDATE does after waiting for a lock;
# of two pending payments of one order in one batch, one gets the claim).
_START_PROCESSING = Statement(
    """WITH p AS (SELECT id, order_id, status FROM payments WHERE id = ANY(%(ids)s) ORDER BY id FOR UPDATE),
            o AS (UPDATE orders SET processing_payment_id = p.id FROM p
                  WHERE orders.id = p.order_id AND p.status = 'pending'
                    AND (orders.processing_payment_id IS NULL OR orders.processing_payment_id = p.id)
                  RETURNING orders.id, orders.status, orders.processing_payment_id)
       UPDATE payments SET status = 'processing', updated_at = now()
       FROM p JOIN o ON o.id = p.order_id AND o.processing_payment_id = p.id WHERE payments.id = p.id
       RETURNING payments.*, o.status AS order_status""")


async def start_processing_many(cur: Cursor, payment_ids: list[str]) -> list[dict]:
    """pending -> processing for each payment whose order's claim it gets, in one statement; the rows with their
    orders' status (as ``order_status``). Left out: payments not pending, and those whose order has another
    payment at the processor."""
    return await fetch_all(cur, _START_PROCESSING, {"ids": payment_ids})


async def start_processing(cur: Cursor, payment_id: str) -> dict | None:
    """``start_processing_many`` for one payment; None when it was left out."""
    rows = await start_processing_many(cur, [payment_id])
    return rows[0] if rows else None


async def take_over(cur: Cursor, payment_id: str, stale_after: float) -> dict | None:
    """The payment, if a processor call of it has been in flight for ``stale_after`` seconds (storage.take_over)."""
    return await _take_over(cur, "payments", payment_id, tuple(IN_FLIGHT["payment"]), stale_after)


# The order's pending payments, which waited while this one was at the processor (as ``waiting``).
_WAITING = """ARRAY(SELECT s.id FROM payments s WHERE s.order_id = p.order_id AND s.status = 'pending') AS waiting"""
# Every outcome of a batch in one statement, guarded by the status: a second worker's record of one changes nothing.
# Approved: success, captured in full when automatic (a sale), the order paid. Declined: failed with its code. The
# order's claim is given up either way.
_RECORD_OUTCOMES = Statement(
    """WITH r AS (SELECT * FROM unnest(%(ids)s::text[], %(approved)s::boolean[], %(codes)s::text[],
                                      %(descriptions)s::text[]) AS r(id, approved, code, description)),
            p AS (UPDATE payments SET status = CASE WHEN r.approved THEN 'success' ELSE 'failed' END,
                         captured = r.approved AND capture_method = 'automatic',
                         amount_captured = CASE WHEN r.approved AND capture_method = 'automatic' THEN amount ELSE 0 END,
                         captured_at = CASE WHEN r.approved AND capture_method = 'automatic' THEN now() END,
                         error_code = r.code, error_description = r.description, updated_at = now()
                  FROM r WHERE payments.id = r.id AND payments.status = 'processing' RETURNING payments.*),
            before AS (SELECT orders.id, orders.status FROM orders JOIN p ON orders.id = p.order_id
                       FOR UPDATE OF orders),
            o AS (UPDATE orders SET status = CASE WHEN p.status = 'success' THEN 'paid' ELSE orders.status END,
                         processing_payment_id = NULL,
                         updated_at = CASE WHEN p.status = 'success' THEN now() ELSE orders.updated_at END
                  FROM p WHERE orders.id = p.order_id
                    AND (p.status = 'success' OR orders.processing_payment_id = p.id))
       SELECT p.*, before.status AS order_status, """ + _WAITING + " FROM p JOIN before ON before.id = p.order_id")


async def record_outcomes(cur: Cursor, outcomes: list[tuple[str, bool, str | None, str | None]]) -> list[dict]:
    """(payment id, approved, error code, error description) of payments in processing, recorded; the rows, with
    their orders' status before (``order_status``) and the orders' ``waiting`` payments. A payment whose outcome
    was recorded already is left out."""
    ids, approved, codes, descriptions = (list(column) for column in zip(*outcomes, strict=True))
    return await fetch_all(cur, _RECORD_OUTCOMES, {"ids": ids, "approved": approved, "codes": codes,
                                                   "descriptions": descriptions})


async def begin_capture(cur: Cursor, payment_id: str, amount: int) -> dict:
    """The capture's intent, committed before the processor is asked: capture_pending, a new attempt number."""
    return await fetch_one(
        cur,
        """UPDATE payments SET status = 'capture_pending', capture_pending_amount = %s,
                  processor_attempt = processor_attempt + 1, updated_at = now()
           WHERE id = %s RETURNING *""",
        (amount, payment_id))


async def record_capture(cur: Cursor, payment_id: str, attempt: int, approved: bool) -> dict | None:
    """The capture's outcome: captured (whatever is left of the authorization released), or back to authorized.
    None when the attempt was recorded already (or is not this one)."""
    return await fetch_one(
        cur,
        """UPDATE payments SET status = 'success', capture_pending_amount = NULL, updated_at = now(),
                  captured = %(approved)s,
                  amount_captured = CASE WHEN %(approved)s THEN capture_pending_amount ELSE 0 END,
                  captured_at = CASE WHEN %(approved)s THEN now() END,
                  released_at = CASE WHEN %(approved)s AND capture_pending_amount < amount THEN now() END
           WHERE id = %(id)s AND status = 'capture_pending' AND processor_attempt = %(attempt)s RETURNING *""",
        {"id": payment_id, "attempt": attempt, "approved": approved})


async def begin_void(cur: Cursor, payment_id: str, reason: str) -> dict:
    """The void's intent, committed before the processor is asked: void_pending, a new attempt number."""
    return await fetch_one(
        cur,
        """UPDATE payments SET status = 'void_pending', void_reason = %s,
                  processor_attempt = processor_attempt + 1, updated_at = now()
           WHERE id = %s RETURNING *""",
        (reason, payment_id))


async def begin_expiry_voids(cur: Cursor, seconds: float, retry_after: float, limit: int = 500) -> list[dict]:
    """``begin_void`` for uncaptured authorizations older than ``seconds``, skipping those a request holds now, and
    for ``retry_after`` seconds those whose last capture or void the processor refused."""
    return await fetch_all(
        cur,
        """UPDATE payments SET status = 'void_pending', void_reason = 'expired',
                  processor_attempt = processor_attempt + 1, updated_at = now()
           WHERE id IN (SELECT id FROM payments
                        WHERE status = 'success' AND NOT captured AND released_at IS NULL
                          AND created_at < now() - make_interval(secs => %s)
                          AND (processor_attempt = 0 OR updated_at < now() - make_interval(secs => %s))
                        ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED)
           RETURNING *""",
        (seconds, retry_after, limit),
    )


# Voided, and its order back to attempted unless another of its payments holds it (none can while the order's
# claim lets one payment at a time reach the processor; the check keeps the order honest regardless).
_RECORD_VOID = Statement(
    """WITH p AS (UPDATE payments SET status = 'voided', released_at = now(), updated_at = now()
                  WHERE id = %(id)s AND status = 'void_pending' AND processor_attempt = %(attempt)s RETURNING *),
            o AS (UPDATE orders SET status = 'attempted', updated_at = now() FROM p
                  WHERE orders.id = p.order_id AND orders.status = 'paid'
                    AND NOT EXISTS (SELECT 1 FROM payments s WHERE s.order_id = p.order_id AND s.id <> p.id
                                    AND s.status IN ('success', 'capture_pending', 'void_pending')))
       SELECT * FROM p""")
_VOID_DECLINED = Statement(
    """UPDATE payments SET status = 'success', void_reason = NULL, updated_at = now()
       WHERE id = %(id)s AND status = 'void_pending' AND processor_attempt = %(attempt)s RETURNING *""")


async def record_void(cur: Cursor, payment_id: str, attempt: int, approved: bool) -> dict | None:
    """The void's outcome: voided (the authorization released), or back to authorized. None when the attempt was
    recorded already (or is not this one)."""
    return await fetch_one(cur, _RECORD_VOID if approved else _VOID_DECLINED, {"id": payment_id, "attempt": attempt})


async def for_order(cur: Cursor, order_id: str) -> list[dict]:
    return await fetch_all(cur, "SELECT * FROM payments WHERE order_id = %s ORDER BY created_at, id", (order_id,))


async def list_page(cur: Cursor, merchant_id: str, *, status=None, method=None, order_id=None, metadata=None,
                    created_from=None, created_to=None, limit: int, offset: int | Anchor) -> tuple[list[dict], int]:
    filters = Filters(merchant_id).equal("status", status).equal("method", method).equal("order_id", order_id)
    filters.contains("metadata", metadata)
    return await page(cur, "payments", filters.created_between(created_from, created_to), limit, offset)


async def update_metadata(cur: Cursor, merchant_id: str, payment_id: str, changes: dict[str, str],
                          removed: list[str]) -> dict | None:
    return await set_metadata(cur, "payments", "metadata", merchant_id, payment_id, changes, removed)


async def unfinished_before(cur: Cursor, seconds: float, limit: int = 500) -> list[str]:
    return await untouched_since(cur, "payments", tuple(UNFINISHED["payment"]), seconds, limit)

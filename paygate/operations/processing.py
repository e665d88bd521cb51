"""What workers do: take a payment through the processor to its final state, exactly once."""

from __future__ import annotations

import logging

from .. import metrics, states, views
from ..db import cursor, transaction
from ..processors import Outcome
from ..services import Services
from ..storage import events, payments, refunds

log = logging.getLogger("paygate.processing")

ORDER_PAID = Outcome.decline("ORDER_ALREADY_PAID", "another payment already paid this order")


async def process_payment(services: Services, payment_id: str) -> str:
    """Authorize a pending payment and record the outcome with its events; return the final status.

    A payment already final is left alone, so a duplicate or replayed job does nothing.
    One left in ``processing`` by a crashed worker is asked about again: processors
    answer the same payment id with the same outcome.
    """
    states.transition("payment", "pending", "processing")
    async with cursor(services.pool) as cur:
        # The usual case in one statement; the UPDATE waits for any row lock and re-checks the status.
        row = await payments.start_processing(cur, payment_id)
        if row is None:
            row = await payments.by_id(cur, payment_id)
            if row is None:
                log.warning("job for unknown payment %s ignored", payment_id)
                return "unknown"
            if states.is_final("payment", row["status"]):
                return row["status"]
            # processing: left so by a worker that stopped; ask the processor again.

    # The processor is called outside any transaction: no row lock is held while it thinks.
    outcome = await services.processor.authorize(row["id"], row["processor_token"], row["amount"], row["currency"])

    async with transaction(services.pool) as cur:
        row = await payments.with_order_locked(cur, payment_id)
        if row["status"] != "processing":
            return row["status"]  # another worker recorded the outcome first
        order_status = row["order_status"]
        if outcome.approved and order_status == "paid":
            # Two payments raced for one order; the later authorization is given back.
            outcome = ORDER_PAID
        if outcome.approved:
            states.transition("payment", "processing", "success")
            capture = row["capture_method"] == "automatic"
            row = await payments.record_success(cur, payment_id, capture=capture, order_id=row["order_id"],
                                                order_status=states.transition("order", order_status, "paid"))
            payment = views.payment(row)
            events.record_later(cur, row["merchant_id"], "payment.success", payment_id, {"payment": payment})
            if capture:
                events.record_later(cur, row["merchant_id"], "payment.captured", payment_id, {"payment": payment})
        else:
            states.transition("payment", "processing", "failed")
            row = await payments.record_failure(cur, payment_id, outcome.error_code, outcome.error_description)
            payment = views.payment(row)
            events.record_later(cur, row["merchant_id"], "payment.failed", payment_id, {"payment": payment})
    metrics.PAYMENTS.labels(row["status"]).inc()  # counted once: only the worker that recorded the outcome gets here
    return row["status"]


async def process_refund(services: Services, refund_id: str) -> str:
    """Ask the processor to pay a pending refund back; record processed, or failed with the amount given back."""
    async with cursor(services.pool) as cur:
        refund = await refunds.by_id(cur, refund_id)
        if refund is None or states.is_final("refund", refund["status"]):
            return refund["status"] if refund else "unknown"
        payment = await payments.by_id(cur, refund["payment_id"])

    outcome = await services.processor.refund(refund["id"], payment["processor_token"], refund["amount"],
                                              refund["currency"])

    async with transaction(services.pool) as cur:
        refund = await refunds.by_id(cur, refund_id, lock=True)
        if states.is_final("refund", refund["status"]):
            return refund["status"]
        if outcome.approved:
            states.transition("refund", "pending", "processed")
            refund = await refunds.record_processed(cur, refund_id)
            payment = await payments.by_id(cur, refund["payment_id"], lock=True)
            event = "refund.processed"
        else:
            states.transition("refund", "pending", "failed")
            refund = await refunds.record_failure(cur, refund_id, outcome.error_code, outcome.error_description)
            payment = await refunds.give_back(cur, refund["payment_id"], refund["amount"])
            event = "refund.failed"
        events.record_later(cur, refund["merchant_id"], event, refund_id,
                            {"refund": views.refund(refund), "payment": views.payment(payment)})
    metrics.REFUNDS.labels(refund["status"]).inc()  # counted once: only the worker that recorded the outcome gets here
    return refund["status"]


async def release_expired_authorizations(services: Services) -> int:
    """Give back authorizations left uncaptured past the window; one payment.released event each."""
    window = services.config.payments.authorization_window
    async with transaction(services.pool) as cur:
        released = await payments.release_expired_authorizations(cur, window)
        for row in released:
            payment = views.payment(row)
            events.record_later(cur, row["merchant_id"], "payment.released", row["id"], {"payment": payment})
    return len(released)

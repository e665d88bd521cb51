"""Every money movement at the processor, in phases, exactly once: authorizations (and sales), captures, voids and
refunds.

Each call runs the same way (Hyperswitch's operation phases):

1. the intent is committed in one short transaction: the payment ``processing`` (its order claimed, so no other
   payment of the order reaches the processor meanwhile), ``capture_pending`` or ``void_pending`` with a new
   attempt number, the refund ``processing``;
2. the processor is called outside any transaction, within ``processor.timeout``, with an idempotency reference
   derived from the object and its attempt (``pay_…``, ``pay_…/capture/1``, ``pay_…/void/2``, ``rfnd_…``);
3. the outcome is committed with its events, guarded by the intent's state and attempt, so it is recorded once.

A call with no answer (a timeout, a transport error, a worker that stopped) leaves its intent in place. A worker
given the object once the intent has stood ``worker.claim_after`` seconds takes it over: the scheduler enqueues
it again after ``payments.stuck_after``, and a stream entry of a worker that died is claimed after
``worker.claim_after``. The worker that takes it over asks the processor what became of the reference (``fetch``)
and records that. Only a call the processor
never received is made again, with the same reference. Nothing is guessed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ...infra import metrics
from ...infra.broker import RedisUnavailable
from ...infra.queue import PAYMENTS
from ...storage import events, payments, refunds
from ...storage.db import cursor, transaction
from .. import models, states
from ..idempotency import Receipt
from ..processors import Outcome
from ..services import Services

log = logging.getLogger("paygate.processing")

ORDER_PAID = Outcome.decline("ORDER_ALREADY_PAID", "another payment already paid this order")
EXPIRY_CALLS = 50  # voids of expired authorizations one scheduler pass has at the processor at once


def capture_reference(row: dict) -> str:
    return f"{row['id']}/capture/{row['processor_attempt']}"


def void_reference(row: dict) -> str:
    return f"{row['id']}/void/{row['processor_attempt']}"


@dataclass
class Settled:
    """A capture's or void's outcome, and the payment as it stands after it."""

    outcome: Outcome
    row: dict
    receipt_recorded: bool = False


# -- the processor call, and its settlement after a crash ---------------------------------------------------------

async def _ask(services: Services, operation: str, call: Callable[[], Awaitable[Outcome | None]]) -> Outcome | None:
    """One processor call within ``processor.timeout``; no answer (a timeout, any transport error) is unknown."""
    try:
        async with asyncio.timeout(services.config.processor.timeout):
            outcome = await call()
    except TimeoutError:
        outcome = Outcome.lost("the processor did not answer in time")
    except Exception as exc:  # whatever an adapter raises, the call's outcome is not known
        reason = " ".join(str(exc).split()) or type(exc).__name__
        outcome = Outcome.lost(f"the processor could not be reached: {reason}")
    metrics.PROCESSOR_CALLS.labels(operation, outcome.status if outcome else "not_found").inc()
    return outcome


async def _call(services: Services, operation: str, reference: str, call: Callable[[], Awaitable[Outcome]], *,
                resume: bool) -> Outcome:
    """Make the call. ``resume``: the call may have been made before (its worker stopped, its answer was lost), so
    the processor is asked what became of it first, and the call is made again only if it never arrived."""
    outcome = await _ask(services, "fetch", lambda: services.processor.fetch(reference)) if resume else None
    if outcome is None:
        outcome = await _ask(services, operation, call)
    if outcome.unknown:
        log.info("%s: no answer from the processor (%s); it is asked again after payments.stuck_after", reference,
                 outcome.error_description)
    return outcome


@dataclass
class _Turn:
    """What a job found: the object to take on, or only its status when there is nothing to do."""

    status: str
    row: dict | None = None
    resume: bool = False  # the row's call was in flight (and overdue) rather than begun here


async def _take_turn(services: Services, kind: str, store, object_id: str, take_over_after: float | None) -> _Turn:
    """Commit the intent of a pending payment or refund (``store.start_processing``), or take over one whose call
    has been in flight for ``take_over_after`` seconds (by default ``worker.claim_after``: its worker died, or its
    answer was lost; 0 for an entry claimed from a worker that went silent). A duplicate entry, or one
    for a call another worker is making now, finds nothing to do."""
    async with cursor(services.pool) as cur:
        row = await store.start_processing(cur, object_id)
        if row is not None:
            return _Turn(row["status"], row)
        row = await store.by_id(cur, object_id)
        if row is None:
            log.warning("job for unknown %s %s ignored", kind, object_id)
            return _Turn("unknown")
        if row["status"] in states.IN_FLIGHT[kind]:
            stale = services.config.worker.claim_after if take_over_after is None else take_over_after
            taken = await store.take_over(cur, object_id, stale)
            if taken is not None:
                return _Turn(taken["status"], taken, resume=True)
        return _Turn(row["status"])


# -- payments -----------------------------------------------------------------------------------------------------

async def process_payments(services: Services, payment_ids: list[str], *,
                           take_over_after: float | None = None) -> dict[str, str]:
    """A batch of payments, each taken a step on (see ``process_payment``); their statuses after, by id.

    The batch moves through each phase together: one statement starts those that are pending, their processor
    calls are made at once, and one statement records the outcomes (with their events, in one transaction). The
    others (duplicates, takeovers, a payment waiting for its order) go one by one."""
    async with cursor(services.pool) as cur:
        started = await payments.start_processing_many(cur, payment_ids)
    statuses = await _authorize(services, started, resume=False)
    others = [i for i in payment_ids if i not in statuses]
    for payment_id, status in zip(others, await asyncio.gather(*(
            process_payment(services, i, take_over_after=take_over_after) for i in others)), strict=True):
        statuses[payment_id] = status
    return statuses


async def process_payment(services: Services, payment_id: str, *, take_over_after: float | None = None) -> str:
    """Take a payment a step on and return its status: authorize a pending one (a sale when its capture is
    automatic), or settle a capture, void or authorization whose call was cut short.

    A pending payment whose order has another payment at the processor waits: recording that one's outcome
    enqueues it again.
    """
    turn = await _take_turn(services, "payment", payments, payment_id, take_over_after)
    if turn.row is None:
        return turn.status
    if turn.status == "capture_pending":
        return (await capture(services, turn.row, resume=True)).row["status"]
    if turn.status == "void_pending":
        return (await void(services, turn.row, resume=True)).row["status"]
    return (await _authorize(services, [turn.row], resume=turn.resume))[payment_id]


async def _authorize(services: Services, rows: list[dict], *, resume: bool) -> dict[str, str]:
    """Authorize payments in processing, at once, and record the outcomes together; their statuses by id (one
    whose answer was lost stays processing)."""
    outcomes = await asyncio.gather(*(_authorization(services, row, resume=resume) for row in rows))
    decided = [(row["id"], o.approved, o.error_code, o.error_description)
               for row, o in zip(rows, outcomes, strict=True) if not o.unknown]
    statuses = {row["id"]: "processing" for row in rows}
    if not decided:
        return statuses
    async with transaction(services.pool) as cur:
        recorded = await payments.record_outcomes(cur, decided)
        for row in recorded:
            states.transition("payment", "processing", row["status"])
            payment = models.Payment.view(row)
            if row["status"] == "success":
                states.transition("order", row["order_status"], "paid")  # raises, and rolls back, on a paid order
                events.record_later(cur, row["merchant_id"], "payment.success", row["id"], {"payment": payment})
                if row["captured"]:
                    events.record_later(cur, row["merchant_id"], "payment.captured", row["id"], {"payment": payment})
            else:
                events.record_later(cur, row["merchant_id"], "payment.failed", row["id"], {"payment": payment})
        missing = {payment_id for payment_id, *_ in decided} - {row["id"] for row in recorded}
        for payment_id in missing:  # recorded first by another worker
            statuses[payment_id] = (await payments.by_id(cur, payment_id))["status"]
    for row in recorded:
        statuses[row["id"]] = row["status"]
        metrics.PAYMENTS.labels(row["status"]).inc()  # counted once: only the worker that recorded it gets here
    await _requeue(services, [waiting for row in recorded for waiting in row["waiting"]])
    return statuses


async def _authorization(services: Services, row: dict, *, resume: bool) -> Outcome:
    payment_id = row["id"]
    if not resume and row["order_status"] == "paid":
        return ORDER_PAID  # paid by another payment before this one's turn: the processor is not asked
    capture_now = row["capture_method"] == "automatic"  # a sale: authorized and captured in one call

    def authorize() -> Awaitable[Outcome]:
        return services.processor.authorize(payment_id, row["processor_token"], row["amount"], row["currency"],
                                            capture=capture_now)

    return await _call(services, "sale" if capture_now else "authorize", payment_id, authorize, resume=resume)


async def _requeue(services: Services, payment_ids: list[str]) -> None:
    """Enqueue the payments that waited for their order's turn; the scheduler finds any this misses."""
    try:
        for payment_id in payment_ids:
            await services.dispatcher.requeue(PAYMENTS, payment_id)
    except RedisUnavailable:
        pass


async def capture(services: Services, row: dict, *, resume: bool, receipt: Receipt | None = None) -> Settled:
    """Call and record a capture whose intent (``capture_pending``) is committed; ``receipt`` records the API's
    answer with the outcome, when this records it."""
    reference = capture_reference(row)

    def recorded(cur, outcome: Outcome, payment: dict) -> None:
        states.transition("payment", "capture_pending", "success")
        if outcome.approved:
            events.record_later(cur, row["merchant_id"], "payment.captured", row["id"], {"payment": payment})
        else:
            events.record_later(cur, row["merchant_id"], "payment.capture_failed", row["id"],
                                {"payment": payment, "error": _error(outcome)})

    return await _settle(services, row, "capture", reference, lambda: services.processor.capture(
        reference, row["id"], row["capture_pending_amount"], row["currency"]), payments.record_capture, recorded,
        resume=resume, receipt=receipt)


async def void(services: Services, row: dict, *, resume: bool, receipt: Receipt | None = None) -> Settled:
    """Call and record a void whose intent (``void_pending``) is committed: ``payment.voided`` when asked for,
    ``payment.released`` when the authorization's window ended."""
    reference = void_reference(row)

    def recorded(cur, outcome: Outcome, payment: dict) -> None:
        if outcome.approved:
            states.transition("payment", "void_pending", "voided")
            event = "payment.released" if row["void_reason"] == "expired" else "payment.voided"
            events.record_later(cur, row["merchant_id"], event, row["id"], {"payment": payment})
        else:
            states.transition("payment", "void_pending", "success")
            log.warning("the processor refused to void %s (%s: %s); it stays authorized", row["id"],
                        outcome.error_code, outcome.error_description)

    return await _settle(services, row, "void", reference, lambda: services.processor.void(reference, row["id"]),
                         payments.record_void, recorded, resume=resume, receipt=receipt)


async def _settle(services: Services, row: dict, operation: str, reference: str, call, record, recorded, *,
                  resume: bool, receipt: Receipt | None) -> Settled:
    """Phases 2 and 3 of a capture or void: the call, then its outcome recorded (``record``, guarded by the
    attempt) with what ``recorded(cur, outcome, payment)`` adds, and the API's answer when approved."""
    outcome = await _call(services, operation, reference, call, resume=resume)
    if outcome.unknown:
        return Settled(outcome, row)
    async with transaction(services.pool) as cur:
        row_after = await record(cur, row["id"], row["processor_attempt"], outcome.approved)
        if row_after is None:  # recorded already, by the worker that settled it
            return Settled(outcome, await payments.by_id(cur, row["id"]))
        payment = models.Payment.view(row_after)
        recorded(cur, outcome, payment)
        if outcome.approved and receipt is not None:
            await receipt.record(cur, payment)
    return Settled(outcome, row_after, receipt_recorded=receipt is not None and outcome.approved)


def _error(outcome: Outcome) -> dict:
    return {"code": outcome.error_code, "description": outcome.error_description}


async def release_expired_authorizations(services: Services) -> int:
    """Void at the processor the authorizations left uncaptured past the window; one payment.released each.

    A void the processor refused is tried again ``payments.stuck_after`` later; one whose answer was lost is
    settled like any other call in flight."""
    config = services.config
    async with transaction(services.pool) as cur:
        rows = await payments.begin_expiry_voids(cur, config.payments.authorization_window,
                                                 config.payments.stuck_after)
    released = 0
    for start in range(0, len(rows), EXPIRY_CALLS):
        settled = await asyncio.gather(*(void(services, row, resume=False) for row in rows[start:start + EXPIRY_CALLS]))
        released += sum(s.row["status"] == "voided" for s in settled)
    return released


# -- refunds ------------------------------------------------------------------------------------------------------

async def process_refund(services: Services, refund_id: str, *, take_over_after: float | None = None) -> str:
    """Ask the processor to pay a pending refund back, or settle one whose call was cut short; record processed,
    or failed with the amount given back to the payment's refundable headroom."""
    turn = await _take_turn(services, "refund", refunds, refund_id, take_over_after)
    refund = turn.row
    if refund is None:
        return turn.status
    outcome = await _call(services, "refund", refund_id, lambda: services.processor.refund(
        refund_id, refund["payment_id"], refund["amount"], refund["currency"]), resume=turn.resume)
    if outcome.unknown:
        return "processing"

    async with transaction(services.pool) as cur:
        if outcome.approved:
            recorded = await refunds.record_processed(cur, refund_id)
            payment = recorded and await payments.by_id(cur, refund["payment_id"])
            event = "refund.processed"
        else:
            recorded = await refunds.record_failure(cur, refund_id, outcome.error_code, outcome.error_description)
            payment = recorded and await refunds.give_back(cur, refund["payment_id"], refund["amount"])
            event = "refund.failed"
        if recorded is None:  # recorded already, by the worker that settled it
            return (await refunds.by_id(cur, refund_id))["status"]
        states.transition("refund", "processing", recorded["status"])
        events.record_later(cur, recorded["merchant_id"], event, refund_id,
                            {"refund": models.Refund.view(recorded), "payment": models.Payment.view(payment)})
    metrics.REFUNDS.labels(recorded["status"]).inc()  # counted once: only the worker that recorded it gets here
    return recorded["status"]

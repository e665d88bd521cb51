"""Creating payments (the worker processes them), and capturing or cancelling authorized ones."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ...infra.crypto import new_id
from ...infra.errors import BadRequest, Conflict, PaygateError, no_such
from ...infra.queue import PAYMENTS
from ...storage import events, merchants, orders, payments
from ...storage.db import DatabaseUnavailable, cursor, transaction
from .. import cards, metadata, models, states
from ..idempotency import Receipt
from ..schemas import CaptureRequest, MetadataUpdate, PaymentCreate
from ..services import Services
from ..states import IN_FLIGHT
from ..validation import check_amount, check_card, check_currency, check_vpa
from . import processing

# Create requests that arrive while others are being written go together: at most this many in one transaction,
# and at most CREATE_BATCHES transactions at once per process.
CREATE_BATCH = 100
CREATE_BATCHES = 2


def _instrument(services: Services, body: PaymentCreate) -> dict:
    """Validate the method's details and vault them with the processor; the columns to store."""
    if body.method == "card":
        if body.card is None:
            raise BadRequest("card is required when method is card", field="card")
        if body.vpa is not None:
            raise BadRequest("vpa is only for method upi", field="vpa")
        card = body.card
        network = check_card(card, services.today())
        number = cards.normalize_number(card.number)
        return {
            "card_network": network,
            "card_last4": cards.last4(number),
            "card_expiry_month": cards.parse_month(card.expiry_month),
            "card_expiry_year": cards.full_year(card.expiry_year),
            "card_fingerprint": services.box.fingerprint(number) if services.box else None,
            "processor_token": services.processor.tokenize_card(number).token,
        }
    if body.vpa is None:
        raise BadRequest("vpa is required when method is upi", field="vpa")
    if body.card is not None:
        raise BadRequest("card is only for method card", field="card")
    vpa = check_vpa(body.vpa)
    return {"vpa": vpa, "processor_token": services.processor.tokenize_vpa(vpa).token}


@dataclass
class _Create:
    """One create request, validated, waiting for its turn in a batch."""

    merchant: dict
    body: PaymentCreate
    instrument: dict
    receipt: Receipt


async def create_payment(services: Services, merchant: dict, body: PaymentCreate, receipt: Receipt) -> dict:
    """Validate, then insert the payment and its payment.created event; enqueue after commit (not waited for).

    Requests that arrive while others are being written go together in one transaction (``_create_many``)."""
    if body.amount is not None:
        check_amount(body.amount, "amount", services.config.api.max_amount)
    if body.currency is not None:
        check_currency(body.currency)
    instrument = _instrument(services, body)
    creates = services.batcher("payments.create", lambda batch: _create_many(services, batch),
                               size=CREATE_BATCH, concurrency=CREATE_BATCHES)
    payment = await creates.submit(_Create(merchant, body, instrument, receipt))
    services.dispatcher.enqueue_soon(PAYMENTS, payment["id"])
    return payment


async def _create_many(services: Services, batch: list[_Create]) -> list[dict | Exception]:
    """Each request's payment, or the error that refused it. A write that fails the batch's transaction (other
    than Postgres out of reach) is retried request by request, so that it fails only its own request."""
    try:
        return await _create_together(services, batch)
    except DatabaseUnavailable:
        raise
    except Exception:
        if len(batch) == 1:
            raise
    results: list[dict | Exception] = []
    for create in batch:
        try:
            results.extend(await _create_together(services, [create]))
        except Exception as exc:  # noqa: BLE001 - that request's own error
            results.append(exc)
    return results


async def _create_together(services: Services, batch: list[_Create]) -> list[dict | PaygateError]:
    """One transaction: the orders locked in one statement, the payments (and orders moved to attempted) inserted
    in another, their events and answers recorded with the commit."""
    results: list[dict | PaygateError | None] = [None] * len(batch)
    async with transaction(services.pool) as cur:
        found = await orders.lock_many(cur, [(c.merchant["id"], c.body.order_id) for c in batch])
        rows, accepted = [], []
        for i, create in enumerate(batch):
            order = found.get((create.merchant["id"], create.body.order_id))
            try:
                attempted = _payable(order, create.body)
            except PaygateError as exc:
                results[i] = exc
                continue
            if attempted:
                order["status"] = "attempted"  # a second payment of the order in this batch finds it so
            accepted.append(i)
            rows.append({
                "id": new_id("pay"),
                "order_id": order["id"],
                "merchant_id": create.merchant["id"],
                "amount": order["amount"],
                "currency": order["currency"],
                "method": create.body.method,
                "capture_method": order["capture_method"],
                "metadata": metadata.given(create.body.metadata),
                **create.instrument,
                "order_status": "attempted" if attempted else None,
            })
        for i, row in zip(accepted, await payments.insert_many(cur, rows) if rows else [], strict=True):
            create = batch[i]
            payment = models.Payment.view(row)
            events.record_later(cur, create.merchant["id"], "payment.created", row["id"], {"payment": payment})
            await create.receipt.record(cur, payment)
            results[i] = payment
    return results


def _payable(order: dict | None, body: PaymentCreate) -> bool:
    """Whether the order can take this payment (raises the reason when not); True when it moves to attempted."""
    if order is None:
        raise no_such("order", body.order_id, field="order_id")
    if order["status"] == "paid":
        raise BadRequest("this order is already paid", field="order_id", code="ORDER_ALREADY_PAID")
    if body.amount is not None and body.amount != order["amount"]:
        raise BadRequest(f"amount must equal the order's amount ({order['amount']})", field="amount")
    if body.currency is not None and body.currency != order["currency"].strip():
        raise BadRequest(f"currency must equal the order's currency ({order['currency']})", field="currency")
    if order["status"] != "created":
        return False
    states.transition("order", "created", "attempted")
    return True


async def payment_owner(services: Services, payment_id: str) -> dict:
    """The merchant a payment belongs to: operator commands act for whichever merchant that is."""
    async with cursor(services.pool) as cur:
        row = await payments.by_id(cur, payment_id)
        owner = row and await merchants.by_id(cur, row["merchant_id"])
    if not owner:
        raise no_such("payment", payment_id)
    return owner


async def get_payment(services: Services, merchant: dict, payment_id: str) -> dict:
    async with cursor(services.pool) as cur:
        row = await payments.get(cur, merchant["id"], payment_id)
    if row is None:
        raise no_such("payment", payment_id)
    return models.Payment.view(row)


async def update_payment(services: Services, merchant: dict, payment_id: str, body: MetadataUpdate,
                         receipt: Receipt) -> dict:
    """Change the payment's metadata, in whatever state it is."""
    return await metadata.update(services, merchant, "payment", payment_id, body.metadata, receipt,
                                 payments.update_metadata, "metadata", models.Payment.view)


def _not_in_flight(services: Services, row: dict) -> None:
    """A capture or void already at the processor is settled by paygate, not by a second request; it is settled
    within about ``payments.stuck_after`` when its answer was lost."""
    if row["status"] in IN_FLIGHT["payment"]:
        what = {"capture_pending": "a capture", "void_pending": "a cancellation"}.get(row["status"], "a payment")
        retry_after = str(math.ceil(services.config.payments.stuck_after))
        raise Conflict(f"{what} of this payment is in progress at the processor; its outcome follows as an event "
                       f"(or look the payment up)", code="PAYMENT_OPERATION_IN_PROGRESS",
                       headers={"Retry-After": retry_after})


def _released(row: dict) -> None:
    if row["status"] == "voided" and row["void_reason"] == "expired":
        raise BadRequest("this authorization has expired and was released", code="AUTHORIZATION_EXPIRED")
    if row["status"] == "voided":
        raise BadRequest("this payment was cancelled; its authorization was released", code="PAYMENT_CANCELLED")


def _capturable(row: dict, amount: int) -> None:
    """The rules of manual capture; each refusal names why."""
    _released(row)
    if row["capture_method"] != "manual":
        raise BadRequest("this payment was captured automatically; only manual-capture payments take a capture",
                         code="PAYMENT_NOT_CAPTURABLE")
    if row["status"] != "success":
        raise BadRequest(f"only an authorized (success) payment can be captured; this one is {row['status']}",
                         code="PAYMENT_NOT_CAPTURABLE")
    if row["captured"]:
        raise BadRequest("this payment is already captured", code="PAYMENT_ALREADY_CAPTURED")
    if amount > row["amount"]:
        raise BadRequest(f"amount must not exceed the authorized amount ({row['amount']})", field="amount",
                         code="INVALID_AMOUNT")


def _cancellable(row: dict) -> None:
    """Only an authorization that nothing was captured from can be cancelled (voided); each refusal names why."""
    _released(row)
    if row["captured"]:
        raise BadRequest("this payment is captured; refund it instead", code="PAYMENT_NOT_CANCELLABLE")
    if row["status"] != "success":
        raise BadRequest(f"only an authorized, uncaptured payment can be cancelled; this one is {row['status']}",
                         code="PAYMENT_NOT_CANCELLABLE")


async def _answer(services: Services, settled: processing.Settled, receipt: Receipt) -> dict:
    """The answer to a capture or cancel once the processor was asked: the payment as recorded; the processor's
    refusal as a 400; 202 and the payment still pending when no answer came (the outcome follows as an event)."""
    outcome = settled.outcome
    if not (outcome.approved or outcome.unknown):
        raise BadRequest(outcome.error_description, code=outcome.error_code)
    payment = models.Payment.view(settled.row)
    if not settled.receipt_recorded:
        if outcome.unknown:
            receipt.status = 202
        async with transaction(services.pool) as cur:
            await receipt.record(cur, payment)
    return payment


async def capture_payment(services: Services, merchant: dict, payment_id: str, body: CaptureRequest,
                          receipt: Receipt) -> dict:
    """Capture all or part of an authorization, once; the processor releases the remainder."""
    if body.amount is not None:
        check_amount(body.amount, "amount", services.config.api.max_amount)
    async with transaction(services.pool) as cur:
        row = await payments.get(cur, merchant["id"], payment_id, lock=True)
        if row is None:
            raise no_such("payment", payment_id)
        amount = row["amount"] if body.amount is None else body.amount
        _not_in_flight(services, row)
        _capturable(row, amount)
        row = await payments.begin_capture(cur, row["id"], amount)
    return await _answer(services, await processing.capture(services, row, resume=False, receipt=receipt), receipt)


async def cancel_payment(services: Services, merchant: dict, payment_id: str, receipt: Receipt) -> dict:
    """Void an uncaptured authorization at the processor, releasing the shopper's funds; its order goes back to
    attempted, so that it can be paid again."""
    async with transaction(services.pool) as cur:
        row = await payments.get(cur, merchant["id"], payment_id, lock=True)
        if row is None:
            raise no_such("payment", payment_id)
        _not_in_flight(services, row)
        _cancellable(row)
        row = await payments.begin_void(cur, row["id"], "requested")
    return await _answer(services, await processing.void(services, row, resume=False, receipt=receipt), receipt)

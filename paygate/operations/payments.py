"""Creating payments (the worker processes them) and capturing authorized ones."""

from __future__ import annotations

from .. import cards, states, views
from ..crypto import new_id
from ..db import cursor, transaction
from ..errors import BadRequest, no_such
from ..idempotency import Receipt
from ..queue import PAYMENTS
from ..schemas import CaptureRequest, PaymentCreate
from ..services import Services
from ..storage import events, orders, payments
from ..validation import check_amount, check_card, check_currency, check_vpa


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


async def create_payment(services: Services, merchant: dict, body: PaymentCreate, receipt: Receipt) -> dict:
    """Validate, then insert the payment and its payment.created event; enqueue after commit."""
    if body.amount is not None:
        check_amount(body.amount, "amount", services.config.api.max_amount)
    if body.currency is not None:
        check_currency(body.currency)
    instrument = _instrument(services, body)

    async with transaction(services.pool) as cur:
        order = await orders.get(cur, merchant["id"], body.order_id, lock=True)
        if order is None:
            raise no_such("order", body.order_id, field="order_id")
        if order["status"] == "paid":
            raise BadRequest("this order is already paid", field="order_id", code="ORDER_ALREADY_PAID")
        if body.amount is not None and body.amount != order["amount"]:
            raise BadRequest(f"amount must equal the order's amount ({order['amount']})", field="amount")
        if body.currency is not None and body.currency != order["currency"].strip():
            raise BadRequest(f"currency must equal the order's currency ({order['currency']})", field="currency")
        # The order moves to attempted in the statement that inserts the payment (one round trip less).
        attempted = states.transition("order", "created", "attempted") if order["status"] == "created" else None
        row = await payments.insert(cur, {
            "id": new_id("pay"),
            "order_id": order["id"],
            "merchant_id": merchant["id"],
            "amount": order["amount"],
            "currency": order["currency"],
            "method": body.method,
            "capture_method": order["capture_method"],
            **instrument,
        }, order_status=attempted)
        payment = views.payment(row)
        events.record_later(cur, merchant["id"], "payment.created", row["id"], {"payment": payment})
        await receipt.record(cur, payment)
    await services.dispatcher.enqueue(PAYMENTS, row["id"])
    return payment


async def get_payment(services: Services, merchant: dict, payment_id: str) -> dict:
    async with cursor(services.pool) as cur:
        row = await payments.get(cur, merchant["id"], payment_id)
    if row is None:
        raise no_such("payment", payment_id)
    return views.payment(row)


def _capturable(row: dict, amount: int) -> None:
    """The rules of manual capture; each refusal names why."""
    if row["capture_method"] != "manual":
        raise BadRequest("this payment was captured automatically; only manual-capture payments take a capture",
                         code="PAYMENT_NOT_CAPTURABLE")
    if row["status"] != "success":
        raise BadRequest(f"only an authorized (success) payment can be captured; this one is {row['status']}",
                         code="PAYMENT_NOT_CAPTURABLE")
    if row["captured"]:
        raise BadRequest("this payment is already captured", code="PAYMENT_ALREADY_CAPTURED")
    if row["released_at"] is not None:
        raise BadRequest("this authorization has expired and was released", code="AUTHORIZATION_EXPIRED")
    if amount > row["amount"]:
        raise BadRequest(f"amount must not exceed the authorized amount ({row['amount']})", field="amount",
                         code="INVALID_AMOUNT")


async def capture_payment(services: Services, merchant: dict, payment_id: str, body: CaptureRequest,
                          receipt: Receipt) -> dict:
    """Capture all or part of an authorization, once; the remainder is released."""
    if body.amount is not None:
        check_amount(body.amount, "amount", services.config.api.max_amount)
    async with transaction(services.pool) as cur:
        row = await payments.get(cur, merchant["id"], payment_id, lock=True)
        if row is None:
            raise no_such("payment", payment_id)
        amount = row["amount"] if body.amount is None else body.amount
        _capturable(row, amount)
        # Under the row lock, so that two captures cannot both reach the processor.
        outcome = await services.processor.capture(row["id"], row["processor_token"], amount, row["currency"])
        if not outcome.approved:
            raise BadRequest(outcome.error_description, code=outcome.error_code)
        row = await payments.capture(cur, row["id"], amount)
        payment = views.payment(row)
        events.record_later(cur, merchant["id"], "payment.captured", row["id"], {"payment": payment})
        await receipt.record(cur, payment)
    return payment

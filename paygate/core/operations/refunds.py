"""Refunds: reserved against the captured amount under the payment's row lock, processed by a worker."""

from __future__ import annotations

from ...infra.crypto import new_id
from ...infra.errors import BadRequest, no_such
from ...infra.queue import REFUNDS
from ...storage import events, payments, refunds
from ...storage.db import cursor, transaction
from .. import metadata, models
from ..idempotency import Receipt
from ..schemas import MetadataUpdate, RefundCreate
from ..services import Services
from ..validation import check_amount


def _refundable(payment: dict) -> int:
    """What is left to refund; refuses payments that have nothing captured (naming no field: the refusal is
    about the payment's state, and the request's only mention of the payment is the path)."""
    if payment["status"] != "success":
        raise BadRequest(f"only a successful, captured payment can be refunded; this one is {payment['status']}",
                         code="PAYMENT_NOT_REFUNDABLE")
    if not payment["captured"]:
        raise BadRequest("this payment is authorized but not captured; capture it first, or let the "
                         "authorization lapse", code="PAYMENT_NOT_REFUNDABLE")
    return payment["amount_captured"] - payment["amount_refunded"]


async def create_refund(services: Services, merchant: dict, payment_id: str, body: RefundCreate,
                        receipt: Receipt) -> dict:
    """Reserve the amount on the payment and insert the pending refund, atomically; enqueue after commit (not
    waited for)."""
    if body.amount is not None:
        check_amount(body.amount, "amount", services.config.api.max_amount)
    async with transaction(services.pool) as cur:
        # The row lock serialises refunds of one payment: no two can both see the same headroom.
        payment = await payments.get(cur, merchant["id"], payment_id, lock=True)
        if payment is None:
            raise no_such("payment", payment_id)  # field "id": the payment's id is the path's
        left = _refundable(payment)
        amount = left if body.amount is None else body.amount
        if left == 0:
            # Blames the amount only when one was sent: a full refund (no amount) of a spent payment is
            # about the payment's state.
            raise BadRequest("this payment is already fully refunded", code="REFUND_LIMIT_EXCEEDED",
                             field=None if body.amount is None else "amount")
        if amount > left:
            raise BadRequest(f"amount must not exceed what is left to refund ({left})", field="amount",
                             code="REFUND_LIMIT_EXCEEDED")
        payment = await refunds.reserve(cur, payment_id, amount)
        row = await refunds.insert(cur, {
            "id": new_id("rfnd"),
            "payment_id": payment_id,
            "merchant_id": merchant["id"],
            "amount": amount,
            "currency": payment["currency"],
            "reason": body.reason,
            "metadata": metadata.given(body.metadata),
        })
        refund = models.Refund.view(row)
        events.record_later(cur, merchant["id"], "refund.created", row["id"],
                            {"refund": refund, "payment": models.Payment.view(payment)})
        await receipt.record(cur, refund)
    services.dispatcher.enqueue_soon(REFUNDS, row["id"])
    return refund


async def update_refund(services: Services, merchant: dict, refund_id: str, body: MetadataUpdate,
                        receipt: Receipt) -> dict:
    """Change the refund's metadata."""
    return await metadata.update(services, merchant, "refund", refund_id, body.metadata, receipt,
                                 refunds.update_metadata, "metadata", models.Refund.view)


async def get_refund(services: Services, merchant: dict, refund_id: str) -> dict:
    async with cursor(services.pool) as cur:
        row = await refunds.get(cur, merchant["id"], refund_id)
    if row is None:
        raise no_such("refund", refund_id)
    return models.Refund.view(row)


async def payment_refunds(services: Services, merchant: dict, payment_id: str) -> list[dict]:
    async with cursor(services.pool) as cur:
        if await payments.get(cur, merchant["id"], payment_id) is None:
            raise no_such("payment", payment_id)
        return [models.Refund.view(r) for r in await refunds.for_payment(cur, payment_id)]

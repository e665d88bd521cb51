"""``paygate trigger``: create the real test objects that fire an event, processed on the spot."""

from __future__ import annotations

import asyncio
import time

from ..core.idempotency import Receipt
from ..core.operations.orders import create_order, get_order
from ..core.operations.payments import create_payment, get_payment
from ..core.operations.processing import process_payment, process_refund
from ..core.operations.refunds import create_refund, get_refund
from ..core.schemas import OrderCreate, PaymentCreate, RefundCreate
from ..core.services import Services
from ..core.states import UNFINISHED
from ..infra.errors import PaygateError
from ..storage import events, webhooks
from ..storage.db import cursor
from .endpoints import merchant_by_key

# The simulator's magic UPI ids decide the outcome, so a trigger never depends on the success rate.
PAYER = {
    "payment.success": "success@paygate",
    "payment.failed": "failure@paygate",
    "refund.processed": "success@paygate",
}
EVENTS = tuple(PAYER)
AMOUNT, CURRENCY = 50000, "INR"
NOTES = {"source": "paygate trigger"}
SETTLE_TIMEOUT = 15.0  # seconds to wait for a worker that took the payment (or refund) to the processor first


class TriggerFailed(PaygateError):
    """The objects were created but did not end in the state that fires the event."""

    status, code = 500, "TRIGGER_FAILED"


async def trigger(services: Services, event: str, api_key: str) -> dict:
    """Order → payment (→ full refund), each processed now; the ids created and the event's delivery."""
    merchant = await merchant_by_key(services, api_key)

    order = await create_order(services, merchant, OrderCreate(amount=AMOUNT, currency=CURRENCY, notes=NOTES),
                               Receipt(201))
    payment = await create_payment(services, merchant, PaymentCreate(
        order_id=order["id"], method="upi", vpa=PAYER[event]), Receipt(201))
    # Processed here, so no worker is needed; a worker that gets the entry too finds the payment final, or has it
    # at the processor already, and then this waits for its outcome.
    await process_payment(services, payment["id"])
    result = {"event": event, "order": await get_order(services, merchant, order["id"]),
              "payment": await _settled(lambda: get_payment(services, merchant, payment["id"]), "payment")}
    subject = result["payment"]
    if event == "refund.processed":
        _expect(subject, "success")
        refund = await create_refund(services, merchant, payment["id"], RefundCreate(reason="paygate trigger"),
                                     Receipt(201))
        await process_refund(services, refund["id"])
        result["refund"] = subject = await _settled(lambda: get_refund(services, merchant, refund["id"]), "refund")
    _expect(subject, event.split(".")[1])
    return {**result, **await _fired(services, merchant["id"], event, subject["id"])}


async def _settled(get, kind: str, timeout: float = SETTLE_TIMEOUT) -> dict:
    """The object once it is no longer at the processor (a worker may have taken it there first)."""
    deadline = time.monotonic() + timeout
    obj = await get()
    while obj["status"] in UNFINISHED[kind] and time.monotonic() < deadline:
        await asyncio.sleep(0.05)  # the outcome is another process's to record: nothing here to wait on
        obj = await get()
    return obj


def _expect(obj: dict, status: str) -> None:
    if obj["status"] != status:
        raise TriggerFailed(f"{obj['entity']} {obj['id']} ended {obj['status']}, not {status}"
                            + (f": {obj['error_description']}" if obj.get("error_description") else ""))


async def _fired(services: Services, merchant_id: str, event: str, object_id: str) -> dict:
    """The event row and its webhook delivery (None when the merchant has no webhook URL)."""
    async with cursor(services.pool) as cur:
        rows, _ = await events.list_page(cur, merchant_id, type=event, object_id=object_id, limit=1, offset=0)
        delivery = await webhooks.for_event(cur, rows[0]["id"]) if rows else None
    return {"event_id": rows[0]["id"] if rows else None, "delivery_id": delivery["id"] if delivery else None}

"""The public checkout: what the hosted page may do with the merchant's key alone."""

from __future__ import annotations

from ...infra.errors import NotFound
from ...storage import merchants, orders, payments
from ...storage.db import cursor
from ...verify import checkout_signature
from .. import currencies
from ..idempotency import Receipt
from ..processors import testcards
from ..schemas import CheckoutPaymentCreate, PaymentCreate
from ..services import Services
from . import payments as payment_ops


async def merchant_for_key(services: Services, key: str | None) -> dict:
    """The merchant owning this public key; any problem looks like a missing object, revealing nothing.

    A checkout payment's Idempotency-Key is claimed in this merchant's keys, as its private API's are.
    """
    if not key or not key.isprintable() or len(key) > 255:
        raise NotFound("no such order for this key", field="key")
    async with cursor(services.pool) as cur:
        merchant = await merchants.by_api_key(cur, key)
    if merchant is None or not merchant["is_active"]:
        raise NotFound("no such order for this key", field="key")
    return merchant


async def order_for_checkout(services: Services, key: str | None, order_id: str) -> dict:
    merchant = await merchant_for_key(services, key)
    async with cursor(services.pool) as cur:
        order = await orders.get(cur, merchant["id"], order_id)
    if order is None:
        raise NotFound("no such order for this key", field="order_id")
    currency = order["currency"].strip()
    answer = {
        "order": {
            "id": order["id"],
            "amount": order["amount"],
            "currency": currency,
            "amount_display": currencies.format_amount(order["amount"], currency),
            "status": order["status"],
        },
        "merchant": {"name": merchant["name"]},
        "payable": order["status"] != "paid",
    }
    # A test key pays the simulator, so the page may offer its magic inputs; a live key never sees them.
    if merchant["api_key"].startswith(testcards.TEST_KEY_PREFIX):
        answer["test_instruments"] = testcards.as_json()
    return answer


def _status(services: Services, merchant: dict, payment: dict) -> dict:
    """Status only: no card, no VPA, nothing personal."""
    shaped = {
        "id": payment["id"],
        "order_id": payment["order_id"],
        "status": payment["status"],
        "method": payment["method"],
        "error_code": payment["error_code"],
        "error_description": payment["error_description"],
        "signature": None,
    }
    if payment["status"] == "success" and services.box is not None:
        secret = services.box.open(merchant["api_secret_enc"])
        shaped["signature"] = checkout_signature(secret, payment["order_id"], payment["id"])
    return shaped


def _started(payment: dict) -> dict:
    """What the page learns of the payment it started: never the card, not even its last four digits."""
    return {"id": payment["id"], "order_id": payment["order_id"], "status": payment["status"],
            "method": payment["method"]}


async def pay(services: Services, merchant: dict, body: CheckoutPaymentCreate, receipt: Receipt) -> dict:
    """Create the payment; the receipt records (for a replay) the checkout's answer, not the full payment."""
    request = PaymentCreate(**body.model_dump(exclude={"key", "amount", "currency"}, exclude_none=True))
    return _started(await payment_ops.create_payment(services, merchant, request, receipt.answering(_started)))


async def payment_status(services: Services, key: str | None, payment_id: str) -> dict:
    merchant = await merchant_for_key(services, key)
    async with cursor(services.pool) as cur:
        payment = await payments.get(cur, merchant["id"], payment_id)
    if payment is None:
        raise NotFound("no such payment for this key", field="id")
    return _status(services, merchant, payment)

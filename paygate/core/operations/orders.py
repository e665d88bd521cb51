"""Creating and reading orders."""

from __future__ import annotations

from ...infra.crypto import new_id
from ...infra.errors import BadRequest, no_such
from ...storage import orders, payments
from ...storage.db import cursor, transaction
from .. import metadata, models
from ..idempotency import Receipt
from ..schemas import MetadataUpdate, OrderCreate
from ..services import Services
from ..validation import check_amount, check_currency


async def create_order(services: Services, merchant: dict, body: OrderCreate, receipt: Receipt) -> dict:
    check_amount(body.amount, "amount", services.config.api.max_amount)
    check_currency(body.currency)
    async with transaction(services.pool) as cur:
        row = await orders.insert(cur, {
            "id": new_id("order"),
            "merchant_id": merchant["id"],
            "amount": body.amount,
            "currency": body.currency,
            "receipt": body.receipt,
            "notes": _notes(body),
            "capture_method": body.capture_method,
        })
        order = models.Order.view(row)
        await receipt.record(cur, order)
    return order


def _notes(body: OrderCreate) -> dict:
    """An order's notes, given as notes (the seed's rules) or as metadata (metadata's); not both."""
    if "metadata" not in body.model_fields_set:
        return body.notes
    if "notes" in body.model_fields_set:
        raise BadRequest("metadata is another name for notes: send one of them", field="metadata")
    return metadata.given(body.metadata)


async def update_order(services: Services, merchant: dict, order_id: str, body: MetadataUpdate,
                       receipt: Receipt) -> dict:
    """Change the order's metadata (its notes)."""
    return await metadata.update(services, merchant, "order", order_id, body.metadata, receipt,
                                 orders.update_metadata, "notes", models.Order.view)


async def get_order(services: Services, merchant: dict, order_id: str) -> dict:
    async with cursor(services.pool) as cur:
        row = await orders.get(cur, merchant["id"], order_id)
    if row is None:
        raise no_such("order", order_id)
    return models.Order.view(row)


async def order_payments(services: Services, merchant: dict, order_id: str) -> list[dict]:
    async with cursor(services.pool) as cur:
        if await orders.get(cur, merchant["id"], order_id) is None:
            raise no_such("order", order_id)
        return [models.Payment.view(p) for p in await payments.for_order(cur, order_id)]

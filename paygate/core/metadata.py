"""Metadata on orders, payments and refunds: the merchant's own key-value pairs, set at create and changed by PATCH
as Stripe's are (keys given are set, a key given an empty string is removed, keys not given are kept)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..infra.errors import BadRequest, no_such
from ..storage.db import Cursor, transaction
from .idempotency import Receipt
from .schemas import METADATA_KEYS
from .services import Services

# (cursor, merchant id, object id, pairs to set, keys to remove) -> the updated row, or None when there is none
Store = Callable[[Cursor, str, str, dict[str, str], list[str]], Awaitable[dict | None]]


def given(metadata: dict[str, str] | None) -> dict[str, str]:
    """Metadata as a create stores it: a key with an empty value is no key at all."""
    return {key: value for key, value in (metadata or {}).items() if value != ""}


async def update(services: Services, merchant: dict, kind: str, object_id: str, changes: dict[str, str],
                 receipt: Receipt, store: Store, column: str, view: Callable[[dict], dict]) -> dict:
    """Apply ``changes`` to the metadata (``column``) of the merchant's ``kind`` ``object_id`` in one statement, and
    answer its view; refused, and nothing changed, when the result would hold more than METADATA_KEYS keys.
    Records no event: an object's events carry its metadata as it is when they happen."""
    removed = [key for key, value in changes.items() if value == ""]
    if len(changes) - len(removed) > METADATA_KEYS:  # refused whatever the object holds, before looking it up
        raise BadRequest(f"metadata may have at most {METADATA_KEYS} keys", field="metadata")
    async with transaction(services.pool) as cur:
        row = await store(cur, merchant["id"], object_id, given(changes), removed)
        if row is None:
            raise no_such(kind, object_id)
        if len(row[column]) > METADATA_KEYS:  # raised inside the transaction: the update rolls back
            raise BadRequest(f"metadata may have at most {METADATA_KEYS} keys; this update would leave "
                             f"{len(row[column])}", field="metadata")
        shaped = view(row)
        await receipt.record(cur, shaped)
    return shaped

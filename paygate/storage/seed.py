"""The test merchant, with the seed's well-known test credentials."""

from __future__ import annotations

import aiopg

from ..infra import crypto
from . import merchants
from .db import transaction

TEST_MERCHANT = {
    "name": "Test Merchant",
    "email": "test@example.com",
    "api_key": "key_test_abc123",
    "api_secret": "secret_test_xyz789",
}


async def seed_test_merchant(pool: aiopg.Pool, box: crypto.SecretBox) -> dict:
    """Create the test merchant unless it exists; return its credentials and whether it was created."""
    async with transaction(pool) as cur:
        created = await merchants.insert_if_absent(cur, {
            "id": crypto.new_id("mer"),
            "name": TEST_MERCHANT["name"],
            "email": TEST_MERCHANT["email"],
            "api_key": TEST_MERCHANT["api_key"],
            "api_secret_hash": crypto.hash_secret(TEST_MERCHANT["api_secret"]),
            "api_secret_enc": box.seal(TEST_MERCHANT["api_secret"]),
            "webhook_url": None,
            "webhook_secret_enc": box.seal(crypto.new_webhook_secret()),
        })
        row = await merchants.by_api_key(cur, TEST_MERCHANT["api_key"])
    return {
        "created": created,
        "merchant_id": row["id"],
        "name": row["name"],
        "api_key": row["api_key"],
        "api_secret": TEST_MERCHANT["api_secret"],
        "webhook_secret": box.open(row["webhook_secret_enc"]),
    }

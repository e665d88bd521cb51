"""Rows to the public JSON shapes. Pure; shared by the handlers and by event payloads."""

from __future__ import annotations

import json
from datetime import UTC, datetime


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with millisecond precision and a Z, as every timestamp in the API."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def order(row: dict) -> dict:
    return {
        "id": row["id"],
        "entity": "order",
        "merchant_id": row["merchant_id"],
        "amount": row["amount"],
        "currency": row["currency"].strip(),
        "receipt": row["receipt"],
        "notes": row["notes"],
        "capture_method": row["capture_method"],
        "status": row["status"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }


def refund_status(row: dict) -> str:
    if row["amount_refunded"] == 0:
        return "none"
    return "full" if row["amount_refunded"] == row["amount_captured"] else "partial"


def payment(row: dict) -> dict:
    card = None
    if row["method"] == "card":
        card = {
            "network": row["card_network"],
            "last4": row["card_last4"],
            "expiry_month": row["card_expiry_month"],
            "expiry_year": row["card_expiry_year"],
            "fingerprint": row["card_fingerprint"],
        }
    return {
        "id": row["id"],
        "entity": "payment",
        "order_id": row["order_id"],
        "merchant_id": row["merchant_id"],
        "amount": row["amount"],
        "currency": row["currency"].strip(),
        "method": row["method"],
        "vpa": row["vpa"],
        "card": card,
        "status": row["status"],
        "capture_method": row["capture_method"],
        "captured": row["captured"],
        "amount_captured": row["amount_captured"],
        "amount_refunded": row["amount_refunded"],
        "refund_status": refund_status(row),
        "captured_at": iso(row["captured_at"]),
        "authorization_released_at": iso(row["released_at"]),
        "void_reason": row["void_reason"],
        "error_code": row["error_code"],
        "error_description": row["error_description"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }


def refund(row: dict) -> dict:
    return {
        "id": row["id"],
        "entity": "refund",
        "payment_id": row["payment_id"],
        "merchant_id": row["merchant_id"],
        "amount": row["amount"],
        "currency": row["currency"].strip(),
        "reason": row["reason"],
        "status": row["status"],
        "error_code": row["error_code"],
        "error_description": row["error_description"],
        "processed_at": iso(row["processed_at"]),
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }


def event(row: dict) -> dict:
    return {
        "id": row["id"],
        "entity": "event",
        "event": row["type"],
        "object_id": row["object_id"],
        "data": row["payload"],
        "created_at": iso(row["created_at"]),
    }


def mask_secret(secret: str) -> str:
    return "whsec_…" + secret[-4:]


def merchant(row: dict, webhook_secret: str) -> dict:
    return {
        "id": row["id"],
        "entity": "merchant",
        "name": row["name"],
        "email": row["email"],
        "api_key": row["api_key"],
        "webhook_url": row["webhook_url"],
        "webhook_secret": mask_secret(webhook_secret),
        "webhook_enabled": row["webhook_enabled"],
        "webhook_disabled_reason": row["webhook_disabled_reason"],
        "created_at": iso(row["created_at"]),
    }


def attempt(row: dict) -> dict:
    return {
        "number": row["number"],
        "trigger": row["trigger"],
        "status_code": row["status_code"],
        "response_body": row["response_body"],
        "error": row["error"],
        "duration_ms": row["duration_ms"],
        "created_at": iso(row["created_at"]),
    }


def delivery(row: dict, attempts: list[dict] | None = None) -> dict:
    shaped = {
        "id": row["id"],
        "entity": "webhook_delivery",
        "event": row["event"],
        "event_id": row["event_id"],
        "url": row["url"],
        "status": row["status"],
        "attempts": row["attempts"],
        "next_retry_at": iso(row["next_retry_at"]),
        "last_attempt_at": iso(row["last_attempt_at"]),
        "response_code": row["response_code"],
        "response_body": row["response_body"],
        "payload": json.loads(row["payload"]),
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }
    if attempts is not None:
        shaped["attempt_history"] = [attempt(a) for a in attempts]
    return shaped


def page(items: list[dict], total: int, limit: int, offset: int) -> dict:
    """The seed's list shape."""
    return {"data": items, "total": total, "limit": limit, "offset": offset}

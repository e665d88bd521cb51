"""Small helpers for driving the API from tests."""

from __future__ import annotations

import asyncio
import time

CARD = {"expiry_month": 12, "expiry_year": 2035, "cvv": "123", "name": "Test Shopper"}


def card(number: str, **extra) -> dict:
    cvv = "1234" if number.startswith(("34", "37")) else "123"
    return {"number": number, **CARD, "cvv": cvv, **extra}


async def create_order(client, headers, amount: int = 50000, currency: str = "INR", **extra) -> dict:
    resp = await client.post("/api/v1/orders", json={"amount": amount, "currency": currency, **extra},
                             headers=headers)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def pay(client, headers, order_id: str, *, number: str | None = None, vpa: str | None = None) -> dict:
    body = {"order_id": order_id, "method": "upi" if vpa else "card"}
    if vpa:
        body["vpa"] = vpa
    else:
        body["card"] = card(number or "4111111111111111")
    resp = await client.post("/api/v1/payments", json=body, headers=headers)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def get(client, headers, path: str) -> dict:
    resp = await client.get(path, headers=headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def wait_final(client, headers, payment_id: str, timeout: float = 20) -> dict:
    """Poll until the payment is success or failed."""
    deadline = time.monotonic() + timeout
    while True:
        payment = await get(client, headers, f"/api/v1/payments/{payment_id}")
        if payment["status"] in ("success", "failed"):
            return payment
        if time.monotonic() > deadline:
            raise AssertionError(f"{payment_id} still {payment['status']} after {timeout}s")
        await asyncio.sleep(0.05)


async def event_types(client, headers, object_id: str) -> list[str]:
    events = await get(client, headers, f"/api/v1/events?object_id={object_id}&limit=100")
    return sorted(e["event"] for e in events["data"])


async def eventually(read, done=bool, timeout: float = 30, interval: float = 0.1):
    """``read()`` again until ``done`` holds of what it returns (bounded), and return that: for what a request
    sets going but does not wait for (a queue entry, a webhook attempt, a worker's heartbeat)."""
    deadline = time.monotonic() + timeout
    while not done(value := await read()):
        assert time.monotonic() < deadline, f"not done within {timeout}s: {value!r}"
        await asyncio.sleep(interval)
    return value

"""Payments end to end: the simulator's magic inputs, order status, manual capture and events."""

from __future__ import annotations

import pytest

from .api import create_order, event_types, get, pay, wait_final

MAGIC = [
    # (card number or vpa, final status, error code)
    ("4111111111111111", "success", None),
    ("4242424242424242", "success", None),
    ("4000000000000002", "failed", "CARD_DECLINED"),
    ("4000000000009995", "failed", "INSUFFICIENT_FUNDS"),
    ("success@paygate", "success", None),
    ("failure@paygate", "failed", "UPI_PAYMENT_FAILED"),
]


@pytest.mark.parametrize("instrument, status, code", MAGIC, ids=[m[0] for m in MAGIC])
async def test_magic_inputs_end_in_their_documented_state(worker_client, merchant, instrument, status, code):
    headers = merchant["headers"]
    order = await create_order(worker_client, headers)
    is_vpa = "@" in instrument
    created = await pay(worker_client, headers, order["id"],
                        vpa=instrument if is_vpa else None, number=None if is_vpa else instrument)
    assert created["status"] == "pending"
    assert created["method"] == ("upi" if is_vpa else "card")

    final = await wait_final(worker_client, headers, created["id"])

    assert (final["status"], final["error_code"]) == (status, code)
    assert final["captured"] is (status == "success")
    assert final["amount_captured"] == (50000 if status == "success" else 0)
    expected_events = ["payment.created", f"payment.{status}"] + (["payment.captured"] if status == "success" else [])
    assert await event_types(worker_client, headers, created["id"]) == sorted(expected_events)
    order_after = await get(worker_client, headers, f"/api/v1/orders/{order['id']}")
    assert order_after["status"] == ("paid" if status == "success" else "attempted")


async def test_order_status_follows_its_payments(worker_client, merchant):
    headers = merchant["headers"]
    order = await create_order(worker_client, headers)
    assert order["status"] == "created"

    declined = await pay(worker_client, headers, order["id"], number="4000000000000002")
    assert (await get(worker_client, headers, f"/api/v1/orders/{order['id']}"))["status"] == "attempted"
    await wait_final(worker_client, headers, declined["id"])
    assert (await get(worker_client, headers, f"/api/v1/orders/{order['id']}"))["status"] == "attempted"

    paid = await pay(worker_client, headers, order["id"])
    await wait_final(worker_client, headers, paid["id"])
    assert (await get(worker_client, headers, f"/api/v1/orders/{order['id']}"))["status"] == "paid"

    listed = await get(worker_client, headers, f"/api/v1/orders/{order['id']}/payments")
    assert [p["id"] for p in listed["data"]] == [declined["id"], paid["id"]]

    resp = await worker_client.post("/api/v1/payments", headers=headers, json={
        "order_id": order["id"], "method": "upi", "vpa": "success@paygate"})
    assert resp.status == 400
    error = (await resp.json())["error"]
    # the order was named in the body, so its field is the one to blame
    assert (error["code"], error["field"]) == ("ORDER_ALREADY_PAID", "order_id")


async def test_two_pending_payments_on_one_order_never_both_succeed(client, make_app, aiohttp_client, merchant):
    headers = merchant["headers"]
    order = await create_order(client, headers)
    first = await pay(client, headers, order["id"])
    second = await pay(client, headers, order["id"], vpa="success@paygate")

    workers = await aiohttp_client(make_app(workers=True))
    results = [await wait_final(workers, headers, p["id"]) for p in (first, second)]

    assert sorted(p["status"] for p in results) == ["failed", "success"]
    loser = next(p for p in results if p["status"] == "failed")
    assert loser["error_code"] == "ORDER_ALREADY_PAID"
    assert loser["amount_captured"] == 0


async def _authorized_manual(client, headers, amount: int = 50000) -> dict:
    order = await create_order(client, headers, amount=amount, capture_method="manual")
    payment = await pay(client, headers, order["id"])
    final = await wait_final(client, headers, payment["id"])
    assert (final["status"], final["captured"], final["capture_method"]) == ("success", False, "manual")
    return final


async def _capture(client, headers, payment_id: str, **body):
    resp = await client.post(f"/api/v1/payments/{payment_id}/capture", json=body, headers=headers)
    return resp.status, await resp.json()


async def test_manual_capture_in_full(worker_client, merchant):
    headers = merchant["headers"]
    payment = await _authorized_manual(worker_client, headers)
    assert await event_types(worker_client, headers, payment["id"]) == ["payment.created", "payment.success"]

    status, captured = await _capture(worker_client, headers, payment["id"])

    assert status == 200
    assert (captured["captured"], captured["amount_captured"]) == (True, 50000)
    assert captured["authorization_released_at"] is None
    assert "payment.captured" in await event_types(worker_client, headers, payment["id"])


async def test_partial_capture_releases_the_rest_and_happens_once(worker_client, merchant):
    headers = merchant["headers"]
    payment = await _authorized_manual(worker_client, headers)

    status, captured = await _capture(worker_client, headers, payment["id"], amount=30000)
    assert status == 200
    assert (captured["amount_captured"], captured["amount"]) == (30000, 50000)
    assert captured["authorization_released_at"] is not None

    status, again = await _capture(worker_client, headers, payment["id"], amount=10000)
    assert status == 400
    assert again["error"]["code"] == "PAYMENT_ALREADY_CAPTURED"


async def test_capture_above_the_authorized_amount_is_refused(worker_client, merchant):
    headers = merchant["headers"]
    payment = await _authorized_manual(worker_client, headers)
    status, body = await _capture(worker_client, headers, payment["id"], amount=50001)
    assert status == 400
    assert (body["error"]["code"], body["error"]["field"]) == ("INVALID_AMOUNT", "amount")


async def test_capture_before_success_is_refused(client, merchant):
    headers = merchant["headers"]
    order = await create_order(client, headers, capture_method="manual")
    pending = await pay(client, headers, order["id"])  # no workers: stays pending
    status, body = await _capture(client, headers, pending["id"])
    assert status == 400
    assert (body["error"]["code"], body["error"].get("field")) == ("PAYMENT_NOT_CAPTURABLE", None)
    assert "pending" in body["error"]["description"]


async def test_an_unknown_payment_is_not_found_in_words(client, merchant):
    for payment_id in ("pay_nope", "pay_Zz9qZz9qZz9qZz9q"):  # not an id at all; an id of no payment
        resp = await client.get(f"/api/v1/payments/{payment_id}", headers=merchant["headers"])
        error = (await resp.json())["error"]
        assert (resp.status, error["code"], error["field"]) == (404, "NOT_FOUND_ERROR", "id")
        assert error["description"] == f"no payment '{payment_id}'"
        status, body = await _capture(client, merchant["headers"], payment_id)
        assert (status, body["error"]["description"]) == (404, f"no payment '{payment_id}'")


async def test_capture_of_a_failed_payment_is_refused(worker_client, merchant):
    headers = merchant["headers"]
    order = await create_order(worker_client, headers, capture_method="manual")
    failed = await wait_final(worker_client, headers,
                              (await pay(worker_client, headers, order["id"], number="4000000000000002"))["id"])
    status, body = await _capture(worker_client, headers, failed["id"])
    assert status == 400
    assert body["error"]["code"] == "PAYMENT_NOT_CAPTURABLE"


async def test_capture_of_an_automatic_capture_payment_is_refused(worker_client, merchant):
    headers = merchant["headers"]
    order = await create_order(worker_client, headers)
    done = await wait_final(worker_client, headers, (await pay(worker_client, headers, order["id"]))["id"])
    assert done["captured"] is True
    status, body = await _capture(worker_client, headers, done["id"])
    assert status == 400
    assert body["error"]["code"] == "PAYMENT_NOT_CAPTURABLE"


async def test_payment_amount_and_currency_default_to_the_orders(client, merchant):
    headers = merchant["headers"]
    order = await create_order(client, headers, amount=1234, currency="JPY")
    payment = await pay(client, headers, order["id"])
    assert (payment["amount"], payment["currency"]) == (1234, "JPY")
    resp = await client.post("/api/v1/payments", headers=headers, json={
        "order_id": order["id"], "method": "upi", "vpa": "success@paygate", "amount": 1234, "currency": "JPY"})
    assert resp.status == 201


async def test_lists_filter_and_paginate(client, merchant):
    headers = merchant["headers"]
    orders = [await create_order(client, headers, receipt=f"r{i}") for i in range(3)]
    card_payment = await pay(client, headers, orders[0]["id"])
    upi_payment = await pay(client, headers, orders[1]["id"], vpa="success@paygate")

    by_method = await get(client, headers, "/api/v1/payments?method=upi")
    assert [p["id"] for p in by_method["data"]] == [upi_payment["id"]]
    by_order = await get(client, headers, f"/api/v1/payments?order_id={orders[0]['id']}")
    assert [p["id"] for p in by_order["data"]] == [card_payment["id"]]
    pending = await get(client, headers, "/api/v1/payments?status=pending&limit=1&offset=1")
    assert (pending["total"], pending["limit"], pending["offset"], len(pending["data"])) == (2, 1, 1, 1)
    assert pending["data"][0]["id"] == card_payment["id"]  # newest first

    created = await get(client, headers, "/api/v1/orders?status=created")
    assert [o["id"] for o in created["data"]] == [orders[2]["id"]]
    by_receipt = await get(client, headers, "/api/v1/orders?receipt=r1")
    assert [o["id"] for o in by_receipt["data"]] == [orders[1]["id"]]
    future = await get(client, headers, "/api/v1/payments?from=2100-01-01T00:00:00Z")
    assert future["total"] == 0

    events = await get(client, headers, "/api/v1/events?type=payment.created")
    assert events["total"] == 2
    one = await get(client, headers, f"/api/v1/events/{events['data'][0]['id']}")
    assert one["data"]["payment"]["id"] == upi_payment["id"]
    assert one["event"] == "payment.created"

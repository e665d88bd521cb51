"""Refunds: full, partial, many, never above the captured amount, even under concurrency."""

from __future__ import annotations

import asyncio

import pytest

from .api import create_order, event_types, get, pay, wait_final


async def _captured_payment(client, headers, amount: int = 10000, vpa: str = "success@paygate") -> dict:
    order = await create_order(client, headers, amount=amount)
    return await wait_final(client, headers, (await pay(client, headers, order["id"], vpa=vpa))["id"])


async def _refund(client, headers, payment_id: str, **body):
    resp = await client.post(f"/api/v1/payments/{payment_id}/refunds", json=body, headers=headers)
    return resp.status, await resp.json()


async def _wait_refund(client, headers, refund_id: str) -> dict:
    for _ in range(400):
        refund = await get(client, headers, f"/api/v1/refunds/{refund_id}")
        if refund["status"] not in ("pending", "processing"):
            return refund
        await asyncio.sleep(0.05)
    raise AssertionError(f"refund {refund_id} still pending")


async def test_full_refund_by_default_is_processed_with_its_events(worker_client, merchant):
    headers = merchant["headers"]
    payment = await _captured_payment(worker_client, headers)

    status, refund = await _refund(worker_client, headers, payment["id"], reason="customer asked")

    assert status == 201
    assert (refund["status"], refund["amount"], refund["reason"]) == ("pending", 10000, "customer asked")
    assert refund["id"].startswith("rfnd_")
    done = await _wait_refund(worker_client, headers, refund["id"])
    assert done["status"] == "processed" and done["processed_at"]
    assert await event_types(worker_client, headers, refund["id"]) == ["refund.created", "refund.processed"]
    after = await get(worker_client, headers, f"/api/v1/payments/{payment['id']}")
    assert (after["amount_refunded"], after["refund_status"]) == (10000, "full")


async def test_partial_refunds_add_up_and_stop_at_the_captured_amount(worker_client, merchant):
    headers = merchant["headers"]
    payment = await _captured_payment(worker_client, headers)

    assert (await _refund(worker_client, headers, payment["id"], amount=3000))[0] == 201
    after = await get(worker_client, headers, f"/api/v1/payments/{payment['id']}")
    assert (after["amount_refunded"], after["refund_status"]) == (3000, "partial")
    assert (await _refund(worker_client, headers, payment["id"], amount=7000))[0] == 201

    status, body = await _refund(worker_client, headers, payment["id"], amount=1)
    assert status == 400
    assert (body["error"]["code"], body["error"]["field"]) == ("REFUND_LIMIT_EXCEEDED", "amount")

    listed = await get(worker_client, headers, f"/api/v1/payments/{payment['id']}/refunds")
    assert sorted(r["amount"] for r in listed["data"]) == [3000, 7000]
    by_filter = await get(worker_client, headers, f"/api/v1/refunds?payment_id={payment['id']}")
    assert by_filter["total"] == 2


async def test_a_failed_refund_makes_its_amount_refundable_again(worker_client, merchant):
    headers = merchant["headers"]
    payment = await _captured_payment(worker_client, headers, vpa="refundfail@paygate")

    status, refund = await _refund(worker_client, headers, payment["id"], amount=4000)
    assert status == 201
    failed = await _wait_refund(worker_client, headers, refund["id"])

    assert (failed["status"], failed["error_code"]) == ("failed", "REFUND_FAILED")
    assert "refund.failed" in await event_types(worker_client, headers, refund["id"])
    after = await get(worker_client, headers, f"/api/v1/payments/{payment['id']}")
    assert (after["amount_refunded"], after["refund_status"]) == (0, "none")
    status, again = await _refund(worker_client, headers, payment["id"])
    assert (status, again["amount"]) == (201, 10000)


async def test_refund_of_a_pending_payment_is_refused(client, merchant):
    headers = merchant["headers"]
    pending = await pay(client, headers, (await create_order(client, headers))["id"])  # no workers: stays pending
    status, body = await _refund(client, headers, pending["id"])
    assert status == 400
    # about the payment's state, not a field: the payment's id is in the path, not the body
    assert (body["error"]["code"], body["error"].get("field")) == ("PAYMENT_NOT_REFUNDABLE", None)
    assert "pending" in body["error"]["description"]


async def test_refunds_of_failed_and_uncaptured_payments_are_refused(worker_client, merchant):
    headers = merchant["headers"]
    declined_order = await create_order(worker_client, headers)
    failed = await wait_final(worker_client, headers,
                              (await pay(worker_client, headers, declined_order["id"], vpa="failure@paygate"))["id"])
    manual_order = await create_order(worker_client, headers, capture_method="manual")
    uncaptured = await wait_final(worker_client, headers, (await pay(worker_client, headers, manual_order["id"]))["id"])

    for payment in (failed, uncaptured):
        status, body = await _refund(worker_client, headers, payment["id"])
        assert status == 400, payment
        assert (body["error"]["code"], body["error"].get("field")) == ("PAYMENT_NOT_REFUNDABLE", None), body


async def test_a_full_refund_of_a_fully_refunded_payment_blames_no_field(worker_client, merchant):
    headers = merchant["headers"]
    payment = await _captured_payment(worker_client, headers)
    assert (await _refund(worker_client, headers, payment["id"]))[0] == 201

    status, body = await _refund(worker_client, headers, payment["id"])  # no amount: nothing in the body to blame
    assert status == 400
    assert (body["error"]["code"], body["error"].get("field")) == ("REFUND_LIMIT_EXCEEDED", None), body
    assert body["error"]["description"] == "this payment is already fully refunded"
    status, body = await _refund(worker_client, headers, payment["id"], amount=1)  # an amount: that is the field
    assert (status, body["error"]["code"], body["error"]["field"]) == (400, "REFUND_LIMIT_EXCEEDED", "amount")


async def test_a_refund_of_an_unknown_payment_is_not_found_on_the_path_id(client, merchant):
    status, body = await _refund(client, merchant["headers"], "pay_Zz9qZz9qZz9qZz9q", amount=100)
    assert status == 404
    assert body["error"] == {"code": "NOT_FOUND_ERROR", "description": "no payment 'pay_Zz9qZz9qZz9qZz9q'",
                             "field": "id", "request_id": body["error"]["request_id"]}


async def test_an_unknown_refund_is_not_found_in_words(client, merchant):
    resp = await client.get("/api/v1/refunds/rfnd_nope", headers=merchant["headers"])
    assert resp.status == 404
    assert (await resp.json())["error"]["description"] == "no refund 'rfnd_nope'"


@pytest.mark.parametrize("amount, code", [
    (0, "INVALID_AMOUNT"), (-5, "INVALID_AMOUNT"), (10001, "REFUND_LIMIT_EXCEEDED"), ("5", "BAD_REQUEST_ERROR"),
])
async def test_bad_refund_amounts_are_refused_naming_the_field(worker_client, merchant, amount, code):
    headers = merchant["headers"]
    payment = await _captured_payment(worker_client, headers)
    status, body = await _refund(worker_client, headers, payment["id"], amount=amount)
    assert status == 400
    assert (body["error"]["code"], body["error"]["field"]) == (code, "amount")


async def test_refund_after_partial_capture_is_limited_to_what_was_captured(worker_client, merchant):
    headers = merchant["headers"]
    order = await create_order(worker_client, headers, amount=10000, capture_method="manual")
    payment = await wait_final(worker_client, headers, (await pay(worker_client, headers, order["id"]))["id"])
    resp = await worker_client.post(f"/api/v1/payments/{payment['id']}/capture", json={"amount": 6000},
                                    headers=headers)
    assert resp.status == 200
    assert (await _refund(worker_client, headers, payment["id"], amount=6001))[0] == 400
    status, refund = await _refund(worker_client, headers, payment["id"])
    assert (status, refund["amount"]) == (201, 6000)


async def test_ten_concurrent_sixty_percent_refunds_accept_exactly_one(client, worker_client, merchant):
    headers = merchant["headers"]
    payment = await _captured_payment(worker_client, headers)

    results = await asyncio.gather(*(_refund(client, headers, payment["id"], amount=6000) for _ in range(10)))

    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [400] * 9
    assert all(body["error"]["code"] == "REFUND_LIMIT_EXCEEDED" for status, body in results if status == 400)
    after = await get(client, headers, f"/api/v1/payments/{payment['id']}")
    assert after["amount_refunded"] == 6000


async def test_a_hundred_concurrent_one_unit_refunds_on_fifty_units_accept_exactly_fifty(client, worker_client,
                                                                                         merchant, pool):
    headers = merchant["headers"]
    payment = await _captured_payment(worker_client, headers, amount=50)

    results = await asyncio.gather(*(_refund(client, headers, payment["id"], amount=1) for _ in range(100)))

    assert sorted(status for status, _ in results).count(201) == 50
    assert sorted(status for status, _ in results).count(400) == 50
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("SELECT count(*), sum(amount) FROM refunds WHERE payment_id = %s", (payment["id"],))
        assert await cur.fetchone() == (50, 50)
    after = await get(client, headers, f"/api/v1/payments/{payment['id']}")
    assert after["amount_refunded"] == 50


async def test_the_database_refuses_an_over_refund_even_without_the_code(worker_client, merchant, pool):
    import psycopg2

    payment = await _captured_payment(worker_client, merchant["headers"], amount=100)
    async with pool.acquire() as conn, conn.cursor() as cur:
        with pytest.raises(psycopg2.errors.CheckViolation):
            await cur.execute("UPDATE payments SET amount_refunded = 101 WHERE id = %s", (payment["id"],))

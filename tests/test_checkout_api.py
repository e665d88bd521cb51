"""The public checkout endpoints: key only, status only, CORS-open, rate-limited, signed answers, idempotent."""

from __future__ import annotations

import asyncio
import json

import pytest

from paygate.core.processors import testcards
from paygate.verify import checkout_signature, verify_checkout_signature

from .api import card, create_order, get, wait_final

KEY = "key_test_abc123"


async def _checkout_pay(client, order_id: str, **extra):
    body = {"key": KEY, "order_id": order_id, "method": "card", "card": card("4111111111111111"), **extra}
    resp = await client.post("/api/v1/checkout/payments", json=body, headers={"Origin": "http://shop.example"})
    return resp.status, await resp.json(), resp.headers


async def test_the_hosted_page_reads_an_order_with_the_key_alone(client, merchant):
    order = await create_order(client, merchant["headers"], amount=123456, currency="INR")
    resp = await client.get(f"/api/v1/checkout/orders/{order['id']}?key={KEY}")
    assert resp.status == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert await resp.json() == {
        "order": {"id": order["id"], "amount": 123456, "currency": "INR", "amount_display": "1234.56",
                  "status": "created"},
        "merchant": {"name": "Test Merchant"},
        "payable": True,
        "test_instruments": testcards.as_json(),  # a test key; see tests/test_test_cards.py
    }


@pytest.mark.parametrize("query", ["", "?key=", "?key=key_test_nope", "?key=OTHER"])
async def test_an_order_is_not_found_without_the_owning_key(client, merchant, other_merchant, query):
    order = await create_order(client, merchant["headers"])
    query = query.replace("OTHER", other_merchant["api_key"])
    resp = await client.get(f"/api/v1/checkout/orders/{order['id']}{query}")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "NOT_FOUND_ERROR"
    assert resp.headers["Access-Control-Allow-Origin"] == "*"


async def test_a_checkout_payment_succeeds_and_its_signature_verifies(worker_client, merchant):
    order = await create_order(worker_client, merchant["headers"])
    status, created, headers = await _checkout_pay(worker_client, order["id"])
    assert status == 201
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert set(created) == {"id", "order_id", "status", "method"}
    await wait_final(worker_client, merchant["headers"], created["id"])

    resp = await worker_client.get(f"/api/v1/checkout/payments/{created['id']}?key={KEY}")
    answer = await resp.json()
    assert answer["status"] == "success"
    assert answer["signature"] == checkout_signature("secret_test_xyz789", order["id"], created["id"])
    assert verify_checkout_signature("secret_test_xyz789", order["id"], created["id"], answer["signature"])
    assert not verify_checkout_signature("secret_test_xyz789", order["id"], "pay_other", answer["signature"])
    # Status only: nothing about the card or the shopper.
    assert set(answer) == {"id", "order_id", "status", "method", "error_code", "error_description", "signature"}

    paid = await (await worker_client.get(f"/api/v1/checkout/orders/{order['id']}?key={KEY}")).json()
    assert paid["payable"] is False
    status, again, _ = await _checkout_pay(worker_client, order["id"])
    assert (status, again["error"]["code"]) == (400, "ORDER_ALREADY_PAID")


async def test_a_declined_checkout_payment_has_no_signature(worker_client, merchant):
    order = await create_order(worker_client, merchant["headers"])
    _, created, _ = await _checkout_pay(worker_client, order["id"], card=card("4000000000000002"))
    await wait_final(worker_client, merchant["headers"], created["id"])
    answer = await (await worker_client.get(f"/api/v1/checkout/payments/{created['id']}?key={KEY}")).json()
    assert (answer["status"], answer["error_code"], answer["signature"]) == ("failed", "CARD_DECLINED", None)


@pytest.mark.parametrize("change, field", [
    ({"card": card("4111111111111112")}, "card.number"),
    ({"amount": 1}, "amount"),
    ({"key": None}, "key"),
    ({"secret": "x"}, "secret"),
])
async def test_checkout_payment_validation_names_the_field(client, merchant, change, field):
    order = await create_order(client, merchant["headers"])
    status, body, headers = await _checkout_pay(client, order["id"], **change)
    assert status == 400
    assert body["error"]["field"] == field
    assert headers["Access-Control-Allow-Origin"] == "*"


async def test_preflight_is_answered_for_any_origin(client):
    resp = await client.options("/api/v1/checkout/payments", headers={
        "Origin": "http://shop.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,idempotency-key"})
    assert resp.status == 204
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in resp.headers["Access-Control-Allow-Methods"]
    allowed = {h.strip().lower() for h in resp.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"content-type", "idempotency-key"} <= allowed
    exposed = {h.strip().lower() for h in resp.headers["Access-Control-Expose-Headers"].split(",")}
    assert "idempotent-replayed" in exposed


# -- Idempotency-Key: one payment per checkout attempt ------------------------------------------------------

async def _pay_under(client, order_id: str, key: str | None, **extra):
    """A checkout payment as the hosted page sends it, under ``key``; the answer's exact bytes."""
    body = {"key": KEY, "order_id": order_id, "method": "card", "card": card("4111111111111111"), **extra}
    headers = {"Origin": "http://shop.example", **({"Idempotency-Key": key} if key is not None else {})}
    resp = await client.post("/api/v1/checkout/payments", json=body, headers=headers)
    return resp.status, await resp.read(), resp.headers


async def _payments_of(client, merchant, order_id: str) -> list[dict]:
    return (await get(client, merchant["headers"], f"/api/v1/orders/{order_id}/payments"))["data"]


async def test_the_same_attempt_sent_twice_makes_one_payment_and_replays_the_first_answer(client, merchant, pool):
    order = await create_order(client, merchant["headers"])
    first = await _pay_under(client, order["id"], "attempt-1")
    second = await _pay_under(client, order["id"], "attempt-1")

    assert first[0] == second[0] == 201
    assert second[1] == first[1]  # byte for byte
    assert second[2]["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first[2]
    assert second[2]["Access-Control-Allow-Origin"] == "*"
    # The checkout's own answer is what was recorded: status only, never the card (not even last4).
    assert set(json.loads(second[1])) == {"id", "order_id", "status", "method"}
    [payment] = await _payments_of(client, merchant, order["id"])
    assert payment["id"] == json.loads(first[1])["id"]
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("SELECT request_hash, response_body FROM idempotency_keys WHERE key = 'attempt-1'")
        request_hash, stored = await cur.fetchone()
    assert bytes(stored) == first[1]
    assert "1111" not in bytes(stored).decode() and "1111" not in request_hash


async def test_concurrent_requests_of_one_attempt_make_one_payment(client, merchant):
    order = await create_order(client, merchant["headers"])
    results = await asyncio.gather(*(_pay_under(client, order["id"], "double-click") for _ in range(10)))

    [payment] = await _payments_of(client, merchant, order["id"])
    answers = {raw for status, raw, _ in results if status == 201}
    assert answers == {json.dumps({"id": payment["id"], "order_id": order["id"], "status": "pending",
                                   "method": "card"}).encode()}
    for status, raw, headers in results:  # the rest are told to retry shortly, and may read that (CORS)
        if status != 201:
            assert (status, json.loads(raw)["error"]["code"], headers["Retry-After"]) == (409, "IDEMPOTENCY_ERROR",
                                                                                        "1")
            assert headers["Access-Control-Allow-Origin"] == "*"


async def test_a_key_reused_for_other_details_is_refused_like_the_private_api(client, merchant):
    order = await create_order(client, merchant["headers"])
    assert (await _pay_under(client, order["id"], "attempt-2"))[0] == 201
    for other in ({"card": card("4242424242424242")}, {"card": card("4111111111111111", cvv="124")},
                  {"method": "upi", "card": None, "vpa": "success@paygate"}):
        status, raw, headers = await _pay_under(client, order["id"], "attempt-2", **other)
        error = json.loads(raw)["error"]
        assert (status, error["code"], error["field"]) == (422, "IDEMPOTENCY_ERROR", "Idempotency-Key"), other
        assert headers["Access-Control-Allow-Origin"] == "*"
    assert len(await _payments_of(client, merchant, order["id"])) == 1


async def test_a_key_the_merchant_used_on_its_private_api_never_replays_at_checkout(client, merchant):
    """Same merchant, same key space: the private answer (with the card's last4) must not reach the page."""
    order = await create_order(client, merchant["headers"])
    body = {"order_id": order["id"], "method": "card", "card": card("4111111111111111")}
    resp = await client.post("/api/v1/payments", json=body, headers={**merchant["headers"], "Idempotency-Key": "k"})
    assert resp.status == 201
    status, raw, _ = await _pay_under(client, order["id"], "k")
    assert (status, json.loads(raw)["error"]["code"]) == (422, "IDEMPOTENCY_ERROR")


async def test_without_a_key_every_request_is_a_new_payment_as_before(client, merchant):
    order = await create_order(client, merchant["headers"])
    first, second = await _pay_under(client, order["id"], None), await _pay_under(client, order["id"], None)
    assert first[0] == second[0] == 201
    assert "Idempotent-Replayed" not in second[2]
    assert len(await _payments_of(client, merchant, order["id"])) == 2


async def test_a_refused_attempt_leaves_its_key_free_for_the_corrected_one(client, merchant):
    order = await create_order(client, merchant["headers"])
    status, _, _ = await _pay_under(client, order["id"], "attempt-3", card=card("4111111111111112"))
    assert status == 400
    status, _, _ = await _pay_under(client, order["id"], "attempt-3")
    assert status == 201


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "tab\there"])
async def test_a_malformed_key_is_a_400_naming_the_header(client, merchant, key):
    order = await create_order(client, merchant["headers"])
    status, raw, headers = await _pay_under(client, order["id"], key)
    error = json.loads(raw)["error"]
    assert (status, error["code"], error["field"]) == (400, "BAD_REQUEST_ERROR", "Idempotency-Key")
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert await _payments_of(client, merchant, order["id"]) == []


async def test_public_endpoints_are_rate_limited_per_ip(aiohttp_client, make_app, merchant):
    client = await aiohttp_client(make_app(checkout__rate_limit="3/minute"))
    order = await create_order(client, merchant["headers"])
    codes = [(await client.get(f"/api/v1/checkout/orders/{order['id']}?key={KEY}")).status for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    resp = await client.get(f"/api/v1/checkout/orders/{order['id']}?key={KEY}")
    assert (await resp.json())["error"]["code"] == "RATE_LIMIT_ERROR"
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    # The merchant API is not limited by the checkout's rule.
    assert (await client.get(f"/api/v1/orders/{order['id']}", headers=merchant["headers"])).status == 200


async def test_the_hosted_page_and_sdk_are_served(client):
    page = await client.get("/checkout?order_id=order_x&key=k")
    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "frame-ancestors *" in page.headers["Content-Security-Policy"]
    sdk = await client.get("/checkout.js")
    assert sdk.status == 200
    assert sdk.headers["Content-Type"].startswith("text/javascript")

"""The public checkout endpoints: key only, status only, CORS-open, rate-limited, signed answers."""

from __future__ import annotations

import pytest

from paygate.processors import testcards
from paygate.verify import checkout_signature, verify_checkout_signature

from .api import card, create_order, wait_final

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
        "Access-Control-Request-Headers": "Content-Type"})
    assert resp.status == 204
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in resp.headers["Access-Control-Allow-Methods"]


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

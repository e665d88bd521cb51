"""One merchant can neither see nor touch another's orders, payments and events: to it they do not exist."""

from __future__ import annotations

import json

import pytest
from pytest import param

API = "/api/v1"
VISA_CARD = {"number": "4111111111111111", "expiry_month": 12, "expiry_year": 2099, "cvv": "123"}


async def post(client, path: str, body: dict, headers: dict):
    return await client.post(path, data=json.dumps(body), headers={**headers, "Content-Type": "application/json"})


async def created(resp) -> dict:
    body = await resp.json()
    assert resp.status == 201, body
    return body


@pytest.fixture
async def first(client, merchant) -> dict:
    """The first merchant's objects: a manual-capture order, a card payment on it and that payment's event."""
    headers = merchant["headers"]
    order = await created(await post(client, f"{API}/orders", {
        "amount": 50000, "currency": "INR", "receipt": "first-1", "capture_method": "manual"}, headers))
    payment = await created(await post(client, f"{API}/payments", {
        "order_id": order["id"], "method": "card", "card": VISA_CARD}, headers))
    events = await (await client.get(f"{API}/events", headers=headers)).json()
    (event,) = events["data"]
    assert event["object_id"] == payment["id"]
    return {"order": order["id"], "payment": payment["id"], "event": event["id"], "receipt": "first-1"}


def empty_body(objects: dict) -> dict:
    return {}


def upi_payment(objects: dict) -> dict:
    return {"order_id": objects["order"], "method": "upi", "vpa": "success@paygate"}


async def call(client, objects: dict, method: str, path: str, body, headers: dict):
    """The endpoint aimed at ``objects`` (ids by name); ``body`` builds the JSON body from them."""
    return await client.request(method, API + path.format(**objects), json=body(objects) if body else None,
                                headers=headers)


ENDPOINTS = [
    param("GET", "/orders/{order}", None, "id", id="get-order"),
    param("GET", "/orders/{order}/payments", None, "id", id="list-order-payments"),
    param("GET", "/payments/{payment}", None, "id", id="get-payment"),
    param("POST", "/payments/{payment}/capture", empty_body, "id", id="capture-payment"),
    param("GET", "/events/{event}", None, "id", id="get-event"),
    param("POST", "/payments", upi_payment, "order_id", id="create-payment-on-order"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), ENDPOINTS)
async def test_another_merchants_object_is_not_found(client, first, other_merchant, method, path, body, field):
    resp = await call(client, first, method, path, body, other_merchant["headers"])
    error = (await resp.json())["error"]
    assert resp.status == 404, error
    assert (error["code"], error["field"]) == ("NOT_FOUND_ERROR", field)


@pytest.mark.parametrize(("method", "path", "body", "field"), ENDPOINTS)
async def test_another_merchants_object_looks_like_one_that_never_existed(client, first, other_merchant, method,
                                                                         path, body, field):
    """The 404 for a real object of another merchant is the 404 for a made-up id: nothing tells them apart."""
    made_up = {name: first[name][:-4] + "Zz9q" for name in ("order", "payment", "event")}
    answers = []
    for objects in (first, made_up):
        resp = await call(client, objects, method, path, body, other_merchant["headers"])
        error = (await resp.json())["error"]
        for name in made_up:
            value = objects[name]
            error["description"] = error["description"].replace(value, f"<{name}>")
        answers.append((resp.status, error["code"], error["field"], error["description"]))
    assert answers[0] == answers[1]


@pytest.mark.parametrize(("method", "path", "body", "status"), [
    param("GET", "/orders/{order}", None, 200, id="get-order"),
    param("GET", "/orders/{order}/payments", None, 200, id="list-order-payments"),
    param("GET", "/payments/{payment}", None, 200, id="get-payment"),
    param("POST", "/payments/{payment}/capture", empty_body, 400, id="capture-payment"),  # still pending
    param("GET", "/events/{event}", None, 200, id="get-event"),
    param("POST", "/payments", upi_payment, 201, id="create-payment-on-order"),
])
async def test_the_owner_reaches_the_same_objects(client, first, merchant, method, path, body, status):
    """The control for the 404s above: the objects are there, for the merchant that owns them."""
    resp = await call(client, first, method, path, body, merchant["headers"])
    assert resp.status == status, await resp.text()
    if status == 400:
        assert (await resp.json())["error"]["code"] == "PAYMENT_NOT_CAPTURABLE"


async def test_another_merchants_attempts_change_nothing(client, first, merchant, other_merchant):
    for method, path, body, _field in (case.values for case in ENDPOINTS):
        resp = await call(client, first, method, path, body, other_merchant["headers"])
        assert resp.status == 404
    headers = merchant["headers"]
    payments = await (await client.get(f"{API}/orders/{first['order']}/payments", headers=headers)).json()
    assert [p["id"] for p in payments["data"]] == [first["payment"]]
    assert (payments["data"][0]["status"], payments["data"][0]["captured"]) == ("pending", False)
    events = await (await client.get(f"{API}/events", headers=headers)).json()
    assert [e["id"] for e in events["data"]] == [first["event"]]


LISTS = [
    param("/orders", id="orders"),
    param("/orders?receipt={receipt}", id="orders-by-receipt"),
    param("/payments", id="payments"),
    param("/payments?order_id={order}", id="payments-by-order"),
    param("/events", id="events"),
    param("/events?object_id={payment}", id="events-by-object"),
]


@pytest.mark.parametrize("path", LISTS)
async def test_another_merchants_objects_are_not_listed(client, first, other_merchant, path):
    resp = await client.get(API + path.format(**first), headers=other_merchant["headers"])
    listing = await resp.json()
    assert resp.status == 200, listing
    assert (listing["total"], listing["data"]) == (0, [])


@pytest.mark.parametrize("path", ["/orders", "/payments", "/events"])
async def test_each_merchant_lists_only_its_own_objects(client, first, merchant, other_merchant, path):
    order = await created(await post(client, f"{API}/orders", {"amount": 700, "currency": "USD"},
                                     other_merchant["headers"]))
    await created(await post(client, f"{API}/payments", {"order_id": order["id"], "method": "upi",
                                                         "vpa": "success@paygate"}, other_merchant["headers"]))
    for who in (merchant, other_merchant):
        listing = await (await client.get(API + path, headers=who["headers"])).json()
        (item,) = listing["data"]
        assert listing["total"] == 1
        assert item.get("merchant_id", who["merchant_id"]) == who["merchant_id"]  # events carry no merchant_id
        is_first = item["id"] in (first["order"], first["payment"], first["event"])
        assert is_first == (who is merchant)

"""Every request validation rule, through the real HTTP API: the exact status, error code and field.

Each rule has a failing case; the passing cases show the rules do not refuse good input.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from pytest import param
from yarl import URL

from paygate.core.cards import detect_network
from paygate.http.openapi import every_operation

API = "/api/v1"
BAD = "BAD_REQUEST_ERROR"
MISSING = object()  # a key to leave out of the request body
MAX_AMOUNT = 10_000_000_000  # api.max_amount's default
MIB = 1024 * 1024

TODAY = datetime.now(UTC).date()  # the app's "today" is a UTC date too
NEXT_YEAR = TODAY.year + 1
# Last month is in last year in January; the card is then refused on its year.
LAST_MONTH, LAST_MONTH_YEAR = (TODAY.month - 1, TODAY.year) if TODAY.month > 1 else (12, TODAY.year - 1)
LAST_MONTH_FIELD = "card.expiry_month" if TODAY.month > 1 else "card.expiry_year"


def luhn_number(prefix: str, length: int) -> str:
    """A Luhn-valid number of ``length`` digits starting with ``prefix`` (computed here, not by paygate)."""
    body = prefix.ljust(length - 1, "0")
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d // 10 + d % 10
    return body + str((10 - total % 10) % 10)


AMEX = "378282246310005"
RUPAY = luhn_number("6521", 16)
UNIONPAY = luhn_number("62", 16)  # a real network that paygate does not take
VISA_15_DIGITS = luhn_number("4", 15)

VISA_CARD = {"number": "4111111111111111", "expiry_month": 12, "expiry_year": NEXT_YEAR, "cvv": "123"}


def card(**changes) -> dict:
    """The body change that sends the Visa test card with ``changes`` (MISSING removes a key)."""
    return {"card": {k: v for k, v in {**VISA_CARD, **changes}.items() if v is not MISSING}}


def payment_body(order_id: str, changes: dict) -> dict:
    """A valid card payment for the order, with ``changes`` applied (MISSING removes a key)."""
    body = {"order_id": order_id, "method": "card", "card": VISA_CARD, **changes}
    return {k: v for k, v in body.items() if v is not MISSING}


async def post(client, path: str, body, headers: dict):
    """POST ``body`` (raw bytes, or anything JSON encodes) as application/json."""
    data = body if isinstance(body, bytes) else json.dumps(body)
    return await client.post(path, data=data, headers={**headers, "Content-Type": "application/json"})


async def assert_error(resp, status: int, code: str, field: str | None) -> dict:
    """The response is the error shape with this status, code and field (None: no field); return the error."""
    payload = await resp.json()
    assert resp.status == status, payload
    error = payload["error"]
    assert (error["code"], error.get("field")) == (code, field), error
    assert error["description"] and error["request_id"]
    return error


@pytest.fixture
async def order(client, merchant) -> dict:
    resp = await post(client, f"{API}/orders", {"amount": 50000, "currency": "INR"}, merchant["headers"])
    assert resp.status == 201
    return await resp.json()


# ---------------------------------------------------------------- POST /api/v1/orders

ORDER_FAILURES = [
    param({"currency": "INR"}, 400, BAD, "amount", id="amount-missing"),
    param({"amount": "50000", "currency": "INR"}, 400, BAD, "amount", id="amount-string"),
    param({"amount": 100.5, "currency": "INR"}, 400, BAD, "amount", id="amount-float"),
    param({"amount": 100.0, "currency": "INR"}, 400, BAD, "amount", id="amount-whole-float"),
    param({"amount": True, "currency": "INR"}, 400, BAD, "amount", id="amount-bool"),
    param({"amount": None, "currency": "INR"}, 400, BAD, "amount", id="amount-null"),
    param({"amount": 0, "currency": "INR"}, 400, "INVALID_AMOUNT", "amount", id="amount-zero"),
    param({"amount": -100, "currency": "INR"}, 400, "INVALID_AMOUNT", "amount", id="amount-negative"),
    param({"amount": MAX_AMOUNT + 1, "currency": "INR"}, 400, "INVALID_AMOUNT", "amount", id="amount-above-max"),
    param({"amount": 10**30, "currency": "INR"}, 400, "INVALID_AMOUNT", "amount", id="amount-beyond-bigint"),
    param({"amount": 50000}, 400, BAD, "currency", id="currency-missing"),
    param({"amount": 50000, "currency": "ABC"}, 400, "INVALID_CURRENCY", "currency", id="currency-unknown"),
    param({"amount": 50000, "currency": "inr"}, 400, "INVALID_CURRENCY", "currency", id="currency-lowercase"),
    param({"amount": 50000, "currency": "INR "}, 400, "INVALID_CURRENCY", "currency", id="currency-padded"),
    param({"amount": 50000, "currency": 356}, 400, BAD, "currency", id="currency-not-string"),
    param({"amount": 50000, "currency": "INR", "receipt": "r" * 41}, 400, BAD, "receipt", id="receipt-41-chars"),
    param({"amount": 50000, "currency": "INR", "receipt": 7}, 400, BAD, "receipt", id="receipt-not-string"),
    param({"amount": 50000, "currency": "INR", "notes": "gift"}, 400, BAD, "notes", id="notes-string"),
    param({"amount": 50000, "currency": "INR", "notes": ["a"]}, 400, BAD, "notes", id="notes-array"),
    param({"amount": 50000, "currency": "INR", "notes": {f"k{i}": i for i in range(16)}}, 400, BAD, "notes",
          id="notes-16-keys"),
    param({"amount": 50000, "currency": "INR", "notes": {"a": {"b": 1}}}, 400, BAD, "notes.a",
          id="notes-nested-object"),
    param({"amount": 50000, "currency": "INR", "capture_method": "later"}, 400, BAD, "capture_method",
          id="capture-method-unknown"),
    param({"amount": 50000, "currency": "INR", "capture_method": "Manual"}, 400, BAD, "capture_method",
          id="capture-method-wrong-case"),
    param({"amount": 50000, "currency": "INR", "customer": "c_1"}, 400, BAD, "customer", id="unknown-field"),
    param(b"amount=50000&currency=INR", 400, BAD, None, id="body-not-json"),
    param(b'{"amount": 50000, "currency": "INR"', 400, BAD, None, id="body-truncated-json"),
    param(b"\xff\xfe", 400, BAD, None, id="body-not-utf8"),
    param([{"amount": 50000, "currency": "INR"}], 400, BAD, None, id="body-json-array"),
    param("INR", 400, BAD, None, id="body-json-string"),
    param(None, 400, BAD, None, id="body-json-null"),
]


@pytest.mark.parametrize(("body", "status", "code", "field"), ORDER_FAILURES)
async def test_order_create_refuses_invalid_input_naming_the_field(client, merchant, body, status, code, field):
    resp = await post(client, f"{API}/orders", body, merchant["headers"])
    await assert_error(resp, status, code, field)
    listing = await (await client.get(f"{API}/orders", headers=merchant["headers"])).json()
    assert listing["total"] == 0


ORDER_PASSES = [
    param({"amount": 50000, "currency": "INR"},
          {"amount": 50000, "currency": "INR", "receipt": None, "notes": {}, "capture_method": "automatic"},
          id="minimal"),
    param({"amount": 1, "currency": "INR"}, {"amount": 1}, id="amount-one"),
    param({"amount": MAX_AMOUNT, "currency": "INR"}, {"amount": MAX_AMOUNT}, id="amount-at-max"),
    param({"amount": 50000, "currency": "INR", "receipt": "rcpt_1", "notes": {"sku": "A1", "qty": 2, "gift": True},
           "capture_method": "manual"},
          {"receipt": "rcpt_1", "notes": {"sku": "A1", "qty": 2, "gift": True}, "capture_method": "manual"},
          id="receipt-notes-manual-capture"),
    param({"amount": 50000, "currency": "INR", "receipt": "r" * 40, "notes": {f"k{i}": i for i in range(15)}},
          {"receipt": "r" * 40, "notes": {f"k{i}": i for i in range(15)}}, id="receipt-40-chars-notes-15-keys"),
    param({"amount": 500, "currency": "JPY"}, {"amount": 500, "currency": "JPY"}, id="jpy-amount"),
    param({"amount": 1234, "currency": "KWD"}, {"amount": 1234, "currency": "KWD"}, id="three-decimal-currency"),
]


@pytest.mark.parametrize(("body", "expected"), ORDER_PASSES)
async def test_order_create_accepts_valid_input(client, merchant, body, expected):
    resp = await post(client, f"{API}/orders", body, merchant["headers"])
    created = await resp.json()
    assert resp.status == 201, created
    assert {k: created[k] for k in expected} == expected
    assert created["status"] == "created" and created["id"].startswith("order_")


# ---------------------------------------------------------------- POST /api/v1/payments


def test_the_computed_card_numbers_are_of_the_networks_they_stand_for():
    assert (detect_network(UNIONPAY), detect_network(RUPAY), detect_network(VISA_15_DIGITS)) == (None, "rupay", "visa")


PAYMENT_FAILURES = [
    param({"order_id": MISSING}, 400, BAD, "order_id", id="order-id-missing"),
    param({"order_id": 12345}, 400, BAD, "order_id", id="order-id-not-string"),
    param({"order_id": "order_" + "x" * 65}, 400, BAD, "order_id", id="order-id-too-long"),
    param({"order_id": "order_doesnotexist00"}, 404, "NOT_FOUND_ERROR", "order_id", id="order-id-unknown"),
    param({"method": MISSING}, 400, BAD, "method", id="method-missing"),
    param({"method": "cash"}, 400, BAD, "method", id="method-invalid"),
    param({"card": MISSING}, 400, BAD, "card", id="card-method-without-card"),
    param({"card": None}, 400, BAD, "card", id="card-method-with-null-card"),
    param({"card": "4111111111111111"}, 400, BAD, "card", id="card-not-object"),
    param({"vpa": "success@paygate"}, 400, BAD, "vpa", id="card-method-with-vpa"),
    param({"method": "upi", "card": MISSING}, 400, BAD, "vpa", id="upi-without-vpa"),
    param({"method": "upi", "vpa": "success@paygate"}, 400, BAD, "card", id="upi-with-card"),
    param({"method": "upi", "card": MISSING, "vpa": "success"}, 400, "INVALID_VPA", "vpa", id="vpa-without-at"),
    param({"method": "upi", "card": MISSING, "vpa": "a b@paygate"}, 400, "INVALID_VPA", "vpa", id="vpa-with-space"),
    param({"method": "upi", "card": MISSING, "vpa": "name@"}, 400, "INVALID_VPA", "vpa", id="vpa-no-provider"),
    param({"method": "upi", "card": MISSING, "vpa": 42}, 400, BAD, "vpa", id="vpa-not-string"),
    param(card(number=MISSING), 400, BAD, "card.number", id="card-number-missing"),
    param(card(number=4111111111111111), 400, BAD, "card.number", id="card-number-integer"),
    param(card(number="4111a11111111111"), 400, "INVALID_CARD_NUMBER", "card.number", id="card-number-non-digit"),
    param(card(number="4111111111111112"), 400, "INVALID_CARD_NUMBER", "card.number", id="card-number-bad-luhn"),
    param(card(number="4242"), 400, "INVALID_CARD_NUMBER", "card.number", id="card-number-too-short"),
    param(card(number=UNIONPAY), 400, "UNSUPPORTED_CARD_NETWORK", "card.number", id="card-network-unsupported"),
    param(card(number=VISA_15_DIGITS), 400, "INVALID_CARD_NUMBER", "card.number",
          id="card-number-wrong-length-for-visa"),
    param(card(number=AMEX + "0"), 400, "INVALID_CARD_NUMBER", "card.number", id="card-number-wrong-length-amex"),
    param(card(expiry_month=13), 400, "INVALID_EXPIRY", "card.expiry_month", id="expiry-month-13"),
    param(card(expiry_month=0), 400, "INVALID_EXPIRY", "card.expiry_month", id="expiry-month-0"),
    param(card(expiry_month="13"), 400, "INVALID_EXPIRY", "card.expiry_month", id="expiry-month-string-13"),
    param(card(expiry_month=MISSING), 400, BAD, "card.expiry_month", id="expiry-month-missing"),
    param(card(expiry_month=1.5), 400, BAD, "card.expiry_month", id="expiry-month-float"),
    param(card(expiry_year=2100), 400, "INVALID_EXPIRY", "card.expiry_year", id="expiry-year-2100"),
    param(card(expiry_year=1999), 400, "INVALID_EXPIRY", "card.expiry_year", id="expiry-year-1999"),
    param(card(expiry_year="203"), 400, "INVALID_EXPIRY", "card.expiry_year", id="expiry-year-three-digits"),
    param(card(expiry_year="next"), 400, "INVALID_EXPIRY", "card.expiry_year", id="expiry-year-word"),
    param(card(expiry_year=MISSING), 400, BAD, "card.expiry_year", id="expiry-year-missing"),
    param(card(expiry_month=LAST_MONTH, expiry_year=LAST_MONTH_YEAR), 400, "CARD_EXPIRED", LAST_MONTH_FIELD,
          id="expired-last-month"),
    param(card(expiry_month=12, expiry_year=TODAY.year - 1), 400, "CARD_EXPIRED", "card.expiry_year",
          id="expired-last-year"),
    param(card(number=AMEX, cvv="123"), 400, "INVALID_CVV", "card.cvv", id="cvv-3-digits-for-amex"),
    param(card(cvv="1234"), 400, "INVALID_CVV", "card.cvv", id="cvv-4-digits-for-visa"),
    param(card(cvv="12"), 400, "INVALID_CVV", "card.cvv", id="cvv-2-digits"),
    param(card(cvv="12a"), 400, "INVALID_CVV", "card.cvv", id="cvv-non-digit"),
    param(card(cvv=123), 400, BAD, "card.cvv", id="cvv-integer"),
    param(card(cvv=MISSING), 400, BAD, "card.cvv", id="cvv-missing"),
    param(card(nickname="mine"), 400, BAD, "card.nickname", id="card-unknown-field"),
    param(card(name="n" * 101), 400, BAD, "card.name", id="card-name-too-long"),
    param({"customer_id": "c_1"}, 400, BAD, "customer_id", id="unknown-field"),
    param({"amount": 49999}, 400, BAD, "amount", id="amount-differs-from-order"),
    param({"currency": "USD"}, 400, BAD, "currency", id="currency-differs-from-order"),
    param({"currency": "inr"}, 400, "INVALID_CURRENCY", "currency", id="currency-lowercase"),
    param({"amount": 0}, 400, "INVALID_AMOUNT", "amount", id="amount-zero"),
    param({"amount": -50000}, 400, "INVALID_AMOUNT", "amount", id="amount-negative"),
    param({"amount": "50000"}, 400, BAD, "amount", id="amount-string"),
]


@pytest.mark.parametrize(("changes", "status", "code", "field"), PAYMENT_FAILURES)
async def test_payment_create_refuses_invalid_input_naming_the_field(client, merchant, order, changes, status,
                                                                    code, field):
    resp = await post(client, f"{API}/payments", payment_body(order["id"], changes), merchant["headers"])
    await assert_error(resp, status, code, field)
    assert VISA_CARD["number"] not in await resp.text()


@pytest.mark.parametrize("body", [b"not json", b"[]", b"{}"], ids=["not-json", "json-array", "empty-object"])
async def test_payment_create_refuses_a_body_that_is_not_a_payment_object(client, merchant, body):
    resp = await post(client, f"{API}/payments", body, merchant["headers"])
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == BAD


async def test_no_refused_payment_writes_anything(client, merchant, order, pool):
    for case in PAYMENT_FAILURES:
        changes, status, _code, _field = case.values
        resp = await post(client, f"{API}/payments", payment_body(order["id"], changes), merchant["headers"])
        assert resp.status == status, case.id

    listing = await (await client.get(f"{API}/payments", headers=merchant["headers"])).json()
    assert listing["total"] == 0 and listing["data"] == []
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("SELECT (SELECT count(*) FROM payments), (SELECT count(*) FROM events)")
        assert await cur.fetchone() == (0, 0)
    unchanged = await (await client.get(f"{API}/orders/{order['id']}", headers=merchant["headers"])).json()
    assert unchanged["status"] == "created"


PAYMENT_PASSES = [
    param(card(number="4111111111111111"), "visa", "1111", id="visa-4111"),
    param(card(number="4242424242424242"), "visa", "4242", id="visa-4242"),
    param(card(number="4242 4242 4242 4242"), "visa", "4242", id="visa-with-spaces"),
    param(card(number="5555555555554444"), "mastercard", "4444", id="mastercard-5555"),
    param(card(number=AMEX, cvv="1234"), "amex", "0005", id="amex-4-digit-cvv"),
    param(card(number=RUPAY), "rupay", RUPAY[-4:], id="rupay"),
    param(card(expiry_month="12", expiry_year="30"), "visa", "1111", id="expiry-as-strings"),
    param(card(expiry_month=TODAY.month, expiry_year=TODAY.year), "visa", "1111", id="expires-this-month"),
    param(card(name="A. Customer"), "visa", "1111", id="cardholder-name"),
    param({"amount": 50000, "currency": "INR"}, "visa", "1111", id="amount-and-currency-equal-to-order"),
    param({"method": "upi", "card": MISSING, "vpa": "success@paygate"}, None, None, id="upi-success-vpa"),
]


@pytest.mark.parametrize(("changes", "network", "last4"), PAYMENT_PASSES)
async def test_payment_create_accepts_valid_input(client, merchant, order, changes, network, last4):
    body = payment_body(order["id"], changes)
    resp = await post(client, f"{API}/payments", body, merchant["headers"])
    created = await resp.json()
    assert resp.status == 201, created
    assert created["order_id"] == order["id"] and created["status"] == "pending"
    assert (created["amount"], created["currency"]) == (50000, "INR")
    if network is None:
        assert (created["method"], created["vpa"], created["card"]) == ("upi", body["vpa"], None)
    else:
        assert (created["method"], created["card"]["network"], created["card"]["last4"]) == ("card", network, last4)


async def test_string_expiry_is_stored_as_numbers(client, merchant, order):
    resp = await post(client, f"{API}/payments", payment_body(order["id"], card(expiry_month="07", expiry_year="30")),
                      merchant["headers"])
    assert resp.status == 201
    created = await resp.json()
    assert (created["card"]["expiry_month"], created["card"]["expiry_year"]) == (7, 2030)


# ---------------------------------------------------------------- text Postgres cannot store
# NUL characters, lone surrogates and non-finite numbers cannot go into a text or jsonb column;
# they are bad input (400 naming the field, or no such object), never a 500.

UNSTORABLE_BODIES = [
    param("/orders", {"amount": 50000, "currency": "INR", "receipt": "a\u0000b"}, "receipt", id="receipt-nul"),
    param("/orders", {"amount": 50000, "currency": "INR", "notes": {"a": "x\u0000"}}, "notes.a",
          id="notes-value-nul"),
    param("/orders", {"amount": 50000, "currency": "INR", "notes": {"a\u0000": "x"}}, "notes", id="notes-key-nul"),
    param("/orders", {"amount": 50000, "currency": "INR", "notes": {"a": "\ud800"}}, "notes.a",
          id="notes-value-lone-surrogate"),
    param("/orders", b'{"amount": 50000, "currency": "INR", "notes": {"a": NaN}}', "notes.a", id="notes-value-nan"),
    param("/orders", b'{"amount": 50000, "currency": "INR", "notes": {"a": 1e400}}', "notes.a",
          id="notes-value-infinity"),
    param("/payments", {"order_id": "order_\u0000", "method": "upi", "vpa": "success@paygate"}, "order_id",
          id="payment-order-id-nul"),
]


@pytest.mark.parametrize(("path", "body", "field"), UNSTORABLE_BODIES)
async def test_unstorable_text_in_a_body_is_refused_naming_the_field(client, merchant, path, body, field):
    resp = await post(client, API + path, body, merchant["headers"])
    await assert_error(resp, 400, BAD, field)


@pytest.mark.parametrize(("path", "status", "code", "field"), [
    param("/orders/order_%00", 404, "NOT_FOUND_ERROR", "id", id="order-id-nul"),
    param("/orders/order_%00/payments", 404, "NOT_FOUND_ERROR", "id", id="order-payments-id-nul"),
    param("/payments/pay_%00", 404, "NOT_FOUND_ERROR", "id", id="payment-id-nul"),
    param("/events/evt_%00", 404, "NOT_FOUND_ERROR", "id", id="event-id-nul"),
    param("/orders?receipt=%00", 400, BAD, "receipt", id="receipt-filter-nul"),
    param("/payments?order_id=%00", 400, BAD, "order_id", id="order-id-filter-nul"),
    param("/events?type=%00", 400, BAD, "type", id="type-filter-nul"),
])
async def test_nul_in_a_url_is_not_found_or_refused(client, merchant, path, status, code, field):
    resp = await client.get(URL(API + path, encoded=True), headers=merchant["headers"])
    await assert_error(resp, status, code, field)


# ---------------------------------------------------------------- authentication


def basic(key: str, secret: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()}


AUTH_FAILURES = [
    param(lambda m: {}, id="no-headers"),
    param(lambda m: {"X-Api-Key": m["api_key"]}, id="key-without-secret"),
    param(lambda m: {"X-Api-Secret": m["api_secret"]}, id="secret-without-key"),
    param(lambda m: {"X-Api-Key": m["api_key"], "X-Api-Secret": "wrong"}, id="wrong-secret"),
    param(lambda m: {"X-Api-Key": "key_unknown", "X-Api-Secret": m["api_secret"]}, id="unknown-key"),
    param(lambda m: basic(m["api_key"], "wrong"), id="basic-wrong-secret"),
    param(lambda m: basic(m["api_key"], ""), id="basic-without-secret"),
    param(lambda m: {"Authorization": "Basic %%%not-base64"}, id="basic-not-base64"),
    param(lambda m: basic(m["api_key"] + "\x00", m["api_secret"]), id="basic-key-with-nul"),
    param(lambda m: {"Authorization": f"Bearer {m['api_secret']}"}, id="bearer-scheme"),
]


@pytest.mark.parametrize("headers", AUTH_FAILURES)
@pytest.mark.parametrize(("method", "path"), [("GET", "/orders"), ("POST", "/orders"), ("GET", "/payments"),
                                              ("GET", "/events")])
async def test_requests_without_valid_credentials_get_401(client, merchant, headers, method, path):
    resp = await client.request(method, API + path, headers=headers(merchant),
                                json={"amount": 50000, "currency": "INR"})
    await assert_error(resp, 401, "AUTHENTICATION_ERROR", None)
    listing = await (await client.get(f"{API}/orders", headers=merchant["headers"])).json()
    assert listing["total"] == 0


@pytest.mark.parametrize("headers", [
    param(lambda m: m["headers"], id="api-key-headers"),
    param(lambda m: basic(m["api_key"], m["api_secret"]), id="http-basic"),
])
async def test_valid_credentials_are_accepted(client, merchant, headers):
    resp = await client.get(f"{API}/orders", headers=headers(merchant))
    assert resp.status == 200
    assert (await resp.json())["total"] == 0


# ---------------------------------------------------------------- list query parameters

LIST_FAILURES = [
    param({"limit": "0"}, "limit", id="limit-0"),
    param({"limit": "101"}, "limit", id="limit-101"),
    param({"limit": "ten"}, "limit", id="limit-not-integer"),
    param({"offset": "-1"}, "offset", id="offset-negative"),
    param({"offset": "1.5"}, "offset", id="offset-not-integer"),
    param({"offset": str(2**63)}, "offset", id="offset-beyond-bigint"),
    param({"limit": "\uff11\uff10"}, "limit", id="limit-fullwidth-digits"),
    param({"limit": "1_0"}, "limit", id="limit-with-underscore"),
    param({"status": "bogus"}, "status", id="status-bogus"),
    param({"method": "cash"}, "method", id="method-bogus"),
    param({"from": "notatime"}, "from", id="from-not-a-time"),
    param({"to": "2026-13-01"}, "to", id="to-not-a-date"),
    param({"from": "99999999999999"}, "from", id="from-beyond-year-9999"),
    param({"order_id": "o" * 256}, "order_id", id="order-id-too-long"),
    param({"sort": "amount"}, "sort", id="unknown-param"),
]


@pytest.mark.parametrize(("query", "field"), LIST_FAILURES)
async def test_payment_list_refuses_bad_query_naming_the_parameter(client, merchant, query, field):
    resp = await client.get(f"{API}/payments", params=query, headers=merchant["headers"])
    await assert_error(resp, 400, BAD, field)


@pytest.fixture
async def payment(client, merchant, order) -> dict:
    resp = await post(client, f"{API}/payments", payment_body(order["id"], {}), merchant["headers"])
    assert resp.status == 201
    return await resp.json()


def unix(delta: timedelta) -> str:
    return str(int((datetime.now(UTC) + delta).timestamp()))


def iso(delta: timedelta, suffix: str = "Z") -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%S") + suffix


HOUR = timedelta(hours=1)
LIST_PASSES = [
    param({"limit": "100"}, 1, id="limit-100"),
    param({"limit": "1", "offset": "0"}, 1, id="limit-1-offset-0"),
    param({"offset": "5"}, 1, id="offset-past-the-end"),
    param({"status": "pending"}, 1, id="status-pending"),
    param({"status": "success"}, 0, id="status-success"),
    param({"method": "card"}, 1, id="method-card"),
    param({"from": unix(-HOUR)}, 1, id="from-unix-seconds"),
    param({"from": unix(HOUR)}, 0, id="from-unix-seconds-in-future"),
    param({"from": iso(-HOUR)}, 1, id="from-iso-8601-z"),
    param({"from": iso(-HOUR, "+00:00")}, 1, id="from-iso-8601-offset"),
    param({"from": iso(HOUR)}, 0, id="from-iso-8601-in-future"),
    param({"to": iso(-HOUR)}, 0, id="to-iso-8601-in-past"),
    param({"from": iso(-HOUR), "to": unix(HOUR)}, 1, id="from-and-to"),
]


@pytest.mark.parametrize(("query", "total"), LIST_PASSES)
async def test_payment_list_accepts_valid_query(client, merchant, payment, query, total):
    resp = await client.get(f"{API}/payments", params=query, headers=merchant["headers"])
    listing = await resp.json()
    assert resp.status == 200, listing
    assert listing["total"] == total
    assert listing["limit"] == int(query.get("limit", 10)) and listing["offset"] == int(query.get("offset", 0))


# ---------------------------------------------------------------- body size


@pytest.mark.parametrize("path", ["/orders", "/payments", "/payments/pay_anything/capture"])
async def test_body_over_one_mib_gets_413(client, merchant, path):
    body = b'{"receipt": "' + b"r" * MIB + b'"}'
    resp = await post(client, API + path, body, merchant["headers"])
    await assert_error(resp, 413, "PAYLOAD_TOO_LARGE", None)


async def test_body_of_exactly_one_mib_is_read_and_validated(client, merchant):
    padding = MIB - len(b'{"amount": 50000, "currency": "INR", "receipt": ""}')
    body = b'{"amount": 50000, "currency": "INR", "receipt": "' + b"r" * padding + b'"}'
    assert len(body) == MIB
    resp = await post(client, f"{API}/orders", body, merchant["headers"])
    await assert_error(resp, 400, BAD, "receipt")


# ---------------------------------------------------------------- Content-Type
# A body is JSON only when the request says so; with no body, no Content-Type is needed.

UNKNOWN_PAYMENT = "pay_Zz9qZz9qZz9qZz9q"
JSON_BODIES = [
    param("POST", "/orders", {"amount": 50000, "currency": "INR"}, id="create-order"),
    param("POST", "/payments", {"order_id": "order_Zz9qZz9qZz9qZz9q", "method": "upi", "vpa": "success@paygate"},
          id="create-payment"),
    param("POST", f"/payments/{UNKNOWN_PAYMENT}/capture", {"amount": 100}, id="capture-payment"),
    param("POST", f"/payments/{UNKNOWN_PAYMENT}/refunds", {"amount": 100}, id="refund-payment"),
    param("PATCH", "/merchant", {"webhook_url": None}, id="update-merchant"),
    param("POST", "/webhooks/recover", {"since": "2025-01-01T00:00:00Z"}, id="recover-webhooks"),
    param("POST", "/checkout/payments", {"key": "key_of_the_merchant", "order_id": "order_Zz9qZz9qZz9qZz9q",
                                         "method": "upi", "vpa": "success@paygate"}, id="checkout-payment"),
]
NOT_JSON_TYPES = [
    param(None, id="no-content-type"),
    param("text/plain", id="text-plain"),
    param("text/plain; charset=utf-8", id="text-plain-utf8"),
    param("application/x-www-form-urlencoded", id="form"),
    param("multipart/form-data; boundary=x", id="multipart"),
    param("application/octet-stream", id="octet-stream"),
    param("text/json", id="text-json"),
    param("application/jsonl", id="json-lines"),
    param("application/merge-patch+json", id="merge-patch-json"),
]


def with_key(body: dict, merchant: dict) -> dict:
    return {**body, "key": merchant["api_key"]} if "key" in body else body


async def send(client, method: str, path: str, data: bytes, headers: dict, content_type: str | None):
    """``data`` as the body, with exactly this Content-Type (None: no Content-Type header at all)."""
    if content_type is None:
        return await client.request(method, API + path, data=data, headers=headers,
                                    skip_auto_headers=["Content-Type"])
    return await client.request(method, API + path, data=data, headers={**headers, "Content-Type": content_type})


@pytest.mark.parametrize("content_type", NOT_JSON_TYPES)
@pytest.mark.parametrize(("method", "path", "body"), JSON_BODIES)
async def test_a_json_body_without_the_json_content_type_gets_415(client, merchant, method, path, body,
                                                                   content_type):
    data = json.dumps(with_key(body, merchant)).encode()
    resp = await send(client, method, path, data, merchant["headers"], content_type)
    error = await assert_error(resp, 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type")
    assert error["description"] == "Content-Type must be application/json"


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "Application/JSON;Charset=UTF-8"])
async def test_the_json_content_type_may_carry_parameters_and_any_case(client, merchant, content_type):
    data = json.dumps({"amount": 50000, "currency": "INR"}).encode()
    resp = await send(client, "POST", "/orders", data, merchant["headers"], content_type)
    assert resp.status == 201, await resp.text()


async def test_a_refused_content_type_writes_nothing_and_leaves_the_idempotency_key_unused(client, merchant):
    headers = {**merchant["headers"], "Idempotency-Key": "order-1001"}
    data = json.dumps({"amount": 50000, "currency": "INR"}).encode()
    assert (await send(client, "POST", "/orders", data, headers, "text/plain")).status == 415
    assert (await (await client.get(f"{API}/orders", headers=merchant["headers"])).json())["total"] == 0
    resp = await send(client, "POST", "/orders", data, headers, "application/json")
    assert resp.status == 201 and "Idempotent-Replayed" not in resp.headers


async def test_without_credentials_the_answer_is_401_whatever_the_content_type(client):
    data = json.dumps({"amount": 50000, "currency": "INR"}).encode()
    resp = await send(client, "POST", "/orders", data, {}, "text/plain")
    await assert_error(resp, 401, "AUTHENTICATION_ERROR", None)


@pytest.mark.parametrize(("method", "path", "status", "code", "field"), [
    param("PATCH", "/merchant", 200, None, None, id="update-merchant-empty"),
    param("POST", "/orders", 400, BAD, "amount", id="create-order-needs-its-fields"),
    param("POST", "/payments/{payment}/capture", 400, "PAYMENT_NOT_CAPTURABLE", None, id="capture-whole"),
    param("POST", "/payments/{payment}/refunds", 400, "PAYMENT_NOT_REFUNDABLE", None, id="refund-in-full"),
    param("POST", "/merchant/webhook-secret/rotate", 200, None, None, id="rotate-webhook-secret"),
    param("POST", "/webhooks/test", 400, BAD, None, id="test-webhook-without-url"),
    param("POST", "/webhooks/whd_Zz9qZz9qZz9qZz9q/retry", 404, "NOT_FOUND_ERROR", "id", id="retry-delivery"),
])
@pytest.mark.parametrize("content_type", [None, "application/octet-stream", "text/plain"],
                         ids=["no-content-type", "octet-stream", "text-plain"])
async def test_a_request_without_a_body_needs_no_json_content_type(client, merchant, payment, method, path,
                                                                   status, code, field, content_type):
    """No body is read as {}: the answer is the route's own (success or a refusal of the state), never 415."""
    resp = await send(client, method, path.format(payment=payment["id"]), b"", merchant["headers"], content_type)
    if code is None:
        assert resp.status == status, await resp.text()
    else:
        await assert_error(resp, status, code, field)


# ---------------------------------------------------------------- not found: the object named in words

OBJECTS_BY_ID = [
    # path, the id prefix, the object in words; query
    param("/orders/{id}", "order", "order", "", id="get-order"),
    param("/orders/{id}/payments", "order", "order", "", id="list-order-payments"),
    param("/payments/{id}", "pay", "payment", "", id="get-payment"),
    param("/payments/{id}/refunds", "pay", "payment", "", id="list-payment-refunds"),
    param("/refunds/{id}", "rfnd", "refund", "", id="get-refund"),
    param("/events/{id}", "evt", "event", "", id="get-event"),
    param("/webhooks/{id}", "whd", "webhook delivery", "", id="get-webhook-delivery"),
    param("/webhook_endpoints/{id}", "we", "webhook endpoint", "", id="get-webhook-endpoint"),
    param("/webhook_endpoints/{id}/secret", "we", "webhook endpoint", "", id="reveal-webhook-endpoint-secret"),
    param("/checkout/orders/{id}", "order", "order", "?key={key}", id="checkout-order"),
    param("/checkout/payments/{id}", "pay", "payment", "?key={key}", id="checkout-payment"),
]


def test_the_table_holds_every_get_by_id_route():
    documented = {op.path for op in every_operation() if op.method == "GET" and "{id}" in op.path}
    assert documented == {API + case.values[0] for case in OBJECTS_BY_ID}


@pytest.mark.parametrize("shape", ["well-formed", "malformed"])
@pytest.mark.parametrize(("path", "prefix", "words", "query"), OBJECTS_BY_ID)
async def test_an_unknown_id_is_not_found_naming_the_object_in_words(client, merchant, path, prefix, words, query,
                                                                     shape):
    """Never the id's prefix ("no pay ..."): the object as a reader calls it, with the id asked for."""
    object_id = f"{prefix}_{'Zz9q' * 4}" if shape == "well-formed" else f"{prefix}_nope"
    resp = await client.get(API + path.format(id=object_id) + query.format(key=merchant["api_key"]),
                            headers={} if query else merchant["headers"])
    payload = await resp.json()
    assert (resp.status, payload["error"]["code"]) == (404, "NOT_FOUND_ERROR"), payload
    description = payload["error"]["description"]
    rest = description.replace(object_id, "")
    assert re.search(rf"\b{words}\b", rest), description
    assert prefix == words or not re.search(rf"\b{prefix}\b", rest), description
    if not path.startswith("/checkout/") or shape == "malformed":  # checkout says "for this key", not the id
        assert description == f"no {words} '{object_id}'"
        assert payload["error"]["field"] == "id"


async def test_an_unknown_order_to_pay_is_named_in_words_on_its_field(client, merchant):
    resp = await post(client, f"{API}/payments", payment_body("order_Zz9qZz9qZz9qZz9q", {}), merchant["headers"])
    error = await assert_error(resp, 404, "NOT_FOUND_ERROR", "order_id")
    assert error["description"] == "no order 'order_Zz9qZz9qZz9qZz9q'"


# ---------------------------------------------------------------- refusals of a state name no field
# The field names something in the request's body or query; a payment or merchant in the wrong state is not.

STATE_REFUSALS = [
    param("/payments/{payment}/refunds", {}, 400, "PAYMENT_NOT_REFUNDABLE", None, id="refund-a-pending-payment"),
    param("/payments/{payment}/refunds", {"amount": 100}, 400, "PAYMENT_NOT_REFUNDABLE", None,
          id="refund-part-of-a-pending-payment"),
    param("/payments/{payment}/capture", {}, 400, "PAYMENT_NOT_CAPTURABLE", None, id="capture-a-pending-payment"),
    param("/webhooks/test", None, 400, BAD, None, id="test-webhook-without-a-url"),
    param(f"/payments/{UNKNOWN_PAYMENT}/refunds", {}, 404, "NOT_FOUND_ERROR", "id", id="refund-an-unknown-payment"),
]


@pytest.mark.parametrize(("path", "body", "status", "code", "field"), STATE_REFUSALS)
async def test_a_refusal_about_state_names_no_field_outside_the_request(client, merchant, payment, path, body,
                                                                       status, code, field):
    url = API + path.format(payment=payment["id"])
    resp = await (post(client, url, body, merchant["headers"]) if body is not None
                  else client.post(url, headers=merchant["headers"]))
    await assert_error(resp, status, code, field)


# ---------------------------------------------------------------- card data never leaves


async def test_card_number_and_cvv_never_appear_in_responses(client, merchant, order, pool):
    # A 4-digit CVV that is no year, amount or last4 here, so it cannot turn up by chance in a timestamp.
    cvv = "7391"
    resp = await post(client, f"{API}/payments", payment_body(order["id"], card(number=AMEX, cvv=cvv)),
                      merchant["headers"])
    assert resp.status == 201
    texts = {"create": await resp.text()}
    payment_id = (await resp.json())["id"]
    events = await (await client.get(f"{API}/events", headers=merchant["headers"])).json()
    assert [e["object_id"] for e in events["data"]] == [payment_id]
    for name, path in {
        "get-payment": f"/payments/{payment_id}",
        "list-payments": "/payments",
        "order-payments": f"/orders/{order['id']}/payments",
        "list-events": "/events",
        "get-event": f"/events/{events['data'][0]['id']}",
    }.items():
        got = await client.get(API + path, headers=merchant["headers"])
        assert got.status == 200, name
        texts[name] = await got.text()

    for name, text in texts.items():
        assert AMEX not in text, name
        assert cvv not in text, name
        assert '"cvv"' not in text and '"number"' not in text, name
        assert payment_id in text, name
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("SELECT p::text, (SELECT string_agg(e::text, '') FROM events e) FROM payments p")
        stored = " ".join(await cur.fetchone())
    assert AMEX not in stored


"""Metadata on orders (their notes), payments and refunds: set at create, changed by PATCH as Stripe's is, echoed in
the objects and their webhooks, matched by list filters; every rule broken is a 400 naming the exact place."""

from __future__ import annotations

import json

import pytest
from pytest import param

from .api import create_order, eventually, get, pay, wait_final

API = "/api/v1"
BAD = "BAD_REQUEST_ERROR"
FAKE = {"order": "order_Zz9qZz9qZz9qZz9q", "payment": "pay_Zz9qZz9qZz9qZz9q", "refund": "rfnd_Zz9qZz9qZz9qZz9q"}


async def _send(client, method: str, path: str, body, headers: dict, **extra):
    return await client.request(method, path, data=json.dumps(body),
                                headers={**headers, "Content-Type": "application/json", **extra})


async def _ok(resp, status: int = 200) -> dict:
    payload = await resp.json()
    assert resp.status == status, payload
    return payload


async def _error(resp, status: int, field: str | None) -> dict:
    payload = await resp.json()
    assert resp.status == status, payload
    error = payload["error"]
    assert error.get("field") == field, error
    if status == 400:
        assert error["code"] == BAD, error
    return error


async def _listed(client, headers, path: str, **query) -> list[str]:
    resp = await client.get(path, params=query, headers=headers)
    return [item["id"] for item in (await _ok(resp))["data"]]


def _bodies(receiver, event: str) -> list[dict]:
    return [body for body in (json.loads(r.body) for r in receiver.requests) if body["event"] == event]


async def _arrived(receiver, event: str) -> dict:
    """The data of the one delivery of ``event``, once it has arrived."""
    async def bodies() -> list[dict]:
        return _bodies(receiver, event)

    (body,) = await eventually(bodies)
    return body["data"]


# ---------------------------------------------------------------- round trips

async def test_payment_and_refund_metadata_round_trip_through_create_patch_get_lists_and_webhooks(
        hooks_client, merchant, receiver):
    client, headers = hooks_client, merchant["headers"]
    await _ok(await _send(client, "PATCH", f"{API}/merchant", {"webhook_url": receiver.url}, headers))
    order = await create_order(client, headers)
    given = {"order_ref": "A1", "channel": "web", "note": "ünïcode ✓"}
    created = await _ok(await _send(client, "POST", f"{API}/payments", {
        "order_id": order["id"], "method": "upi", "vpa": "success@paygate", "metadata": given}, headers), 201)
    assert created["metadata"] == given
    final = await wait_final(client, headers, created["id"])
    assert final["metadata"] == given
    assert (await _arrived(receiver, "payment.created"))["payment"]["metadata"] == given
    assert (await _arrived(receiver, "payment.success"))["payment"]["metadata"] == given

    patched = await _ok(await _send(client, "PATCH", f"{API}/payments/{created['id']}",
                                    {"metadata": {"channel": "", "batch": "7", "order_ref": "A1"}}, headers))
    expected = {"order_ref": "A1", "note": "ünïcode ✓", "batch": "7"}  # set, removed, kept
    assert patched["metadata"] == expected
    assert {**patched, "metadata": given} == final  # nothing else changed, updated_at neither
    assert (await get(client, headers, f"{API}/payments/{created['id']}"))["metadata"] == expected
    other = await pay(client, headers, (await create_order(client, headers))["id"], vpa="success@paygate")
    payments = f"{API}/payments"
    assert await _listed(client, headers, payments, **{"metadata[order_ref]": "A1"}) == [created["id"]]
    assert await _listed(client, headers, payments, **{"metadata[order_ref]": "A1", "metadata[batch]": "7"}) == [
        created["id"]]
    assert await _listed(client, headers, payments, **{"metadata[order_ref]": "A1", "metadata[batch]": "8"}) == []
    assert await _listed(client, headers, payments, **{"metadata[channel]": "web"}) == []  # removed
    assert await _listed(client, headers, payments, **{"metadata[note]": "ünïcode ✓"}) == [created["id"]]
    assert other["id"] in await _listed(client, headers, payments)

    refund = await _ok(await _send(client, "POST", f"{API}/payments/{created['id']}/refunds",
                                   {"amount": 100, "metadata": {"rma": "R-1"}}, headers), 201)
    assert refund["metadata"] == {"rma": "R-1"}
    processed = await _arrived(receiver, "refund.processed")
    assert processed["refund"]["metadata"] == {"rma": "R-1"}
    assert processed["payment"]["metadata"] == expected  # the payment as it is then: patched
    assert (await _arrived(receiver, "refund.created"))["refund"]["metadata"] == {"rma": "R-1"}

    refunded = await _ok(await _send(client, "PATCH", f"{API}/refunds/{refund['id']}",
                                     {"metadata": {"rma": "", "desk": "B"}}, headers))
    assert refunded["metadata"] == {"desk": "B"} and refunded["status"] == "processed"
    assert (await get(client, headers, f"{API}/refunds/{refund['id']}"))["metadata"] == {"desk": "B"}
    assert await _listed(client, headers, f"{API}/refunds", **{"metadata[desk]": "B"}) == [refund["id"]]
    assert await _listed(client, headers, f"{API}/refunds", **{"metadata[rma]": "R-1"}) == []
    assert (await get(client, headers, f"{API}/payments/{created['id']}/refunds"))["data"][0]["metadata"] == {
        "desk": "B"}


async def test_an_orders_metadata_is_its_notes_under_either_name(client, merchant):
    headers = merchant["headers"]
    by_metadata = await create_order(client, headers, metadata={"crm": "C-9", "empty": ""})
    assert by_metadata["metadata"] == by_metadata["notes"] == {"crm": "C-9"}  # an empty value is no key
    by_notes = await create_order(client, headers, notes={"crm": "C-9", "qty": 2})  # the seed's notes, as before
    assert by_notes["metadata"] == by_notes["notes"] == {"crm": "C-9", "qty": 2}
    both = await _send(client, "POST", f"{API}/orders", {"amount": 500, "currency": "INR", "notes": {"a": "1"},
                                                         "metadata": {"a": "1"}}, headers)
    await _error(both, 400, "metadata")

    patched = await _ok(await _send(client, "PATCH", f"{API}/orders/{by_notes['id']}",
                                    {"metadata": {"crm": "C-10", "desk": "north"}}, headers))
    assert patched["notes"] == patched["metadata"] == {"crm": "C-10", "qty": 2, "desk": "north"}
    assert (await get(client, headers, f"{API}/orders/{by_notes['id']}"))["notes"] == patched["notes"]
    orders = f"{API}/orders"
    assert await _listed(client, headers, orders, **{"metadata[crm]": "C-9"}) == [by_metadata["id"]]
    assert await _listed(client, headers, orders, **{"metadata[crm]": "C-10", "metadata[desk]": "north"}) == [
        by_notes["id"]]
    assert sorted(await _listed(client, headers, orders)) == sorted([by_metadata["id"], by_notes["id"]])


async def test_a_payment_is_created_without_metadata_as_before(client, merchant):
    payment = await pay(client, merchant["headers"], (await create_order(client, merchant["headers"]))["id"])
    assert payment["metadata"] == {}


# ---------------------------------------------------------------- the rules, on every write

TOO_MANY = {f"key{i}": "v" for i in range(21)}
BROKEN = [
    param(TOO_MANY, "metadata", "at most 20 keys", id="21-keys"),
    param({"order_ref": "x" * 501}, "metadata.order_ref", "at most 500 characters", id="501-character-value"),
    param({"k" * 41: "x"}, "metadata", "keys must be at most 40 characters", id="41-character-key"),
    param({"": "x"}, "metadata", "keys must not be empty", id="empty-key"),
    param({"a[b]": "x"}, "metadata", "must not contain [ or ]", id="key-with-brackets"),
    param({"qty": 2}, "metadata.qty", "must be a string", id="number-value"),
    param({"gift": True}, "metadata.gift", "must be a string", id="boolean-value"),
    param({"gone": None}, "metadata.gone", "must be a string", id="null-value"),
    param({"nested": {"a": "b"}}, "metadata.nested", "must be a string", id="object-value"),
    param({"bad": "a\u0000b"}, "metadata.bad", "NUL", id="nul-in-value"),
    param(["a", "b"], "metadata", "must be an object", id="an-array"),
    param("order_ref=A1", "metadata", "must be an object", id="a-string"),
]


def _writes(merchant_order: str, payment: str) -> list[tuple[str, str, dict]]:
    return [
        ("POST", f"{API}/orders", {"amount": 500, "currency": "INR"}),
        ("POST", f"{API}/payments", {"order_id": merchant_order, "method": "upi", "vpa": "success@paygate"}),
        ("POST", f"{API}/payments/{payment}/refunds", {"amount": 100}),
        ("PATCH", f"{API}/orders/{merchant_order}", {}),
        ("PATCH", f"{API}/payments/{payment}", {}),
        ("PATCH", f"{API}/refunds/{FAKE['refund']}", {}),
    ]


@pytest.mark.parametrize(("metadata", "field", "rule"), BROKEN)
async def test_metadata_breaking_a_rule_is_refused_naming_the_place_on_every_write(client, merchant, metadata,
                                                                                   field, rule):
    headers = merchant["headers"]
    order = await create_order(client, headers, metadata={"kept": "yes"})
    payment = await pay(client, headers, order["id"], vpa="success@paygate")
    for method, path, body in _writes(order["id"], payment["id"]):
        error = await _error(await _send(client, method, path, {**body, "metadata": metadata}, headers), 400, field)
        assert rule in error["description"], (method, path, error)
    assert len(await _listed(client, headers, f"{API}/orders")) == 1  # nothing created
    assert len(await _listed(client, headers, f"{API}/payments")) == 1
    assert (await get(client, headers, f"{API}/orders/{order['id']}"))["metadata"] == {"kept": "yes"}
    assert (await get(client, headers, f"{API}/payments/{payment['id']}"))["metadata"] == {}


async def test_metadata_at_its_limits_is_kept_as_given(client, merchant):
    headers = merchant["headers"]
    full = {f"{i:02d}" + "k" * 38: "v" * 500 for i in range(20)}
    order = await create_order(client, headers, metadata=full)
    payment = await _ok(await _send(client, "POST", f"{API}/payments", {
        "order_id": order["id"], "method": "upi", "vpa": "success@paygate", "metadata": full}, headers), 201)
    assert order["metadata"] == payment["metadata"] == full


@pytest.mark.parametrize("kind", ["order", "payment", "refund"])
async def test_a_patch_takes_metadata_only_and_keeps_the_result_within_20_keys(worker_client, merchant, kind):
    client, headers = worker_client, merchant["headers"]
    order = await create_order(client, headers, metadata={f"key{i}": "v" for i in range(19)})
    payment = await wait_final(client, headers, (await pay(client, headers, order["id"], vpa="success@paygate"))["id"])
    await _send(client, "PATCH", f"{API}/payments/{payment['id']}",
                {"metadata": {f"key{i}": "v" for i in range(19)}}, headers)
    refund = await _ok(await _send(client, "POST", f"{API}/payments/{payment['id']}/refunds",
                                   {"amount": 100, "metadata": {f"key{i}": "v" for i in range(19)}}, headers), 201)
    await eventually(lambda: get(client, headers, f"{API}/refunds/{refund['id']}"),
                     lambda r: r["status"] == "processed")  # nothing changes these objects from here on
    path = {"order": f"{API}/orders/{order['id']}", "payment": f"{API}/payments/{payment['id']}",
            "refund": f"{API}/refunds/{refund['id']}"}[kind]
    before = await get(client, headers, path)
    assert len(before["metadata"]) == 19

    for body, field in [({"metadata": {"a": "b"}, "amount": 5}, "amount"),
                        ({"metadata": {"a": "b"}, "notes": {"a": "b"}}, "notes"),
                        ({"metadata": {"a": "b"}, "status": "failed"}, "status"),
                        ({"notes": {"a": "b"}}, "metadata"), ({}, "metadata"), ({"metadata": None}, "metadata")]:
        await _error(await _send(client, "PATCH", path, body, headers), 400, field)
    error = await _error(await _send(client, "PATCH", path, {"metadata": {"new1": "x", "new2": "y"}}, headers),
                         400, "metadata")
    assert "at most 20 keys" in error["description"]
    assert await get(client, headers, path) == before  # refused: nothing changed

    # one removed and two added: 20, within the limit
    after = await _ok(await _send(client, "PATCH", path, {"metadata": {"key0": "", "new1": "x", "new2": "y"}},
                                  headers))
    assert len(after["metadata"]) == 20 and "key0" not in after["metadata"] and after["metadata"]["new2"] == "y"
    unchanged = await _ok(await _send(client, "PATCH", path, {"metadata": {}}, headers))
    changed = {"metadata": after["metadata"], **({"notes": after["metadata"]} if kind == "order" else {})}
    assert unchanged == after == {**before, **changed}  # only the metadata changed, updated_at neither


@pytest.mark.parametrize("kind", ["order", "payment", "refund"])
async def test_patching_another_merchants_object_or_an_unknown_one_is_not_found(worker_client, merchant,
                                                                                other_merchant, kind):
    client, theirs = worker_client, other_merchant["headers"]
    order = await create_order(client, theirs, metadata={"owner": "them"})
    payment = await wait_final(client, theirs, (await pay(client, theirs, order["id"], vpa="success@paygate"))["id"])
    refund = await _ok(await _send(client, "POST", f"{API}/payments/{payment['id']}/refunds", {"amount": 100},
                                   theirs), 201)
    object_id = {"order": order["id"], "payment": payment["id"], "refund": refund["id"]}[kind]
    path = f"{API}/{kind}s/{object_id}"
    for target in (path, f"{API}/{kind}s/{FAKE[kind]}"):
        error = await _error(await _send(client, "PATCH", target, {"metadata": {"owner": "me"}}, merchant["headers"]),
                             404, "id")
        assert error["code"] == "NOT_FOUND_ERROR" and error["description"].startswith(f"no {kind} ")
    assert (await get(client, theirs, path))["metadata"] == ({"owner": "them"} if kind == "order" else {})
    # and their metadata does not answer our filters
    assert await _listed(client, merchant["headers"], f"{API}/orders", **{"metadata[owner]": "them"}) == []


async def test_a_patch_runs_under_its_idempotency_key(client, merchant):
    headers = merchant["headers"]
    payment = await pay(client, headers, (await create_order(client, headers))["id"], vpa="success@paygate")
    path = f"{API}/payments/{payment['id']}"
    first = await _send(client, "PATCH", path, {"metadata": {"n": "1"}}, headers, **{"Idempotency-Key": "p-1"})
    assert (await _ok(first))["metadata"] == {"n": "1"}
    await _ok(await _send(client, "PATCH", path, {"metadata": {"n": "2"}}, headers))
    again = await _send(client, "PATCH", path, {"metadata": {"n": "1"}}, headers, **{"Idempotency-Key": "p-1"})
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert await again.read() == await first.read()  # the first answer, byte for byte: not applied again
    assert (await get(client, headers, path))["metadata"] == {"n": "2"}
    other = await _send(client, "PATCH", path, {"metadata": {"n": "3"}}, headers, **{"Idempotency-Key": "p-1"})
    await _error(other, 422, "Idempotency-Key")


async def test_the_checkout_takes_no_metadata_from_the_shopper(client, merchant):
    order = await create_order(client, merchant["headers"])
    resp = await _send(client, "POST", f"{API}/checkout/payments", {
        "key": merchant["api_key"], "order_id": order["id"], "method": "upi", "vpa": "success@paygate",
        "metadata": {"order_ref": "forged"}}, {})
    await _error(resp, 400, "metadata")
    assert await _listed(client, merchant["headers"], f"{API}/payments") == []


# ---------------------------------------------------------------- list filters

@pytest.mark.parametrize(("query", "field"), [
    param({"metadata[]": "x"}, "metadata[]", id="empty-key"),
    param({"metadata[" + "k" * 41 + "]": "x"}, "metadata[" + "k" * 41 + "]", id="41-character-key"),
    param({"metadata[a[b]]": "x"}, "metadata[a[b]]", id="key-with-brackets"),
    param({"metadata": "order_ref=A1"}, "metadata", id="no-brackets"),
    param({"metadata[order_ref": "A1"}, "metadata[order_ref", id="unclosed-bracket"),
    param({"metadata_order_ref": "A1"}, "metadata_order_ref", id="not-a-metadata-parameter"),
    param({"metadata[order_ref]": ""}, "metadata[order_ref]", id="empty-value"),
    param({"metadata[order_ref]": "x" * 501}, "metadata[order_ref]", id="501-character-value"),
])
@pytest.mark.parametrize("path", [f"{API}/orders", f"{API}/payments", f"{API}/refunds"])
async def test_a_bad_metadata_filter_is_a_400_naming_the_parameter(client, merchant, path, query, field):
    await _error(await client.get(path, params=query, headers=merchant["headers"]), 400, field)


async def test_a_metadata_key_filtered_twice_or_on_a_list_without_metadata_is_refused(client, merchant):
    twice = await client.get(f"{API}/payments?metadata%5Ba%5D=1&metadata%5Ba%5D=2", headers=merchant["headers"])
    await _error(twice, 400, "metadata[a]")
    for path in (f"{API}/events", f"{API}/webhooks"):
        resp = await client.get(path, params={"metadata[a]": "1"}, headers=merchant["headers"])
        await _error(resp, 400, "metadata[a]")

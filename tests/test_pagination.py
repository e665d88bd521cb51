"""Cursor pagination on every list: starting_after / ending_before with has_more, stable while objects are
created, beside the seed's offset pages."""

from __future__ import annotations

import asyncio

import pytest
from pytest import param

from paygate.core.operations.processing import process_payments
from paygate.http import appkeys
from paygate.http.openapi import every_operation

from .api import create_order, get, pay

API = "/api/v1"
BAD = "BAD_REQUEST_ERROR"
LIST_PATHS = [f"{API}/orders", f"{API}/payments", f"{API}/refunds", f"{API}/events", f"{API}/webhooks"]


async def _ids(client, headers, path: str, **query) -> tuple[list[str], dict]:
    resp = await client.get(path, params={k: str(v) for k, v in query.items()}, headers=headers)
    listing = await resp.json()
    assert resp.status == 200, listing
    return [item["id"] for item in listing["data"]], listing


async def _payments(client, headers, order_id: str, count: int, at_once: int = 25) -> list[str]:
    """``count`` new payments of the order, oldest first (created ``at_once`` at a time)."""
    made: list[str] = []
    for start in range(0, count, at_once):
        batch = await asyncio.gather(*(pay(client, headers, order_id, vpa="success@paygate")
                                       for _ in range(min(at_once, count - start))))
        made.extend(p["id"] for p in batch)
    return made


async def _error(resp, field: str) -> dict:
    payload = await resp.json()
    assert resp.status == 400, payload
    assert (payload["error"]["code"], payload["error"].get("field")) == (BAD, field), payload
    return payload["error"]


def test_every_list_of_the_api_documents_both_cursors():
    lists = {op.path for op in every_operation() if op.method == "GET" and any(q.name == "limit" for q in op.query)}
    assert set(LIST_PATHS) <= lists
    for op in every_operation():
        if op.path in lists and op.method == "GET":
            assert {"starting_after", "ending_before", "offset"} <= {q.name for q in op.query}, op.operation_id


@pytest.fixture
async def five(client, merchant) -> list[str]:
    """Five payments, newest first, as lists show them."""
    order = await create_order(client, merchant["headers"])
    made = [(await pay(client, merchant["headers"], order["id"], vpa="success@paygate"))["id"] for _ in range(5)]
    return made[::-1]


@pytest.mark.parametrize(("query", "expected", "has_more"), [
    param({"limit": 2}, [0, 1], True, id="first-page"),
    param({"limit": 2, "starting_after": 1}, [2, 3], True, id="after-the-second"),
    param({"limit": 2, "starting_after": 3}, [4], False, id="after-the-fourth-the-last-one"),
    param({"limit": 2, "starting_after": 4}, [], False, id="after-the-oldest"),
    param({"limit": 2, "ending_before": 4}, [2, 3], True, id="before-the-oldest"),
    param({"limit": 2, "ending_before": 2}, [0, 1], False, id="before-the-third-the-first-page"),
    param({"limit": 3, "ending_before": 1}, [0], False, id="before-the-second"),
    param({"limit": 2, "ending_before": 0}, [], False, id="before-the-newest"),
    param({"limit": 2, "offset": 2}, [2, 3], True, id="offset-in-the-middle"),
    param({"limit": 2, "offset": 3}, [3, 4], False, id="offset-up-to-the-end"),
    param({"limit": 5}, [0, 1, 2, 3, 4], False, id="all-in-one-page"),
])
async def test_cursors_page_both_ways_newest_first_and_say_whether_more_follow(client, merchant, five, query,
                                                                               expected, has_more):
    for name in ("starting_after", "ending_before"):
        if name in query:
            query[name] = five[query[name]]
    ids, listing = await _ids(client, merchant["headers"], f"{API}/payments", **query)
    assert ids == [five[i] for i in expected]
    assert listing["has_more"] is has_more
    assert (listing["total"], listing["limit"], listing["offset"]) == (5, query["limit"], query.get("offset", 0))


async def test_a_cursor_pages_within_the_filters_and_total_counts_every_match(client, merchant, five):
    headers = merchant["headers"]
    other = await create_order(client, headers, amount=700)
    await pay(client, headers, other["id"], vpa="success@paygate")
    order_id = (await get(client, headers, f"{API}/payments/{five[0]}"))["order_id"]
    ids, listing = await _ids(client, headers, f"{API}/payments", order_id=order_id, limit=2,
                              starting_after=five[0])
    assert (ids, listing["total"], listing["has_more"]) == (five[1:3], 5, True)
    # the newest payment is the other order's: a cursor need not match the filters to mark a place
    newest, _ = await _ids(client, headers, f"{API}/payments", limit=1)
    ids, listing = await _ids(client, headers, f"{API}/payments", order_id=order_id, limit=2, ending_before=five[2])
    assert (ids, listing["has_more"]) == (five[0:2], False)
    assert newest[0] not in five


@pytest.fixture
async def every_kind(aiohttp_client, make_app, merchant, receiver):
    """A client, and three payments captured and refunded with a webhook URL set (no workers: the deliveries stay
    pending), so that every list has rows."""
    client = await aiohttp_client(make_app(webhooks__allow_private_targets=True))
    headers = merchant["headers"]
    resp = await client.patch(f"{API}/merchant", json={"webhook_url": receiver.url}, headers=headers)
    assert resp.status == 200, await resp.text()
    paid = [await pay(client, headers, (await create_order(client, headers))["id"], vpa="success@paygate")
            for _ in range(3)]
    await process_payments(client.app[appkeys.SERVICES], [p["id"] for p in paid])
    for payment in paid:
        resp = await client.post(f"{API}/payments/{payment['id']}/refunds", json={"amount": 100}, headers=headers)
        assert resp.status == 201, await resp.text()
    return client


@pytest.mark.parametrize("path", LIST_PATHS)
async def test_every_list_pages_forwards_and_backwards_through_the_same_order(every_kind, merchant, path):
    headers = merchant["headers"]
    everything, listing = await _ids(every_kind, headers, path, limit=100)
    assert len(everything) >= 3 and listing["has_more"] is False

    forwards, cursor = [], None
    while True:
        ids, listing = await _ids(every_kind, headers, path, limit=2,
                                  **({"starting_after": cursor} if cursor else {}))
        assert (listing["total"], listing["offset"]) == (len(everything), 0)
        forwards += ids
        if not listing["has_more"]:
            break
        cursor = ids[-1]
    assert forwards == everything

    backwards, cursor = [], everything[-1]
    while True:
        ids, listing = await _ids(every_kind, headers, path, limit=2, ending_before=cursor)
        backwards = ids + backwards
        if not listing["has_more"]:
            break
        cursor = ids[0]
    assert backwards == everything[:-1]


@pytest.mark.parametrize("path", LIST_PATHS)
async def test_a_cursor_that_is_no_object_of_the_list_is_refused_naming_it(every_kind, merchant, other_merchant,
                                                                          path):
    headers = merchant["headers"]
    (order, *_), _ = await _ids(every_kind, headers, f"{API}/orders", limit=1)
    (event, *_), _ = await _ids(every_kind, headers, f"{API}/events", limit=1)
    their_order = await create_order(every_kind, other_merchant["headers"])
    their_payment = await pay(every_kind, other_merchant["headers"], their_order["id"], vpa="success@paygate")
    strangers = ["pay_NoSuchPayment000000", their_order["id"], their_payment["id"],
                 event if path.endswith("/orders") else order]  # unknown; another merchant's; another list's
    for stranger in strangers:
        for name in ("starting_after", "ending_before"):
            resp = await every_kind.get(path, params={name: stranger}, headers=headers)
            error = await _error(resp, name)
            assert error["description"].startswith("no ") and repr(stranger) in error["description"], error


@pytest.mark.parametrize(("query", "field"), [
    param({"starting_after": "{0}", "ending_before": "{1}"}, "ending_before", id="both-cursors"),
    param({"starting_after": "{0}", "offset": "5"}, "offset", id="starting-after-with-offset"),
    param({"ending_before": "{0}", "offset": "0"}, "offset", id="ending-before-with-offset-0"),
    param({"starting_after": ""}, "starting_after", id="empty-cursor"),
    param({"starting_after": "pay_" + "x" * 300}, "starting_after", id="cursor-too-long"),
    param({"ending_before": "pay_a\nb"}, "ending_before", id="cursor-not-printable"),
    param({"starting_after": "pay_NoSuchPayment000000"}, "starting_after", id="unknown-id"),
])
async def test_cursor_misuse_is_a_400_naming_the_parameter(client, merchant, five, query, field):
    query = {name: value.format(*five) for name, value in query.items()}
    resp = await client.get(f"{API}/payments", params=query, headers=merchant["headers"])
    await _error(resp, field)


async def test_an_offset_page_still_answers_the_seeds_shape_with_has_more(client, merchant, five):
    _, listing = await _ids(client, merchant["headers"], f"{API}/payments", limit=2, offset=1)
    assert set(listing) == {"data", "total", "limit", "offset", "has_more"}
    assert (listing["total"], listing["limit"], listing["offset"], listing["has_more"]) == (5, 2, 1, True)


async def test_paging_by_cursor_sees_each_payment_once_while_others_are_created(aiohttp_client, make_app, merchant):
    """250 payments; 100 a page by starting_after, while 50 more are created through the API, during each page's
    request and between pages. Each of the 250 is seen exactly once (and nothing twice)."""
    client = await aiohttp_client(make_app(api__rate_limit=0))  # 300 creates in a few seconds
    headers = merchant["headers"]
    order = await create_order(client, headers)
    existing = set(await _payments(client, headers, order["id"], 250))
    arrivals = iter([10, 15, 10, 15])  # 50 in all: half while a page is read, half between pages
    arrived: list[str] = []

    async def arrive() -> None:
        arrived.extend(await _payments(client, headers, order["id"], next(arrivals, 0), at_once=5))

    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": 100, **({"starting_after": cursor} if cursor else {})}
        (ids, listing), _ = await asyncio.gather(_ids(client, headers, f"{API}/payments", **query), arrive())
        seen += ids
        if not listing["has_more"]:
            break
        cursor = ids[-1]
        await arrive()
    await arrive()  # whatever of the 50 is left (none when the pages took their turns)
    assert len(arrived) == 50 and len(set(arrived)) == 50

    assert len(seen) == len(set(seen)), "a payment was seen twice"
    assert existing <= set(seen), f"{len(existing - set(seen))} payments were skipped"
    assert len(existing & set(seen)) == 250


async def test_offset_pages_repeat_what_cursor_pages_do_not_when_payments_arrive(client, merchant, five):
    """Why cursors: a payment created between two offset pages pushes one already seen onto the next."""
    headers = merchant["headers"]
    first, _ = await _ids(client, headers, f"{API}/payments", limit=2)
    order_id = (await get(client, headers, f"{API}/payments/{five[0]}"))["order_id"]
    await pay(client, headers, order_id, vpa="success@paygate")
    by_offset, _ = await _ids(client, headers, f"{API}/payments", limit=2, offset=2)
    by_cursor, _ = await _ids(client, headers, f"{API}/payments", limit=2, starting_after=first[-1])
    assert by_offset[0] == first[-1]  # repeated
    assert by_cursor == five[2:4] and not set(by_cursor) & set(first)

"""Every money movement reaches the processor exactly once, and paygate's books agree with the acquirer's.

The simulator keeps the acquirer's side (table simulator_ledger): each test checks it against Postgres, amount for
amount and call for call, through tests/ledger.py.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from paygate.core.operations import status
from paygate.core.operations.processing import process_refund
from paygate.core.processors import simulator
from paygate.http import appkeys
from paygate.storage import fetch_all
from paygate.storage.db import cursor

from .api import create_order, event_types, get, pay, wait_final
from .ledger import disagreements, unsettled
from .metrics_text import scrape_until

# Calls left without an answer are taken over and settled within about a second.
FAST = {"payments__stuck_after": 0.5, "worker__claim_after": 0.5, "scheduler__interval": 0.1}
TIMEOUT_CARD, UNREACHABLE_CARD = "4000000000000119", "4000000000000127"


@pytest.fixture
async def app(aiohttp_client, make_app):
    return await aiohttp_client(make_app(workers=True, **FAST))


async def settled(pool, timeout: float = 20) -> None:
    """Wait until nothing is in flight, then require Postgres and the acquirer's books to agree."""
    deadline = time.monotonic() + timeout
    while await unsettled(pool):
        assert time.monotonic() < deadline, "payments or refunds still in flight"
        await asyncio.sleep(0.05)
    assert await disagreements(pool) == []


async def calls(pool) -> list[tuple]:
    """The acquirer's books, call by call: (reference, operation, amount, approved, times called)."""
    async with cursor(pool) as cur:
        rows = await fetch_all(cur, "SELECT * FROM simulator_ledger ORDER BY created_at, reference")
    return [(r["reference"], r["operation"], r["amount"], r["approved"], r["calls"]) for r in rows]


async def authorized(app, headers, *, number: str = "4111111111111111", amount: int = 50000) -> dict:
    order = await create_order(app, headers, amount=amount, capture_method="manual")
    payment = await wait_final(app, headers, (await pay(app, headers, order["id"], number=number))["id"])
    assert (payment["status"], payment["captured"]) == ("success", False)
    return payment


async def post(app, headers, path: str, body: dict | None = None) -> tuple[int, dict]:
    resp = await app.post(path, json=body or {}, headers=headers)
    return resp.status, await resp.json()


async def until(app, headers, payment_id: str, status: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while (payment := await get(app, headers, f"/api/v1/payments/{payment_id}"))["status"] != status:
        assert time.monotonic() < deadline, f"{payment_id} still {payment['status']}, not {status}"
        await asyncio.sleep(0.05)
    return payment


# -- the paths, one by one ----------------------------------------------------------------------------------------

async def test_automatic_capture_is_one_sale_at_the_processor(app, merchant, pool):
    headers = merchant["headers"]
    order = await create_order(app, headers, amount=42000)
    payment = await wait_final(app, headers, (await pay(app, headers, order["id"]))["id"])

    assert (payment["status"], payment["captured"], payment["amount_captured"]) == ("success", True, 42000)
    assert await calls(pool) == [(payment["id"], "sale", 42000, True, 1)]
    await settled(pool)


async def test_manual_capture_in_full_is_an_authorization_then_one_capture(app, merchant, pool):
    headers = merchant["headers"]
    payment = await authorized(app, headers)
    assert await calls(pool) == [(payment["id"], "authorize", 50000, True, 1)]
    await settled(pool)  # an authorization held, as paygate says

    status, captured = await post(app, headers, f"/api/v1/payments/{payment['id']}/capture")
    assert (status, captured["status"], captured["amount_captured"]) == (200, "success", 50000)
    assert (await calls(pool))[1:] == [(f"{payment['id']}/capture/1", "capture", 50000, True, 1)]
    await settled(pool)


async def test_partial_capture_takes_part_and_the_processor_releases_the_rest(app, merchant, pool):
    headers = merchant["headers"]
    payment = await authorized(app, headers)

    status, captured = await post(app, headers, f"/api/v1/payments/{payment['id']}/capture", {"amount": 30000})
    assert (status, captured["amount_captured"]) == (200, 30000)
    assert captured["authorization_released_at"] is not None
    assert (await calls(pool))[1:] == [(f"{payment['id']}/capture/1", "capture", 30000, True, 1)]
    await settled(pool)  # nothing left held at the acquirer: the capture released the rest

    status, again = await post(app, headers, f"/api/v1/payments/{payment['id']}/capture", {"amount": 10000})
    assert (status, again["error"]["code"]) == (400, "PAYMENT_ALREADY_CAPTURED")
    assert len(await calls(pool)) == 2


async def test_cancel_voids_the_authorization_and_the_order_can_be_paid_again(app, merchant, pool):
    headers = merchant["headers"]
    payment = await authorized(app, headers)
    order_path = f"/api/v1/orders/{payment['order_id']}"
    assert (await get(app, headers, order_path))["status"] == "paid"

    status, voided = await post(app, headers, f"/api/v1/payments/{payment['id']}/cancel")

    assert status == 200, voided
    assert (voided["status"], voided["void_reason"], voided["captured"]) == ("voided", "requested", False)
    assert voided["authorization_released_at"] is not None
    assert (await calls(pool))[1:] == [(f"{payment['id']}/void/1", "void", 0, True, 1)]
    assert "payment.voided" in await event_types(app, headers, payment["id"])
    assert (await get(app, headers, order_path))["status"] == "attempted"
    await settled(pool)

    for action in ("cancel", "capture"):
        status, refused = await post(app, headers, f"/api/v1/payments/{payment['id']}/{action}")
        assert (status, refused["error"]["code"]) == (400, "PAYMENT_CANCELLED")
    again = await wait_final(app, headers, (await pay(app, headers, payment["order_id"]))["id"])
    assert again["status"] == "success"
    assert (await get(app, headers, order_path))["status"] == "paid"
    await settled(pool)


async def test_cancel_is_only_for_an_uncaptured_authorization(app, merchant, other_merchant, pool):
    headers = merchant["headers"]
    order = await create_order(app, headers)
    captured = await wait_final(app, headers, (await pay(app, headers, order["id"]))["id"])
    status, refused = await post(app, headers, f"/api/v1/payments/{captured['id']}/cancel")
    assert (status, refused["error"]["code"]) == (400, "PAYMENT_NOT_CANCELLABLE")

    declined_order = await create_order(app, headers)
    declined = await wait_final(app, headers, (await pay(app, headers, declined_order["id"],
                                                         number="4000000000000002"))["id"])
    status, refused = await post(app, headers, f"/api/v1/payments/{declined['id']}/cancel")
    assert (status, refused["error"]["code"]) == (400, "PAYMENT_NOT_CANCELLABLE")

    held = await authorized(app, headers)
    status, refused = await post(app, other_merchant["headers"], f"/api/v1/payments/{held['id']}/cancel")
    assert status == 404
    status, refused = await post(app, headers, f"/api/v1/payments/{held['id']}/cancel", {"reason": "x"})
    assert (status, refused["error"]["field"]) == (400, "reason")
    assert [c[1] for c in await calls(pool)] == ["sale", "sale", "authorize"]  # no void was asked for
    await settled(pool)


async def test_an_expired_authorization_is_voided_at_the_processor(aiohttp_client, make_app, merchant, pool):
    app = await aiohttp_client(make_app(workers=True, payments__authorization_window=1, **FAST))
    headers = merchant["headers"]
    payment = await authorized(app, headers)

    released = await until(app, headers, payment["id"], "voided")

    assert (released["void_reason"], released["captured"]) == ("expired", False)
    assert released["authorization_released_at"] is not None
    assert "payment.released" in await event_types(app, headers, payment["id"])
    assert (await get(app, headers, f"/api/v1/orders/{payment['order_id']}"))["status"] == "attempted"
    assert (await calls(pool))[1:] == [(f"{payment['id']}/void/1", "void", 0, True, 1)]
    status, refused = await post(app, headers, f"/api/v1/payments/{payment['id']}/capture")
    assert (status, refused["error"]["code"]) == (400, "AUTHORIZATION_EXPIRED")
    await settled(pool)


@pytest.mark.parametrize("capture_method", ["automatic", "manual"])
async def test_a_second_payment_of_a_paid_order_never_reaches_the_processor(client, aiohttp_client, make_app,
                                                                             merchant, pool, capture_method):
    """The shopper's double click, or two tabs: the order lets one payment at a time reach the processor, so
    the second finds the order paid and fails without an authorization to give back."""
    headers = merchant["headers"]
    order = await create_order(client, headers, capture_method=capture_method)
    payments = [await pay(client, headers, order["id"]) for _ in range(3)]

    workers = await aiohttp_client(make_app(workers=True, **FAST))
    results = [await wait_final(workers, headers, p["id"]) for p in payments]

    assert sorted(p["status"] for p in results) == ["failed", "failed", "success"]
    winner = next(p for p in results if p["status"] == "success")
    assert {p["error_code"] for p in results if p["status"] == "failed"} == {"ORDER_ALREADY_PAID"}
    operation = "sale" if capture_method == "automatic" else "authorize"
    assert await calls(pool) == [(winner["id"], operation, 50000, True, 1)]
    await settled(pool)


async def test_refunds_full_partial_and_several_each_reach_the_processor_once(app, merchant, pool):
    headers = merchant["headers"]
    order = await create_order(app, headers, amount=50000)
    payment = await wait_final(app, headers, (await pay(app, headers, order["id"]))["id"])
    refunds = []
    for amount in (10000, 15000, None):  # two partial, then the rest
        status, refund = await post(app, headers, f"/api/v1/payments/{payment['id']}/refunds",
                                    {} if amount is None else {"amount": amount})
        assert status == 201, refund
        refunds.append(refund)
    await settled(pool)

    assert [c for c in await calls(pool) if c[1] == "refund"] == [
        (r["id"], "refund", amount, True, 1) for r, amount in zip(refunds, (10000, 15000, 25000), strict=True)]
    assert (await get(app, headers, f"/api/v1/payments/{payment['id']}"))["refund_status"] == "full"
    status, refused = await post(app, headers, f"/api/v1/payments/{payment['id']}/refunds", {"amount": 1})
    assert (status, refused["error"]["code"]) == (400, "REFUND_LIMIT_EXCEEDED")

    other = await wait_final(app, headers, (await pay(app, headers, (await create_order(app, headers))["id"]))["id"])
    status, full = await post(app, headers, f"/api/v1/payments/{other['id']}/refunds")
    assert status == 201
    await settled(pool)
    assert (full["id"], "refund", 50000, True, 1) in await calls(pool)


# -- answers that never came -------------------------------------------------------------------------------------

async def test_lost_answers_are_settled_by_asking_the_processor_never_by_calling_again(app, merchant, pool):
    """The timeout card: every call is booked at the acquirer and its answer lost on the way back."""
    headers = merchant["headers"]
    payment = await authorized(app, headers, number=TIMEOUT_CARD)  # processing until fetch found it approved

    status, pending = await post(app, headers, f"/api/v1/payments/{payment['id']}/capture", {"amount": 20000})
    assert (status, pending["status"], pending["captured"]) == (202, "capture_pending", False)
    status, busy = await post(app, headers, f"/api/v1/payments/{payment['id']}/cancel")
    assert (status, busy["error"]["code"]) == (409, "PAYMENT_OPERATION_IN_PROGRESS")
    captured = await until(app, headers, payment["id"], "success")
    assert (captured["captured"], captured["amount_captured"]) == (True, 20000)
    assert "payment.captured" in await event_types(app, headers, payment["id"])

    status, refund = await post(app, headers, f"/api/v1/payments/{payment['id']}/refunds", {"amount": 5000})
    assert status == 201
    await settled(pool)

    held = await authorized(app, headers, number=TIMEOUT_CARD)
    status, pending = await post(app, headers, f"/api/v1/payments/{held['id']}/cancel")
    assert (status, pending["status"]) == (202, "void_pending")
    await until(app, headers, held["id"], "voided")

    sale_order = await create_order(app, headers)
    sale = await wait_final(app, headers, (await pay(app, headers, sale_order["id"], number=TIMEOUT_CARD))["id"])
    assert sale["captured"] is True
    await settled(pool)
    assert await calls(pool) == [  # every call made once: each lost answer was learned through fetch
        (payment["id"], "authorize", 50000, True, 1),
        (f"{payment['id']}/capture/1", "capture", 20000, True, 1),
        (refund["id"], "refund", 5000, True, 1),
        (held["id"], "authorize", 50000, True, 1),
        (f"{held['id']}/void/1", "void", 0, True, 1),
        (sale["id"], "sale", 50000, True, 1),
    ]


async def test_a_call_that_never_arrived_is_made_again_with_the_same_reference(app, merchant, pool):
    """The unreachable card: each call first fails before reaching the acquirer; fetch finds nothing, so paygate
    makes it again, with the same reference."""
    headers = merchant["headers"]
    payment = await authorized(app, headers, number=UNREACHABLE_CARD)
    status, pending = await post(app, headers, f"/api/v1/payments/{payment['id']}/capture")
    assert (status, pending["status"]) == (202, "capture_pending")
    await until(app, headers, payment["id"], "success")
    status, refund = await post(app, headers, f"/api/v1/payments/{payment['id']}/refunds")
    assert status == 201
    await settled(pool)
    assert await calls(pool) == [
        (payment["id"], "authorize", 50000, True, 1),
        (f"{payment['id']}/capture/1", "capture", 50000, True, 1),
        (refund["id"], "refund", 50000, True, 1),
    ]


async def test_a_duplicated_refund_job_calls_the_processor_once(client, merchant, pool):
    """Two workers given the same refund at once: the second finds it processing and leaves it to the first."""
    headers = merchant["headers"]
    services = client.app[appkeys.SERVICES]
    order = await create_order(client, headers)
    payment = await pay(client, headers, order["id"])
    from paygate.core.operations.processing import process_payment

    assert await process_payment(services, payment["id"]) == "success"
    status, refund = await post(client, headers, f"/api/v1/payments/{payment['id']}/refunds")
    assert status == 201

    results = await asyncio.gather(*(process_refund(services, refund["id"]) for _ in range(4)))

    assert results.count("processed") >= 1 and set(results) <= {"processed", "processing"}
    assert [c for c in await calls(pool) if c[1] == "refund"] == [(refund["id"], "refund", 50000, True, 1)]
    await settled(pool)


async def test_operators_see_the_calls_waiting_for_an_answer(aiohttp_client, make_app, merchant, pool):
    """/metrics and `paygate status` count what is in flight at the processor, and the calls by outcome."""
    app = await aiohttp_client(make_app(workers=True, payments__stuck_after=3600))
    headers = merchant["headers"]
    order = await create_order(app, headers)
    payment = await pay(app, headers, order["id"], number=TIMEOUT_CARD)

    scraped = await scrape_until(app, lambda s: s.value("paygate_processor_calls_in_flight", age="any") == 1)
    assert scraped.value("paygate_processor_calls_total", operation="sale", outcome="unknown") >= 1
    assert scraped.value("paygate_processor_calls_in_flight", age="overdue") == 0
    report = await status.report(app.app[appkeys.SERVICES])
    assert report["processor"]["in_flight"] == 1 and report["processor"]["overdue"] == 0
    assert (await get(app, headers, f"/api/v1/payments/{payment['id']}"))["status"] == "processing"


# -- a COMMIT cut off after the acquirer approved -----------------------------------------------------------------

@pytest.fixture
async def cut_commit(pool):
    """Arm Postgres to kill the connection that commits a capture, at its COMMIT, the first time only: a
    deferred trigger that terminates its own backend (a sequence counts, since it survives the rollback)."""
    async with cursor(pool) as cur:
        await cur.execute("""
            CREATE SEQUENCE test_cut_commit;
            CREATE FUNCTION test_cut_commit() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF nextval('test_cut_commit') = 1 THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF;
                RETURN NULL;
            END $$;
            CREATE CONSTRAINT TRIGGER test_cut_commit AFTER UPDATE ON payments DEFERRABLE INITIALLY DEFERRED
                FOR EACH ROW WHEN (OLD.status = 'capture_pending' AND NEW.captured) EXECUTE FUNCTION test_cut_commit();
        """)
    yield
    async with cursor(pool) as cur:
        await cur.execute("DROP TRIGGER test_cut_commit ON payments; DROP FUNCTION test_cut_commit(); "
                          "DROP SEQUENCE test_cut_commit")


async def test_a_capture_whose_commit_is_cut_off_is_recorded_not_repeated(app, merchant, pool, cut_commit):
    headers = {**merchant["headers"], "Idempotency-Key": "capture-once"}
    payment = await authorized(app, merchant["headers"])
    path = f"/api/v1/payments/{payment['id']}/capture"

    status, answer = await post(app, headers, path)

    # The acquirer approved; the COMMIT that recorded it was cut off, so the answer cannot say what happened.
    assert status == 503 and "may or may not have taken effect" in answer["error"]["description"]
    assert (await calls(pool))[1:] == [(f"{payment['id']}/capture/1", "capture", 50000, True, 1)]
    status, retried = await post(app, headers, path)  # a retry before it is settled does not capture again
    assert status in (409, 400), retried

    captured = await until(app, merchant["headers"], payment["id"], "success")
    assert (captured["captured"], captured["amount_captured"]) == (True, 50000)
    assert (await calls(pool))[1:] == [(f"{payment['id']}/capture/1", "capture", 50000, True, 1)]
    assert (await event_types(app, merchant["headers"], payment["id"])).count("payment.captured") == 1
    status, retried = await post(app, headers, path)
    assert (status, retried["error"]["code"]) == (400, "PAYMENT_ALREADY_CAPTURED")
    await settled(pool)


# -- the simulator holds calls to what an acquirer allows ---------------------------------------------------------

async def test_the_simulator_acts_on_each_reference_once_and_within_the_authorization(pool):
    sim = simulator.Simulator(pool)
    token = sim.tokenize_card("4111111111111111").token
    assert (await sim.authorize("pay_a", token, 1000, "INR", capture=False)).approved
    assert (await sim.authorize("pay_a", token, 1000, "INR", capture=False)).approved  # answered from the books
    assert (await sim.capture("pay_a/capture/1", "pay_a", 1001, "INR")).error_code == "CAPTURE_DECLINED"
    assert (await sim.capture("pay_a/capture/2", "pay_a", 600, "INR")).approved
    assert (await sim.capture("pay_a/capture/2", "pay_a", 600, "INR")).approved  # the same call, once
    assert (await sim.capture("pay_a/capture/3", "pay_a", 100, "INR")).error_code == "CAPTURE_DECLINED"
    assert (await sim.void("pay_a/void/1", "pay_a")).error_code == "VOID_DECLINED"  # captured: nothing held
    assert (await sim.refund("rfnd_1", "pay_a", 500, "INR")).approved
    assert (await sim.refund("rfnd_2", "pay_a", 101, "INR")).error_code == "REFUND_DECLINED"
    assert (await sim.refund("rfnd_3", "pay_a", 100, "INR")).approved
    assert await sim.fetch("rfnd_2") == simulator.Outcome.decline("REFUND_DECLINED",
                                                                  "The refund exceeds what is left of the capture")
    assert await sim.fetch("rfnd_never") is None

    assert (await sim.authorize("pay_b", token, 1000, "INR", capture=False)).approved
    assert (await sim.void("pay_b/void/1", "pay_b")).approved
    assert (await sim.capture("pay_b/capture/1", "pay_b", 1000, "INR")).error_code == "CAPTURE_DECLINED"
    assert (await sim.refund("rfnd_4", "pay_b", 1, "INR")).error_code == "REFUND_DECLINED"
    assert [(c[0], c[4]) for c in await calls(pool) if c[4] > 1] == [("pay_a", 2), ("pay_a/capture/2", 2)]


async def test_the_simulator_loses_answers_and_fails_calls_at_the_configured_rates(pool):
    lossy = simulator.Simulator(pool, timeout_rate=1.0)
    token = lossy.tokenize_card("4111111111111111").token
    with pytest.raises(simulator.AnswerLost):
        await lossy.authorize("pay_lost", token, 1000, "INR", capture=True)
    assert (await lossy.fetch("pay_lost")).approved

    broken = simulator.Simulator(pool, failure_rate=1.0)
    with pytest.raises(simulator.Unreachable):
        await broken.authorize("pay_never", token, 1000, "INR", capture=True)
    with pytest.raises(simulator.Unreachable):
        await broken.fetch("pay_never")
    assert await simulator.Simulator(pool).fetch("pay_never") is None

"""Group commit: batching.Batcher, and payment creates that go to Postgres together."""

from __future__ import annotations

import asyncio

import pytest

from paygate.infra.batching import Batcher

from .api import create_order


class Recorder:
    """A handler that records each batch it gets and holds it until released."""

    def __init__(self):
        self.batches: list[list[int]] = []
        self.release = asyncio.Event()

    async def __call__(self, items: list[int]) -> list[int | Exception]:
        self.batches.append(items)
        await self.release.wait()
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in items]


async def test_the_first_call_goes_at_once_and_those_arriving_meanwhile_go_together():
    handler = Recorder()
    batcher = Batcher(handler, size=3)
    first = asyncio.ensure_future(batcher.submit(0))
    await asyncio.sleep(0.01)
    assert handler.batches == [[0]], "an idle batcher hands the first call over at once"
    rest = [asyncio.ensure_future(batcher.submit(i)) for i in range(2, 12, 2)]
    await asyncio.sleep(0.01)
    assert handler.batches == [[0]], "they wait while a batch is being handled"
    handler.release.set()
    assert await first == 0
    assert await asyncio.gather(*rest) == [20, 40, 60, 80, 100]
    assert handler.batches == [[0], [2, 4, 6], [8, 10]], "then together, at most size at a time"


async def test_a_caller_that_submits_again_as_soon_as_it_has_its_answer_is_served():
    """The caller is woken by the batch that is just ending; its next item must start a batch of its own."""

    async def handle(items):
        await asyncio.sleep(0.0005)
        return items

    batcher = Batcher(handle, size=10)
    async with asyncio.timeout(5):
        assert [await batcher.submit(i) for i in range(50)] == list(range(50))


async def test_an_error_for_one_item_reaches_only_its_caller():
    handler = Recorder()
    handler.release.set()
    batcher = Batcher(handler, size=10)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(4)), return_exceptions=True)
    assert results[0] == 0 and results[2] == 20
    assert [str(r) for r in (results[1], results[3])] == ["odd 1", "odd 3"]


async def test_a_failed_batch_reaches_each_of_its_callers_and_the_next_batch_still_runs():
    calls = []

    async def handle(items):
        calls.append(items)
        if len(calls) == 1:
            raise ConnectionError("the database went away")
        return items

    batcher = Batcher(handle, size=10)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    assert await batcher.submit(7) == 7


async def test_up_to_concurrency_batches_run_at_once():
    handler = Recorder()
    batcher = Batcher(handler, size=10, concurrency=2)
    calls = [asyncio.ensure_future(batcher.submit(i)) for i in (0, 2)]
    await asyncio.sleep(0.01)
    assert handler.batches == [[0, 2]], "submitted in the same turn of the loop: one batch"
    calls.append(asyncio.ensure_future(batcher.submit(4)))
    await asyncio.sleep(0.01)
    assert handler.batches == [[0, 2], [4]], "a second batch goes at once"
    calls += [asyncio.ensure_future(batcher.submit(i)) for i in (6, 8)]
    await asyncio.sleep(0.01)
    assert handler.batches == [[0, 2], [4]], "a third waits"
    handler.release.set()
    assert await asyncio.gather(*calls) == [0, 20, 40, 60, 80]
    assert handler.batches == [[0, 2], [4], [6, 8]]


async def test_a_cancelled_batch_cancels_its_callers_rather_than_leaving_them_waiting():
    handler = Recorder()
    batcher = Batcher(handler, size=10)
    call = asyncio.ensure_future(batcher.submit(0))
    waiting = asyncio.ensure_future(batcher.submit(2))
    await asyncio.sleep(0.01)
    for task in list(batcher._running):
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    with pytest.raises(asyncio.CancelledError):
        await waiting


# -- payment creates, many at once --------------------------------------------------------------------------------

async def _post(client, headers, order_id: str, **extra) -> tuple[int, dict]:
    card = {"number": "4111111111111111", "expiry_month": 12, "expiry_year": 2035, "cvv": "123", "name": "A"}
    resp = await client.post("/api/v1/payments", json={"order_id": order_id, "method": "card", "card": card, **extra},
                             headers=headers)
    return resp.status, await resp.json()


async def test_concurrent_creates_each_get_their_own_answer(client, merchant, other_merchant, pool):
    headers = merchant["headers"]
    good = [(await create_order(client, headers, amount=1000 + i))["id"] for i in range(12)]
    theirs = (await create_order(client, other_merchant["headers"]))["id"]
    asks = [*(_post(client, headers, o) for o in good),
            _post(client, headers, good[0]),  # a second payment of the same order: allowed, as one at a time
            _post(client, headers, "order_0000000000000000"),  # no such order
            _post(client, headers, theirs),  # another merchant's: 404 too
            _post(client, headers, good[1], amount=5)]  # the wrong amount
    answers = await asyncio.gather(*asks)

    created = [body for status, body in answers[:13] if status == 201]
    assert len(created) == 13, answers[:13]
    assert [p["order_id"] for p in created] == [*good, good[0]]
    assert [p["amount"] for p in created] == [*(1000 + i for i in range(12)), 1000]
    assert len({p["id"] for p in created}) == 13
    (s1, b1), (s2, b2), (s3, b3) = answers[13:]
    assert (s1, b1["error"]["field"], s2, b2["error"]["field"]) == (404, "order_id", 404, "order_id")
    assert (s3, b3["error"]["field"]) == (400, "amount")

    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("""SELECT o.status, count(p.id), count(e.id) FROM orders o
                             LEFT JOIN payments p ON p.order_id = o.id
                             LEFT JOIN events e ON e.object_id = p.id AND e.type = 'payment.created'
                             WHERE o.id = ANY(%s) GROUP BY o.id, o.status ORDER BY o.id""", (good,))
        rows = await cur.fetchall()
    assert sorted(n for _, n, _ in rows) == [1] * 11 + [2]
    assert {status for status, _, _ in rows} == {"attempted"}
    assert all(n == events for _, n, events in rows), "one payment.created event per payment"


async def test_a_write_that_fails_a_batch_fails_only_its_own_request(client, merchant, pool):
    """A write Postgres refuses (here a trigger, as a constraint would) rolls back the batch's transaction; the
    batch is then written request by request, and only that request fails."""
    headers = merchant["headers"]
    orders = [(await create_order(client, headers))["id"] for _ in range(8)]
    poisoned = orders[3]
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(f"""
            CREATE FUNCTION refuse_poisoned() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.order_id = '{poisoned}' THEN RAISE EXCEPTION 'refused for the test'; END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER refuse_poisoned BEFORE INSERT ON payments FOR EACH ROW EXECUTE FUNCTION refuse_poisoned();
        """)
    try:
        answers = await asyncio.gather(*(_post(client, headers, o) for o in orders))
    finally:
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute("DROP TRIGGER refuse_poisoned ON payments; DROP FUNCTION refuse_poisoned()")
    statuses = [status for status, _ in answers]
    assert statuses[3] == 500 and statuses[:3] + statuses[4:] == [201] * 7, answers
    assert [body["order_id"] for status, body in answers if status == 201] == orders[:3] + orders[4:]

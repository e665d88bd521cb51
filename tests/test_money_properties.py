"""Money invariants under random captures and refunds, one at a time and at once (a hypothesis state machine).

Each example authorizes a fresh payment, then hypothesis drives random captures and refunds through the real
HTTP API of the real app (its workers running, the simulator slowed a little so refunds stay pending for a
while). After every step, and all the time while concurrent requests are in flight, the payment is read back
over the API and straight from Postgres:

    0 <= amount_refunded <= amount_captured <= amount
    amount_refunded == the sum of the payment's refunds that are not failed

and every answer is checked against a small model: a capture of an uncaptured authorization succeeds iff
1 <= amount <= authorized; a refund succeeds iff the payment is captured and 1 <= amount <= captured - reserved;
refused requests get a 400 with the code that says why.

How it runs: hypothesis state machines are synchronous, while the app, its workers and the pool live on the
test's event loop. So the machine runs in a worker thread (asyncio.to_thread) and hands each coroutine back to
the test's loop with asyncio.run_coroutine_threadsafe; the loop is free because the test is awaiting the thread.

What "reserved" is: the workers process refunds in the background, and every refund of a refundfail@paygate
payment fails and gives its amount back at a moment the test does not choose. The model brackets it instead:
the refunds' reserved total only goes down between our own requests, so a reading taken before a request is
an upper bound, and a reading of the same refunds taken after it a lower bound. For success@paygate payments
refunds never fail, the two readings agree, and the model is exact.
"""

from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from .api import create_order, get, pay, wait_final

NO_CAPTURE = object()  # "no capture in this batch" (None means "capture all")
STEP_TIMEOUT = 60  # seconds one step may take before the test gives up on it
SETTLE_TIMEOUT = 30  # seconds the workers get to finish an example's refunds
SETTINGS = settings(
    max_examples=15,
    stateful_step_count=12,
    deadline=None,
    database=None,  # nothing written into the tree; a failure prints its steps instead
    # No shrinking: every replay is real HTTP and real workers, and hypothesis would spend up to five minutes
    # minimising a failure. Add Phase.shrink locally to get the shortest steps for a bug report.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# One statement, so one snapshot: the payment row and its refunds as they were at the same moment.
SNAPSHOT = """
SELECT p.amount, p.amount_captured, p.amount_refunded, p.captured,
       COALESCE((SELECT json_agg(json_build_object('id', r.id, 'amount', r.amount, 'status', r.status,
                                                   'error_code', r.error_code))
                 FROM refunds r WHERE r.payment_id = p.id), '[]'::json)
FROM payments p WHERE p.id = %s
"""


@dataclass(frozen=True)
class Snapshot:
    """One consistent reading of a payment and its refunds, straight from Postgres."""

    amount: int
    captured: int
    refunded: int
    captured_flag: bool
    refunds: dict[str, dict]  # id -> {"amount", "status", "error_code"}

    def reserved(self, among: set[str] | None = None) -> int:
        """What the refunds that are not failed hold (only those in ``among``, if given)."""
        return sum(r["amount"] for i, r in self.refunds.items()
                   if r["status"] != "failed" and (among is None or i in among))

    def check(self) -> None:
        assert 0 <= self.refunded <= self.captured <= self.amount, self
        assert self.refunded == self.reserved(), f"amount_refunded is not the sum of live refunds: {self}"
        assert self.captured_flag == (self.captured > 0), self


def check_payment_view(payment: dict) -> None:
    """The API's payment obeys the same bounds, and its refund_status agrees with its amounts."""
    amount, captured, refunded = payment["amount"], payment["amount_captured"], payment["amount_refunded"]
    assert 0 <= refunded <= captured <= amount, payment
    assert payment["captured"] == (captured > 0), payment
    expected = "none" if refunded == 0 else "full" if refunded == captured else "partial"
    assert payment["refund_status"] == expected, payment


def code(answer: dict) -> str:
    return answer["error"]["code"]


@dataclass
class Live:
    """The app under test, as seen from the machine's thread: every coroutine runs on the test's event loop."""

    client: Any
    headers: dict
    pool: Any
    loop: asyncio.AbstractEventLoop

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(STEP_TIMEOUT)

    async def post(self, path: str, body: dict) -> tuple[int, dict]:
        resp = await self.client.post(path, json=body, headers=self.headers)
        return resp.status, await resp.json()

    async def payment(self, payment_id: str) -> dict:
        return await get(self.client, self.headers, f"/api/v1/payments/{payment_id}")

    async def snapshot(self, payment_id: str) -> Snapshot:
        async with self.pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(SNAPSHOT, (payment_id,))
            amount, captured, refunded, flag, refunds = await cur.fetchone()
        return Snapshot(amount, captured, refunded, flag, {r.pop("id"): r for r in refunds})

    async def observe(self, payment_id: str) -> tuple[Snapshot, dict, Snapshot]:
        """Postgres, then the API, then Postgres again; all three obey the invariants."""
        first = await self.snapshot(payment_id)
        first.check()
        payment = await self.payment(payment_id)
        check_payment_view(payment)
        second = await self.snapshot(payment_id)
        second.check()
        return first, payment, second

    async def during(self, payment_id: str, requests: list) -> list[tuple[int, dict]]:
        """Send the requests at once while a watcher keeps checking the invariants; their answers, in order."""
        done = asyncio.Event()

        async def fire():
            try:
                return await asyncio.gather(*requests)
            finally:
                done.set()

        async def watch():
            while not done.is_set():
                await self.observe(payment_id)

        answers, _ = await asyncio.gather(fire(), watch())
        return answers


# Amounts are drawn as recipes and turned into money when the step runs, against what is authorized or left
# by then. What is left depends on when the workers finished the earlier refunds, and hypothesis must be able
# to replay the same draws whatever the timing, so nothing drawn may depend on it.
def share(low: int = 1, high: int = 100) -> st.SearchStrategy[tuple[str, int]]:
    return st.tuples(st.just("share"), st.integers(low, high))  # that percentage of the base, at least 1


CAPTURE = st.one_of(
    st.none(),  # capture everything authorized
    share(),
    share(90, 100),
    st.tuples(st.just("above"), st.integers(1, 3)),  # just over the authorization
    st.tuples(st.just("exactly"), st.sampled_from([0, -1])),  # invalid
)
REFUND = st.one_of(
    share(),  # of what is left
    share(1, 30),  # small: several fit at once
    st.tuples(st.just("of_captured"), st.integers(1, 100)),  # may fit, may not
    st.tuples(st.just("above"), st.integers(0, 2)),  # exactly what is left, or just over
    st.tuples(st.just("exactly"), st.sampled_from([0, -1])),  # invalid
)


def money(recipe: tuple[str, int] | None, base: int, captured: int = 0) -> int | None:
    """The amount a recipe asks for, given its base (what is authorized, or left to refund); None asks for all."""
    if recipe is None:
        return None
    kind, n = recipe
    if kind == "share":
        return max(base * n // 100, 1)
    if kind == "of_captured":
        return max(captured * n // 100, 1)
    if kind == "above":
        return max(base, 0) + n
    return n


def outcome(answer: tuple[int, dict]) -> str:
    status, body = answer
    if status == 400:
        return f"400 {code(body)}"
    if status == 201:
        return f"201 {body['id']} of {body['amount']}"
    if status == 200:
        return f"200 captured {body['amount_captured']}"
    return f"{status} {body}"


def recorded(write: bool):
    """Keep the first failure of the run, with the example's journal up to it (and journal the step if ``write``).

    Hypothesis replays a failing example to report it, but here a replay is a new payment on a live system: a
    failure that depends on timing may not come back, or come back a step earlier, and hypothesis then reports
    only that the replay differed (Flaky...). The journal keeps what happened the first time, amounts included.
    """

    def wrap(step):
        @functools.wraps(step)
        def run(self, **kwargs):
            if write:
                self.journal.append(f"{step.__name__}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})")
            try:
                return step(self, **kwargs)
            except Exception as exc:
                if not self.failures:
                    self.failures.append(("\n".join(self.journal), exc))
                raise

        return run

    return wrap


class MoneyMachine(RuleBasedStateMachine):
    live: Live  # bound by the test
    failures: list[tuple[str, Exception]]  # bound by the test: the first failure and the journal up to it

    def __init__(self):
        super().__init__()
        self.journal: list[str] = []  # the steps of this example and what the API answered
        self.payment_id: str | None = None
        self.amount = 0  # authorized
        self.manual = False
        self.refunds_fail = False
        self.captured = 0
        self.refunds: dict[str, int] = {}  # every refund the API accepted: id -> amount
        self.last: Snapshot | None = None

    # -- the payment ------------------------------------------------------------------------------------------

    @initialize(amount=st.integers(1, 100_000), manual=st.booleans(),
                vpa=st.sampled_from(["success@paygate", "refundfail@paygate"]))
    @recorded(write=True)
    def authorize(self, amount: int, manual: bool, vpa: str) -> None:
        payment = self.live.run(self._authorize(amount, manual, vpa))
        self.payment_id, self.amount, self.manual = payment["id"], amount, manual
        self.refunds_fail = vpa == "refundfail@paygate"
        self.journal.append(f"    {self.payment_id}")
        self.captured = 0 if manual else amount
        assert payment["status"] == "success", payment
        assert (payment["amount"], payment["amount_captured"], payment["amount_refunded"]) == (
            amount, self.captured, 0), payment
        if not manual:
            self._captures([None])

    async def _authorize(self, amount: int, manual: bool, vpa: str) -> dict:
        client, headers = self.live.client, self.live.headers
        order = await create_order(client, headers, amount,
                                   capture_method="manual" if manual else "automatic")
        created = await pay(client, headers, order["id"], vpa=vpa)
        return await wait_final(client, headers, created["id"])

    def left(self) -> int:
        """What was left to refund at the last reading; only a base for the amounts asked for."""
        reserved = self.last.reserved() if self.last else sum(self.refunds.values())
        return self.captured - reserved

    # -- captures ---------------------------------------------------------------------------------------------

    # Only manual payments take captures; that automatic ones refuse them is checked once, when authorized.
    @precondition(lambda self: self.manual)
    @rule(recipe=CAPTURE)
    @recorded(write=True)
    def capture(self, recipe) -> None:
        self._captures([money(recipe, self.amount)])

    @precondition(lambda self: self.manual)
    @rule(recipes=st.lists(CAPTURE, min_size=2, max_size=4))
    @recorded(write=True)
    def capture_concurrently(self, recipes) -> None:
        self._captures([money(r, self.amount) for r in recipes])

    def _captures(self, amounts: list[int | None]) -> None:
        answers = self.live.run(self.live.during(self.payment_id, [self._post_capture(a) for a in amounts]))
        self.journal.append(f"    captures {amounts}: {', '.join(map(outcome, answers))}")
        self._check_captures(amounts, answers)

    def _post_capture(self, amount: int | None):
        body = {} if amount is None else {"amount": amount}
        return self.live.post(f"/api/v1/payments/{self.payment_id}/capture", body)

    def _capture_fits(self, amount: int | None) -> bool:
        """The model: a manual authorization not yet captured takes one capture of 1..authorized."""
        return self.manual and not self.captured and (amount is None or 1 <= amount <= self.amount)

    def _check_captures(self, amounts: list[int | None], answers: list[tuple[int, dict]]) -> None:
        fitting = [a for a in amounts if self._capture_fits(a)]
        won = [(a, body) for a, (status, body) in zip(amounts, answers, strict=True) if status == 200]
        assert len(won) == (1 if fitting else 0), (amounts, answers)
        was_captured = self.captured
        for amount, body in won:
            expected = self.amount if amount is None else amount
            assert amount in fitting
            assert (body["captured"], body["amount_captured"], body["amount_refunded"]) == (True, expected, 0), body
            self.captured = expected
        for amount, (status, body) in zip(amounts, answers, strict=True):
            if status == 200:
                continue
            if status == 409:
                # It came while the winning capture was at the processor: refused at once, never a second call.
                assert won and code(body) == "PAYMENT_OPERATION_IN_PROGRESS", (amount, status, body)
                continue
            assert status == 400, (amount, status, body)
            if amount is not None and amount < 1:
                expected = {"INVALID_AMOUNT"}
            elif not self.manual:
                expected = {"PAYMENT_NOT_CAPTURABLE"}
            elif was_captured:
                expected = {"PAYMENT_ALREADY_CAPTURED"}
            elif amount is not None and amount > self.amount:
                # checked after "already captured": it depends on whether a concurrent capture came first
                expected = {"INVALID_AMOUNT", "PAYMENT_ALREADY_CAPTURED"} if won else {"INVALID_AMOUNT"}
            else:
                expected = {"PAYMENT_ALREADY_CAPTURED"}  # it fit, but lost the race to another capture
            assert code(body) in expected, (amount, body, expected)

    # -- refunds ----------------------------------------------------------------------------------------------

    @rule(recipe=st.none() | REFUND)
    @recorded(write=True)
    def refund(self, recipe) -> None:
        self._refunds([money(recipe, self.left(), self.captured)])

    @rule(recipes=st.lists(REFUND, min_size=2, max_size=8))
    @recorded(write=True)
    def refund_concurrently(self, recipes) -> None:
        # shares of a third of what is left: some batches fit whole, most only in part
        self._refunds([money(r, self.left() // 3, self.captured) for r in recipes])

    @precondition(lambda self: self.manual and not self.captured)
    @rule(capture=CAPTURE, recipes=st.lists(REFUND, min_size=1, max_size=6))
    @recorded(write=True)
    def capture_while_refunding(self, capture, recipes) -> None:
        """A capture and refunds at once: refunds that arrive before the capture are refused, none goes over."""
        self._refunds([money(r, self.amount // 3, self.amount) for r in recipes], capture=money(capture, self.amount))

    def _post_refund(self, amount: int | None):
        body = {} if amount is None else {"amount": amount}
        return self.live.post(f"/api/v1/payments/{self.payment_id}/refunds", {**body, "reason": "property test"})

    def _refunds(self, amounts: list[int | None], capture: Any = NO_CAPTURE) -> None:
        racing = capture is not NO_CAPTURE
        requests = [self._post_refund(a) for a in amounts]
        if racing:
            requests.insert(0, self._post_capture(capture))
        before = self.live.run(self.live.snapshot(self.payment_id))
        answers = self.live.run(self.live.during(self.payment_id, requests))
        after = self.live.run(self.live.snapshot(self.payment_id))
        self.journal.append(f"    {'capture ' + repr(capture) + ' and ' if racing else ''}refunds {amounts} "
                            f"(reserved {before.reserved()} before): {', '.join(map(outcome, answers))}")
        if racing:
            self._check_captures([capture], answers[:1])
            answers = answers[1:]
        self._check_refunds(amounts, answers, before, after, racing)

    def _check_refunds(self, amounts: list[int | None], answers: list[tuple[int, dict]],
                       before: Snapshot, after: Snapshot, racing: bool) -> None:
        """Check the answers to refund requests sent at once against the bracketed model.

        ``reserved`` was at most ``high`` (the reading before) and, for the refunds that existed then, at least
        ``low`` (their reading after) throughout; so an accepted amount fit ``captured - low``, and a refused
        one did not fit ``captured - high - taken``, ``taken`` being what this batch's accepted refunds hold.
        """
        captured = self.captured
        old = set(before.refunds)
        high, low = before.reserved(), after.reserved(among=old)
        accepted = [(a, body) for a, (status, body) in zip(amounts, answers, strict=True) if status == 201]
        # exactly the accepted requests left a refund row, with the amount the API answered
        assert {body["id"] for _, body in accepted} == set(after.refunds) - old, (answers, after)
        taken = sum(body["amount"] for _, body in accepted)
        for amount, body in accepted:
            assert body["payment_id"] == self.payment_id and body["status"] == "pending", body
            assert after.refunds[body["id"]]["amount"] == body["amount"], (body, after)
            assert captured, f"a refund of an uncaptured payment was accepted: {body}"
            if amount is not None:
                assert body["amount"] == amount, (amount, body)
            elif not racing:
                assert body["amount"] >= captured - high, ("a full refund left money behind", body, before)
            assert 1 <= body["amount"] <= captured - low, ("refund above what was left", body, before, after)
            self.refunds[body["id"]] = body["amount"]
        if not any(after.refunds[body["id"]]["status"] == "failed" for _, body in accepted):
            # none of them gave its amount back during the batch, so together they fit
            assert taken <= captured - low, ("refunds together above what was left", amounts, answers, before)
        for amount, (status, body) in zip(amounts, answers, strict=True):
            if status == 201:
                continue
            assert status == 400, (amount, status, body)
            if amount is not None and amount < 1:
                assert code(body) == "INVALID_AMOUNT", body
            elif not captured:
                assert code(body) == "PAYMENT_NOT_REFUNDABLE", body
            elif code(body) == "PAYMENT_NOT_REFUNDABLE":
                assert racing, ("a captured payment refused a refund as not refundable", body)
            else:
                assert code(body) == "REFUND_LIMIT_EXCEEDED", body
                asked = 1 if amount is None else amount
                assert asked > captured - high - taken, ("a refund that fit was refused", amount, body, before)

    # -- after every step --------------------------------------------------------------------------------------

    @invariant()
    @recorded(write=False)
    def money_adds_up(self) -> None:
        first, payment, second = self.live.run(self.live.observe(self.payment_id))
        # no request is in flight: only the workers move, and they only give amounts back
        assert second.refunded <= payment["amount_refunded"] <= first.refunded, (first, payment, second)
        assert (payment["amount"], second.amount) == (self.amount, self.amount)
        assert (payment["amount_captured"], second.captured) == (self.captured, self.captured), (payment, second)
        assert {i: r["amount"] for i, r in second.refunds.items()} == self.refunds, (second, self.refunds)
        for refund in second.refunds.values():
            if refund["status"] == "failed":
                assert self.refunds_fail and refund["error_code"] == "REFUND_FAILED", second
        if not self.refunds_fail:
            assert payment["amount_refunded"] == sum(self.refunds.values()), (payment, self.refunds)
        self.last = second

    @recorded(write=False)
    def teardown(self) -> None:
        if self.payment_id is not None:
            self.live.run(self._settled())

    async def _settled(self) -> Snapshot:
        """Once the workers are done: every refund final, failed ones gave their amount back."""
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while True:
            snap = await self.live.snapshot(self.payment_id)
            snap.check()
            pending = [i for i, r in snap.refunds.items() if r["status"] in ("pending", "processing")]
            if not pending:
                break
            assert time.monotonic() < deadline, f"refunds still pending after {SETTLE_TIMEOUT}s: {pending}"
            await asyncio.sleep(0.05)
        want = "failed" if self.refunds_fail else "processed"
        assert all(r["status"] == want for r in snap.refunds.values()), snap
        processed = sum(r["amount"] for r in snap.refunds.values() if r["status"] == "processed")
        assert snap.refunded == processed, snap
        payment = await self.live.payment(self.payment_id)
        check_payment_view(payment)
        assert (payment["amount_captured"], payment["amount_refunded"]) == (self.captured, processed), payment
        listed = await get(self.live.client, self.live.headers, f"/api/v1/payments/{self.payment_id}/refunds")
        assert {r["id"]: (r["amount"], r["status"]) for r in listed["data"]} == {
            i: (r["amount"], r["status"]) for i, r in snap.refunds.items()}, (listed, snap)
        return snap


@pytest.mark.slow
async def test_money_adds_up_under_random_captures_and_refunds(aiohttp_client, make_app, merchant, pool):
    # A simulated processor delay keeps refunds pending long enough to overlap the next steps.
    client = await aiohttp_client(make_app(workers=True, processor__delay_min=0.0, processor__delay_max=0.05))

    class Machine(MoneyMachine):
        live = Live(client, merchant["headers"], pool, asyncio.get_running_loop())
        failures = []

    try:
        # The machine blocks its thread on each step; the steps run here, on this loop, meanwhile.
        await asyncio.to_thread(run_state_machine_as_test, Machine, settings=SETTINGS)
    except Exception as reported:
        if not Machine.failures:
            raise
        journal, first = Machine.failures[0]
        notes = "\n".join(getattr(reported, "__notes__", []))
        raise AssertionError(f"{first!r}\n\nThe steps, as they first ran:\n{journal}\n\n"
                             f"Hypothesis then reported {reported!r}\n{notes}") from first

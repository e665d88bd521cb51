"""The test-mode processor: an acquirer held to what a real one does, with deterministic answers for magic cards
and UPI ids and a success rate otherwise.

It keeps books (storage/ledger.py, in the same Postgres but never in paygate's transactions): one row per
idempotency reference, so a call made again is answered from its row and acted on once, ``fetch`` finds what
a lost answer said, and captures, voids and refunds are checked against what the authorization holds, as an
acquirer would. It can be told to misbehave, by magic instrument (testcards.py) or by rate (config
``processor.*``):

- decline;
- time out after deciding: the call is booked, then its answer is lost (``timeout``, ``processor.timeout_rate``);
- fail before reaching it: nothing is booked (``unreachable`` fails each reference's first call in this process,
  ``processor.failure_rate`` any call, fetches included);
- be slow (``slow``, ``processor.delay_min``/``delay_max``).
"""

from __future__ import annotations

import asyncio
import random
import secrets

from ...infra.batching import Batcher
from ...storage import ledger
from ...storage.db import Pool
from . import Instrument, Outcome
from .testcards import SLOW_SECONDS, TEST_INSTRUMENTS

# Magic inputs decide the outcome; the token carries only the decision, never the input.
# Both maps, and the decline codes below, come from the one table the docs are rendered from.
BOOK_BATCH, BOOK_BATCHES = 500, 4  # authorizations one statement books at most, statements in flight at most
MAGIC_CARDS = {t.value: t.scenario for t in TEST_INSTRUMENTS if t.method == "card"}
MAGIC_VPAS = {t.value: t.scenario for t in TEST_INSTRUMENTS if t.method == "upi"}
_CODES = {t.scenario: t.error_code for t in TEST_INSTRUMENTS if t.error_code}
APPROVING = frozenset({"approve", "norefund", "timeout", "unreachable", "slow"})

DECLINES = {
    "declined": Outcome.decline(_CODES["declined"], "The card was declined by the issuer"),
    "insufficient": Outcome.decline(_CODES["insufficient"], "The card has insufficient funds"),
    "upi_failed": Outcome.decline(_CODES["upi_failed"], "The UPI payment was declined by the payer's bank"),
    "random": Outcome.decline("PAYMENT_DECLINED", "The payment was declined by the simulated processor"),
}
# "norefund": the payment succeeds; refunds of it fail
REFUND_FAILED = Outcome.decline(_CODES["norefund"], "The refund was refused by the simulated processor")


class Unreachable(ConnectionError):
    """The call never reached the simulated acquirer: nothing was booked."""


class AnswerLost(TimeoutError):
    """The simulated acquirer booked the call, and its answer never came back."""


class Simulator:
    def __init__(self, pool: Pool, *, delay_min: float = 0.0, delay_max: float = 0.0,
                 success_rate: float = 1.0, timeout_rate: float = 0.0, failure_rate: float = 0.0,
                 slow_seconds: float = SLOW_SECONDS):
        self.pool = pool
        self.delay_min, self.delay_max, self.success_rate = delay_min, delay_max, success_rate
        self.timeout_rate, self.failure_rate, self.slow_seconds = timeout_rate, failure_rate, slow_seconds
        self._failed_once: set[str] = set()  # references of "unreachable" instruments that failed here already
        self._bookings = Batcher(self._book_many, size=BOOK_BATCH, concurrency=BOOK_BATCHES)

    def tokenize_card(self, number: str) -> Instrument:
        return Instrument(f"sim_{MAGIC_CARDS.get(number, 'rate')}_{secrets.token_hex(8)}")

    def tokenize_vpa(self, vpa: str) -> Instrument:
        return Instrument(f"sim_{MAGIC_VPAS.get(vpa.lower(), 'rate')}_{secrets.token_hex(8)}")

    # -- the calls ---------------------------------------------------------------------------------------------

    async def authorize(self, reference: str, token: str, amount: int, currency: str, *,
                        capture: bool) -> Outcome:
        scenario = _scenario(token)
        await self._arrive(reference, scenario)
        decision = self._authorization(scenario)
        row = await self._book(_entry(reference, "sale" if capture else "authorize", reference, amount, currency,
                                      scenario, decision))
        return await self._answer(row)

    async def capture(self, reference: str, authorization: str, amount: int, currency: str) -> Outcome:
        def decide(books: ledger.Books) -> Outcome:
            if books.held == 0:
                return Outcome.decline("CAPTURE_DECLINED", "The authorization holds nothing to capture")
            if amount > books.held:
                return Outcome.decline("CAPTURE_DECLINED", f"The authorization holds only {books.held}")
            return Outcome.approve()

        return await self._act(reference, "capture", authorization, amount, currency, decide)

    async def void(self, reference: str, authorization: str) -> Outcome:
        def decide(books: ledger.Books) -> Outcome:
            if books.held == 0:
                return Outcome.decline("VOID_DECLINED", "The authorization holds nothing to void")
            return Outcome.approve()

        return await self._act(reference, "void", authorization, 0, None, decide)

    async def refund(self, reference: str, authorization: str, amount: int, currency: str) -> Outcome:
        def decide(books: ledger.Books) -> Outcome:
            if books.scenario == "norefund":
                return REFUND_FAILED
            if amount > books.captured - books.refunded:
                return Outcome.decline("REFUND_DECLINED", "The refund exceeds what is left of the capture")
            return Outcome.approve()

        return await self._act(reference, "refund", authorization, amount, currency, decide)

    async def fetch(self, reference: str) -> Outcome | None:
        await self._delay()
        if random.random() < self.failure_rate:
            raise Unreachable("the simulated acquirer could not be reached")
        row = await ledger.find(self.pool, reference)
        return None if row is None else _outcome(row)

    # -- how an acquirer behaves -------------------------------------------------------------------------------

    async def _act(self, reference: str, operation: str, authorization: str, amount: int, currency: str | None,
                   decide) -> Outcome:
        """A call on an existing authorization, decided under the authorization's lock from its books."""
        await self._delay()
        async with ledger.books(self.pool, authorization) as (cur, books):
            row = books.get(reference)
            if row is None:
                scenario = books.scenario or "rate"
                self._unreachable(reference, scenario)
                decision = decide(books) if books.authorized else Outcome.decline(
                    f"{operation.upper()}_DECLINED", "No such authorization")
                currency = currency or (books.rows[0]["currency"] if books.rows else "XXX")
                row = await ledger.record(cur, _entry(reference, operation, authorization, amount, currency,
                                                      scenario, decision))
            else:
                row = await ledger.record(cur, row)  # answered from the books; the call is counted
        return await self._answer(row)

    async def _book(self, entry: dict) -> dict:
        """Book an authorization; those made while others are being booked go together in the next statement (a
        batch of payments authorizes at once). Each caller still has its answer only once its row is committed."""
        return await self._bookings.submit(entry)

    async def _book_many(self, entries: list[dict]) -> list[dict]:
        """The rows booked; the same reference twice is one row called twice, so a repeat goes in a statement
        after the first's."""
        booked: list[dict | None] = [None] * len(entries)
        left = list(range(len(entries)))
        while left:
            first: dict[str, int] = {}
            for i in left:
                first.setdefault(entries[i]["reference"], i)
            rows = await ledger.book_many(self.pool, [entries[i] for i in first.values()])
            for row in rows:
                booked[first[row["reference"]]] = row
            done = set(first.values())
            left = [i for i in left if i not in done]
        return booked

    async def _arrive(self, reference: str, scenario: str) -> None:
        await self._delay()
        self._unreachable(reference, scenario)

    async def _delay(self) -> None:
        if self.delay_max > 0:
            await asyncio.sleep(random.uniform(self.delay_min, self.delay_max))

    def _unreachable(self, reference: str, scenario: str) -> None:
        if scenario == "unreachable" and reference not in self._failed_once:
            self._failed_once.add(reference)
            raise Unreachable("the simulated acquirer could not be reached (first call)")
        if random.random() < self.failure_rate:
            raise Unreachable("the simulated acquirer could not be reached")

    def _authorization(self, scenario: str) -> Outcome:
        if scenario in APPROVING:
            return Outcome.approve()
        if scenario in DECLINES:
            return DECLINES[scenario]
        return Outcome.approve() if random.random() < self.success_rate else DECLINES["random"]

    async def _answer(self, row: dict) -> Outcome:
        """The booked outcome, or none at all when the answer is lost on its way back."""
        if row["scenario"] == "slow":
            await asyncio.sleep(self.slow_seconds)
        if row["scenario"] == "timeout" or random.random() < self.timeout_rate:
            raise AnswerLost(f"the simulated acquirer booked {row['reference']} and its answer was lost")
        return _outcome(row)


def _entry(reference: str, operation: str, auth_reference: str, amount: int, currency: str, scenario: str,
           decision: Outcome) -> dict:
    return {"reference": reference, "operation": operation, "auth_reference": auth_reference, "amount": amount,
            "currency": currency, "scenario": scenario, "approved": decision.approved,
            "error_code": decision.error_code, "error_description": decision.error_description}


def _outcome(row: dict) -> Outcome:
    return Outcome.approve() if row["approved"] else Outcome.decline(row["error_code"], row["error_description"])


def _scenario(token: str) -> str:
    return token[4:].rsplit("_", 1)[0] if token.startswith("sim_") else "rate"

"""The test-mode processor: deterministic answers for magic cards and UPI ids, a success rate otherwise."""

from __future__ import annotations

import asyncio
import random
import secrets

from . import Instrument, Outcome
from .testcards import TEST_INSTRUMENTS

# Magic inputs decide the outcome; the token carries only the decision, never the input.
# Both maps, and the decline codes below, come from the one table the docs are rendered from.
MAGIC_CARDS = {t.value: t.scenario for t in TEST_INSTRUMENTS if t.method == "card"}
MAGIC_VPAS = {t.value: t.scenario for t in TEST_INSTRUMENTS if t.method == "upi"}
_CODES = {t.scenario: t.error_code for t in TEST_INSTRUMENTS if t.error_code}

DECLINES = {
    "declined": Outcome.decline(_CODES["declined"], "The card was declined by the issuer"),
    "insufficient": Outcome.decline(_CODES["insufficient"], "The card has insufficient funds"),
    "upi_failed": Outcome.decline(_CODES["upi_failed"], "The UPI payment was declined by the payer's bank"),
    "random": Outcome.decline("PAYMENT_DECLINED", "The payment was declined by the simulated processor"),
}
# "norefund": the payment succeeds; refunds of it fail
REFUND_FAILED = Outcome.decline(_CODES["norefund"], "The refund was refused by the simulated processor")


class Simulator:
    def __init__(self, delay_min: float = 0.0, delay_max: float = 0.0, success_rate: float = 1.0):
        self.delay_min, self.delay_max, self.success_rate = delay_min, delay_max, success_rate

    def tokenize_card(self, number: str) -> Instrument:
        return Instrument(f"sim_{MAGIC_CARDS.get(number, 'rate')}_{secrets.token_hex(8)}")

    def tokenize_vpa(self, vpa: str) -> Instrument:
        return Instrument(f"sim_{MAGIC_VPAS.get(vpa.lower(), 'rate')}_{secrets.token_hex(8)}")

    async def _delay(self) -> None:
        if self.delay_max > 0:
            await asyncio.sleep(random.uniform(self.delay_min, self.delay_max))

    async def authorize(self, payment_id: str, token: str, amount: int, currency: str) -> Outcome:
        await self._delay()
        scenario = _scenario(token)
        if scenario in ("approve", "norefund"):
            return Outcome.approve()
        if scenario in DECLINES:
            return DECLINES[scenario]
        return Outcome.approve() if random.random() < self.success_rate else DECLINES["random"]

    async def capture(self, payment_id: str, token: str, amount: int, currency: str) -> Outcome:
        return Outcome.approve()

    async def refund(self, refund_id: str, token: str, amount: int, currency: str) -> Outcome:
        await self._delay()
        return REFUND_FAILED if _scenario(token) == "norefund" else Outcome.approve()


def _scenario(token: str) -> str:
    return token[4:].rsplit("_", 1)[0] if token.startswith("sim_") else "rate"

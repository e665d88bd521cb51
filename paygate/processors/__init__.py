"""Processors: the acquirer behind one interface. The test-mode simulator is the one built in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Outcome:
    """A processor's answer. Codes are paygate's public error codes, mapped once, here."""

    approved: bool
    error_code: str | None = None
    error_description: str | None = None

    @classmethod
    def approve(cls) -> Outcome:
        return cls(True)

    @classmethod
    def decline(cls, code: str, description: str) -> Outcome:
        return cls(False, code, description)


@dataclass(frozen=True)
class Instrument:
    """What the processor needs later, captured at creation: an opaque token, never the card number."""

    token: str


class Processor(Protocol):
    def tokenize_card(self, number: str) -> Instrument:
        """Vault the card number with the processor; paygate keeps only the returned token."""

    def tokenize_vpa(self, vpa: str) -> Instrument: ...

    async def authorize(self, payment_id: str, token: str, amount: int, currency: str) -> Outcome: ...

    async def capture(self, payment_id: str, token: str, amount: int, currency: str) -> Outcome: ...

    async def refund(self, refund_id: str, token: str, amount: int, currency: str) -> Outcome: ...

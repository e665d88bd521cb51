"""Processors: the acquirer behind one interface. The test-mode simulator is the one built in.

Every call that moves money carries an idempotency ``reference`` that paygate derives from its own object and
attempt (``pay_…`` for the authorization, ``pay_…/capture/1``, ``pay_…/void/2``, ``rfnd_…``): an acquirer
answers a call made again with the same reference from its books, without acting twice. ``fetch`` asks what
became of a reference; paygate uses it, never a guess, when a call's answer was lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

APPROVED, DECLINED, UNKNOWN = "approved", "declined", "unknown"


@dataclass(frozen=True)
class Outcome:
    """A processor's answer. Codes are paygate's public error codes, mapped once, here.

    ``unknown``: no answer came (a timeout, a transport error), so the call may or may not have taken effect.
    """

    status: Literal["approved", "declined", "unknown"]
    error_code: str | None = None
    error_description: str | None = None

    @property
    def approved(self) -> bool:
        return self.status == APPROVED

    @property
    def unknown(self) -> bool:
        return self.status == UNKNOWN

    @classmethod
    def approve(cls) -> Outcome:
        return cls(APPROVED)

    @classmethod
    def decline(cls, code: str, description: str) -> Outcome:
        return cls(DECLINED, code, description)

    @classmethod
    def lost(cls, description: str) -> Outcome:
        return cls(UNKNOWN, None, description)


@dataclass(frozen=True)
class Instrument:
    """What the processor needs later, captured at creation: an opaque token, never the card number."""

    token: str


class Processor(Protocol):
    def tokenize_card(self, number: str) -> Instrument:
        """Vault the card number with the processor; paygate keeps only the returned token."""

    def tokenize_vpa(self, vpa: str) -> Instrument: ...

    async def authorize(self, reference: str, token: str, amount: int, currency: str, *,
                        capture: bool) -> Outcome:
        """Hold ``amount`` on the instrument; with ``capture``, take it at once (a sale)."""

    async def capture(self, reference: str, authorization: str, amount: int, currency: str) -> Outcome:
        """Take ``amount`` (at most the authorized amount) of the authorization ``authorization`` (the reference
        its authorize call was made with). The rest of the authorization is released by the capture itself, as
        card acquirers do for a single capture."""

    async def void(self, reference: str, authorization: str) -> Outcome:
        """Release an uncaptured authorization in full."""

    async def refund(self, reference: str, authorization: str, amount: int, currency: str) -> Outcome:
        """Pay back ``amount`` of what the authorization captured."""

    async def fetch(self, reference: str) -> Outcome | None:
        """What became of the call made with ``reference``: its outcome, ``None`` when the processor never
        received it, or unknown when the processor cannot be asked now."""

"""Domain checks on already-typed input, run before anything is written. Each names its field."""

from __future__ import annotations

from datetime import date

from . import cards, currencies
from .errors import BadRequest
from .schemas import CardDetails


def check_amount(amount: int, field: str, maximum: int) -> int:
    if amount <= 0:
        raise BadRequest(f"{field} must be a positive integer in the currency's minor unit",
                         field=field, code="INVALID_AMOUNT")
    if amount > maximum:
        raise BadRequest(f"{field} must be at most {maximum}", field=field, code="INVALID_AMOUNT")
    return amount


def check_currency(code: str, field: str = "currency") -> str:
    if not currencies.is_known(code):
        raise BadRequest(f"{field} must be an ISO 4217 currency code such as INR or USD",
                         field=field, code="INVALID_CURRENCY")
    return code


def check_card(card: CardDetails, today: date) -> str:
    """Raise on the first problem; return the card's network."""
    problems = cards.validate_card(card.number, card.expiry_month, card.expiry_year, card.cvv, today)
    if problems:
        field, code, description = problems[0]
        raise BadRequest(description, field=field, code=code)
    return cards.detect_network(cards.normalize_number(card.number))


def check_vpa(vpa: str) -> str:
    if not cards.vpa_valid(vpa):
        raise BadRequest("vpa must look like name@bank", field="vpa", code="INVALID_VPA")
    return vpa

"""Domain checks on already-typed input, run before anything is written. Each names its field."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from ..infra.errors import BadRequest
from . import cards, currencies
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


# The widest UTC offset Postgres takes (no time zone is beyond -12:00 … +14:00); Python takes up to ±23:59.
MAX_UTC_OFFSET = timedelta(hours=15, minutes=59, seconds=59)


def check_time(value: str, field: str, expected: str = "an ISO 8601 time") -> datetime:
    """An ISO 8601 time, in UTC: naive times are UTC, and an offset beyond ±15:59 is refused, naming the field."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{field} must be {expected}", field=field) from None
    offset = parsed.utcoffset()
    if offset is None:
        return parsed.replace(tzinfo=UTC)
    if abs(offset) > MAX_UTC_OFFSET:
        raise BadRequest(f"{field} has a UTC offset beyond ±15:59", field=field)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise BadRequest(f"{field} must be an ISO 8601 time from year 1 to 9999 in UTC", field=field) from None

"""Card and UPI helpers: Luhn, network detection, expiry, CVV and VPA checks. Pure, no I/O."""

from __future__ import annotations

import datetime
import re

# Network by IIN prefix. Rule: the LONGEST listed prefix that the number starts with wins.
# No two prefixes of the same length overlap, so the answer is deterministic. The overlaps
# between RuPay and the others are settled by that rule and by this table:
#   - 6011 is Discover (4 digits beats RuPay's 60); the rest of 60 is RuPay.
#   - 6521 and 6522 are RuPay (4 digits beat Discover's 65); the rest of 65 is Discover.
#   - 508 is RuPay (3 digits beat Maestro's 50).
#   - 353x and 356x are RuPay: JCB's 3528-3589 is listed without them, so no JCB prefix
#     competes. This means the well-known JCB test cards 3530... and 3566... read as RuPay.
_RANGES: tuple[tuple[str, str, str], ...] = (
    # (lowest prefix, highest prefix, network); both ends have the same number of digits.
    ("4", "4", "visa"),
    ("51", "55", "mastercard"),
    ("2221", "2720", "mastercard"),
    ("34", "34", "amex"),
    ("37", "37", "amex"),
    ("60", "60", "rupay"),
    ("81", "82", "rupay"),
    ("508", "508", "rupay"),
    ("353", "353", "rupay"),
    ("356", "356", "rupay"),
    ("6521", "6522", "rupay"),
    ("6011", "6011", "discover"),
    ("644", "649", "discover"),
    ("65", "65", "discover"),
    ("36", "36", "diners"),
    ("300", "305", "diners"),
    ("38", "39", "diners"),
    ("3528", "3529", "jcb"),
    ("3540", "3559", "jcb"),
    ("3570", "3589", "jcb"),
    ("50", "50", "maestro"),
    ("56", "58", "maestro"),
    ("6304", "6304", "maestro"),
    ("6759", "6759", "maestro"),
    ("676770", "676770", "maestro"),
    ("676774", "676774", "maestro"),
)
# Longest prefixes first, so the first match is the longest one.
_RANGES_BY_LENGTH = sorted(_RANGES, key=lambda r: len(r[0]), reverse=True)

VALID_LENGTHS: dict[str, set[int]] = {
    "visa": {13, 16, 19},
    "mastercard": {16},
    "amex": {15},
    "rupay": {16},
    "discover": {16, 17, 18, 19},
    "diners": {14, 16, 17, 18, 19},
    "jcb": {16, 17, 18, 19},
    "maestro": set(range(12, 20)),
}
# No network issues numbers outside this span; used before the network is known.
_MIN_LENGTH, _MAX_LENGTH = 12, 19

# Handle: starts alphanumeric, then 1-255 of [A-Za-z0-9._-]. Provider: a letter, then 1-63
# letters or digits (real ones include "okaxis" and "kotak811"). ASCII only, no spaces.
VPA_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,255}@[A-Za-z][A-Za-z0-9]{1,63}")

Problem = tuple[str, str, str]  # (field, code, description)


def _is_digits(value: object) -> bool:
    """True for a non-empty str of ASCII digits (str.isdigit alone accepts "²" and "٣")."""
    return isinstance(value, str) and value.isascii() and value.isdigit()


def normalize_number(raw: str) -> str:
    """The card number with spaces and dashes removed; nothing else is touched."""
    return raw.replace(" ", "").replace("-", "")


def luhn_valid(number: str) -> bool:
    """True if number is all digits and passes the Luhn (mod 10) check."""
    if not _is_digits(number):
        return False
    total = 0
    # Double every second digit counting from the right, the check digit being the first.
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def detect_network(number: str) -> str | None:
    """The card network for number's IIN prefix, or None (see _RANGES for the rule)."""
    if not _is_digits(number):
        return None
    for low, high, network in _RANGES_BY_LENGTH:
        prefix = number[: len(low)]
        if len(prefix) == len(low) and low <= prefix <= high:
            return network
    return None


def cvv_length(network: str) -> int:
    """Digits in the security code: 4 for amex, 3 for every other network."""
    return 4 if network == "amex" else 3


def last4(number: str) -> str:
    """The last four digits of the (normalized) number, safe to store and show."""
    return normalize_number(number)[-4:]


def full_year(year: object) -> int | None:
    """A 4-digit year from 26, 2026, "26" or "2026"; None if not a plausible expiry year."""
    if isinstance(year, str):
        if not (_is_digits(year) and len(year) in (2, 4)):
            return None
        year = int(year)
    if isinstance(year, bool) or not isinstance(year, int):
        return None
    if 0 <= year <= 99:
        return 2000 + year
    if 2000 <= year <= 2099:
        return year
    return None


def parse_month(month: object) -> int | None:
    """The month as an int 1..12 from an int or a 1-2 digit str, else None."""
    if isinstance(month, str):
        if not (_is_digits(month) and len(month) <= 2):
            return None
        month = int(month)
    if isinstance(month, bool) or not isinstance(month, int):
        return None
    return month if 1 <= month <= 12 else None


def expiry_in_past(month: int, year: int, today: datetime.date) -> bool:
    """True if the card expired before today; it is good through its expiry month's last day."""
    yyyy, mm = full_year(year), parse_month(month)
    if yyyy is None or mm is None:
        raise ValueError("expiry month must be 1..12 and year 2000-2099 or 00-99")
    return (yyyy, mm) < (today.year, today.month)


def vpa_valid(vpa: str) -> bool:
    """True if vpa is a UPI virtual payment address like "name@bank"."""
    return isinstance(vpa, str) and VPA_PATTERN.fullmatch(vpa) is not None


def _number_problem(digits: str | None, network: str | None) -> Problem | None:
    """The card.number problem, if any, for an already normalized number."""
    field, invalid = "card.number", "INVALID_CARD_NUMBER"
    if not _is_digits(digits):
        return (field, invalid, "card.number must contain only digits")
    # Length and Luhn come before the network, so junk is "invalid", not "unsupported".
    if not _MIN_LENGTH <= len(digits) <= _MAX_LENGTH:
        return (field, invalid, "card.number has the wrong number of digits")
    if not luhn_valid(digits):
        return (field, invalid, "card.number fails the Luhn check")
    if network is None:
        return (field, "UNSUPPORTED_CARD_NETWORK", "card.number is from an unsupported network")
    if len(digits) not in VALID_LENGTHS[network]:
        return (field, invalid, f"card.number has the wrong length for {network}")
    return None


def _expiry_problems(month: object, year: object, today: datetime.date) -> list[Problem]:
    """Problems with card.expiry_month and card.expiry_year, at most one for each."""
    month_field, year_field = "card.expiry_month", "card.expiry_year"
    mm, yyyy = parse_month(month), full_year(year)
    problems: list[Problem] = []
    if mm is None:
        problems.append((month_field, "INVALID_EXPIRY", "card.expiry_month must be 1 to 12"))
    if yyyy is None:
        text = "card.expiry_year must be 2000-2099 or 00-99"
        problems.append((year_field, "INVALID_EXPIRY", text))
    if problems:
        return problems
    if yyyy < today.year:
        problems.append((year_field, "CARD_EXPIRED", "card.expiry_year is in the past"))
    elif (yyyy, mm) < (today.year, today.month):
        problems.append((month_field, "CARD_EXPIRED", "card.expiry_month is in the past"))
    return problems


def _cvv_problem(cvv: object, network: str | None) -> Problem | None:
    """The card.cvv problem, if any; with no known network, 3 or 4 digits are accepted."""
    lengths = {cvv_length(network)} if network else {3, 4}
    if not _is_digits(cvv):
        return ("card.cvv", "INVALID_CVV", "card.cvv must contain only digits")
    if len(cvv) not in lengths:
        want = " or ".join(str(n) for n in sorted(lengths))
        return ("card.cvv", "INVALID_CVV", f"card.cvv must be {want} digits")
    return None


def validate_card(
    number: str,
    expiry_month: int,
    expiry_year: int,
    cvv: str,
    today: datetime.date,
) -> list[Problem]:
    """All problems with a card as (field, code, description); an empty list means valid."""
    # Descriptions never echo the number or the CVV: they end up in logs and API responses.
    digits = normalize_number(number) if isinstance(number, str) else None
    # Detected even for a bad number, so the CVV is still held to that network's length.
    network = detect_network(digits) if digits is not None else None
    number_problem = _number_problem(digits, network)
    problems = [number_problem] if number_problem else []
    problems += _expiry_problems(expiry_month, expiry_year, today)
    cvv_problem = _cvv_problem(cvv, network)
    if cvv_problem:
        problems.append(cvv_problem)
    return problems

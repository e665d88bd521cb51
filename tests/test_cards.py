"""Table-driven tests for paygate.core.cards."""

from __future__ import annotations

import datetime

import pytest

from paygate.core.cards import (
    VALID_LENGTHS,
    VPA_PATTERN,
    cvv_length,
    detect_network,
    expiry_in_past,
    last4,
    luhn_valid,
    normalize_number,
    validate_card,
    vpa_valid,
)

TODAY = datetime.date(2026, 6, 15)


def luhn(body: str) -> str:
    """body with the Luhn check digit appended, computed independently of paygate.core.cards."""
    total = 0
    # Walking body from the right, the first digit is doubled (the check digit will follow it).
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d // 10 + d % 10
    return body + str((10 - total % 10) % 10)


def card(prefix: str, length: int) -> str:
    """A Luhn-valid number of the given length starting with prefix."""
    return luhn(prefix.ljust(length - 1, "0"))


def test_helper_matches_known_numbers():
    assert luhn("411111111111111") == "4111111111111111"
    assert luhn("37828224631000") == "378282246310005"
    assert luhn("400000000000000") == "4000000000000002"


# --- Luhn -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("4111111111111111", True),
        ("4000000000000002", True),  # magic test card: declined
        ("4000000000009995", True),  # magic test card: insufficient funds
        ("5555555555554444", True),
        ("378282246310005", True),
        ("79927398713", True),
        ("0", True),
        ("4111111111111112", False),
        ("4111111111111121", False),  # adjacent digits swapped
        ("79927398710", False),
        ("", False),
        ("4111 1111 1111 1111", False),  # luhn_valid takes digits only
        ("4111-1111-1111-1111", False),
        ("411111111111111a", False),
        ("\uff14\uff11\uff11\uff11", False),  # full-width digits are not ASCII
        ("-4111111111111111", False),
    ],
)
def test_luhn_valid(number, valid):
    assert luhn_valid(number) is valid


# --- Network detection ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "network"),
    [
        ("4111111111111111", "visa"),
        ("4000000000000002", "visa"),
        ("4000000000009995", "visa"),
        ("4222222222222", "visa"),
        ("5555555555554444", "mastercard"),
        ("5105105105105100", "mastercard"),
        ("2223003122003222", "mastercard"),
        (card("2221", 16), "mastercard"),
        (card("2720", 16), "mastercard"),
        ("378282246310005", "amex"),
        ("371449635398431", "amex"),
        (card("34", 15), "amex"),
        ("6011111111111117", "discover"),
        ("6011000990139424", "discover"),
        (card("644", 16), "discover"),
        (card("649", 16), "discover"),
        (card("65", 16), "discover"),
        (card("6523", 16), "discover"),
        (card("6521", 16), "rupay"),
        (card("6522", 16), "rupay"),
        (card("60", 16), "rupay"),
        (card("6012", 16), "rupay"),
        (card("81", 16), "rupay"),
        (card("82", 16), "rupay"),
        (card("508", 16), "rupay"),
        ("3530111333300000", "rupay"),  # a common JCB test card, but 353x is RuPay here
        ("3566002020360505", "rupay"),  # likewise 356x
        ("36227206271667", "diners"),
        ("30569309025904", "diners"),
        (card("300", 14), "diners"),
        (card("305", 14), "diners"),
        (card("38", 16), "diners"),
        (card("39", 16), "diners"),
        (card("3528", 16), "jcb"),
        (card("3540", 16), "jcb"),
        (card("3589", 16), "jcb"),
        (card("50", 16), "maestro"),
        (card("56", 16), "maestro"),
        (card("58", 16), "maestro"),
        ("6759649826438453", "maestro"),
        (card("6304", 16), "maestro"),
        (card("676770", 16), "maestro"),
        (card("676774", 16), "maestro"),
    ],
)
def test_detect_network(number, network):
    assert luhn_valid(number)
    assert detect_network(number) == network


def test_prefix_table_has_no_same_length_overlaps():
    # "Longest prefix wins" is only deterministic if equal-length prefixes never overlap.
    from paygate.core.cards import _RANGES

    seen: dict[str, str] = {}
    for low, high, network in _RANGES:
        assert len(low) == len(high) and low <= high
        for n in range(int(low), int(high) + 1):
            prefix = str(n).zfill(len(low))
            assert prefix not in seen, (prefix, seen.get(prefix), network)
            seen[prefix] = network


@pytest.mark.parametrize(
    "number",
    [
        "", "1234567812345670", "9999999999999995", "306", "3527", "3590", "2220", "2721",
        "59", "6767", "676771", "7000", "4111 1111", "abcd",
    ],
)  # fmt: skip
def test_detect_network_none(number):
    assert detect_network(number) is None


def test_valid_lengths():
    assert VALID_LENGTHS == {
        "visa": {13, 16, 19},
        "mastercard": {16},
        "amex": {15},
        "rupay": {16},
        "discover": {16, 17, 18, 19},
        "diners": {14, 16, 17, 18, 19},
        "jcb": {16, 17, 18, 19},
        "maestro": {12, 13, 14, 15, 16, 17, 18, 19},
    }


@pytest.mark.parametrize(
    ("network", "length"),
    [("amex", 4), ("visa", 3), ("mastercard", 3), ("rupay", 3), ("discover", 3),
     ("diners", 3), ("jcb", 3), ("maestro", 3)],
)  # fmt: skip
def test_cvv_length(network, length):
    assert cvv_length(network) == length


# --- Small helpers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("4111 1111 1111 1111", "4111111111111111"),
        ("4111-1111-1111-1111", "4111111111111111"),
        (" 4111 - 1111 ", "41111111"),
        ("4111\t1111", "4111\t1111"),  # only spaces and dashes are removed
        ("4111.1111", "4111.1111"),
        ("", ""),
    ],
)
def test_normalize_number(raw, normalized):
    assert normalize_number(raw) == normalized


@pytest.mark.parametrize(
    ("number", "tail"),
    [("4111111111111111", "1111"), ("378282246310005", "0005"), ("4000 0000 0000 9995", "9995")],
)
def test_last4(number, tail):
    assert last4(number) == tail


# --- Expiry ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("month", "year", "today", "past"),
    [
        (6, 2026, TODAY, False),  # this month: valid through its last day
        (6, 2026, datetime.date(2026, 6, 30), False),
        (6, 2026, datetime.date(2026, 7, 1), True),
        (5, 2026, TODAY, True),  # last month
        (12, 2025, datetime.date(2026, 1, 1), True),
        (1, 2027, TODAY, False),
        (6, 26, TODAY, False),  # 2-digit year
        (5, 26, TODAY, True),
        (12, 30, TODAY, False),
        (12, 25, TODAY, True),
    ],
)
def test_expiry_in_past(month, year, today, past):
    assert expiry_in_past(month, year, today) is past


@pytest.mark.parametrize(("month", "year"), [(0, 2026), (13, 2026), (6, 1999), (6, 2100), (6, 202)])
def test_expiry_in_past_rejects_nonsense(month, year):
    with pytest.raises(ValueError):
        expiry_in_past(month, year, TODAY)


# --- validate_card --------------------------------------------------------------------------

GOOD = {"number": "4111111111111111", "expiry_month": 12, "expiry_year": 2030, "cvv": "123"}


def problems(**changes):
    """validate_card on GOOD with some arguments changed, as (field, code) pairs."""
    args = {**GOOD, **changes}
    return [(field, code) for field, code, _ in validate_card(**args, today=TODAY)]


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"number": "4111 1111 1111 1111"},
        {"number": "4111-1111-1111-1111"},
        {"number": "378282246310005", "cvv": "1234"},
        {"number": "2223003122003222"},
        {"number": card("6521", 16)},
        {"number": "4222222222222"},
        {"number": card("50", 12)},
        {"expiry_month": 6, "expiry_year": 2026},  # expires this month
        {"expiry_month": 6, "expiry_year": 26},
        {"expiry_month": "06", "expiry_year": "26"},  # digit strings, as JSON may carry them
        {"expiry_year": "2030"},
        {"cvv": "000"},
    ],
)
def test_validate_card_accepts(changes):
    assert problems(**changes) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"number": "4111111111111112"}, [("card.number", "INVALID_CARD_NUMBER")]),
        ({"number": "4111x11111111111"}, [("card.number", "INVALID_CARD_NUMBER")]),
        ({"number": ""}, [("card.number", "INVALID_CARD_NUMBER")]),
        ({"number": None}, [("card.number", "INVALID_CARD_NUMBER")]),
        ({"number": "4111"}, [("card.number", "INVALID_CARD_NUMBER")]),
        ({"number": card("4", 15)}, [("card.number", "INVALID_CARD_NUMBER")]),  # visa length
        (  # wrong length for amex; the CVV is still held to amex's 4 digits
            {"number": card("37", 16), "cvv": "1234"},
            [("card.number", "INVALID_CARD_NUMBER")],
        ),
        ({"number": card("9", 16)}, [("card.number", "UNSUPPORTED_CARD_NETWORK")]),
        ({"number": card("7", 16)}, [("card.number", "UNSUPPORTED_CARD_NETWORK")]),
        ({"expiry_month": 0}, [("card.expiry_month", "INVALID_EXPIRY")]),
        ({"expiry_month": 13}, [("card.expiry_month", "INVALID_EXPIRY")]),
        ({"expiry_month": "1a"}, [("card.expiry_month", "INVALID_EXPIRY")]),
        ({"expiry_month": None}, [("card.expiry_month", "INVALID_EXPIRY")]),
        ({"expiry_month": True}, [("card.expiry_month", "INVALID_EXPIRY")]),
        ({"expiry_year": 202}, [("card.expiry_year", "INVALID_EXPIRY")]),
        ({"expiry_year": 1999}, [("card.expiry_year", "INVALID_EXPIRY")]),
        ({"expiry_year": 2100}, [("card.expiry_year", "INVALID_EXPIRY")]),
        ({"expiry_year": "030"}, [("card.expiry_year", "INVALID_EXPIRY")]),
        ({"expiry_year": -1}, [("card.expiry_year", "INVALID_EXPIRY")]),
        (
            {"expiry_month": 13, "expiry_year": 20300},
            [("card.expiry_month", "INVALID_EXPIRY"), ("card.expiry_year", "INVALID_EXPIRY")],
        ),
        ({"expiry_month": 5, "expiry_year": 2026}, [("card.expiry_month", "CARD_EXPIRED")]),
        ({"expiry_month": 5, "expiry_year": 26}, [("card.expiry_month", "CARD_EXPIRED")]),
        ({"expiry_month": 12, "expiry_year": 2025}, [("card.expiry_year", "CARD_EXPIRED")]),
        ({"expiry_month": 12, "expiry_year": 25}, [("card.expiry_year", "CARD_EXPIRED")]),
        ({"cvv": "12"}, [("card.cvv", "INVALID_CVV")]),
        ({"cvv": "1234"}, [("card.cvv", "INVALID_CVV")]),  # 4 digits only for amex
        ({"cvv": "12a"}, [("card.cvv", "INVALID_CVV")]),
        ({"cvv": ""}, [("card.cvv", "INVALID_CVV")]),
        ({"cvv": None}, [("card.cvv", "INVALID_CVV")]),
        ({"cvv": 123}, [("card.cvv", "INVALID_CVV")]),  # an int loses leading zeros
        ({"number": "378282246310005", "cvv": "123"}, [("card.cvv", "INVALID_CVV")]),
        (
            {"number": "4111111111111112", "expiry_month": 1, "expiry_year": 2020, "cvv": "1"},
            [
                ("card.number", "INVALID_CARD_NUMBER"),
                ("card.expiry_year", "CARD_EXPIRED"),
                ("card.cvv", "INVALID_CVV"),
            ],
        ),
    ],
)
def test_validate_card_problems(changes, expected):
    assert problems(**changes) == expected


@pytest.mark.parametrize(
    "number", ["4111111111111112", "4111111111111", card("9", 16), card("37", 16), "4111x1"]
)
def test_descriptions_name_the_field_and_never_the_number(number):
    found = validate_card(number, 13, 1999, "98765", TODAY)
    assert len(found) == 4
    for field, _code, description in found:
        assert description.startswith(field + " ")
        assert number not in description
        assert last4(number) not in description
        assert "98765" not in description


# --- UPI VPA --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vpa", "valid"),
    [
        ("success@paygate", True),
        ("failure@paygate", True),
        ("john.doe-1@okaxis", True),
        ("9876543210@ybl", True),
        ("a_b@kotak811", True),
        ("ab@cd", True),
        ("a" * 256 + "@bank", True),
        ("x@" + "b" * 64, False),  # handle too short
        ("ab@" + "b" * 64, True),
        ("a" * 257 + "@bank", False),
        ("ab@" + "b" * 65, False),
        ("a@b", False),
        ("ab@b", False),
        ("@paygate", False),
        ("no-at-sign", False),
        ("x y@bank", False),
        (".john@bank", False),
        ("-john@bank", False),
        ("john@ok-axis", False),
        ("john@ok.axis", False),
        ("john@1bank", False),
        ("john@bank@bank", False),
        ("john@bank\n", False),
        ("jöhn@bank", False),
        ("", False),
        (None, False),
    ],
)
def test_vpa_valid(vpa, valid):
    assert vpa_valid(vpa) is valid


def test_vpa_pattern_is_compiled_and_anchored_by_fullmatch():
    assert VPA_PATTERN.fullmatch("success@paygate")
    assert VPA_PATTERN.fullmatch("say success@paygate") is None

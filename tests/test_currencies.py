"""Table-driven tests for paygate.core.currencies."""

from __future__ import annotations

import pytest

from paygate.core.currencies import CURRENCIES, exponent, format_amount, is_known


@pytest.mark.parametrize(
    ("code", "places"),
    [
        ("INR", 2), ("USD", 2), ("EUR", 2), ("GBP", 2), ("JPY", 0), ("KRW", 0), ("VND", 0),
        ("CLP", 0), ("ISK", 0), ("XAF", 0), ("XOF", 0), ("XPF", 0), ("UGX", 0), ("KWD", 3),
        ("BHD", 3), ("OMR", 3), ("JOD", 3), ("IQD", 3), ("LYD", 3), ("TND", 3), ("CLF", 4),
        ("UYW", 4), ("XCD", 2), ("XCG", 2), ("ZWG", 2), ("SLE", 2), ("VED", 2),
    ],
)  # fmt: skip
def test_exponent(code, places):
    assert exponent(code) == places


def test_table_shape():
    for code, places in CURRENCIES.items():
        assert len(code) == 3 and code.isascii() and code.isalpha() and code.isupper()
        assert places in (0, 2, 3, 4)


@pytest.mark.parametrize(
    "code",
    # Precious metals, SDR, testing and "no currency" codes, then withdrawn currencies.
    ["XAU", "XAG", "XPT", "XPD", "XDR", "XTS", "XXX", "XAD", "HRK", "ANG", "ZWL", "SLL", "BGN"],
)
def test_excluded_codes_are_unknown(code):
    assert not is_known(code)


@pytest.mark.parametrize(
    ("code", "known"),
    [
        ("INR", True), ("USD", True), ("CLF", True),
        ("inr", False), ("Inr", False), (" INR", False), ("INR ", False), ("IN", False),
        ("INRR", False), ("", False), ("ABC", False), (None, False), (356, False),
    ],
)  # fmt: skip
def test_is_known(code, known):
    assert is_known(code) is known


@pytest.mark.parametrize("code", ["ABC", "inr", "", "XAU"])
def test_exponent_unknown_raises_key_error(code):
    with pytest.raises(KeyError):
        exponent(code)


@pytest.mark.parametrize(
    ("amount", "code", "text"),
    [
        (50000, "INR", "500.00"),
        (1, "INR", "0.01"),
        (0, "INR", "0.00"),
        (123456789, "USD", "1234567.89"),
        (-250, "USD", "-2.50"),
        (-5, "USD", "-0.05"),
        (500, "JPY", "500"),
        (0, "JPY", "0"),
        (-500, "JPY", "-500"),
        (1234, "KWD", "1.234"),
        (5, "BHD", "0.005"),
        (12345, "CLF", "1.2345"),
        (1, "UYW", "0.0001"),
    ],
)
def test_format_amount(amount, code, text):
    assert format_amount(amount, code) == text


def test_format_amount_unknown_currency():
    with pytest.raises(KeyError):
        format_amount(100, "ABC")


@pytest.mark.parametrize("amount", [1.5, "100", True, None])
def test_format_amount_rejects_non_int(amount):
    with pytest.raises(TypeError):
        format_amount(amount, "INR")

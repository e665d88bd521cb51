"""The simulator's magic test inputs, in one table: the simulator, the README, the OpenAPI document,
the dashboard's Docs page and the hosted checkout's test-mode hint all read it, so none can drift.

    python -m paygate.core.processors.testcards --markdown | --json | --readme README.md
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

# A key of this prefix pays the simulator; checkout shows its test inputs only to such a key.
TEST_KEY_PREFIX = "key_test_"
README_START, README_END = "<!-- test-cards -->", "<!-- /test-cards -->"
SLOW_SECONDS = 2.0  # how long the "slow" instruments keep every call waiting


@dataclass(frozen=True)
class TestInstrument:
    """One magic input and what the simulator does with it."""

    __test__ = False  # its name starts with Test: keep pytest from collecting it where it is imported

    method: Literal["card", "upi"]
    value: str  # the card number or the UPI id
    outcome: str  # for people
    error_code: str | None  # the payment's (or, for refundfail, the refund's) error code
    scenario: str  # the simulator's decision, carried in the instrument token


# What the fault instruments do to every call: the authorization, and the capture, void or refunds after it.
TIMEOUT = "Approved, but every answer is lost (a timeout): paygate asks the processor what became of each call"
UNREACHABLE = "Approved, after each call first fails once before reaching the processor"
SLOW = f"Approved, {SLOW_SECONDS:g} s per call"

TEST_INSTRUMENTS = (
    TestInstrument("card", "4111111111111111", "Approved", None, "approve"),
    TestInstrument("card", "4242424242424242", "Approved", None, "approve"),
    TestInstrument("card", "4000000000000002", "Declined by the issuer", "CARD_DECLINED", "declined"),
    TestInstrument("card", "4000000000009995", "Declined: insufficient funds", "INSUFFICIENT_FUNDS",
                   "insufficient"),
    # The processor's own faults, to see paygate recover: every step (authorization, capture, void, refund) of
    # these is approved in the end
    TestInstrument("card", "4000000000000119", TIMEOUT, None, "timeout"),
    TestInstrument("card", "4000000000000127", UNREACHABLE, None, "unreachable"),
    TestInstrument("card", "4000000000000135", SLOW, None, "slow"),
    TestInstrument("upi", "success@paygate", "Approved", None, "approve"),
    TestInstrument("upi", "failure@paygate", "Declined by the payer's bank", "UPI_PAYMENT_FAILED", "upi_failed"),
    TestInstrument("upi", "refundfail@paygate", "Approved; its refunds fail", "REFUND_FAILED", "norefund"),
    TestInstrument("upi", "timeout@paygate", TIMEOUT, None, "timeout"),
    TestInstrument("upi", "unreachable@paygate", UNREACHABLE, None, "unreachable"),
    TestInstrument("upi", "slow@paygate", SLOW, None, "slow"),
)

METHOD_NAMES = {"card": "Card", "upi": "UPI"}


def as_json() -> list[dict]:
    """The table as plain JSON objects (the token's scenario is an internal detail and left out)."""
    return [{"method": t.method, "value": t.value, "outcome": t.outcome, "error_code": t.error_code}
            for t in TEST_INSTRUMENTS]


def markdown() -> str:
    """The table as a Markdown table (no trailing newline)."""
    lines = ["| Method | Card number or UPI id | Outcome | Error code |", "| --- | --- | --- | --- |"]
    for t in TEST_INSTRUMENTS:
        code = f"`{t.error_code}`" if t.error_code else "—"
        lines.append(f"| {METHOD_NAMES[t.method]} | `{t.value}` | {t.outcome} | {code} |")
    return "\n".join(lines)


def _section_bounds(text: str) -> tuple[int, int]:
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"no {README_START} … {README_END} section")
    return start + len(README_START), end


def readme_section(text: str) -> str:
    """What stands between the README's markers, without the blank lines around it."""
    start, end = _section_bounds(text)
    return text[start:end].strip("\n")


def with_readme_section(text: str) -> str:
    """``text`` with the section between the markers replaced by the current table."""
    start, end = _section_bounds(text)
    return f"{text[:start]}\n{markdown()}\n{text[end:]}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m paygate.core.processors.testcards",
                                     description="Print the table of test cards and UPI ids, or write it into a "
                                                 "README between its marker comments.")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--markdown", action="store_true", help="print the Markdown table (the default)")
    what.add_argument("--json", action="store_true", help="print the JSON list")
    what.add_argument("--readme", type=Path, metavar="FILE", help="rewrite the table between the markers in FILE")
    args = parser.parse_args(argv)
    if args.readme:
        args.readme.write_text(with_readme_section(args.readme.read_text()))
    elif args.json:
        print(json.dumps(as_json(), indent=2))
    else:
        print(markdown())


if __name__ == "__main__":
    main()

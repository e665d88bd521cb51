"""Operator commands for one payment: ``paygate payments show|capture|cancel PAY_ID``.

They act for whichever merchant owns the payment, through the operations the API calls, so every rule and every
refusal is the API's own: a refusal is one line naming why, and exit code 1.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import click

from .context import console, load_config, operator_services, print_json, run_operation

if TYPE_CHECKING:
    from ..core.services import Services

# What an answer that is still pending at the processor means, per command (the API's 202).
PENDING = {
    "capture": "the capture is pending at the processor; paygate settles it and records the outcome "
               "(event payment.captured)",
    "cancel": "the cancellation is pending at the processor; paygate settles it and records the outcome "
              "(event payment.voided)",
}

VOID_REASONS = {"requested": "requested", "expired": "authorization expired"}  # a payment's void_reason, in words


def register(main: click.Group) -> None:
    main.add_command(payments)


@click.group()
def payments() -> None:
    """Look up a payment; capture or cancel an authorized one."""


def _for_owner(ctx: click.Context, payment_id: str, act: Callable[[Services, dict], Awaitable[dict]]) -> dict:
    """``act(services, merchant)`` for the merchant that owns PAY_ID; an unknown id is one line, exit code 1."""
    from ..core.operations.payments import payment_owner

    config = load_config(ctx)

    async def go():
        async with operator_services(config) as services:
            return await act(services, await payment_owner(services, payment_id))

    return run_operation(go())


def _money(amount: int, currency: str) -> str:
    from ..core.currencies import format_amount

    return f"{currency} {format_amount(amount, currency)}"


def _when(iso: str | None) -> str:
    return iso[:19].replace("T", " ") + " UTC" if iso else "-"


def render_payment(p: dict):
    """One payment as a block, the way `merchants list` shows a merchant on a narrow terminal."""
    from rich.console import Group
    from rich.markup import escape

    method = f"card {p['card']['network']} ···· {p['card']['last4']}" if p["card"] else f"upi {p['vpa']}"
    captured = _money(p["amount_captured"], p["currency"]) if p["captured"] else "not captured"
    lines = [f"[bold]{p['id']}[/]  {p['status']}  {_money(p['amount'], p['currency'])}",
             f"  order       {p['order_id']}",
             f"  merchant    {p['merchant_id']}",
             f"  method      {escape(method)} ({p['capture_method']} capture)",
             f"  captured    {captured}",
             f"  refunded    {_money(p['amount_refunded'], p['currency'])} ({p['refund_status']})"]
    if p["status"] == "voided":  # void_reason is set as the void begins, before the processor has agreed
        lines.append(f"  voided      {VOID_REASONS.get(p['void_reason'], p['void_reason'])}")
    if p["authorization_released_at"]:
        lines.append(f"  released    {_when(p['authorization_released_at'])}")
    if p["error_code"]:
        lines.append(f"  error       {p['error_code']}: {escape(p['error_description'] or '')}")
    lines.append(f"  created     {_when(p['created_at'])}")
    return Group(*lines)


def _report(payment: dict, status: int, command: str, as_json: bool) -> None:
    """The payment after a capture or cancel: its new status, or that the processor has not answered yet."""
    if as_json:
        print_json(payment)
        return
    if status == 202:
        line = f"{payment['id']}: {payment['status']}: {PENDING[command]}"
    elif command == "capture":
        line = (f"{payment['id']}: {payment['status']}, captured "
                f"{_money(payment['amount_captured'], payment['currency'])}")
    else:
        line = (f"{payment['id']}: {payment['status']}, the authorization of "
                f"{_money(payment['amount'], payment['currency'])} is released")
    console().print(line, highlight=False, soft_wrap=True)  # one line, whatever the width, so it can be grepped


@payments.command("show")
@click.argument("payment_id", metavar="PAY_ID")
@click.option("--json", "as_json", is_flag=True, help="The payment as the API shows it.")
@click.pass_context
def show(ctx: click.Context, payment_id: str, as_json: bool) -> None:
    """PAY_ID, as its merchant sees it in the API."""
    from ..core.operations.payments import get_payment

    payment = _for_owner(ctx, payment_id, lambda services, owner: get_payment(services, owner, payment_id))
    if as_json:
        print_json(payment)
    else:
        console().print(render_payment(payment), highlight=False)


@payments.command("capture")
@click.argument("payment_id", metavar="PAY_ID")
@click.option("--amount", type=int, default=None, metavar="N",
              help="Minor units (paise for INR) to capture, at most the authorized amount; all of it when left out.")
@click.option("--json", "as_json", is_flag=True, help="The payment as the API answers it.")
@click.pass_context
def capture(ctx: click.Context, payment_id: str, amount: int | None, as_json: bool) -> None:
    """Capture all or part of PAY_ID's authorization.

    A payment is captured once; the processor releases what is not captured."""
    from ..core.idempotency import Receipt
    from ..core.operations.payments import capture_payment
    from ..core.schemas import CaptureRequest

    receipt = Receipt(200)  # no key: it only tells a settled answer (200) from a pending one (202)
    payment = _for_owner(ctx, payment_id, lambda services, owner: capture_payment(
        services, owner, payment_id, CaptureRequest(amount=amount), receipt))
    _report(payment, receipt.status, "capture", as_json)


@payments.command("cancel")
@click.argument("payment_id", metavar="PAY_ID")
@click.option("--json", "as_json", is_flag=True, help="The payment as the API answers it.")
@click.pass_context
def cancel(ctx: click.Context, payment_id: str, as_json: bool) -> None:
    """Cancel (void) PAY_ID's uncaptured authorization.

    The shopper's funds are released, and the payment's order can be paid again."""
    from ..core.idempotency import Receipt
    from ..core.operations.payments import cancel_payment

    receipt = Receipt(200)
    payment = _for_owner(ctx, payment_id, lambda services, owner: cancel_payment(
        services, owner, payment_id, receipt))
    _report(payment, receipt.status, "cancel", as_json)

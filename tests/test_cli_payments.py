"""Operator commands `paygate payments show|capture|cancel`, against real services and the app's real workers."""

from __future__ import annotations

import asyncio
import json
import time

from click.testing import CliRunner

from paygate.cli import main

from .api import create_order, event_types, get, pay, wait_final
from .conftest import paygate_env

TIMEOUT_CARD = "4000000000000119"  # approved, but every answer of the simulator is lost on its way back


def _invoke(env: dict[str, str], *args: str):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


async def _cli(env: dict[str, str], *args: str):
    """In-process, off the event loop (the command runs its own), so that the app's workers keep running."""
    return await asyncio.to_thread(_invoke, env, *args)


async def _authorized(client, headers, number: str | None = None) -> dict:
    """A card payment on a manual-capture order: authorized, not captured."""
    order = await create_order(client, headers, capture_method="manual")
    payment = await wait_final(client, headers, (await pay(client, headers, order["id"], number=number))["id"])
    assert (payment["status"], payment["captured"]) == ("success", False), payment
    return payment


def _refused(result, words: str) -> None:
    """Exit code 1 and one line naming why: no traceback, no second line."""
    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines() == [f"Error: {words}"], result.output
    assert "Traceback" not in result.output


async def test_show_prints_the_payment_as_the_api_shows_it(worker_client, merchant, clean_state):
    headers, env = merchant["headers"], paygate_env(*clean_state)
    payment = await _authorized(worker_client, headers)

    shown = await _cli(env, "payments", "show", payment["id"], "--json")

    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output) == await get(worker_client, headers, f"/api/v1/payments/{payment['id']}")
    text = await _cli(env, "payments", "show", payment["id"])
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    assert lines[0].split() == [payment["id"], "success", "INR", "500.00"]
    assert "not captured" in text.output and payment["order_id"] in text.output


async def test_cancel_voids_an_authorization_and_its_order_can_be_paid_again(worker_client, merchant, clean_state):
    headers, env = merchant["headers"], paygate_env(*clean_state)
    payment = await _authorized(worker_client, headers)

    result = await _cli(env, "payments", "cancel", payment["id"])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{payment['id']}: voided, the authorization of INR 500.00 is released"
    stored = await get(worker_client, headers, f"/api/v1/payments/{payment['id']}")
    assert (stored["status"], stored["void_reason"], stored["captured"]) == ("voided", "requested", False)
    assert stored["authorization_released_at"] is not None
    assert (await get(worker_client, headers, f"/api/v1/orders/{payment['order_id']}"))["status"] == "attempted"
    assert "payment.voided" in await event_types(worker_client, headers, payment["id"])
    shown = await _cli(env, "payments", "show", payment["id"])
    assert "voided      requested" in shown.output

    # Cancelled once: a second cancel, or a capture, is refused in the API's words.
    _refused(await _cli(env, "payments", "cancel", payment["id"]),
             "this payment was cancelled; its authorization was released")
    _refused(await _cli(env, "payments", "capture", payment["id"]),
             "this payment was cancelled; its authorization was released")


async def test_cancel_refuses_a_captured_payment_in_one_line(worker_client, merchant, clean_state):
    headers, env = merchant["headers"], paygate_env(*clean_state)
    order = await create_order(worker_client, headers)  # automatic capture: a sale
    sale = await wait_final(worker_client, headers, (await pay(worker_client, headers, order["id"]))["id"])
    assert (sale["status"], sale["captured"]) == ("success", True), sale

    _refused(await _cli(env, "payments", "cancel", sale["id"]), "this payment is captured; refund it instead")
    stored = await get(worker_client, headers, f"/api/v1/payments/{sale['id']}")
    assert (stored["status"], stored["captured"], stored["void_reason"]) == ("success", True, None)


async def test_an_unknown_payment_is_one_line_and_exit_code_1(clean_state):
    env = paygate_env(*clean_state)
    for command in ("show", "cancel", "capture"):
        result = await _cli(env, "payments", command, "pay_doesnotexist0000")
        _refused(result, "no payment 'pay_doesnotexist0000'")


async def test_capture_takes_the_amount_given_and_refuses_more_than_was_authorized(
        worker_client, merchant, clean_state):
    headers, env = merchant["headers"], paygate_env(*clean_state)
    payment = await _authorized(worker_client, headers)

    _refused(await _cli(env, "payments", "capture", payment["id"], "--amount", "60000"),
             "amount must not exceed the authorized amount (50000)")
    result = await _cli(env, "payments", "capture", payment["id"], "--amount", "30000", "--json")

    assert result.exit_code == 0, result.output
    answered = json.loads(result.output)
    assert answered == await get(worker_client, headers, f"/api/v1/payments/{payment['id']}")
    assert (answered["status"], answered["captured"], answered["amount_captured"]) == ("success", True, 30000)
    assert "payment.captured" in await event_types(worker_client, headers, payment["id"])
    _refused(await _cli(env, "payments", "capture", payment["id"]), "this payment is already captured")

    # Captured in full by the command, as text.
    other = await _authorized(worker_client, headers)
    text = await _cli(env, "payments", "capture", other["id"])
    assert text.exit_code == 0, text.output
    assert text.output.strip() == f"{other['id']}: success, captured INR 500.00"


async def test_a_cancel_the_processor_does_not_answer_is_reported_pending_and_settled_later(
        aiohttp_client, make_app, merchant, clean_state):
    # The scheduler asks the processor about a call left unanswered after 0.5 s (60 s by default).
    client = await aiohttp_client(make_app(workers=True, payments__stuck_after=0.5, worker__claim_after=0.5,
                                           scheduler__interval=0.2))
    headers, env = merchant["headers"], paygate_env(*clean_state)
    payment = await _authorized(client, headers, number=TIMEOUT_CARD)

    result = await _cli(env, "payments", "cancel", payment["id"])

    assert result.exit_code == 0, result.output
    # (Its output also carries the worker's log line about the lost answer.)
    assert [line for line in result.output.splitlines() if line.startswith(payment["id"])] == [
        f"{payment['id']}: void_pending: the cancellation is pending at the processor; paygate settles it and "
        "records the outcome (event payment.voided)"], result.output
    # A second request while it is at the processor is refused, not made again.
    _refused(await _cli(env, "payments", "cancel", payment["id"]),
             "a cancellation of this payment is in progress at the processor; its outcome follows as an event "
             "(or look the payment up)")
    deadline = time.monotonic() + 20
    while (stored := await get(client, headers, f"/api/v1/payments/{payment['id']}"))["status"] == "void_pending":
        assert time.monotonic() < deadline, "the cancellation was never settled"
        await asyncio.sleep(0.1)
    assert (stored["status"], stored["void_reason"]) == ("voided", "requested")
    assert (await get(client, headers, f"/api/v1/orders/{payment['order_id']}"))["status"] == "attempted"

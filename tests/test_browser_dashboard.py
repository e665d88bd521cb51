"""The merchant dashboard in real Chromium, against a real `paygate serve` with its workers.

Payments are made through the API, as a merchant's server would; the dashboard is then used as a
merchant would use it. A local receiver plays the webhook endpoint and a second local origin plays an
attacking site. Screenshots of every page land in tests/screenshots/dashboard/ for review.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import expect
from standardwebhooks import Webhook

from paygate.core.states import STATUSES

from .api import create_order, get, pay, wait_final
from .browser import (
    DESKTOP,
    KEY,
    PHONE,
    REPO_STATIC,
    SECRET,
    Site,
    errors,
    goto,
    open_dashboard,
    sign_in,
    signed_in,
    tid,
)
from .conftest import paygate_env
from .receiver import statuses

pytestmark = pytest.mark.browser
# Payments and webhooks go through paygate's real workers; give them room on a busy machine.
expect.set_options(timeout=15_000)

TIMEOUT_CARD = "4000000000000119"  # approved, but every answer of the simulator is lost on its way back
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots" / "dashboard"
# Every page the router has a top-level route for: its navigation link's route and its page's marker.
PAGES = [("overview", "overview"), ("payments", "payments"), ("refunds", "refunds"), ("orders", "orders"),
         ("webhooks", "webhooks"), ("keys", "keys"), ("docs", "docs")]


async def shot(page, name: str, full_page: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / name), full_page=full_page)


# --- fixtures ------------------------------------------------------------------------------------

@pytest.fixture
def serve(clean_state, paygate_process):
    """Factory: `paygate serve` with workers and these extra settings (PAYGATE_… environment), ready.

    Webhooks may go to the loopback receiver; the scheduler looks often. Start one per test (and then
    do not use the `server` or `api` fixtures): two would share the queues, and either's workers may
    take the work.
    """
    async def start(**settings: str):
        process = paygate_process("serve", env=paygate_env(
            *clean_state, PAYGATE_WEBHOOKS__ALLOW_PRIVATE_TARGETS="true", PAYGATE_SCHEDULER__INTERVAL="0.2",
            **settings))
        return await process.ready()

    return start


@pytest.fixture
async def server(serve):
    return await serve()


@pytest.fixture
async def browser(launching, server):
    return (await launching)[1]


@pytest.fixture
async def api(server, merchant):
    """paygate's API as the merchant's server sees it (key and secret headers)."""
    async with aiohttp.ClientSession(base_url=server.base_url) as session:
        yield session


# --- helpers -------------------------------------------------------------------------------------

async def fetch_status(page, path: str, method: str = "GET", headers: dict | None = None) -> tuple[int, dict]:
    """fetch() from the page itself (its cookie, its origin); (status, JSON body or {})."""
    return tuple(await page.evaluate("""async ([path, method, headers]) => {
        const r = await fetch(path, {method, headers, credentials: "same-origin",
                                     body: method === "GET" ? undefined : "{}"});
        let body = {};
        try { body = await r.json(); } catch (e) {}
        return [r.status, body];
    }""", [path, method, headers or {}]))


async def set_webhook_url(api, headers, url: str) -> None:
    resp = await api.patch("/api/v1/merchant", json={"webhook_url": url}, headers=headers)
    assert resp.status == 200, await resp.text()


async def authorized_payment(api, headers, number: str | None = None, **order_extra) -> dict:
    """A card payment on a manual-capture order: successful, authorized, not captured."""
    order = await create_order(api, headers, capture_method="manual", **order_extra)
    payment = await wait_final(api, headers, (await pay(api, headers, order["id"], number=number))["id"])
    assert (payment["status"], payment["captured"]) == ("success", False)
    return payment


def delivery_row(page, event: str):
    return page.locator(f"{tid('delivery-row')}[data-event='{event}']")


def only_paygate(log, server) -> set[str]:
    return {f"{urlsplit(u).scheme}://{urlsplit(u).netloc}" for u in log.requests
            if not u.startswith("data:")} - {server.base_url}


# --- tests ---------------------------------------------------------------------------------------

async def test_dashboard_is_served_with_a_strict_policy_and_no_inline_code(server):
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{server.base_url}/dashboard", allow_redirects=False) as resp:
            assert resp.status in (301, 302, 307, 308) and resp.headers["Location"].endswith("/dashboard/")
        modules = sorted(p.name for p in (REPO_STATIC / "dashboard").glob("*.js"))
        assert "app.js" in modules
        scripts = ""
        for name in ("", "app.css", *modules):
            async with session.get(f"{server.base_url}/dashboard/{name}") as resp:
                assert resp.status == 200, name
                policy = resp.headers["Content-Security-Policy"]
                assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
                text = await resp.text()
            if name == "":
                # Scripts only from files, no style attributes or blocks, nothing from another host.
                assert not re.search(r"<script(?![^>]*\bsrc=)", text)
                assert " style=" not in text and "<style" not in text
                assert not re.search(r"(src|href)=\"(https?:)?//", text)
            elif name.endswith(".js"):
                assert "innerHTML" not in text and "insertAdjacentHTML" not in text and "outerHTML" not in text, name
                # Modules import only modules of this folder.
                assert all(m.startswith("./") for m in re.findall(r"^import .* from \"([^\"]+)\";", text, re.M)), name
                scripts += text
        # Their only URLs: the SVG namespace (a name, never fetched) and a placeholder.
        assert set(re.findall(r"https?://[^\s\"')]+", scripts)) == {
            "http://www.w3.org/2000/svg", "https://shop.example/hooks/paygate"}


async def test_sign_in_capture_and_refund_then_the_refund_and_its_webhook_show(
        browser, server, api, merchant, receiver):
    headers = merchant["headers"]
    await set_webhook_url(api, headers, receiver.url)
    payment = await authorized_payment(api, headers, receipt="rcpt-1001")

    page, log = await open_dashboard(browser, server)
    await expect(page.locator(tid("sign-in-form"))).to_be_visible()
    await expect(page.locator(tid("nav"))).to_be_hidden()
    await shot(page, "sign-in.png")

    # A wrong secret is refused with the API's own words, and nothing is shown.
    await sign_in(page, KEY, "secret_wrong")
    await expect(page.locator(tid("sign-in-message"))).to_contain_text("invalid API key or secret")
    await expect(page.locator(tid("nav"))).to_be_hidden()
    await shot(page, "sign-in-error.png")

    await sign_in(page)
    await expect(page.locator(tid("overview"))).to_be_visible()
    await expect(page.locator(tid("merchant-name"))).to_have_text("Test Merchant")
    cookies = {c["name"]: c for c in await page.context.cookies()}
    assert set(cookies) == {"paygate_session"}
    assert cookies["paygate_session"]["httpOnly"] and cookies["paygate_session"]["sameSite"] == "Strict"

    # Overview: the authorized payment counts as a success today (volume is what succeeded).
    await expect(page.locator(tid("overview-today-count-success"))).to_have_text("1")
    await expect(page.locator(tid("overview-today-volume-INR"))).to_have_text("INR 500.00")
    await expect(page.locator(tid("overview-week-success-rate"))).to_have_text("100.0%")
    await expect(page.locator(tid("chart-bar"))).to_have_count(7)
    await expect(page.locator(tid("chart-table-row"))).to_have_count(7)
    assert await page.locator(tid("chart-bar")).last.get_attribute("data-volume") == "50000"
    assert await page.locator(tid("overview-chart")).get_attribute("role") == "img"
    await shot(page, "overview.png")

    # Payments: it is listed; its detail offers Capture.
    await page.locator(tid("nav-payments")).click()
    row = page.locator(f"{tid('payment-row')}[data-id='{payment['id']}']")
    await expect(row).to_be_visible()
    await expect(row).to_contain_text("INR 500.00")
    await expect(page.locator(tid("payments-total"))).to_have_text("1–1 of 1")
    await shot(page, "payments.png")
    await row.locator(tid("payments-link")).click()
    await expect(page.locator(tid("payment-detail"))).to_be_visible()
    await expect(page.locator(tid("field-captured"))).to_have_text("Not captured")
    await expect(page.locator(tid("refund-form"))).to_have_count(0)
    await shot(page, "payment-authorized.png")

    await page.locator(tid("capture-button")).click()
    await expect(page.locator(tid("field-captured"))).to_have_text("INR 500.00")
    await expect(page.locator(tid("capture-form"))).to_have_count(0)
    await expect(page.locator(tid("flash"))).to_contain_text("Captured INR 500.00")

    # Too much is refused with the API's description; then part of it is refunded. The reason is
    # shown as text, never as markup.
    await page.locator(tid("refund-amount")).fill("600.00")
    await page.locator(tid("refund-button")).click()
    await expect(page.locator(tid("refund-message"))).to_contain_text("must not exceed what is left to refund")
    await expect(page.locator(tid("refund-amount"))).to_have_attribute("aria-invalid", "true")
    await shot(page, "payment-refund-error.png")
    reason = '<img src=x onerror="window.pwned=1">too big'
    await page.locator(tid("refund-amount")).fill("100.00")
    await page.locator(tid("refund-reason")).fill(reason)
    await page.locator(tid("refund-button")).click()
    refund_row = page.locator(tid("payment-refund-row"))
    await expect(refund_row).to_have_count(1)
    await expect(refund_row).to_contain_text("INR 100.00")
    await expect(refund_row).to_contain_text(reason)
    await expect(page.locator(tid("field-refunded"))).to_have_text("INR 100.00")
    assert await page.evaluate("window.pwned") is None

    stored = await get(api, headers, f"/api/v1/payments/{payment['id']}")
    assert (stored["amount_captured"], stored["amount_refunded"], stored["refund_status"]) == (50000, 10000, "partial")
    [refund] = (await get(api, headers, f"/api/v1/payments/{payment['id']}/refunds"))["data"]
    assert (refund["amount"], refund["reason"]) == (10000, reason)

    # The timeline follows the worker until the refund is processed.
    timeline = page.locator(tid("timeline-event"))
    await expect(page.locator(f"{tid('timeline-event')}[data-event='refund.processed']")).to_have_count(1)
    events = [await e.get_attribute("data-event") for e in await timeline.all()]
    assert events[0] == "payment.created"
    assert {"payment.success", "payment.captured", "refund.created", "refund.processed"} <= set(events)
    await shot(page, "payment-refunded.png")

    # Refunds: list and detail.
    await page.locator(tid("nav-refunds")).click()
    await expect(page.locator(f"{tid('refund-row')}[data-id='{refund['id']}']")).to_be_visible()
    await shot(page, "refunds.png")
    await page.locator(f"{tid('refund-row')}[data-id='{refund['id']}'] {tid('refunds-link')}").click()
    await expect(page.locator(tid("refund-detail"))).to_be_visible()
    await expect(page.locator(f"{tid('refund-fields')} {tid('status')}")).to_have_text("processed")
    await expect(page.locator(tid("field-reason"))).to_have_text(reason)
    await shot(page, "refund-detail.png")

    # Orders: list and detail, which lists the order's payment.
    await page.locator(tid("nav-orders")).click()
    order_row = page.locator(f"{tid('order-row')}[data-id='{payment['order_id']}']")
    await expect(order_row).to_contain_text("rcpt-1001")
    await shot(page, "orders.png")
    await order_row.locator(tid("orders-link")).click()
    await expect(page.locator(f"{tid('order-payment-row')}[data-id='{payment['id']}']")).to_be_visible()
    await shot(page, "order-detail.png")

    # Webhooks: the refund's deliveries show in the log, delivered.
    await page.locator(tid("nav-webhooks")).click()
    for event in ("refund.created", "refund.processed", "payment.captured"):
        delivered = delivery_row(page, event)
        await expect(delivered).to_have_attribute("data-status", "success")
        await expect(delivered.locator(tid("delivery-attempts"))).to_have_text("1")
        await expect(delivered.locator(tid("delivery-code"))).to_have_text("200")
    arrived = {json.loads(r.body)["event"] for r in receiver.requests}
    assert {"refund.created", "refund.processed"} <= arrived
    await shot(page, "webhooks.png")

    # No script error and no Content-Security-Policy complaint anywhere; no other host asked.
    assert errors(log) == [], log.errors
    assert only_paygate(log, server) == set()


async def test_an_authorization_cancelled_from_its_page_is_voided_and_its_order_can_be_paid_again(
        browser, server, api, merchant):
    headers = merchant["headers"]
    payment = await authorized_payment(api, headers)
    page, log = await signed_in(browser, server)
    # Another session with the same page open: its cancel comes second.
    stale, _ = await signed_in(browser, server)
    for each in (page, stale):
        await goto(each, f"#/payments/{payment['id']}", "cancel-panel")
    await expect(page.locator(tid("capture-form"))).to_be_visible()
    await expect(page.locator(tid("field-void-reason"))).to_have_count(0)
    await shot(page, "payment-cancel.png")

    # It asks first; keeping the authorization changes nothing.
    await page.locator(tid("cancel-button")).click()
    await expect(page.locator(tid("cancel-confirm-panel"))).to_contain_text("INR 500.00 is released")
    await expect(page.locator(tid("cancel-confirm"))).to_be_focused()
    await page.locator(tid("cancel-keep")).click()
    await expect(page.locator(tid("cancel-confirm-panel"))).to_be_hidden()
    await expect(page.locator(tid("cancel-button"))).to_be_focused()
    assert (await get(api, headers, f"/api/v1/payments/{payment['id']}"))["status"] == "success"

    await page.locator(tid("cancel-button")).click()
    await page.locator(tid("cancel-confirm")).click()
    await expect(page.locator(f"{tid('payment-fields')} {tid('status')}")).to_have_text("voided")
    await expect(page.locator(tid("field-void-reason"))).to_have_text("requested")
    await expect(page.locator(tid("field-released-at"))).not_to_have_text("—")
    await expect(page.locator(tid("flash"))).to_contain_text("Authorization cancelled: INR 500.00 released")
    for gone in ("cancel-panel", "capture-form", "refund-form", "payment-in-progress"):
        await expect(page.locator(tid(gone))).to_have_count(0)
    await expect(page.locator(f"{tid('timeline-event')}[data-event='payment.voided']")).to_have_count(1)
    await shot(page, "payment-voided.png")

    # The API agrees, and the order is open to another payment.
    stored = await get(api, headers, f"/api/v1/payments/{payment['id']}")
    assert (stored["status"], stored["void_reason"], stored["captured"]) == ("voided", "requested", False)
    assert stored["authorization_released_at"] is not None
    assert (await get(api, headers, f"/api/v1/orders/{payment['order_id']}"))["status"] == "attempted"
    await goto(page, f"#/orders/{payment['order_id']}", "order-detail")
    await expect(page.locator(f"{tid('order-fields')} {tid('status')}")).to_have_text("attempted")
    await expect(page.locator(f"{tid('order-payment-row')} {tid('status')}")).to_have_text("voided")

    # The page opened before is refused in the API's words, in its message box.
    await stale.locator(tid("cancel-button")).click()
    await stale.locator(tid("cancel-confirm")).click()
    await expect(stale.locator(tid("cancel-message"))).to_contain_text(
        "this payment was cancelled; its authorization was released")
    await expect(stale.locator(tid("cancel-message"))).to_have_class(re.compile(r"\berror\b"))
    assert errors(log) == [], log.errors


async def test_a_capture_or_cancel_the_processor_does_not_answer_shows_pending_then_settles(launching, serve, merchant):
    # The scheduler asks the processor about an unanswered call after 1 s (60 s by default).
    server = await serve(PAYGATE_PAYMENTS__STUCK_AFTER="1", PAYGATE_WORKER__CLAIM_AFTER="1")
    browser = (await launching)[1]
    headers = merchant["headers"]
    async with aiohttp.ClientSession(base_url=server.base_url) as api:
        to_cancel = await authorized_payment(api, headers, number=TIMEOUT_CARD)
        to_capture = await authorized_payment(api, headers, number=TIMEOUT_CARD)
    page, log = await signed_in(browser, server)

    await goto(page, f"#/payments/{to_cancel['id']}", "cancel-panel")
    await page.locator(tid("cancel-button")).click()
    await page.locator(tid("cancel-confirm")).click()
    await expect(page.locator(tid("flash"))).to_contain_text("The cancellation is pending at the processor")
    await expect(page.locator(tid("payment-in-progress"))).to_contain_text("A cancellation of this authorization")
    await expect(page.locator(f"{tid('payment-fields')} {tid('status')}")).to_have_text("void_pending")
    for gone in ("cancel-panel", "capture-form", "field-void-reason"):
        await expect(page.locator(tid(gone))).to_have_count(0)
    await shot(page, "payment-void-pending.png")
    # The page follows by itself until paygate has settled it.
    await expect(page.locator(f"{tid('payment-fields')} {tid('status')}")).to_have_text("voided")
    await expect(page.locator(tid("field-void-reason"))).to_have_text("requested")
    await expect(page.locator(tid("payment-in-progress"))).to_have_count(0)

    await goto(page, f"#/payments/{to_capture['id']}", "capture-form")
    await page.locator(tid("capture-button")).click()
    await expect(page.locator(tid("flash"))).to_contain_text("The capture is pending at the processor")
    await expect(page.locator(tid("payment-in-progress"))).to_contain_text("A capture of this payment")
    await expect(page.locator(f"{tid('payment-fields')} {tid('status')}")).to_have_text("capture_pending")
    for gone in ("cancel-panel", "capture-form"):
        await expect(page.locator(tid(gone))).to_have_count(0)
    await expect(page.locator(tid("field-captured"))).to_have_text("INR 500.00")
    await expect(page.locator(f"{tid('payment-fields')} {tid('status')}")).to_have_text("success")
    await expect(page.locator(tid("payment-in-progress"))).to_have_count(0)
    assert errors(log) == [], log.errors


async def test_the_status_filters_offer_every_status_and_find_a_voided_payment(browser, server, api, merchant):
    headers = merchant["headers"]
    voided = await authorized_payment(api, headers)
    await authorized_payment(api, headers)
    resp = await api.post(f"/api/v1/payments/{voided['id']}/cancel", json={}, headers=headers)
    assert resp.status == 200, await resp.text()
    page, log = await signed_in(browser, server)

    for kind, marker in (("payment", "payments"), ("refund", "refunds")):
        await page.locator(tid(f"nav-{marker}")).click()
        options = page.locator(f"{tid(marker + '-filter-status')} option")
        await expect(options).to_have_count(1 + len(STATUSES[kind]))  # "Any", then one per status
        values = [await o.get_attribute("value") for o in await options.all()]
        assert values[0] == "" and sorted(values[1:]) == sorted(STATUSES[kind]), values

    await page.locator(tid("nav-payments")).click()
    await page.locator(tid("payments-filter-status")).select_option("voided")
    await page.locator(tid("payments-filter-apply")).click()
    await expect(page.locator(tid("payments-total"))).to_have_text("1–1 of 1")
    row = page.locator(f"{tid('payment-row')}[data-id='{voided['id']}']")
    await expect(row.locator(tid("status"))).to_have_text("voided")
    await shot(page, "payments-voided.png")
    await page.locator(tid("nav-refunds")).click()
    await page.locator(tid("refunds-filter-status")).select_option("processing")
    await page.locator(tid("refunds-filter-apply")).click()
    await expect(page.locator(tid("refunds-empty"))).to_be_visible()
    assert errors(log) == [], log.errors


async def test_a_failing_delivery_retried_from_its_page_gains_an_attempt(browser, server, api, merchant, receiver):
    receiver.answer = statuses(500)
    await set_webhook_url(api, merchant["headers"], receiver.url)
    page, log = await signed_in(browser, server)
    await page.locator(tid("nav-webhooks")).click()
    await page.locator(tid("webhook-test-button")).click()
    await expect(page.locator(tid("webhook-url-message"))).to_contain_text("Test event sent")

    # The log follows the worker by itself: one failed attempt, a retry scheduled.
    row = delivery_row(page, "webhook.test")
    await expect(row.locator(tid("delivery-attempts"))).to_have_text("1")
    await expect(row.locator(tid("delivery-code"))).to_have_text("500")
    await expect(row).to_have_attribute("data-status", "pending")
    await shot(page, "webhooks-failing.png")

    await row.locator(tid("webhooks-link")).click()
    await expect(page.locator(tid("delivery-detail"))).to_be_visible()
    attempts = page.locator(tid("attempt-row"))
    await expect(attempts).to_have_count(1)
    await expect(attempts.first.locator(tid("attempt-code"))).to_have_text("500")
    await expect(attempts.first.locator(tid("attempt-body"))).to_have_text("not ok")
    await expect(attempts.first).to_contain_text(" ms")
    await expect(page.locator(tid("delivery-detail-attempts"))).to_have_text("1")
    await shot(page, "delivery-failing.png")

    await page.locator(tid("delivery-retry-button")).click()
    await expect(page.locator(tid("delivery-detail-attempts"))).to_have_text("2")
    await expect(attempts).to_have_count(2)
    await expect(attempts.nth(1)).to_contain_text("manual")
    assert len(receiver.requests) == 2
    await shot(page, "delivery-retried.png")

    # Recover failed since…: nothing has failed for good yet, and the page says so.
    await page.locator(tid("nav-webhooks")).click()
    await page.locator(tid("recover-since")).fill("2020-01-01T00:00:00")
    await page.locator(tid("recover-button")).click()
    await expect(page.locator(tid("recover-message"))).to_have_text("Re-queued 0 failed deliveries.")
    assert errors(log) == [], log.errors


async def test_the_webhook_secret_is_revealed_and_rotated_and_signs_the_next_delivery(
        browser, server, api, merchant, receiver):
    await set_webhook_url(api, merchant["headers"], receiver.url)
    old = merchant["webhook_secret"]
    page, log = await signed_in(browser, server)
    await page.locator(tid("nav-webhooks")).click()
    secret = page.locator(tid("webhook-secret"))
    await expect(secret).to_have_text(re.compile(r"^whsec_…" + re.escape(old[-4:]) + "$"))
    await expect(page.locator(tid("webhook-url-input"))).to_have_value(receiver.url)

    await page.locator(tid("webhook-secret-reveal")).click()
    await expect(secret).to_have_text(old)
    await expect(page.locator(tid("webhook-secret-reveal"))).to_have_attribute("aria-pressed", "true")
    await page.locator(tid("webhook-secret-reveal")).click()
    await expect(secret).not_to_have_text(old)

    # Rotation asks first; Cancel changes nothing.
    await page.locator(tid("webhook-secret-rotate")).click()
    await expect(page.locator(tid("webhook-secret-rotate-confirm"))).to_be_focused()
    await page.locator(tid("webhook-secret-rotate-cancel")).click()
    await expect(page.locator(tid("webhook-secret-rotate-confirm"))).to_be_hidden()
    assert (await get(api, merchant["headers"], "/api/v1/merchant"))["webhook_secret"].endswith(old[-4:])

    await page.locator(tid("webhook-secret-rotate")).click()
    await page.locator(tid("webhook-secret-rotate-confirm")).click()
    fresh = page.locator(tid("webhook-new-secret"))
    await expect(fresh).to_have_text(re.compile(r"^whsec_"))
    new = await fresh.text_content()
    assert new != old
    await expect(secret).to_have_text(f"whsec_…{new[-4:]}")
    await expect(page.locator(tid("webhook-previous-valid-until"))).to_be_visible()
    await shot(page, "webhooks-secret-rotated.png")

    # The next delivery is signed with the new secret.
    await page.locator(tid("webhook-test-button")).click()
    [arrived] = await receiver.wait_for(1)
    assert Webhook(new).verify(arrived.body, arrived.headers)["event"] == "webhook.test"
    assert arrived.headers["X-Webhook-Signature"] == hmac.new(new.encode(), arrived.body, hashlib.sha256).hexdigest()

    # Shown once: after a reload only the masked form is left.
    await page.reload()
    await expect(secret).to_have_text(f"whsec_…{new[-4:]}")
    await expect(page.locator(tid("webhook-new-secret"))).to_have_count(0)

    # Saving the endpoint URL: a bad one is explained, a good one is saved.
    await page.locator(tid("webhook-url-input")).fill("ftp://nope")
    await page.locator(tid("webhook-url-save")).click()
    await expect(page.locator(tid("webhook-url-message"))).to_have_class(re.compile(r"\berror\b"))
    await page.locator(tid("webhook-url-input")).fill(receiver.url.replace("/hook", "/elsewhere"))
    await page.locator(tid("webhook-url-save")).click()
    await expect(page.locator(tid("webhook-url-message"))).to_have_text("Saved.")
    assert (await get(api, merchant["headers"], "/api/v1/merchant"))["webhook_url"].endswith("/elsewhere")
    assert errors(log) == [], log.errors


async def test_api_secret_rotation_shows_the_new_secret_once_and_the_old_one_works_through_the_chosen_grace(
        browser, server, api, merchant):
    other_tab, _ = await signed_in(browser, server)  # another session of the same merchant
    page, log = await signed_in(browser, server)
    await page.locator(tid("nav-keys")).click()
    await expect(page.locator(tid("keys-api-key"))).to_have_text(KEY)
    await expect(page.locator(tid("keys-grace"))).to_have_value("86400")  # 24 hours unless chosen otherwise
    await expect(page.locator(tid("keys-previous-until"))).to_be_hidden()
    await shot(page, "keys.png")

    await page.locator(tid("keys-rotate-button")).click()
    await expect(page.locator(tid("keys-rotate-confirm-panel"))).to_contain_text("stops working when the period")
    await page.locator(tid("keys-rotate-confirm")).click()
    fresh = page.locator(tid("keys-new-secret"))
    await expect(fresh).to_have_text(re.compile(r"^secret_"))
    new = await fresh.text_content()
    panel = page.locator(tid("keys-new-secret-panel"))
    await expect(panel).to_contain_text("shown only this once")
    await expect(panel).to_contain_text("the old one keeps working until")
    until = page.locator(f"{tid('keys-previous-until')} time")
    await expect(until).to_be_visible()
    # The time shown is a day from now, as the server has it.
    ends = await until.get_attribute("datetime")
    async with api.get("/dashboard/api/api-secret", headers={"X-Api-Key": KEY, "X-Api-Secret": new}) as resp:
        assert (await resp.json())["previous_secret_expires_at"] == ends
    await shot(page, "keys-rotated.png")
    # Copy puts exactly the secret on the clipboard.
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.base_url)
    await page.locator(tid("keys-new-secret-copy")).click()
    await expect(page.locator(tid("keys-new-secret-copied"))).to_have_text("Copied.")
    assert await page.evaluate("navigator.clipboard.readText()") == new

    async def status(secret: str) -> int:
        async with api.get("/api/v1/merchant", headers={"X-Api-Key": KEY, "X-Api-Secret": secret}) as resp:
            return resp.status

    assert (await status(SECRET), await status(new)) == (200, 200)  # both, during the grace

    # Every other session ends with the rotation; this one stays signed in, and the secret is not shown again,
    # but until when the old one works is.
    await other_tab.locator(tid("nav-payments")).click()
    await expect(other_tab.locator(tid("sign-in-message"))).to_have_text("Your session ended; sign in again.")
    await page.locator(tid("nav-payments")).click()
    await expect(page.locator(tid("payments"))).to_be_visible()
    await page.locator(tid("nav-keys")).click()
    await expect(page.locator(tid("keys-api-key"))).to_have_text(KEY)
    await expect(page.locator(tid("keys-new-secret"))).to_have_count(0)
    await expect(page.locator(tid("keys-previous-until"))).to_contain_text("Your previous secret keeps working until")

    # Rotating again with no grace: the new secret's predecessor and the older one both stop at once.
    await page.locator(tid("keys-grace")).select_option("0")
    await page.locator(tid("keys-rotate-button")).click()
    await page.locator(tid("keys-rotate-confirm")).click()
    await expect(panel).to_contain_text("the old one no longer works")
    newest = await page.locator(tid("keys-new-secret")).text_content()
    assert newest not in (new, SECRET)
    await expect(page.locator(tid("keys-previous-until"))).to_be_hidden()
    assert (await status(SECRET), await status(new), await status(newest)) == (401, 401, 200)
    assert errors(log) == [], log.errors


async def test_signing_out_ends_the_session_and_the_pages_are_refused(browser, server, api, merchant):
    payment = await authorized_payment(api, merchant["headers"])
    page, log = await signed_in(browser, server)
    await goto(page, f"#/payments/{payment['id']}", "payment-detail")
    kept = await page.context.cookies()
    assert [c["name"] for c in kept] == ["paygate_session"]

    await page.locator(tid("sign-out-button")).click()
    await expect(page.locator(tid("sign-in-form"))).to_be_visible()
    await expect(page.locator(tid("sign-in-message"))).to_have_text("You are signed out.")
    await expect(page.locator(tid("nav"))).to_be_hidden()
    await expect(page.locator(tid("payment-detail"))).to_have_count(0)
    assert await page.context.cookies() == []

    # The API refuses the page now, and a reload shows only the sign-in form.
    for path in ("/api/v1/payments", f"/api/v1/payments/{payment['id']}", "/dashboard/api/overview"):
        status, body = await fetch_status(page, path)
        assert status == 401, (path, body)
    assert await fetch_status(page, "/dashboard/api/session") == (200, {"signed_in": False})
    await page.reload()
    await expect(page.locator(tid("sign-in-form"))).to_be_visible()
    await expect(page.locator(tid("payment-detail"))).to_have_count(0)

    # A copy of the old cookie, replayed, is refused too.
    replay = await browser.new_context()
    await replay.add_cookies(kept)
    replayed = await replay.new_page()
    await replayed.goto(f"{server.base_url}/dashboard/")
    await expect(replayed.locator(tid("sign-in-form"))).to_be_visible()
    assert (await fetch_status(replayed, "/api/v1/payments"))[0] == 401
    await replay.close()

    # A session that ends under the page (cookie gone) brings the form back with a word why.
    await sign_in(page)
    await expect(page.locator(tid("overview"))).to_be_visible()
    await page.context.clear_cookies()
    await page.locator(tid("nav-refunds")).click()
    await expect(page.locator(tid("sign-in-message"))).to_have_text("Your session ended; sign in again.")
    await expect(page.locator(tid("refunds"))).to_have_count(0)
    await shot(page, "session-ended.png")
    # Signing in again returns to the page that was asked for.
    await sign_in(page)
    await expect(page.locator(tid("refunds"))).to_be_visible()
    assert errors(log) == [], log.errors


async def test_a_session_sees_only_its_own_merchants_objects(browser, server, api, merchant, other_merchant):
    mine = await authorized_payment(api, merchant["headers"])
    theirs = await authorized_payment(api, other_merchant["headers"])
    page, _ = await signed_in(browser, server)

    await page.locator(tid("nav-payments")).click()
    await expect(page.locator(f"{tid('payment-row')}[data-id='{mine['id']}']")).to_be_visible()
    await expect(page.locator(tid("payment-row"))).to_have_count(1)

    for hash_path, path in ((f"#/payments/{theirs['id']}", f"/api/v1/payments/{theirs['id']}"),
                            (f"#/orders/{theirs['order_id']}", f"/api/v1/orders/{theirs['order_id']}")):
        await goto(page, hash_path, "not-found")
        await expect(page.locator(tid("payment-detail"))).to_have_count(0)
        status, body = await fetch_status(page, path)
        assert (status, body["error"]["code"]) == (404, "NOT_FOUND_ERROR"), body
    await shot(page, "not-found.png")
    # Nor can a write reach it, even with this session's own CSRF token.
    token = await page.evaluate("fetch('/dashboard/api/session').then(r => r.json()).then(b => b.csrf_token)")
    status, _ = await fetch_status(page, f"/api/v1/payments/{theirs['id']}/capture", "POST",
                                   {"X-CSRF-Token": token, "Content-Type": "application/json"})
    assert status == 404
    assert (await get(api, other_merchant["headers"], f"/api/v1/payments/{theirs['id']}"))["captured"] is False


ATTACK_FORM = """<!doctype html><html><body>
<form id="f" method="post" action="{target}" enctype="text/plain">
<input name='{{"amount": 100, "x": "' value='"}}'>
</form>
<script>document.getElementById("f").submit();</script>
</body></html>"""

ATTACK_FETCH = """<!doctype html><html><body><script>
window.done = fetch("{target}", {{method: "POST", credentials: "include", mode: "no-cors",
                                 headers: {{"Content-Type": "text/plain"}}, body: "{{}}"}})
  .then(() => "sent", (e) => "blocked: " + e);
</script></body></html>"""


def attacker_site(target: str) -> Site:
    async def form(request: web.Request) -> web.Response:
        return web.Response(text=ATTACK_FORM.format(target=target), content_type="text/html")

    async def fetcher(request: web.Request) -> web.Response:
        return web.Response(text=ATTACK_FETCH.format(target=target), content_type="text/html")

    app = web.Application()
    app.router.add_get("/form", form)
    app.router.add_get("/fetch", fetcher)
    return Site(app)


async def test_a_cross_site_post_without_the_csrf_token_is_refused(browser, server, api, merchant):
    payment = await authorized_payment(api, merchant["headers"])
    target = f"{server.base_url}/api/v1/payments/{payment['id']}/capture"
    page, _ = await signed_in(browser, server)
    attacker = await attacker_site(target).start()
    try:
        # Another origin, the same browser (so the same cookie jar): a form that posts itself, and a fetch.
        evil = await page.context.new_page()
        for path in ("/form", "/fetch"):
            async with evil.expect_response(lambda r: r.url == target and r.request.method == "POST") as caught:
                await evil.goto(f"{attacker.origin}{path}")
            response = await caught.value
            # Refused: 403 when the cookie went along without the token, 401 if the browser kept it back.
            assert response.status in (401, 403), (path, response.status)
            if response.status == 403 and path == "/form":
                assert (await response.json())["error"]["code"] == "CSRF_TOKEN_INVALID"
        # The dashboard's own origin without the token is refused just the same.
        status, body = await fetch_status(page, target, "POST", {"Content-Type": "application/json"})
        assert (status, body["error"]["code"]) == (403, "CSRF_TOKEN_INVALID")
    finally:
        await attacker.stop()
    stored = await get(api, merchant["headers"], f"/api/v1/payments/{payment['id']}")
    assert (stored["captured"], stored["amount_captured"]) == (False, 0)
    # And the session itself is still fine: the merchant can capture from the page.
    await goto(page, f"#/payments/{payment['id']}", "payment-detail")
    await page.locator(tid("capture-button")).click()
    await expect(page.locator(tid("field-captured"))).to_have_text("INR 500.00")


async def test_the_docs_page_describes_every_operation_with_a_curl_example(browser, server, api, merchant):
    async with api.get("/api/v1/openapi.json") as resp:
        document = await resp.json()
    page, log = await signed_in(browser, server)
    await page.locator(tid("nav-docs")).click()
    await expect(page.locator(tid("docs"))).to_be_visible()
    operations = {(m.upper(), p) for p, item in document["paths"].items() for m in item
                  if m in ("get", "post", "put", "patch", "delete")}
    shown = page.locator(tid("docs-operation"))
    await expect(shown).to_have_count(len(operations))
    assert {(await o.get_attribute("data-method"), await o.get_attribute("data-path")) for o in await shown.all()} \
        == operations
    tags = [await t.get_attribute("data-tag") for t in await page.locator(tid("docs-tag")).all()]
    assert tags[:3] == ["Orders", "Payments", "Refunds"]

    capture = page.locator(f"{tid('docs-operation')}[data-path='/api/v1/payments/{{id}}/capture']")
    await expect(capture).to_contain_text("Capture an authorized payment")
    curl = await capture.locator(tid("docs-curl")).text_content()
    assert curl.startswith(f"curl -X POST '{server.base_url}/api/v1/payments/pay_")
    assert f"-H 'X-Api-Key: {KEY}'" in curl
    assert '-H "X-Api-Secret: $PAYGATE_API_SECRET"' in curl
    assert "-d '{\"amount\": 40000}'" in curl or "-d '{\"amount\":40000}'" in curl
    assert SECRET not in await page.locator(tid("docs")).text_content()
    await shot(page, "docs.png", full_page=False)
    assert errors(log) == [], log.errors


async def test_the_curl_example_works_as_written(browser, server, api, merchant):
    """The docs' example for listing payments, run by a shell with the secret in the environment."""
    page, _ = await signed_in(browser, server)
    await page.locator(tid("nav-docs")).click()
    listing = page.locator(f"{tid('docs-operation')}[data-method='GET'][data-path='/api/v1/payments']")
    curl = await listing.locator(tid("docs-curl")).text_content()
    process = await asyncio.create_subprocess_shell(
        curl + " --silent --show-error", env={"PAYGATE_API_SECRET": SECRET, "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    assert process.returncode == 0, err
    assert json.loads(out)["data"] == []


async def test_phone_width_and_keyboard(browser, server, api, merchant):
    payment = await authorized_payment(api, merchant["headers"])
    page, log = await open_dashboard(browser, server, viewport=PHONE)
    await expect(page.locator(tid("sign-in-form"))).to_be_visible()
    await expect(page.locator(tid("sign-in-key"))).to_be_focused()
    await shot(page, "phone-sign-in.png")

    # Keyboard alone: type the key, Tab, the secret, Enter.
    await page.keyboard.type(KEY)
    await page.keyboard.press("Tab")
    await page.keyboard.type(SECRET)
    await page.keyboard.press("Enter")
    await expect(page.locator(tid("overview"))).to_be_visible()
    await expect(page.locator(tid("page-title"))).to_be_focused()

    # On a fresh load the first Tab reaches the skip link, visible when focused; Enter moves focus on.
    await page.reload()
    await expect(page.locator(tid("overview"))).to_be_visible()
    await page.keyboard.press("Tab")
    skip = page.locator(tid("skip-link"))
    await expect(skip).to_be_focused()
    box = await skip.bounding_box()
    assert box["y"] >= 0
    ring = await page.evaluate("(() => { const s = getComputedStyle(document.activeElement);"
                               " return [s.outlineStyle, s.outlineWidth]; })()")
    assert ring == ["solid", "3px"]
    await page.keyboard.press("Enter")
    await expect(page.locator(tid("page-title"))).to_be_focused()

    async def fits(name: str):
        assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], name
        await shot(page, name)

    await fits("phone-overview.png")
    # The navigation is real links: focus one, Enter, and the new page's title has focus.
    await page.locator(tid("nav-orders")).focus()
    await page.keyboard.press("Enter")
    await expect(page.locator(tid("orders"))).to_be_visible()
    await expect(page.locator(tid("page-title"))).to_be_focused()
    await expect(page.locator(tid("nav-orders"))).to_have_attribute("aria-current", "page")
    await page.locator(tid("nav-payments")).click()
    await expect(page.locator(f"{tid('payment-row')}[data-id='{payment['id']}']")).to_be_visible()
    await fits("phone-payments.png")
    await goto(page, f"#/payments/{payment['id']}", "capture-form")
    await fits("phone-payment.png")
    # Tap targets are big enough.
    assert (await page.locator(tid("capture-button")).bounding_box())["height"] >= 44
    await page.locator(tid("nav-webhooks")).click()
    await expect(page.locator(tid("webhook-secret-panel"))).to_be_visible()
    await fits("phone-webhooks.png")
    await page.locator(tid("nav-keys")).click()
    await expect(page.locator(tid("keys-api-key"))).to_be_visible()
    await fits("phone-keys.png")
    await page.locator(tid("nav-docs")).click()
    await expect(page.locator(tid("docs-operation")).first).to_be_visible()
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await shot(page, "phone-docs.png", full_page=False)
    assert errors(log) == [], log.errors


async def test_payments_filter_and_paginate(browser, server, api, merchant):
    headers = merchant["headers"]
    for n in range(22):
        order = await create_order(api, headers, amount=10000 + n)
        await pay(api, headers, order["id"], vpa="success@paygate" if n % 2 else None)
    declined_order = await create_order(api, headers)
    declined = await pay(api, headers, declined_order["id"], number="4000000000000002")
    await wait_final(api, headers, declined["id"])

    page, _ = await signed_in(browser, server)
    await page.locator(tid("nav-payments")).click()
    await expect(page.locator(tid("payments-total"))).to_have_text("1–20 of 23")
    await expect(page.locator(tid("payment-row"))).to_have_count(20)
    await expect(page.locator(tid("payments-prev"))).to_be_disabled()
    await page.locator(tid("payments-next")).click()
    await expect(page.locator(tid("payments-total"))).to_have_text("21–23 of 23")
    await expect(page.locator(tid("payment-row"))).to_have_count(3)
    await expect(page.locator(tid("payments-next"))).to_be_disabled()
    await page.locator(tid("payments-prev")).click()
    await expect(page.locator(tid("payments-total"))).to_have_text("1–20 of 23")

    await page.locator(tid("payments-filter-status")).select_option("failed")
    await page.locator(tid("payments-filter-apply")).click()
    await expect(page.locator(tid("payment-row"))).to_have_count(1)
    await expect(page.locator(f"{tid('payment-row')}[data-id='{declined['id']}']")).to_be_visible()
    await page.locator(tid("payments-filter-clear")).click()
    await expect(page.locator(tid("payments-total"))).to_have_text("1–20 of 23")
    await page.locator(tid("payments-filter-method")).select_option("upi")
    await page.locator(tid("payments-filter-apply")).click()
    await expect(page.locator(tid("payments-total"))).to_have_text("1–11 of 11")
    # A date range that ends before today finds nothing.
    await page.locator(tid("payments-filter-to")).fill("2020-01-01")
    await page.locator(tid("payments-filter-apply")).click()
    await expect(page.locator(tid("payments-empty"))).to_be_visible()
    await shot(page, "payments-filtered.png")


async def test_wrong_secrets_are_slowed_then_refused_and_the_page_says_for_how_long(launching, serve):
    server = await serve(PAYGATE_DASHBOARD__LOGIN_ATTEMPTS="5/minute", PAYGATE_DASHBOARD__LOGIN_DELAY="0.5")
    browser = (await launching)[1]
    page, _ = await open_dashboard(browser, server)
    message = page.locator(tid("sign-in-message"))
    took = []
    for n in range(5):
        await page.locator(tid("sign-in-message")).evaluate("el => { el.textContent = ''; }")
        started = await page.evaluate("performance.now()")
        await sign_in(page, KEY, f"secret_wrong_{n}")
        await expect(message).to_contain_text("invalid API key or secret")
        took.append(await page.evaluate("performance.now()") - started)
        await expect(page.locator(tid("sign-in-button"))).to_be_enabled()
    # Past the third wrong secret, each answer comes later.
    assert took[3] >= 450 and took[4] >= 950, took
    # Past the limit even the right secret is refused, and the form says when to come back.
    await sign_in(page)
    await expect(message).to_contain_text(re.compile(r"try again in \d+", re.IGNORECASE))
    await expect(page.locator(tid("nav"))).to_be_hidden()
    await shot(page, "sign-in-throttled.png")


async def test_an_idle_session_ends_by_itself_and_the_sign_in_form_says_so(launching, serve, merchant):
    server = await serve(PAYGATE_DASHBOARD__IDLE_TIMEOUT="3")
    browser = (await launching)[1]
    page, _ = await signed_in(browser, server)
    # Nothing happens on the page; the client asks once the idle time is up, and is refused.
    await expect(page.locator(tid("sign-in-message"))).to_have_text("Your session ended; sign in again.",
                                                                      timeout=15_000)
    await expect(page.locator(tid("overview"))).to_have_count(0)
    assert (await fetch_status(page, "/api/v1/merchant"))[0] == 401


async def test_recover_failed_since_sends_failed_deliveries_again(launching, serve, merchant, receiver):
    server = await serve(PAYGATE_WEBHOOKS__MAX_ATTEMPTS="1")  # one refused attempt and a delivery has failed
    browser = (await launching)[1]
    async with aiohttp.ClientSession(base_url=server.base_url) as client:
        receiver.answer = statuses(503, 200)
        await set_webhook_url(client, merchant["headers"], receiver.url)
    page, log = await signed_in(browser, server)
    await page.locator(tid("nav-webhooks")).click()
    await page.locator(tid("webhook-test-button")).click()
    row = delivery_row(page, "webhook.test")
    await expect(row).to_have_attribute("data-status", "failed")
    await expect(row.locator(tid("delivery-code"))).to_have_text("503")
    await shot(page, "webhooks-failed.png")

    # Failed since an hour ago (local time, as the input shows it): it is sent again, and this time arrives.
    since = await page.evaluate("""(() => {
        const d = new Date(Date.now() - 3600 * 1000), p = (n) => String(n).padStart(2, "0");
        return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
    })()""")
    await page.locator(tid("recover-since")).fill(since)
    await page.locator(tid("recover-button")).click()
    await expect(page.locator(tid("recover-message"))).to_have_text("Re-queued 1 failed delivery.")
    await expect(row).to_have_attribute("data-status", "success")
    await expect(row.locator(tid("delivery-attempts"))).to_have_text("2")
    await expect(row.locator(tid("delivery-code"))).to_have_text("200")
    assert len(receiver.requests) == 2
    assert errors(log) == [], log.errors


def inside(box: dict, viewport: dict) -> bool:
    return (box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= viewport["width"]
            and box["y"] + box["height"] <= viewport["height"])


async def test_every_page_is_reached_through_the_visible_navigation_on_a_phone(browser, server, merchant):
    page, log = await signed_in(browser, server, viewport=PHONE)
    links = page.locator(f"{tid('nav')} a")
    assert [await a.get_attribute("data-route") for a in await links.all()] == [r for r, _ in PAGES]
    await shot(page, "phone-nav.png", full_page=False)
    # Overview is shown after sign-in: visit the others, then come back to it.
    for route, marker in PAGES[1:] + PAGES[:1]:
        link = page.locator(tid(f"nav-{route}"))
        await expect(link).to_be_visible()
        # In sight as it is, before the click: a link one has to scroll (or guess) to reach does not count.
        box = await link.bounding_box()
        assert inside(box, PHONE), (route, box)
        await link.click()
        await expect(page.locator(tid(marker))).to_be_visible()
        await expect(page.locator(tid("page-title"))).to_be_visible()
        await expect(link).to_have_attribute("aria-current", "page")
        assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], route
    # Nothing of the navigation is hidden past an edge, so nothing needs a sideways scroll to find.
    assert await page.locator(f"{tid('nav')} ul").evaluate("u => u.scrollWidth <= u.clientWidth")
    assert errors(log) == [], log.errors


async def test_a_signed_out_load_logs_no_console_error(launching, serve, merchant):
    """A signed-out page asks whether it is signed in and is told so with a 200: Chromium logs every 401 as a
    console error, whatever the page does with it."""
    server = await serve(PAYGATE_DASHBOARD__IDLE_TIMEOUT="3")
    browser = (await launching)[1]
    context = await browser.new_context(viewport=DESKTOP, locale="en-US")

    async def load():
        page = await context.new_page()
        seen = SimpleNamespace(errors=[])
        page.on("console", lambda message: message.type == "error" and seen.errors.append(message.text))
        page.on("pageerror", lambda error: seen.errors.append(str(error)))
        await page.goto(f"{server.base_url}/dashboard/")
        return page, seen

    async def signed_out_quietly(page, seen):
        await expect(page.locator(tid("sign-in-form"))).to_be_visible()
        await page.wait_for_load_state("networkidle")
        assert seen.errors == []

    first, seen = await load()  # a browser that never signed in
    await signed_out_quietly(first, seen)
    await shot(first, "signed-out-first-load.png")

    await sign_in(first)  # another tab of the same browser is signed in at once
    await expect(first.locator(tid("overview"))).to_be_visible()
    second, seen = await load()
    await expect(second.locator(tid("overview"))).to_be_visible()
    assert seen.errors == []

    await second.locator(tid("sign-out-button")).click()  # signed out: a reload shows the form
    await expect(second.locator(tid("sign-in-form"))).to_be_visible()
    seen.errors.clear()
    await second.reload()
    await signed_out_quietly(second, seen)

    await sign_in(second)  # signed in again, the tabs closed and the idle time let pass
    await expect(second.locator(tid("overview"))).to_be_visible()
    await first.close()
    await second.close()
    await asyncio.sleep(3.5)
    third, seen = await load()
    await signed_out_quietly(third, seen)
    assert (await fetch_status(third, "/api/v1/merchant"))[0] == 401  # and the server agrees
    await context.close()


async def test_a_failed_payment_says_why_in_the_payments_list(browser, server, api, merchant):
    headers = merchant["headers"]
    fine = await authorized_payment(api, headers)
    order = await create_order(api, headers)
    declined = await wait_final(api, headers, (await pay(api, headers, order["id"], number="4000000000000002"))["id"])
    assert declined["status"] == "failed" and declined["error_description"], declined

    page, log = await signed_in(browser, server)
    await page.locator(tid("nav-payments")).click()
    failed_row = page.locator(f"{tid('payment-row')}[data-id='{declined['id']}']")
    await expect(failed_row.locator(tid("payment-error"))).to_have_text(declined["error_description"])
    await expect(page.locator(f"{tid('payment-row')}[data-id='{fine['id']}'] {tid('payment-error')}")).to_have_count(0)
    await shot(page, "payments-failed-reason.png")
    # The order's own list of payments says it too.
    await goto(page, f"#/orders/{order['id']}", "order-detail")
    await expect(page.locator(f"{tid('order-payment-row')} {tid('payment-error')}")).to_have_text(
        declined["error_description"])

    # On a phone the stacked row keeps the reason, inside the screen.
    await page.set_viewport_size(PHONE)
    await page.locator(tid("nav-payments")).click()
    reason = failed_row.locator(tid("payment-error"))
    await expect(reason).to_be_visible()
    box = await reason.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    await failed_row.scroll_into_view_if_needed()
    await shot(page, "phone-payments-failed-reason.png", full_page=False)
    assert errors(log) == [], log.errors


async def test_the_overview_chart_shows_amounts_as_money_legibly(browser, server, api, merchant):
    headers = merchant["headers"]
    for amount in (250000, 109100):  # INR 3,591.00 in all
        order = await create_order(api, headers, amount=amount)
        paid = await wait_final(api, headers, (await pay(api, headers, order["id"]))["id"])
        assert paid["status"] == "success", paid

    page, log = await signed_in(browser, server)
    today = page.locator(tid("chart-value")).last
    # As the rest of the dashboard writes money: the summary card above says the same.
    await expect(today).to_have_text("INR 3,591.00")
    await expect(page.locator(tid("overview-today-volume-INR"))).to_have_text("INR 3,591.00")
    await expect(page.locator(tid("chart-value")).first).to_have_text("INR 0.00")
    await expect(page.locator(tid("chart-bar")).last).to_have_attribute("data-volume", "359100")
    figure = page.locator(".chart-figure")

    for viewport, name in ((DESKTOP, "overview-chart.png"), (PHONE, "phone-overview-chart.png")):
        await page.set_viewport_size(viewport)
        await figure.scroll_into_view_if_needed()
        # Real text at a readable size, whatever the width, and inside the screen beside its bar.
        size = await today.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
        assert size >= 14, (name, size)
        label = await today.bounding_box()
        bar = await page.locator(tid("chart-bar")).last.bounding_box()
        assert label["height"] >= 14 and label["x"] + label["width"] <= viewport["width"], (name, label)
        assert bar["x"] + bar["width"] <= label["x"], (name, bar, label)
        assert await page.evaluate("document.documentElement.scrollWidth") <= viewport["width"], name
        await figure.screenshot(path=str(SCREENSHOTS / name))
    assert errors(log) == [], log.errors


async def test_the_sign_in_card_is_centred(browser, server):
    page, log = await open_dashboard(browser, server)
    form = page.locator(tid("sign-in-form"))
    for viewport, name in ((DESKTOP, "sign-in-centred.png"), (PHONE, "phone-sign-in-centred.png")):
        await page.set_viewport_size(viewport)
        await expect(form).to_be_visible()
        box = await form.bounding_box()
        middle = await page.evaluate("document.documentElement.clientWidth") / 2
        assert abs(box["x"] + box["width"] / 2 - middle) <= 2, (name, box, middle)
        await shot(page, name)
    assert log.errors == []

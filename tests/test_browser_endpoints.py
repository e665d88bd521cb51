"""The dashboard's webhook endpoints (#/webhooks/endpoints) and metadata, in real Chromium against `paygate serve`.

Endpoints are made and changed through the dashboard as a merchant would; payments through the API, as the
merchant's server would. A local receiver plays the endpoints. Screenshots land in tests/screenshots/dashboard/.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import expect
from standardwebhooks import Webhook

from paygate.core.webhooks.event_types import EVENT_TYPES

from .api import create_order, get, pay, wait_final
from .browser import (
    PHONE,
    REPO_STATIC,
    errors,
    goto,
    signed_in,
    tid,
)
from .conftest import paygate_env

pytestmark = pytest.mark.browser
# Payments and webhooks go through paygate's real workers; give them room on a busy machine.
expect.set_options(timeout=15_000)

ENDPOINTS = "/api/v1/webhook_endpoints"
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots" / "dashboard"


def event_box(form: str, event: str) -> str:
    return tid(f"{form}-event-{event.replace('.', '-')}")


async def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


# --- fixtures ------------------------------------------------------------------------------------

@pytest.fixture
async def server(clean_state, paygate_process):
    """`paygate serve` with its workers; webhooks may go to the loopback receiver, the scheduler looks often."""
    process = paygate_process("serve", env=paygate_env(
        *clean_state, PAYGATE_WEBHOOKS__ALLOW_PRIVATE_TARGETS="true", PAYGATE_SCHEDULER__INTERVAL="0.2"))
    return await process.ready()


@pytest.fixture
async def browser(launching, server):
    return (await launching)[1]


@pytest.fixture
async def own_receiver():
    """A second receiver, for the merchant's own webhook_url (the `receiver` fixture plays an endpoint)."""
    from .receiver import Receiver

    started = await Receiver().start()
    yield started
    await started.stop()


@pytest.fixture
async def api(server, merchant):
    """paygate's API as the merchant's server sees it (key and secret headers)."""
    async with aiohttp.ClientSession(base_url=server.base_url) as session:
        yield session


# --- helpers -------------------------------------------------------------------------------------

async def create_endpoint(api, headers, url: str, events: list[str], **extra) -> dict:
    resp = await api.post(ENDPOINTS, json={"url": url, "enabled_events": events, **extra}, headers=headers)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def full_secret(api, headers, endpoint_id: str) -> str:
    return (await get(api, headers, f"{ENDPOINTS}/{endpoint_id}/secret"))["secret"]


def endpoint_row(page, endpoint_id: str):
    return page.locator(f"{tid('endpoint-row')}[data-id='{endpoint_id}']")


# --- tests ---------------------------------------------------------------------------------------

def test_the_dashboard_offers_every_event_type_paygate_has():
    source = (REPO_STATIC / "dashboard" / "endpoint-parts.js").read_text()
    listed = re.search(r"export const EVENT_TYPES = \[(.*?)\];", source, re.S).group(1)
    assert tuple(json.loads(f"[{listed.strip().rstrip(',')}]")) == EVENT_TYPES


async def test_an_endpoint_created_for_two_events_shows_its_secret_once_and_logs_its_deliveries(
        browser, server, api, merchant, receiver, own_receiver):
    headers = merchant["headers"]
    # The merchant's own webhook_url receives every event too: the endpoint's log must show only its own.
    resp = await api.patch("/api/v1/merchant", json={"webhook_url": own_receiver.url}, headers=headers)
    assert resp.status == 200, await resp.text()
    page, log = await signed_in(browser, server)
    await page.locator(tid("nav-webhooks")).click()
    await page.locator(tid("webhooks-tab-endpoints")).click()
    await expect(page.locator(tid("webhook-endpoints"))).to_be_visible()
    await expect(page.locator(tid("endpoints-empty"))).to_be_visible()
    await expect(page.locator(tid("webhooks-tab-endpoints"))).to_have_attribute("aria-current", "page")

    form = page.locator(tid("endpoint-create"))
    await form.locator(tid("endpoint-create-url")).fill(receiver.url)
    await form.locator(event_box("endpoint-create", "payment.success")).check()
    await form.locator(event_box("endpoint-create", "payment.captured")).check()
    await form.locator(tid("endpoint-create-description")).fill("<b>orders</b> system")
    await form.locator(tid("endpoint-create-submit")).click()

    # The secret in full, this once, and the endpoint listed with its two events.
    shown = page.locator(tid("endpoint-created-secret"))
    await expect(shown).to_have_text(re.compile(r"^whsec_.{20,}$"))
    await expect(page.locator(tid("endpoint-create-message"))).to_contain_text("added")
    row = page.locator(tid("endpoint-row"))
    await expect(row).to_have_count(1)
    endpoint_id = await row.get_attribute("data-id")
    secret = await shown.text_content()
    assert secret == await full_secret(api, headers, endpoint_id)
    await expect(row.locator(tid("endpoint-events"))).to_have_text("payment.success, payment.captured")
    await expect(row.locator(tid("endpoint-description"))).to_have_text("<b>orders</b> system")
    await expect(row.locator(tid("status"))).to_have_text("enabled")
    await expect(form.locator(tid("endpoint-create-url"))).to_have_value("")
    stored = await get(api, headers, f"{ENDPOINTS}/{endpoint_id}")
    assert (stored["url"], stored["enabled_events"]) == (receiver.url, ["payment.success", "payment.captured"])
    await shot(page, "endpoints-created.png")

    # Shown once: drawn again, the page holds no secret.
    await page.locator(tid("webhooks-tab-log")).click()
    await expect(page.locator(tid("webhooks"))).to_be_visible()
    await page.locator(tid("webhooks-tab-endpoints")).click()
    await expect(endpoint_row(page, endpoint_id)).to_be_visible()
    await expect(page.locator(tid("endpoint-created-secret"))).to_have_count(0)
    assert secret not in await page.content()

    # A payment: the endpoint receives exactly its two events, signed with its own secret.
    order = await create_order(api, headers)
    payment = await wait_final(api, headers, (await pay(api, headers, order["id"]))["id"])
    assert payment["status"] == "success"
    arrived = await receiver.wait_for(2)
    events = sorted(Webhook(secret).verify(r.body, r.headers)["event"] for r in arrived)
    assert events == ["payment.captured", "payment.success"]
    await own_receiver.wait_for(3)

    # Its delivery log shows them (and nothing of the events it does not subscribe to).
    await endpoint_row(page, endpoint_id).locator(tid("endpoint-link")).click()
    await expect(page.locator(tid("endpoint-detail"))).to_be_visible()
    deliveries = page.locator(tid("delivery-row"))
    await expect(deliveries).to_have_count(2)
    for event in ("payment.success", "payment.captured"):
        await expect(page.locator(f"{tid('delivery-row')}[data-event='{event}']")).to_have_attribute(
            "data-status", "success")
    await shot(page, "endpoint-deliveries.png")

    # Its row leads to the delivery page, which leads back, and whose Retry sends it again.
    await page.locator(f"{tid('delivery-row')}[data-event='payment.success']").locator(tid("webhooks-link")).click()
    await expect(page.locator(tid("delivery-detail"))).to_be_visible()
    await expect(page.locator(tid("delivery-endpoint-link"))).to_have_text(endpoint_id)
    await expect(page.locator(tid("attempt-row"))).to_have_count(1)
    await page.locator(tid("delivery-retry-button")).click()
    await expect(page.locator(tid("delivery-detail-attempts"))).to_have_text("2")
    await expect(page.locator(tid("attempt-row")).nth(1)).to_contain_text("manual")
    again = (await receiver.wait_for(3))[2]
    assert Webhook(secret).verify(again.body, again.headers)["event"] == "payment.success"
    await page.locator(tid("delivery-crumb-endpoint")).click()
    await expect(page.locator(tid("endpoint-detail"))).to_be_visible()

    # The Webhooks tab's log names the endpoint each delivery went to.
    await page.locator(tid("webhooks-tab-log")).click()
    for event in ("payment.success", "payment.captured"):
        cells = page.locator(f"{tid('delivery-row')}[data-event='{event}']").locator(tid("delivery-endpoint"))
        await expect(cells).to_have_count(2)
        assert sorted(await cells.all_text_contents()) == sorted([endpoint_id, "Webhook URL"])
    await expect(page.locator(f"{tid('delivery-row')}[data-event='payment.created']").locator(
        tid("delivery-endpoint"))).to_have_text("Webhook URL")
    assert len(receiver.requests) == 3
    assert errors(log) == [], log.errors


async def test_an_endpoint_is_edited_disabled_enabled_rotated_and_deleted(browser, server, api, merchant, receiver):
    headers = merchant["headers"]
    endpoint = await create_endpoint(api, headers, receiver.url, ["payment.success", "refund.processed"],
                                     description="accounting")
    first_secret = endpoint["secret"]
    page, log = await signed_in(browser, server)
    await goto(page, f"#/webhooks/endpoints/{endpoint['id']}", "endpoint-detail")
    await expect(page.locator(tid("field-events"))).to_have_text("payment.success, refund.processed")
    await expect(page.locator(tid("endpoint-secret"))).to_have_text(f"whsec_…{first_secret[-4:]}")
    await expect(page.locator(tid("deliveries-empty"))).to_be_visible()

    # Edit: other events and description; the form starts from what is stored.
    form = page.locator(tid("endpoint-edit"))
    await expect(form.locator(tid("endpoint-edit-url"))).to_have_value(receiver.url)
    await expect(form.locator(event_box("endpoint-edit", "payment.success"))).to_be_checked()
    await form.locator(event_box("endpoint-edit", "payment.success")).uncheck()
    await form.locator(event_box("endpoint-edit", "payment.failed")).check()
    await form.locator(tid("endpoint-edit-description")).fill("refunds and failures")
    await form.locator(tid("endpoint-edit-submit")).click()
    await expect(page.locator(tid("flash"))).to_contain_text("Endpoint saved")
    await expect(page.locator(tid("field-events"))).to_have_text("payment.failed, refund.processed")
    await expect(page.locator(tid("field-description"))).to_have_text("refunds and failures")
    stored = await get(api, headers, f"{ENDPOINTS}/{endpoint['id']}")
    assert sorted(stored["enabled_events"]) == ["payment.failed", "refund.processed"]
    assert stored["description"] == "refunds and failures"

    # "All events" stands for every type: the single boxes go quiet, and the API stores "*".
    await form.locator(tid("endpoint-edit-event-all")).check()
    await expect(form.locator(event_box("endpoint-edit", "payment.failed"))).to_be_disabled()
    await form.locator(tid("endpoint-edit-submit")).click()
    await expect(page.locator(tid("field-events"))).to_have_text("All events")
    assert (await get(api, headers, f"{ENDPOINTS}/{endpoint['id']}"))["enabled_events"] == ["*"]

    # Disable, then enable.
    await page.locator(tid("endpoint-disable")).click()
    await expect(page.locator(tid("field-status")).locator(tid("status"))).to_have_text("disabled")
    assert (await get(api, headers, f"{ENDPOINTS}/{endpoint['id']}"))["status"] == "disabled"
    await shot(page, "endpoint-disabled.png")
    await page.locator(tid("endpoint-enable")).click()
    await expect(page.locator(tid("field-status")).locator(tid("status"))).to_have_text("enabled")
    assert (await get(api, headers, f"{ENDPOINTS}/{endpoint['id']}"))["status"] == "enabled"

    # Reveal shows the secret in full; Hide masks it again.
    await page.locator(tid("endpoint-secret-reveal")).click()
    await expect(page.locator(tid("endpoint-secret"))).to_have_text(first_secret)
    await page.locator(tid("endpoint-secret-reveal")).click()
    await expect(page.locator(tid("endpoint-secret"))).to_have_text(f"whsec_…{first_secret[-4:]}")

    # Rotate: cancelled, nothing changes; confirmed, the new secret once and until when the old one signs.
    await page.locator(tid("endpoint-secret-rotate")).click()
    await page.locator(tid("endpoint-secret-rotate-cancel")).click()
    await expect(page.locator(tid("endpoint-secret-rotate-confirm"))).to_be_hidden()
    assert await full_secret(api, headers, endpoint["id"]) == first_secret
    await page.locator(tid("endpoint-secret-rotate")).click()
    await page.locator(tid("endpoint-secret-rotate-confirm")).click()
    fresh = page.locator(tid("endpoint-new-secret"))
    await expect(fresh).to_have_text(re.compile(r"^whsec_"))
    new_secret = await fresh.text_content()
    assert new_secret != first_secret and new_secret == await full_secret(api, headers, endpoint["id"])
    until = (await get(api, headers, f"{ENDPOINTS}/{endpoint['id']}"))["previous_secret_valid_until"]
    assert until
    await expect(page.locator(tid("endpoint-previous-valid-until")).locator("time")).to_have_attribute(
        "datetime", until)
    await expect(page.locator(tid("endpoint-previous-until")).locator("time")).to_have_attribute("datetime", until)
    await expect(page.locator(tid("endpoint-secret"))).to_have_text(f"whsec_…{new_secret[-4:]}")
    await shot(page, "endpoint-rotated.png")

    # Delete: kept on "Keep it", gone after the confirmation, and the list says so.
    await page.locator(tid("endpoint-delete")).click()
    await expect(page.locator(tid("endpoint-delete-confirm"))).to_be_focused()
    await page.locator(tid("endpoint-delete-cancel")).click()
    await expect(page.locator(tid("endpoint-delete-confirm"))).to_be_hidden()
    await get(api, headers, f"{ENDPOINTS}/{endpoint['id']}")
    await page.locator(tid("endpoint-delete")).click()
    await page.locator(tid("endpoint-delete-confirm")).click()
    await expect(page.locator(tid("webhook-endpoints"))).to_be_visible()
    await expect(page.locator(tid("endpoints-notice"))).to_contain_text(f"Endpoint {endpoint['id']} deleted")
    await expect(page.locator(tid("endpoints-empty"))).to_be_visible()
    resp = await api.get(f"{ENDPOINTS}/{endpoint['id']}", headers=headers)
    assert resp.status == 404
    assert errors(log) == [], log.errors


async def test_the_form_shows_a_400_by_its_field_another_merchants_endpoint_is_not_found_and_a_phone_fits(
        browser, server, api, merchant, other_merchant, receiver):
    page, log = await signed_in(browser, server)
    await goto(page, "#/webhooks/endpoints", "webhook-endpoints")
    form = page.locator(tid("endpoint-create"))
    url, message = form.locator(tid("endpoint-create-url")), form.locator(tid("endpoint-create-message"))

    await url.fill("ftp://shop.example/hooks")
    await form.locator(event_box("endpoint-create", "payment.success")).check()
    await form.locator(tid("endpoint-create-submit")).click()
    await expect(message).to_contain_text("must be an http or https URL")
    await expect(message).to_have_class(re.compile(r"\berror\b"))
    await expect(url).to_have_attribute("aria-invalid", "true")
    await expect(url).to_be_focused()
    await shot(page, "endpoint-create-error.png")

    # No event chosen: the API names enabled_events, and the form marks the event boxes.
    await url.fill(receiver.url)
    await form.locator(event_box("endpoint-create", "payment.success")).uncheck()
    await form.locator(tid("endpoint-create-submit")).click()
    await expect(message).to_contain_text("enabled_events")
    await expect(url).not_to_have_attribute("aria-invalid", "true")
    await expect(form.locator(event_box("endpoint-create", "payment.created"))).to_be_focused()
    await expect(page.locator(tid("endpoint-row"))).to_have_count(0)
    assert (await get(api, merchant["headers"], ENDPOINTS))["total"] == 0

    # Another merchant's endpoint: not found, and nothing of it shown.
    theirs = await create_endpoint(api, other_merchant["headers"], receiver.url, ["*"])
    await goto(page, f"#/webhooks/endpoints/{theirs['id']}", "not-found")
    await expect(page.locator(tid("endpoint-detail"))).to_have_count(0)

    # On a phone the list, the form and an endpoint's page fit the width: nothing scrolls sideways.
    long_url = receiver.url + "?tenant=a-rather-long-query-string-0123456789"
    mine = await create_endpoint(api, merchant["headers"], long_url,
                                 ["payment.success", "payment.capture_failed", "merchant.api_secret_expired"])
    await page.set_viewport_size(PHONE)
    for hash_path, ready, name in (("#/webhooks/endpoints", "endpoint-row", "phone-endpoints.png"),
                                   (f"#/webhooks/endpoints/{mine['id']}", "endpoint-detail", "phone-endpoint.png")):
        await goto(page, hash_path, ready)
        assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], name
        await shot(page, name)
    assert errors(log) == [], log.errors


async def test_metadata_shows_on_the_payment_order_and_refund_pages(browser, server, api, merchant):
    headers = merchant["headers"]
    order = await create_order(api, headers, metadata={"cart": "c-42"})
    resp = await api.post("/api/v1/payments", headers=headers, json={
        "order_id": order["id"], "method": "upi", "vpa": "success@paygate",
        "metadata": {"customer_ref": "cus_881", "note": '<img src=x onerror="window.pwned=1">'}})
    assert resp.status == 201, await resp.text()
    payment = await wait_final(api, headers, (await resp.json())["id"])
    assert payment["status"] == "success" and payment["captured"]
    resp = await api.post(f"/api/v1/payments/{payment['id']}/refunds", headers=headers,
                          json={"amount": 1000, "metadata": {"ticket": "T-7"}})
    assert resp.status == 201, await resp.text()
    refund = await resp.json()

    page, log = await signed_in(browser, server)
    await goto(page, f"#/payments/{payment['id']}", "payment-detail")
    pairs = page.locator(tid("metadata-pair"))
    await expect(pairs).to_have_count(2)
    await expect(page.locator(f"{tid('metadata-pair')}[data-key='customer_ref']").locator(
        tid("metadata-value"))).to_have_text("cus_881")
    # A value is text, never markup.
    await expect(page.locator(f"{tid('metadata-pair')}[data-key='note']").locator(
        tid("metadata-value"))).to_have_text('<img src=x onerror="window.pwned=1">')
    assert await page.evaluate("window.pwned") is None
    await shot(page, "payment-metadata.png")

    # Changed through the API, the page shows the change; a key set to "" is gone.
    resp = await api.patch(f"/api/v1/payments/{payment['id']}", headers=headers,
                           json={"metadata": {"note": "", "batch": "7"}})
    assert resp.status == 200, await resp.text()
    await page.reload()
    await expect(page.locator(tid("payment-detail"))).to_be_visible()
    await expect(page.locator(tid("metadata-key"))).to_have_text(["batch", "customer_ref"])

    await goto(page, f"#/orders/{order['id']}", "order-detail")
    await expect(page.locator(tid("metadata-pair"))).to_have_count(1)
    await expect(page.locator(f"{tid('metadata-pair')}[data-key='cart']")).to_contain_text("c-42")

    await goto(page, f"#/refunds/{refund['id']}", "refund-detail")
    await expect(page.locator(f"{tid('metadata-pair')}[data-key='ticket']")).to_contain_text("T-7")

    # Without metadata a page says there is none.
    other = await create_order(api, headers)
    await goto(page, f"#/orders/{other['id']}", "order-detail")
    await expect(page.locator(tid("metadata-empty"))).to_be_visible()
    assert errors(log) == [], log.errors

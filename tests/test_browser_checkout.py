"""checkout.js and the hosted checkout page in real Chromium, against a real `paygate serve`.

The merchant's shop is served from a second origin and loads checkout.js from paygate, as a real
shop would; a third origin plays the attacker. Screenshots land in tests/screenshots/checkout/.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from playwright.async_api import expect

from paygate.core.idempotency import keyed_request_hash
from paygate.infra.crypto import SecretBox

from .api import create_order, pay, wait_final
from .browser import (
    DESKTOP,
    PHONE,
    REPO_STATIC,
    checkout_signature,
    forger_site,
    merchant_site,
    open_page,
    screenshot_path,
)
from .conftest import MASTER_KEY
from .test_test_cards import live_merchant

pytestmark = pytest.mark.browser
# Payments go through paygate's real workers; give them room on a busy machine.
expect.set_options(timeout=15_000)

KEY = "key_test_abc123"
SECRET = "secret_test_xyz789"
IFRAME = "[data-test-id=payment-iframe]"
MODAL = "[data-test-id=payment-modal]"


def tid(name: str) -> str:
    return f"[data-test-id={name}]"


@pytest.fixture
async def browser(launching, sites):
    return (await launching)[1]


@pytest.fixture
async def api(paygate_server, merchant):
    """An HTTP client for paygate's API, as the merchant's server (orders are made here)."""
    async with aiohttp.ClientSession(base_url=paygate_server.base_url) as session:
        yield session


@pytest.fixture
async def sites(paygate_server):
    forger = await forger_site().start()
    shop = await merchant_site(paygate_server.base_url, forger.origin).start()
    yield SimpleNamespace(paygate=paygate_server.base_url, shop=shop.origin, forger=forger.origin)
    await shop.stop()
    await forger.stop()


async def new_order(api, merchant, **extra) -> str:
    return (await create_order(api, merchant["headers"], **extra))["id"]


async def shop(browser, sites, order_id: str, viewport=DESKTOP, **query):
    query_string = "&".join(f"{k}={v}" for k, v in {"order_id": order_id, **query}.items())
    return await open_page(browser, f"{sites.shop}/?{query_string}", viewport)


async def open_modal(page):
    """Click the shop's buy button; return the hosted page's frame once its form is showing."""
    await page.click("#buy")
    checkout = page.frame_locator(IFRAME)
    await expect(checkout.locator(tid("pay-button"))).to_be_visible()
    return checkout


async def fill_card(checkout, number: str, month="12", year="35", cvv="123", name="Test Shopper") -> None:
    await checkout.locator(tid("card-number-input")).fill(number)
    await checkout.locator(tid("card-expiry-month-input")).fill(month)
    await checkout.locator(tid("card-expiry-year-input")).fill(year)
    await checkout.locator(tid("card-cvv-input")).fill(cvv)
    await checkout.locator(tid("card-name-input")).fill(name)


async def events(page) -> list[dict]:
    return await page.evaluate("window.events")


async def wait_event(page, kind: str, count: int = 1) -> list[dict]:
    await page.wait_for_function(f"window.events.filter(e => e.type === '{kind}').length >= {count}")
    return [e for e in await events(page) if e["type"] == kind]


def assert_verified_success(event: dict, order_id: str) -> None:
    data = event["data"]
    assert set(data) == {"payment_id", "order_id", "signature"}
    assert data["order_id"] == order_id
    assert data["payment_id"].startswith("pay_")
    assert data["signature"] == checkout_signature(SECRET, order_id, data["payment_id"])


def test_checkout_js_is_small_and_talks_to_no_other_host():
    source = (REPO_STATIC / "checkout.js").read_text()
    assert len(source.encode()) < 15 * 1024
    # Its only URLs: the usage example in its header, and the SVG namespace (a name, never fetched).
    assert re.findall(r"https?://[^\s\"')]+", source) == ["https://pay.example.com/checkout.js",
                                                          "http://www.w3.org/2000/svg"]
    for fetcher in ("fetch(", "XMLHttpRequest", "sendBeacon", "WebSocket", "import("):
        assert fetcher not in source


async def test_card_payment_in_the_modal_calls_on_success_with_a_signature_that_verifies(
        browser, sites, api, merchant):
    order_id = await new_order(api, merchant)
    page, log = await shop(browser, sites, order_id)
    checkout = await open_modal(page)
    await expect(checkout.locator(tid("checkout-merchant-name"))).to_have_text("Test Merchant")
    await expect(checkout.locator(tid("checkout-amount"))).to_have_text("₹500.00")
    await expect(checkout.locator(tid("pay-button"))).to_have_text("Pay ₹500.00")
    # The iframe comes from checkout.js's own origin and is told the shop's exact origin.
    src = urlsplit(await page.locator(IFRAME).get_attribute("src"))
    assert f"{src.scheme}://{src.netloc}" == sites.paygate
    assert parse_qs(src.query)["origin"] == [sites.shop]
    await page.wait_for_timeout(150)  # let the loading spinner go before the picture
    await page.screenshot(path=screenshot_path("modal-desktop.png"))

    await fill_card(checkout, "4111111111111111")
    await expect(checkout.locator(tid("card-number-input"))).to_have_value("4111 1111 1111 1111")
    await checkout.locator(tid("pay-button")).click()
    await expect(checkout.locator(tid("success-state"))).to_be_visible()
    [success] = await wait_event(page, "success")
    assert_verified_success(success, order_id)
    # The modal gets out of the way after a moment, without calling onClose.
    await expect(page.locator(MODAL)).to_have_count(0)
    assert [e["type"] for e in await events(page)] == ["success"]
    # Nothing but the shop and paygate was ever asked for anything.
    assert {f"{urlsplit(u).scheme}://{urlsplit(u).netloc}" for u in log.requests} == {sites.shop, sites.paygate}
    # No script error and no Content-Security-Policy complaint, on the shop or in the frame.
    assert log.errors == []


async def test_upi_payment_at_phone_width_calls_on_success(browser, sites, api, merchant):
    order_id = await new_order(api, merchant)
    page, _ = await shop(browser, sites, order_id, viewport=PHONE)
    checkout = await open_modal(page)
    # At 360 px the checkout takes the whole screen, nothing overflows sideways, taps are big.
    box = await page.locator(IFRAME).bounding_box()
    assert box["width"] == PHONE["width"] and box["height"] == PHONE["height"]
    frame = page.frame(url=re.compile(r"/checkout\?"))
    assert await frame.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    for target in ("pay-button", "method-card-tab", "method-upi-tab", "card-number-input"):
        assert (await checkout.locator(tid(target)).bounding_box())["height"] >= 44
    assert (await page.locator(tid("close-modal-button")).bounding_box())["height"] >= 44
    await page.wait_for_timeout(150)
    await page.screenshot(path=screenshot_path("modal-360.png"))

    await checkout.locator(tid("method-upi-tab")).click()
    await expect(checkout.locator(tid("method-upi-tab"))).to_have_attribute("aria-selected", "true")
    await expect(checkout.locator(tid("card-number-input"))).to_be_hidden()
    await checkout.locator(tid("vpa-input")).fill("success@paygate")
    await page.screenshot(path=screenshot_path("modal-360-upi.png"))
    await checkout.locator(tid("pay-button")).click()
    [success] = await wait_event(page, "success")
    assert_verified_success(success, order_id)


async def test_a_declined_card_shows_failure_and_the_shopper_can_retry(browser, sites, api, merchant):
    order_id = await new_order(api, merchant)
    page, _ = await shop(browser, sites, order_id)
    checkout = await open_modal(page)
    await fill_card(checkout, "4000000000000002")
    await checkout.locator(tid("pay-button")).click()

    failure = checkout.locator(tid("failure-state"))
    await expect(failure).to_be_visible()
    await expect(failure).to_contain_text("declined")
    [failed] = await wait_event(page, "failure")
    assert failed["data"]["order_id"] == order_id
    assert failed["data"]["error_code"] == "CARD_DECLINED"
    assert failed["data"]["payment_id"].startswith("pay_")
    assert failed["data"]["error_description"]
    await expect(page.locator(MODAL)).to_be_visible()  # still open: the shopper may try again
    await expect(checkout.locator(tid("retry-button"))).to_be_focused()
    await page.screenshot(path=screenshot_path("failure-desktop.png"))

    await checkout.locator(tid("retry-button")).click()
    await fill_card(checkout, "4111111111111111")
    await checkout.locator(tid("pay-button")).click()
    [success] = await wait_event(page, "success")
    assert_verified_success(success, order_id)
    assert success["data"]["payment_id"] != failed["data"]["payment_id"]
    assert [e["type"] for e in await events(page)] == ["failure", "success"]


async def test_the_close_button_and_escape_fire_on_close_and_remove_the_modal(browser, sites, api, merchant):
    order_id = await new_order(api, merchant)
    page, _ = await shop(browser, sites, order_id)

    await open_modal(page)
    await page.locator(tid("close-modal-button")).click()
    await expect(page.locator(MODAL)).to_have_count(0)
    assert await events(page) == [{"type": "close"}]

    # Escape with focus in the hosted page (inside the iframe): it asks checkout.js to close.
    checkout = await open_modal(page)
    await checkout.locator(tid("card-number-input")).focus()
    await page.keyboard.press("Escape")
    await expect(page.locator(MODAL)).to_have_count(0)

    # Escape with focus on the merchant's side of the modal (its close button).
    await open_modal(page)
    await page.locator(tid("close-modal-button")).focus()
    await page.keyboard.press("Escape")
    await expect(page.locator(MODAL)).to_have_count(0)
    assert await events(page) == [{"type": "close"}] * 3
    # The page scrolls again once the modal is gone.
    assert await page.evaluate("document.documentElement.style.overflow") == ""


async def test_forged_messages_from_other_origins_change_nothing(browser, sites, api, merchant):
    order_id = await new_order(api, merchant)
    page, _ = await shop(browser, sites, order_id)
    await open_modal(page)
    # From a third origin framed by the shop, and from the shop's own window.
    await page.evaluate("startForger()")
    await page.evaluate("""(orderId) => {
        for (const type of ["success", "failure", "close"]) {
            window.postMessage({source: "paygate", type, payment_id: "pay_forged", order_id: orderId,
                                signature: "0".repeat(64)}, "*");
        }
    }""", order_id)
    await page.wait_for_function("window.forgerDone")
    await page.wait_for_timeout(200)
    assert await events(page) == []
    await expect(page.locator(MODAL)).to_be_visible()
    await expect(page.frame_locator(IFRAME).locator(tid("pay-button"))).to_be_visible()


async def test_opening_twice_gives_one_modal_that_hostile_css_cannot_hide(browser, sites, api, merchant):
    order_id = await new_order(api, merchant)
    page, _ = await shop(browser, sites, order_id, hostile=1)
    await page.evaluate("openCheckout()")
    await page.evaluate("openCheckout()")  # another instance
    await page.evaluate("openCheckout().open()")  # and the same one again
    await expect(page.locator(MODAL)).to_have_count(1)
    await expect(page.locator(IFRAME)).to_have_count(1)

    checkout = page.frame_locator(IFRAME)
    await expect(checkout.locator(tid("pay-button"))).to_be_visible()
    await expect(page.locator(MODAL)).to_be_visible()
    await expect(page.locator(tid("close-modal-button"))).to_be_visible()
    box = await page.locator(IFRAME).bounding_box()
    assert box["width"] == 440 and box["height"] >= 600
    # Nothing of the page's (not even its full-screen ::after) lies over the checkout.
    on_top = await page.evaluate("""([x, y]) => {
        const el = document.elementFromPoint(x, y);
        return el && el.getAttribute("data-test-id");
    }""", [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2])
    assert on_top == "payment-iframe"
    style = await page.locator(IFRAME).evaluate(
        "el => { const s = getComputedStyle(el); return [s.opacity, s.visibility, s.borderTopWidth, s.transform,"
        " s.filter]; }")
    assert style == ["1", "visible", "0px", "none", "none"]
    await page.screenshot(path=screenshot_path("modal-hostile-css.png"))

    # Still a working checkout.
    await fill_card(checkout, "4242424242424242")
    await checkout.locator(tid("pay-button")).click()
    [success] = await wait_event(page, "success")
    assert_verified_success(success, order_id)


async def test_the_hosted_page_explains_an_order_it_cannot_take(browser, sites, api, merchant):
    order_id = await new_order(api, merchant)
    cases = {
        "order_doesnotexist0000": (KEY, "couldn't find this order"),
        order_id: ("key_test_someoneelse", "couldn't find this order"),
    }
    for order, (key, message) in cases.items():
        page, _ = await open_page(browser, f"{sites.paygate}/checkout?order_id={order}&key={key}")
        await expect(page.locator(tid("error-message"))).to_contain_text(message)
        await expect(page.locator(tid("pay-button"))).to_have_count(0)
        await expect(page.locator(tid("card-number-input"))).to_have_count(0)
    await page.screenshot(path=screenshot_path("hosted-unknown-order.png"))

    payment = await pay(api, merchant["headers"], order_id)
    await wait_final(api, merchant["headers"], payment["id"])
    page, _ = await open_page(browser, f"{sites.paygate}/checkout?order_id={order_id}&key={KEY}")
    await expect(page.locator(tid("error-message"))).to_contain_text("already been paid")
    await expect(page.locator(tid("checkout-amount"))).to_have_text("₹500.00")
    await expect(page.locator(tid("pay-button"))).to_have_count(0)


async def test_standalone_payment_redirects_to_the_callback_with_signed_parameters(browser, sites, api, merchant):
    order_id = await new_order(api, merchant, amount=150000, currency="JPY")
    callback = f"{sites.shop}/return?cart=7"
    url = (f"{sites.paygate}/checkout?order_id={order_id}&key={KEY}&callback_url={callback.replace('?', '%3F')}"
           f"&name=Asha%20Rao&email=asha%40example.com&color=%23c2410c")
    page, _ = await open_page(browser, url)
    await expect(page.locator(tid("checkout-amount"))).to_have_text("¥150,000")  # no minor unit in yen
    await expect(page.locator(tid("card-name-input"))).to_have_value("Asha Rao")  # prefilled
    await page.screenshot(path=screenshot_path("hosted-standalone.png"), full_page=True)

    await fill_card(page, "4111111111111111", name="Asha Rao")
    await page.locator(tid("pay-button")).click()
    await page.wait_for_url(re.compile(r"/return\?"))
    query = parse_qs(urlsplit(page.url).query)
    assert query["cart"] == ["7"]
    assert query["order_id"] == [order_id]
    assert query["signature"] == [checkout_signature(SECRET, order_id, query["payment_id"][0])]


async def test_invalid_input_is_explained_beside_the_field_without_asking_the_server(browser, sites, api, merchant):
    order_id = await new_order(api, merchant)
    page, log = await open_page(browser, f"{sites.paygate}/checkout?order_id={order_id}&key={KEY}")
    await expect(page.locator(tid("pay-button"))).to_be_visible()

    async def expect_error(field: str, inputs: list[str], text: str):
        message = page.locator(tid(f"field-error-{field}"))
        await expect(message).to_contain_text(text)
        message_id = await message.get_attribute("id")
        for name in inputs:
            field_input = page.locator(tid(name))
            await expect(field_input).to_have_attribute("aria-invalid", "true")
            assert message_id in (await field_input.get_attribute("aria-describedby")).split()

    await fill_card(page, "4111111111111112", month="01", year="20", cvv="12")
    await page.locator(tid("pay-button")).click()
    await expect_error("card-number", ["card-number-input"], "isn't valid")
    await expect_error("card-expiry", ["card-expiry-year-input"], "expired")
    await expect_error("card-cvv", ["card-cvv-input"], "3 digits")
    await expect(page.locator(tid("card-number-input"))).to_be_focused()  # the first problem
    await page.screenshot(path=screenshot_path("hosted-validation.png"), full_page=True)
    # The rest happens at phone width: the messages wrap in place, nothing spills sideways.
    await page.set_viewport_size(PHONE)
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await page.screenshot(path=screenshot_path("hosted-validation-360.png"), full_page=True)

    # Amex wants four digits; fixing a field clears its message as you type.
    await page.locator(tid("card-number-input")).fill("378282246310005")
    await expect(page.locator(tid("card-number-input"))).to_have_value("3782 822463 10005")
    await expect(page.locator(tid("field-error-card-number"))).to_have_text("")
    await expect(page.locator(tid("card-number-input"))).not_to_have_attribute("aria-invalid", "true")
    await page.locator(tid("card-cvv-input")).fill("123")
    await page.locator(tid("pay-button")).click()
    await expect_error("card-cvv", ["card-cvv-input"], "4 digits")
    await page.locator(tid("card-expiry-year-input")).fill("30")
    await page.locator(tid("card-expiry-month-input")).fill("13")
    await page.locator(tid("pay-button")).click()
    await expect_error("card-expiry", ["card-expiry-month-input"], "01–12")

    await page.locator(tid("method-upi-tab")).click()
    await page.locator(tid("vpa-input")).fill("not-a-vpa")
    await page.locator(tid("pay-button")).click()
    await expect_error("vpa", ["vpa-input"], "name@bank")

    assert not [u for u in log.requests if "/api/v1/checkout/payments" in u]

    # What only the server can know is shown beside the field too.
    await page.locator(tid("method-card-tab")).click()
    await fill_card(page, "9000000000000001")  # Luhn-valid, but no network paygate takes
    await page.locator(tid("pay-button")).click()
    await expect(page.locator(tid("field-error-card-number"))).to_contain_text("isn't supported")
    await expect(page.locator(tid("card-number-input"))).to_be_focused()
    await expect(page.locator(tid("pay-button"))).to_be_enabled()


async def test_a_shopper_can_pay_with_the_keyboard_alone(browser, sites, api, merchant):
    order_id = await new_order(api, merchant)
    page, _ = await open_page(browser, f"{sites.paygate}/checkout?order_id={order_id}&key={KEY}")
    await expect(page.locator(tid("pay-button"))).to_be_visible()
    keyboard = page.keyboard

    async def focused() -> str:
        return await page.evaluate("document.activeElement.getAttribute('data-test-id')")

    await keyboard.press("Tab")
    assert await focused() == "method-card-tab"
    # A visible focus ring.
    ring = await page.evaluate("(() => { const s = getComputedStyle(document.activeElement);"
                               " return [s.outlineStyle, s.outlineWidth]; })()")
    assert ring == ["solid", "3px"]
    await keyboard.press("ArrowRight")
    assert await focused() == "method-upi-tab"
    await expect(page.locator(tid("vpa-input"))).to_be_visible()
    await keyboard.press("ArrowLeft")
    assert await focused() == "method-card-tab"
    await expect(page.locator(tid("method-card-tab"))).to_have_attribute("aria-selected", "true")

    await keyboard.press("Tab")
    assert await focused() == "card-number-input"
    await keyboard.type("4111111111111111")
    await keyboard.press("Tab")
    await keyboard.type("12")  # a complete month moves on to the year by itself
    assert await focused() == "card-expiry-year-input"
    await keyboard.type("35")
    await keyboard.press("Tab")
    await keyboard.type("123")
    await keyboard.press("Tab")
    await keyboard.type("Key Board")

    # Hold the payment in "processing" for three polls, to see the state and the polling pace.
    polls: list[float] = []

    async def still_processing(route):
        polls.append(time.monotonic())
        if len(polls) > 3:
            await route.continue_()
            return
        payment_id = urlsplit(route.request.url).path.rsplit("/", 1)[1]
        await route.fulfill(json={"id": payment_id, "order_id": order_id, "status": "processing",
                                  "error_code": None, "error_description": None, "signature": None})

    await page.route(re.compile(r"/api/v1/checkout/payments/pay_"), still_processing)
    await keyboard.press("Enter")
    await expect(page.locator(tid("processing-state"))).to_be_visible()
    await page.screenshot(path=screenshot_path("hosted-processing.png"))
    await expect(page.locator(tid("success-state"))).to_be_visible()
    await expect(page.locator(tid("success-state"))).to_contain_text("₹500.00 paid to Test Merchant")
    await page.screenshot(path=screenshot_path("hosted-success.png"))
    gaps = [b - a for a, b in itertools.pairwise(polls)]
    assert len(polls) >= 4 and all(0.4 <= gap < 3 for gap in gaps), gaps


async def test_the_test_cards_hint_fills_the_form_and_a_test_card_pays(browser, sites, api, merchant):
    order_id = await new_order(api, merchant)
    page, log = await open_page(browser, f"{sites.paygate}/checkout?order_id={order_id}&key={KEY}", PHONE)
    hint = page.locator(tid("test-cards-hint"))
    await expect(hint).to_be_visible()
    declined = page.locator('[data-test-id="test-card-4000000000000002"]')
    await expect(declined).to_be_hidden()  # closed until asked for
    await hint.locator("summary").click()
    await expect(declined).to_contain_text("CARD_DECLINED")
    await expect(page.locator('[data-test-id="test-card-failure@paygate"]')).to_be_visible()
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await page.screenshot(path=screenshot_path("hosted-test-cards-360.png"), full_page=True)

    # A UPI id switches the method; a card switches back and fills every card field.
    await page.locator('[data-test-id="test-card-failure@paygate"]').click()
    await expect(page.locator(tid("method-upi-tab"))).to_have_attribute("aria-selected", "true")
    await expect(page.locator(tid("vpa-input"))).to_have_value("failure@paygate")
    await declined.click()
    await expect(page.locator(tid("method-card-tab"))).to_have_attribute("aria-selected", "true")
    await expect(page.locator(tid("card-number-input"))).to_have_value("4000 0000 0000 0002")
    await expect(page.locator(tid("card-expiry-month-input"))).to_have_value("12")
    year = await page.locator(tid("card-expiry-year-input")).input_value()
    assert 2000 + int(year) > time.gmtime().tm_year
    await expect(page.locator(tid("card-cvv-input"))).to_have_value("123")
    await expect(page.locator(tid("card-name-input"))).to_have_value("Test Shopper")
    await expect(page.locator(tid("pay-button"))).to_be_focused()  # only Pay is left

    await page.locator('[data-test-id="test-card-4242424242424242"]').click()
    await expect(page.locator(tid("card-number-input"))).to_have_value("4242 4242 4242 4242")
    await page.locator(tid("pay-button")).click()
    await expect(page.locator(tid("success-state"))).to_be_visible()
    payments = await (await api.get(f"/api/v1/orders/{order_id}/payments", headers=merchant["headers"])).json()
    assert len(payments["data"]) == 1
    paid = await wait_final(api, merchant["headers"], payments["data"][0]["id"])
    assert (paid["status"], paid["method"], paid["card"]["last4"]) == ("success", "card", "4242")
    assert log.errors == []


async def test_the_test_cards_hint_is_absent_for_a_live_key(browser, sites, api, pool):
    live = await live_merchant(pool)
    order_id = await new_order(api, live)
    page, _ = await open_page(browser, f"{sites.paygate}/checkout?order_id={order_id}&key={live['api_key']}")
    await expect(page.locator(tid("pay-button"))).to_be_visible()
    await expect(page.locator(tid("test-cards-hint"))).to_be_hidden()
    await expect(page.locator("[data-test-id^=test-card-]")).to_have_count(0)
    await expect(page.locator("#test-mode")).to_be_hidden()


# -- one payment per attempt: the page's Idempotency-Key --------------------------------------------------------

PAYMENTS_POST = re.compile(r"/api/v1/checkout/payments$")


async def hosted(browser, sites, order_id: str):
    """The hosted page on its own, with a card filled in; a log of the Idempotency-Key of every payment POST."""
    page, _ = await open_page(browser, f"{sites.paygate}/checkout?order_id={order_id}&key={KEY}")
    keys: list[str | None] = []
    page.on("request", lambda r: PAYMENTS_POST.search(r.url) and r.method == "POST"
            and keys.append(r.headers.get("idempotency-key")))
    await fill_card(page, "4111111111111111")
    return page, keys


async def settled(page) -> None:
    """Wait until the page shows the payment's outcome, whichever it is (so a count after it says what broke)."""
    await expect(page.locator(f"{tid('success-state')}:visible, {tid('failure-state')}:visible")).to_be_visible()


async def payments_of(api, merchant, order_id: str) -> list[dict]:
    resp = await api.get(f"/api/v1/orders/{order_id}/payments", headers=merchant["headers"])
    return (await resp.json())["data"]


async def test_a_double_click_on_pay_makes_one_payment(browser, sites, api, merchant):
    order_id = await new_order(api, merchant)
    page, _ = await shop(browser, sites, order_id)
    checkout = await open_modal(page)
    await fill_card(checkout, "4111111111111111")
    await checkout.locator(tid("pay-button")).dblclick()
    [success] = await wait_event(page, "success")
    assert [p["id"] for p in await payments_of(api, merchant, order_id)] == [success["data"]["payment_id"]]


async def test_the_same_attempt_sent_twice_at_once_makes_one_payment(browser, sites, api, merchant):
    """The busy guard stops a second click before it reaches paygate, so that is not what is tested here.

    Instead the page's one POST is sent twice at once, byte for byte and header for header, as a
    duplicating proxy or a double submit the guard missed would: only the page's Idempotency-Key can make
    that one payment. (Without the key, both requests pay and this test fails.)
    """
    order_id = await new_order(api, merchant)
    page, keys = await hosted(browser, sites, order_id)
    answers = []

    async def twice(route):
        both = await asyncio.gather(route.fetch(), route.fetch())
        answers.extend(sorted((r.status, r.headers.get("idempotent-replayed", "")) for r in both))
        await route.fulfill(response=next((r for r in both if r.status == 201), both[0]))

    await page.route(PAYMENTS_POST, twice)
    await page.locator(tid("pay-button")).click()
    await settled(page)
    assert len(await payments_of(api, merchant, order_id)) == 1
    await expect(page.locator(tid("success-state"))).to_be_visible()
    # The other request was told "still in flight" (409) or was answered with the first one's replay.
    assert answers in ([(201, ""), (409, "")], [(201, ""), (201, "true")]), answers
    assert len(keys) == 1 and keys[0]


async def test_pay_pressed_again_after_a_lost_answer_makes_one_payment(browser, sites, api, merchant):
    """The POST reaches paygate, which makes the payment, but the answer never reaches the page."""
    order_id = await new_order(api, merchant)
    page, keys = await hosted(browser, sites, order_id)
    lost = []

    async def lose_the_first_answer(route):
        if lost:
            await route.continue_()
            return
        lost.append((await route.fetch()).status)
        await route.abort("connectionreset")

    await page.route(PAYMENTS_POST, lose_the_first_answer)
    await page.locator(tid("pay-button")).click()
    await expect(page.locator(tid("error-message"))).to_contain_text("couldn't reach the payment server")
    async with page.expect_request(lambda r: PAYMENTS_POST.search(r.url) and r.method == "POST") as again:
        await page.locator(tid("pay-button")).click()  # the same details: the same attempt, so its key again
    assert lost == [201]
    assert keys[0] and (await again.value).headers.get("idempotency-key") == keys[0]
    await settled(page)
    assert len(await payments_of(api, merchant, order_id)) == 1
    await expect(page.locator(tid("success-state"))).to_be_visible()  # the replayed answer: its payment


async def test_an_attempt_still_in_flight_is_waited_for_under_the_same_key(browser, sites, api, merchant, pool):
    """A first request of this attempt holds its key (as when its answer was lost while paygate worked on it):
    the page is told 409, waits, and sends the same attempt again rather than giving up or starting another."""
    order_id = await new_order(api, merchant)
    page, keys = await hosted(browser, sites, order_id)
    box = SecretBox(MASTER_KEY)

    async def held_once(route):
        if len(keys) > 1:
            await route.continue_()
            return
        request = route.request
        digest = keyed_request_hash(box, "POST", "/api/v1/checkout/payments", request.post_data_buffer)
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(
                """INSERT INTO idempotency_keys (merchant_id, key, request_method, request_path, request_hash,
                                                 claim_token, expires_at)
                   VALUES (%s, %s, 'POST', '/api/v1/checkout/payments', %s, 'first-request', now() + '1 hour')""",
                (merchant["merchant_id"], request.headers["idempotency-key"], digest))
            answer = await route.fetch()  # paygate's real answer while the key is held
            await cur.execute("DELETE FROM idempotency_keys WHERE claim_token = 'first-request'")  # it ended
        assert answer.status == 409
        await route.fulfill(response=answer)

    await page.route(PAYMENTS_POST, held_once)
    await page.locator(tid("pay-button")).click()
    await expect(page.locator(tid("success-state"))).to_be_visible()
    assert len(keys) == 2 and keys[0] and keys[0] == keys[1]
    assert len(await payments_of(api, merchant, order_id)) == 1


async def test_without_crypto_random_uuid_the_key_is_128_random_bits(browser, sites, api, merchant):
    """randomUUID exists only in a secure context: paygate served over plain http to another host has none."""
    order_id = await new_order(api, merchant)
    context = await browser.new_context(viewport=DESKTOP, locale="en-US")
    await context.add_init_script("delete Crypto.prototype.randomUUID;")
    page = await context.new_page()
    await page.goto(f"{sites.paygate}/checkout?order_id={order_id}&key={KEY}")
    await fill_card(page, "4111111111111111")
    async with page.expect_request(lambda r: PAYMENTS_POST.search(r.url) and r.method == "POST") as sent:
        await page.locator(tid("pay-button")).click()
    assert re.fullmatch(r"[0-9a-f]{32}", (await sent.value).headers["idempotency-key"])
    await expect(page.locator(tid("success-state"))).to_be_visible()


async def test_trying_again_after_a_decline_is_a_new_attempt_with_a_new_key(browser, sites, api, merchant):
    order_id = await new_order(api, merchant)
    page, keys = await hosted(browser, sites, order_id)
    await fill_card(page, "4000000000000002")
    for _ in range(2):  # the same declined card twice: each a payment of its own
        await page.locator(tid("pay-button")).click()
        await expect(page.locator(tid("failure-state"))).to_be_visible()
        await page.locator(tid("retry-button")).click()
    assert len(await payments_of(api, merchant, order_id)) == 2
    assert len(keys) == 2 and all(keys) and keys[0] != keys[1]

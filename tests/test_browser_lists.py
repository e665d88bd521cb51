"""The dashboard's lists page by cursor and filter by metadata, and the API keys page says the API rate limit: in
real Chromium against `paygate serve`.

Payments, orders and refunds are made through the API, as the merchant's server would; the lists are then paged
and filtered in the dashboard as a merchant would. Screenshots land in tests/screenshots/dashboard/.
"""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import expect

from paygate.core.operations.merchants import set_rate_limit

from .api import card, create_order, get, wait_final
from .browser import KEY, errors, signed_in, tid
from .conftest import paygate_env

pytestmark = pytest.mark.browser
# Payments go through paygate's real workers; give them room on a busy machine.
expect.set_options(timeout=15_000)

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots" / "dashboard"


async def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


# --- fixtures ------------------------------------------------------------------------------------

@pytest.fixture
def serve(clean_state, paygate_process):
    """Factory: `paygate serve` with its workers and these extra settings (PAYGATE_… environment), ready."""
    async def start(**settings: str):
        return await paygate_process("serve", env=paygate_env(*clean_state, **settings)).ready()

    return start


@pytest.fixture
async def server(serve):
    return await serve()


@pytest.fixture
async def browser(launching):
    return (await launching)[1]


@pytest.fixture
async def api(server, merchant):
    """paygate's API as the merchant's server sees it (key and secret headers)."""
    async with aiohttp.ClientSession(base_url=server.base_url) as session:
        yield session


# --- helpers -------------------------------------------------------------------------------------

async def card_payment(api, headers, metadata: dict | None = None) -> dict:
    """A card payment (approved) on an order of its own; both carry ``metadata`` if given."""
    order = await create_order(api, headers, **({"metadata": metadata} if metadata else {}))
    body = {"order_id": order["id"], "method": "card", "card": card("4111111111111111")}
    if metadata:
        body["metadata"] = metadata
    resp = await api.post("/api/v1/payments", json=body, headers=headers)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def refund(api, headers, payment_id: str, metadata: dict) -> dict:
    resp = await api.post(f"/api/v1/payments/{payment_id}/refunds", json={"amount": 100, "metadata": metadata},
                          headers=headers)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def shown(page, row: str, instead_of: str | None = None) -> list[str]:
    """The ids of the rows shown, once the page no longer starts with ``instead_of`` (the page before it)."""
    rows = page.locator(tid(row))
    if instead_of is not None:
        await expect(rows.first).not_to_have_attribute("data-id", instead_of)
    return await rows.evaluate_all("rows => rows.map((r) => r.dataset.id)")


async def newest_first(api, headers) -> list[str]:
    return [p["id"] for p in (await get(api, headers, "/api/v1/payments?limit=100"))["data"]]


# --- tests ---------------------------------------------------------------------------------------

async def test_paging_by_cursor_shows_every_payment_once_while_new_ones_arrive(browser, server, api, merchant):
    headers = merchant["headers"]
    for _ in range(45):
        await card_payment(api, headers)
    before = await newest_first(api, headers)
    assert len(before) == 45
    page, log = await signed_in(browser, server)
    total, prev, nxt = (page.locator(tid(f"payments-{name}")) for name in ("total", "prev", "next"))

    await page.locator(tid("nav-payments")).click()
    await expect(total).to_have_text("1–20 of 45")
    first = await shown(page, "payment-row")
    await expect(prev).to_be_disabled()
    await expect(nxt).to_be_enabled()
    assert "starting_after" not in page.url and "ending_before" not in page.url

    await nxt.click()
    await expect(page).to_have_url(re.compile(rf"#/payments\?starting_after={first[-1]}$"))
    second = await shown(page, "payment-row", instead_of=first[0])
    await expect(total).to_have_text("20 of 45")
    await expect(prev).to_be_enabled()
    await shot(page, "payments-cursor-page.png")

    # Five payments arrive while page 2 shows: an offset would now show five of page 2's again on page 3.
    for _ in range(5):
        await card_payment(api, headers)
    arrived = (await newest_first(api, headers))[:5]
    await nxt.click()
    await expect(page).to_have_url(re.compile(rf"#/payments\?starting_after={second[-1]}$"))
    third = await shown(page, "payment-row", instead_of=second[0])
    await expect(total).to_have_text("46–50 of 50")
    await expect(nxt).to_be_disabled()
    await expect(prev).to_be_enabled()
    assert first + second + third == before  # each of them once, in order
    assert len(set(first + second + third)) == 45

    # Back the same way: the same pages, and then the page of the five new ones, the first.
    await prev.click()
    await expect(page).to_have_url(re.compile(rf"#/payments\?ending_before={third[0]}$"))
    assert await shown(page, "payment-row", instead_of=third[0]) == second
    await expect(total).to_have_text("20 of 50")
    await prev.click()
    assert await shown(page, "payment-row", instead_of=second[0]) == first
    await expect(prev).to_be_enabled()  # the five new ones are before it
    await prev.click()
    assert await shown(page, "payment-row", instead_of=first[0]) == arrived
    await expect(total).to_have_text("1–5 of 50")
    await expect(prev).to_be_disabled()
    await nxt.click()
    assert await shown(page, "payment-row", instead_of=arrived[0]) == first

    # A filter starts from the first page again.
    await page.locator(tid("payments-filter-method")).select_option("card")
    await page.locator(tid("payments-filter-apply")).click()
    await expect(page).to_have_url(re.compile(r"#/payments\?method=card$"))
    assert await shown(page, "payment-row", instead_of=first[0]) == arrived + first[:15]
    await expect(total).to_have_text("1–20 of 50")
    await expect(prev).to_be_disabled()
    assert errors(log) == [], log.errors


async def test_the_metadata_filter_finds_by_key_and_value_and_shows_the_apis_refusal(browser, server, api, merchant):
    headers = merchant["headers"]
    wanted = await card_payment(api, headers, {"order_ref": "X1"})
    other = await card_payment(api, headers, {"order_ref": "X2"})
    await card_payment(api, headers)
    for payment in (wanted, other):
        assert (await wait_final(api, headers, payment["id"]))["status"] == "success"
    wanted_refund = await refund(api, headers, wanted["id"], {"order_ref": "X1"})
    await refund(api, headers, other["id"], {"order_ref": "X2"})
    page, log = await signed_in(browser, server)

    await page.locator(tid("nav-payments")).click()
    await expect(page.locator(tid("payment-row"))).to_have_count(3)
    metadata = page.locator(tid("payments-filter-metadata"))
    await metadata.fill("order_ref=X1")
    await page.locator(tid("payments-filter-apply")).click()
    await expect(page).to_have_url(re.compile(r"#/payments\?metadata=order_ref%3DX1$"))
    await expect(page.locator(tid("payments-total"))).to_have_text("1–1 of 1")
    assert await shown(page, "payment-row") == [wanted["id"]]
    await expect(metadata).to_have_value("order_ref=X1")
    await expect(page.locator(tid("payments-filter-message"))).to_be_hidden()

    # What the API refuses, it says beside the filters, and the field is marked; no list, no pager.
    for bad, said in [("=X1", "a metadata key is 1 to 40 characters"),
                      ("order_ref", "metadata[order_ref] must be 1 to 500 characters")]:
        await metadata.fill(bad)
        await page.locator(tid("payments-filter-apply")).click()
        await expect(page.locator(tid("payments-filter-message"))).to_contain_text(said)
        await expect(metadata).to_have_attribute("aria-invalid", "true")
        await expect(page.locator(tid("payment-row"))).to_have_count(0)
        await expect(page.locator(tid("payments-empty"))).to_have_count(0)
        await expect(page.locator(tid("payments-total"))).to_have_count(0)
    await shot(page, "payments-metadata-refused.png")
    await page.locator(tid("payments-filter-clear")).click()
    await expect(page.locator(tid("payment-row"))).to_have_count(3)
    await expect(page.locator(tid("payments-filter-message"))).to_be_hidden()

    # The same filter on orders and refunds.
    await page.locator(tid("nav-orders")).click()
    await page.locator(tid("orders-filter-metadata")).fill("order_ref=X1")
    await page.locator(tid("orders-filter-apply")).click()
    await expect(page.locator(tid("orders-total"))).to_have_text("1–1 of 1")
    assert await shown(page, "order-row") == [wanted["order_id"]]
    await page.locator(tid("nav-refunds")).click()
    await expect(page.locator(tid("refund-row"))).to_have_count(2)
    await page.locator(tid("refunds-filter-metadata")).fill("order_ref = X1")  # spaces around = are let go
    await page.locator(tid("refunds-filter-apply")).click()
    await expect(page.locator(tid("refunds-total"))).to_have_text("1–1 of 1")
    assert await shown(page, "refund-row") == [wanted_refund["id"]]
    assert errors(log) == [], log.errors


async def test_the_keys_page_says_the_api_rate_limit_the_default_the_merchants_own_or_none(
        browser, serve, pool, merchant):
    server = await serve(PAYGATE_API__RATE_LIMIT="100", PAYGATE_API__RATE_LIMIT_BURST="200")
    page, log = await signed_in(browser, server)
    line = page.locator(tid("keys-rate-limit"))

    async def keys_page() -> None:
        await page.locator(tid("nav-payments")).click()
        await expect(page.locator(tid("payments"))).to_be_visible()
        await page.locator(tid("nav-keys")).click()
        await expect(page.locator(tid("keys-api-key"))).to_have_text(KEY)

    await keys_page()
    await expect(line).to_contain_text("API rate limit: 100 requests a second, 200 at once (the default).")
    await shot(page, "keys-rate-limit.png")

    await set_rate_limit(pool, merchant["merchant_id"], 50, 60)
    await keys_page()
    await expect(line).to_contain_text("API rate limit: 50 requests a second, 60 at once (set for this merchant).")

    await set_rate_limit(pool, merchant["merchant_id"], 0, None)
    await keys_page()
    await expect(line).to_have_text("No API rate limit.")
    # Rotating the secret is still offered beside it.
    await expect(page.locator(tid("keys-rotate-button"))).to_be_enabled()
    assert errors(log) == [], log.errors

"""The one table of test cards and UPI ids, and the places that show it: README, OpenAPI, checkout, Docs page."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from playwright.async_api import expect

from paygate.core.cards import validate_card, vpa_valid
from paygate.core.operations.merchants import create_merchant
from paygate.core.processors import simulator, testcards
from paygate.core.processors.testcards import TEST_INSTRUMENTS
from paygate.http.openapi import document
from paygate.infra import crypto
from paygate.storage.db import transaction

from .api import create_order
from .browser import PHONE, open_page
from .conftest import MASTER_KEY

README = Path(__file__).resolve().parent.parent / "README.md"
REGENERATE = ".venv/bin/python -m paygate.core.processors.testcards --readme README.md"


def test_the_readme_shows_the_table_as_rendered():
    section = testcards.readme_section(README.read_text())
    assert section == testcards.markdown(), (
        f"README.md's test-card table differs from paygate/processors/testcards.py; regenerate it: {REGENERATE}")


def test_the_readme_option_rewrites_only_between_the_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n\n{testcards.README_START}\n| old |\n{testcards.README_END}\n\nafter\n")
    testcards.main(["--readme", str(readme)])
    assert readme.read_text() == (f"# x\n\nbefore\n\n{testcards.README_START}\n{testcards.markdown()}\n"
                                  f"{testcards.README_END}\n\nafter\n")


def test_the_simulator_reads_its_magic_inputs_from_the_table():
    cards = {t.value: t.scenario for t in TEST_INSTRUMENTS if t.method == "card"}
    vpas = {t.value: t.scenario for t in TEST_INSTRUMENTS if t.method == "upi"}
    assert (simulator.MAGIC_CARDS, simulator.MAGIC_VPAS) == (cards, vpas)
    assert len(cards) + len(vpas) == len(TEST_INSTRUMENTS), "a value listed twice"


async def _answer(sim, call, reference: str):
    """What the caller learns of a call: its answer, or for a lost one what fetch finds; a call that failed
    before reaching the simulator is made again, as paygate does."""
    try:
        return await call()
    except simulator.AnswerLost:
        return await sim.fetch(reference)
    except simulator.Unreachable:
        assert await sim.fetch(reference) is None, "a call that never arrived was booked"
        return await call()


@pytest.mark.parametrize("instrument", TEST_INSTRUMENTS, ids=lambda t: t.value)
async def test_the_simulator_does_what_the_table_says(instrument, pool):
    # success_rate 0: an input the simulator did not recognise would be declined as PAYMENT_DECLINED.
    sim = simulator.Simulator(pool, success_rate=0.0, slow_seconds=0.01)
    tokenize = sim.tokenize_card if instrument.method == "card" else sim.tokenize_vpa
    token = tokenize(instrument.value).token
    paid = await _answer(sim, lambda: sim.authorize("pay_x", token, 100, "INR", capture=True), "pay_x")
    refunded = await _answer(sim, lambda: sim.refund("rfnd_x", "pay_x", 100, "INR"), "rfnd_x")
    if instrument.error_code == "REFUND_FAILED":
        assert (paid.approved, refunded.approved, refunded.error_code) == (True, False, "REFUND_FAILED")
    elif instrument.error_code:
        assert (paid.approved, paid.error_code) == (False, instrument.error_code)
    else:
        assert (paid.approved, refunded.approved) == (True, True)
    assert instrument.outcome.startswith("Approved") == paid.approved


@pytest.mark.parametrize("instrument", TEST_INSTRUMENTS, ids=lambda t: t.value)
def test_every_test_input_passes_validation(instrument):
    if instrument.method == "card":
        assert validate_card(instrument.value, 12, 2035, "123", datetime.date.today()) == []
    else:
        assert vpa_valid(instrument.value)


def test_the_openapi_document_carries_the_table_as_markdown_and_as_data():
    info = document()["info"]
    assert info["description"].startswith("Merchant endpoints take")  # the existing text stays first
    assert info["description"].endswith("\n\n" + testcards.markdown())
    assert info["x-test-instruments"] == testcards.as_json()
    assert {"method", "value", "outcome", "error_code"} == set(testcards.as_json()[0])


async def live_merchant(pool) -> dict:
    """A merchant whose key is a live one (``key_live_…``), with ready-made auth headers."""
    created = await create_merchant(pool, crypto.SecretBox(MASTER_KEY), "Live Shop", "live@example.com")
    created["api_key"] = crypto.new_api_key("live")
    async with transaction(pool) as cur:
        await cur.execute("UPDATE merchants SET api_key = %s WHERE id = %s",
                          (created["api_key"], created["merchant_id"]))
    created["headers"] = {"X-Api-Key": created["api_key"], "X-Api-Secret": created["api_secret"]}
    return created


async def test_checkout_lists_the_test_inputs_for_a_test_key_only(client, merchant, pool):
    order = await create_order(client, merchant["headers"])
    resp = await client.get(f"/api/v1/checkout/orders/{order['id']}?key={merchant['api_key']}")
    assert (await resp.json())["test_instruments"] == testcards.as_json()

    live = await live_merchant(pool)
    order = await create_order(client, live["headers"])
    resp = await client.get(f"/api/v1/checkout/orders/{order['id']}?key={live['api_key']}")
    assert resp.status == 200
    assert "test_instruments" not in await resp.json()


@pytest.mark.browser
async def test_the_docs_page_shows_the_test_cards_as_a_table(launching, paygate_server, merchant):
    browser = (await launching)[1]
    page, log = await open_page(browser, paygate_server.base_url + "/dashboard/", PHONE)
    await page.locator("[data-test-id=sign-in-key]").fill(merchant["api_key"])
    await page.locator("[data-test-id=sign-in-secret]").fill(merchant["api_secret"])
    await page.locator("[data-test-id=sign-in-button]").click()
    await page.locator("[data-test-id=nav-docs]").click()
    rows = page.locator("[data-test-id=docs-test-cards] [data-test-id=docs-test-card]")
    await expect(rows).to_have_count(len(TEST_INSTRUMENTS))
    assert [await r.get_attribute("data-value") for r in await rows.all()] == [t.value for t in TEST_INSTRUMENTS]
    declined = page.locator("[data-test-id=docs-test-card][data-value='4000000000000002']")
    await expect(declined).to_contain_text("CARD_DECLINED")
    await expect(declined).to_contain_text("Declined by the issuer")
    docs = await page.locator("[data-test-id=docs]").text_content()
    assert "| --- |" not in docs, "the Markdown table is drawn as a table, not shown as text"
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert log.errors == []


async def test_the_table_is_served_with_the_document(client):
    resp = await client.get("/api/v1/openapi.json")
    assert (await resp.json())["info"]["x-test-instruments"] == testcards.as_json()

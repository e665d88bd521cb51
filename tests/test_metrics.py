"""/metrics: every family the operators need, labelled by route template, and the scrape-time figures."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from .api import create_order, get, pay, wait_final
from .conftest import free_port, paygate_env
from .metrics_text import Scrape, scrape, scrape_until

PAYMENT_ROUTE = "/api/v1/payments/{id}"


async def test_metrics_expose_each_family_after_a_payment_a_refund_and_a_delivery(hooks_client, merchant, receiver):
    client, headers = hooks_client, merchant["headers"]
    before = await scrape(client)
    resp = await client.patch("/api/v1/merchant", json={"webhook_url": receiver.url}, headers=headers)
    assert resp.status == 200

    order = await create_order(client, headers, amount=10000)
    payment = await wait_final(client, headers, (await pay(client, headers, order["id"]))["id"])
    assert payment["status"] == "success"
    resp = await client.post(f"/api/v1/payments/{payment['id']}/refunds", json={}, headers=headers)
    assert resp.status == 201
    refund = await resp.json()
    for _ in range(200):
        if (await get(client, headers, f"/api/v1/refunds/{refund['id']}"))["status"] not in ("pending", "processing"):
            break
        await asyncio.sleep(0.05)
    await receiver.wait_for(1)

    def moved(s: Scrape) -> bool:
        return (s.value("paygate_refunds_total", status="processed") > before.value("paygate_refunds_total",
                                                                                   status="processed")
                and s.value("paygate_webhook_deliveries_total", outcome="success")
                > before.value("paygate_webhook_deliveries_total", outcome="success")
                and s.samples("paygate_webhook_oldest_due_age_seconds")[0].value == 0  # every delivery made
                and bool(s.samples("paygate_scheduler_lag_seconds")))  # absent until a scheduler pass is recorded

    after = await scrape_until(client, moved)

    def delta(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert delta("paygate_payments_total", status="success") == 1
    assert delta("paygate_refunds_total", status="processed") == 1
    assert delta("paygate_webhook_deliveries_total", outcome="success") >= 1
    # HTTP by route template and status, with a latency histogram beside it.
    assert delta("paygate_http_requests_total", route="/api/v1/payments", method="POST", status="201") == 1
    assert delta("paygate_http_requests_total", route=PAYMENT_ROUTE, method="GET", status="200") >= 1
    assert delta("paygate_http_request_duration_seconds_count", route=PAYMENT_ROUTE, method="GET") >= 1
    assert after.value("paygate_http_request_duration_seconds_bucket", route=PAYMENT_ROUTE, method="GET",
                       le="+Inf") >= 1
    routes = {s.labels["route"] for s in after.samples("paygate_http_requests_total")}
    assert not [r for r in routes if "pay_" in r or "rfnd_" in r], f"raw paths became labels: {routes}"
    # Read at scrape time from Redis and Postgres.
    depth = {(s.labels["queue"], s.labels["state"]) for s in after.samples("paygate_queue_depth")}
    assert {("payments", "waiting"), ("refunds", "active"), ("webhooks", "delayed")} <= depth
    assert after.value("paygate_queue_workers", queue="payments") == 1  # this app's own worker
    lag = after.samples("paygate_scheduler_lag_seconds")
    assert len(lag) == 1 and 0 <= lag[0].value < 5


async def test_unmatched_paths_share_one_label(client):
    before = await scrape(client)
    for n in range(3):
        assert (await client.get(f"/no/such/path/{n}")).status == 404
    after = await scrape(client)
    labels = dict(route="unmatched", method="GET", status="404")
    assert after.value("paygate_http_requests_total", **labels) - before.value(
        "paygate_http_requests_total", **labels) == 3
    assert "/no/such/path" not in after.text


async def test_the_oldest_due_delivery_age_grows_while_nothing_delivers(aiohttp_client, make_app, merchant, receiver):
    client = await aiohttp_client(make_app(webhooks__allow_private_targets=True))  # no workers: nothing delivers
    headers = merchant["headers"]
    resp = await client.patch("/api/v1/merchant", json={"webhook_url": receiver.url}, headers=headers)
    assert resp.status == 200
    resp = await client.post("/api/v1/webhooks/test", headers=headers)
    assert resp.status in (200, 201, 202), await resp.text()
    await asyncio.sleep(1.1)
    current = await scrape(client)
    assert current.samples("paygate_webhook_oldest_due_age_seconds")[0].value >= 1
    assert current.value("paygate_queue_depth", queue="webhooks", state="waiting") == 1
    assert current.samples("paygate_scheduler_lag_seconds") == []  # no scheduler has run in this Redis


async def test_metrics_can_be_switched_off(aiohttp_client, make_app):
    client = await aiohttp_client(make_app(metrics__enabled=False))
    assert (await client.get("/metrics")).status == 404


@pytest.mark.slow
async def test_a_worker_process_serves_the_payments_it_finished_on_its_metrics_port(client, merchant, clean_state,
                                                                                   paygate_process):
    port = free_port()
    paygate_process("worker", "--metrics-port", str(port), env=paygate_env(*clean_state))
    headers = merchant["headers"]
    order = await create_order(client, headers)
    payment = await wait_final(client, headers, (await pay(client, headers, order["id"]))["id"], timeout=60)
    assert payment["status"] == "success"  # processed by the worker subprocess: this app has no workers

    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
        current = await scrape_until(http, lambda s: s.value("paygate_payments_total", status="success") == 1)
    assert current.value("paygate_queue_workers", queue="payments") == 1

"""Operator commands for webhooks (list, retry, listen) and `paygate trigger`, against real services."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time

import aiohttp
import pytest
from click.testing import CliRunner

from paygate.cli import main
from paygate.commands.listen import Arrival, create_listener_app
from paygate.core.webhooks import signing
from paygate.infra import crypto

from .api import get
from .conftest import free_port, paygate_env, run_paygate
from .receiver import statuses


async def _cli(clean_state, *args: str):
    """``paygate ARGS`` as a subprocess, off the event loop so in-process workers keep running."""
    return await asyncio.to_thread(run_paygate, *args, env=paygate_env(*clean_state))


async def _set_url(client, headers, url: str, **extra) -> None:
    resp = await client.patch("/api/v1/merchant", json={"webhook_url": url, **extra}, headers=headers)
    assert resp.status == 200, await resp.text()


async def _test_event(client, headers, wait_until: str | None = None) -> dict:
    resp = await client.post("/api/v1/webhooks/test", headers=headers)
    assert resp.status == 201, await resp.text()
    delivery = (await resp.json())["delivery"]
    return await _wait_delivery(client, headers, delivery["id"], wait_until) if wait_until else delivery


async def _wait_delivery(client, headers, delivery_id: str, status: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while (delivery := await get(client, headers, f"/api/v1/webhooks/{delivery_id}"))["status"] != status:
        assert time.monotonic() < deadline, f"{delivery_id} is {delivery['status']}, not {status}"
        await asyncio.sleep(0.1)
    return delivery


# The scheduler pass is slow on purpose: WorkerRole.close() can hang when it cancels the scheduler in the
# middle of a pass (see the report on worker.py), and nothing here needs it: NOTIFY and the CLI enqueue.
QUIET_SCHEDULER = 5.0


@pytest.fixture
async def endpoint_client(aiohttp_client, make_app, merchant, receiver):
    """The API with its workers, giving up after one attempt; the merchant's endpoint is the receiver (500)."""
    client = await aiohttp_client(make_app(
        workers=True, webhooks__allow_private_targets=True, webhooks__retry_schedule=[0.2],
        webhooks__max_attempts=1, scheduler__interval=QUIET_SCHEDULER))
    receiver.answer = statuses(500)
    await _set_url(client, merchant["headers"], receiver.url)
    return client


# -- webhooks list ------------------------------------------------------------------------------------------

async def test_list_shows_every_merchants_deliveries_newest_first_filtered_and_as_a_table(
        endpoint_client, merchant, other_merchant, receiver, clean_state):
    failed = await _test_event(endpoint_client, merchant["headers"], "failed")
    await _set_url(endpoint_client, other_merchant["headers"], receiver.url)
    other_failed = await _test_event(endpoint_client, other_merchant["headers"], "failed")
    # A disabled endpoint keeps its delivery pending.
    await _set_url(endpoint_client, merchant["headers"], receiver.url, webhook_enabled=False)
    pending = await _test_event(endpoint_client, merchant["headers"])

    async def listed(*args: str) -> list[dict]:
        result = await _cli(clean_state, "webhooks", "list", "--json", *args)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)["data"]

    everything = await listed()
    assert [d["id"] for d in everything] == [pending["id"], other_failed["id"], failed["id"]]
    assert [d["merchant_id"] for d in everything] == [merchant["merchant_id"], other_merchant["merchant_id"],
                                                      merchant["merchant_id"]]
    assert everything[2]["response_code"] == 500 and everything[2]["payload"]["event"] == "webhook.test"
    assert [d["id"] for d in await listed("--status", "failed")] == [other_failed["id"], failed["id"]]
    assert [d["id"] for d in await listed("--status", "pending")] == [pending["id"]]
    assert [d["id"] for d in await listed("--limit", "1")] == [pending["id"]]
    assert await listed("--status", "success") == []

    table = await _cli(clean_state, "webhooks", "list")
    assert table.returncode == 0, table.stderr
    for delivery_id in (pending["id"], other_failed["id"], failed["id"], other_merchant["merchant_id"]):
        assert delivery_id in table.stdout


# -- webhooks retry -----------------------------------------------------------------------------------------

async def test_retry_by_id_makes_a_failed_delivery_deliver_and_reports_unknown_ids(
        endpoint_client, merchant, receiver, clean_state):
    headers = merchant["headers"]
    receiver.answer = statuses(500, 200)
    failed = await _test_event(endpoint_client, headers, "failed")

    result = await _cli(clean_state, "webhooks", "retry", failed["id"], "whd_nope")

    assert result.returncode == 0, result.stderr
    assert f"re-queued 1 delivery: {failed['id']}" in result.stdout
    assert "no webhook delivery whd_nope" in result.stdout
    done = await _wait_delivery(endpoint_client, headers, failed["id"], "success")
    assert [(a["trigger"], a["status_code"]) for a in done["attempt_history"]] == [("initial", 500), ("manual", 200)]
    assert len(receiver.requests) == 2 and receiver.requests[0].body == receiver.requests[1].body

    as_json = await _cli(clean_state, "webhooks", "retry", failed["id"], "whd_nope", "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == {"requeued": [failed["id"]], "unknown": ["whd_nope"]}
    nothing = await _cli(clean_state, "webhooks", "retry", "whd_nope", "--json")
    assert nothing.returncode == 1 and json.loads(nothing.stdout) == {"requeued": [], "unknown": ["whd_nope"]}


async def test_retry_failed_since_requeues_only_recent_failures_and_without_since_all(
        endpoint_client, merchant, receiver, clean_state, pool):
    headers = merchant["headers"]
    old, recent = [await _test_event(endpoint_client, headers, "failed") for _ in range(2)]
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("UPDATE webhook_logs SET created_at = now() - interval '2 hours' WHERE id = %s",
                          (old["id"],))
    receiver.answer = statuses(200)

    result = await _cli(clean_state, "webhooks", "retry", "--failed", "--since", "1h")
    assert result.returncode == 0, result.stderr
    assert "re-queued 1 failed delivery" in result.stdout
    await _wait_delivery(endpoint_client, headers, recent["id"], "success")
    assert (await get(endpoint_client, headers, f"/api/v1/webhooks/{old['id']}"))["status"] == "failed"

    result = await _cli(clean_state, "webhooks", "retry", "--failed", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"requeued": 1}
    await _wait_delivery(endpoint_client, headers, old["id"], "success")


USAGE_ERRORS = [
    # what the message names, then the arguments after `paygate webhooks`
    ("--since", "retry", "--failed", "--since", "nonsense"),
    ("--since", "retry", "--failed", "--since", "2x"),
    ("give delivery ids, or --failed", "retry"),
    ("give delivery ids, or --failed", "retry", "whd_1", "--failed"),
    ("--since goes with --failed", "retry", "whd_1", "--since", "1h"),
    ("--secret", "listen", "--secret", "secret_test_xyz789"),
    ("--forward-to", "listen", "--forward-to", "localhost:3000"),
    ("--fail-rate", "listen", "--fail-rate", "2"),
]


@pytest.mark.parametrize("named, args", [(c[0], c[1:]) for c in USAGE_ERRORS],
                         ids=[" ".join(c[1:]) for c in USAGE_ERRORS])
def test_usage_errors_exit_2_naming_the_problem(args, named):
    result = CliRunner().invoke(main, ["webhooks", *args])
    assert result.exit_code == 2
    assert named in result.output


# -- webhooks listen ----------------------------------------------------------------------------------------

BODY = json.dumps({"id": "evt_1", "event": "payment.success", "timestamp": 1,
                   "data": {"payment": {"id": "pay_1", "status": "success"}}}).encode()


SECRET, OTHER = crypto.new_webhook_secret(), crypto.new_webhook_secret()


def _signed(*secrets: str) -> dict[str, str]:
    """Headers signed now: signed when the module loads, they went stale (past the listener's tolerance) in a
    suite that took longer than that to reach them."""
    return signing.headers(BODY, "evt_1", int(time.time()), list(secrets))


def _good() -> dict[str, str]:
    return _signed(SECRET)


def _bad() -> dict[str, str]:
    return _signed(OTHER)


VERDICTS = [
    # case, the listener's --secret, headers (made when the test runs), body, answer,
    # (X-Webhook-Signature, webhook-signature)
    ("signed", SECRET, _good, BODY, 200, ("valid", "valid")),
    ("rotation: new and previous", OTHER, lambda: _signed(SECRET, OTHER), BODY, 200, ("valid", "valid")),
    ("unsigned", SECRET, dict, BODY, 200, ("absent", "absent")),
    ("no --secret", None, _bad, BODY, 200, ("unchecked", "unchecked")),
    ("another secret", SECRET, _bad, BODY, 400, ("invalid", "invalid")),
    ("body changed", SECRET, _good, BODY.replace(b'"success"', b'"failed"'), 400, ("invalid", "invalid")),
    ("X-Webhook-Signature wrong", SECRET, lambda: {**_good(), "X-Webhook-Signature": _bad()["X-Webhook-Signature"]},
     BODY, 400, ("invalid", "valid")),
    ("webhook-signature wrong", SECRET, lambda: {**_good(), "webhook-signature": _bad()["webhook-signature"]}, BODY,
     400, ("valid", "invalid")),
    ("webhook-id changed", SECRET, lambda: {**_good(), "webhook-id": "evt_2"}, BODY, 400, ("valid", "invalid")),
]


async def _listener(aiohttp_client, secret=None, fail_rate=0.0, forward_to=None):
    printed: list[Arrival] = []
    client = await aiohttp_client(create_listener_app(secret, fail_rate, forward_to, printed.append))
    return client, printed


@pytest.mark.parametrize("secret, headers, body, status, verdicts", [c[1:] for c in VERDICTS],
                         ids=[c[0] for c in VERDICTS])
async def test_listen_verifies_both_signatures_and_answers_400_only_when_one_is_wrong(
        aiohttp_client, secret, headers, body, status, verdicts):
    client, printed = await _listener(aiohttp_client, secret)
    resp = await client.post("/any/path", data=body, headers=headers())
    assert resp.status == status
    (arrival,) = printed
    assert (arrival.seed_signature, arrival.standard_signature, arrival.status) == (*verdicts, status)
    assert (arrival.event, arrival.object_id, arrival.path) == ("payment.success", "pay_1", "/any/path")


async def test_listen_fails_on_purpose_at_fail_rate_one(aiohttp_client):
    client, printed = await _listener(aiohttp_client, fail_rate=1.0)
    for _ in range(3):
        assert (await client.post("/", data=BODY)).status == 500
    assert [a.status for a in printed] == [500, 500, 500]


async def test_listen_forwards_the_same_body_and_signature_headers(aiohttp_client, receiver):
    client, printed = await _listener(aiohttp_client, SECRET, forward_to=receiver.url)
    good = _good()
    resp = await client.post("/", data=BODY, headers=good)
    assert resp.status == 200
    (forwarded,) = receiver.requests
    assert forwarded.body == BODY
    for name in ("X-Webhook-Signature", "webhook-id", "webhook-timestamp", "webhook-signature", "User-Agent"):
        assert forwarded.headers[name] == good[name]
    assert printed[0].forwarded == "200"


async def test_listen_command_serves_until_sigint_and_exits_0(paygate_process):
    port = free_port()
    process = paygate_process("webhooks", "listen", "--port", str(port), env=dict(os.environ), port=port)
    deadline = time.monotonic() + 20
    async with aiohttp.ClientSession() as session:
        while True:
            assert process.proc.poll() is None, process.output()
            try:
                async with session.post(f"http://127.0.0.1:{port}/hook", data=BODY) as resp:
                    assert resp.status == 200
                    break
            except aiohttp.ClientConnectionError:
                assert time.monotonic() < deadline, process.output()
                await asyncio.sleep(0.1)
    process.signal(signal.SIGINT)
    assert process.wait(20) == 0
    output = process.output()
    assert f"listening on http://127.0.0.1:{port}/" in output
    assert "payment.success" in output and "pay_1" in output
    assert '"event": "payment.success"' in output, "the payload is printed under its line"


def test_trigger_offers_the_events_trigger_fires():
    from paygate.commands import endpoints, trigger, webhooks
    from paygate.storage import seed

    assert webhooks.TRIGGER_EVENTS == trigger.EVENTS
    assert endpoints.TEST_API_KEY == seed.TEST_MERCHANT["api_key"]


# -- trigger ------------------------------------------------------------------------------------------------

TRIGGERS = [
    # event, the payment's final status, the object whose event it is
    ("payment.success", "success", "payment"),
    ("payment.failed", "failed", "payment"),
    ("refund.processed", "success", "refund"),
]


@pytest.mark.parametrize("event, payment_status, subject", TRIGGERS, ids=[t[0] for t in TRIGGERS])
async def test_trigger_creates_processed_objects_that_fire_the_event(
        client, merchant, clean_state, event, payment_status, subject):
    result = await _cli(clean_state, "trigger", event, "--json")
    assert result.returncode == 0, result.stderr
    fired = json.loads(result.stdout)

    headers = merchant["headers"]
    payment = await get(client, headers, f"/api/v1/payments/{fired['payment']['id']}")
    assert payment["status"] == payment_status and payment["merchant_id"] == merchant["merchant_id"]
    assert payment["order_id"] == fired["order"]["id"]
    assert fired["order"]["status"] == ("paid" if payment_status == "success" else "attempted")
    events = (await get(client, headers, f"/api/v1/events?type={event}"))["data"]
    assert [(e["id"], e["object_id"]) for e in events] == [(fired["event_id"], fired[subject]["id"])]
    assert fired["delivery_id"] is None  # the seeded merchant has no webhook URL
    if subject == "refund":
        refund = await get(client, headers, f"/api/v1/refunds/{fired['refund']['id']}")
        assert (refund["status"], refund["amount"]) == ("processed", payment["amount"])
        assert payment["refund_status"] == "full"


async def test_triggered_event_reaches_the_merchants_endpoint_through_the_workers(
        endpoint_client, receiver, clean_state):
    receiver.answer = statuses(200)
    result = await _cli(clean_state, "trigger", "payment.success")
    assert result.returncode == 0, result.stderr
    assert "payment.success fired" in result.stdout and "queued" in result.stdout

    arrived = {json.loads(r.body)["event"]: json.loads(r.body) for r in await receiver.wait_for(3, timeout=20)}
    assert sorted(arrived) == ["payment.captured", "payment.created", "payment.success"]
    assert arrived["payment.success"]["data"]["payment"]["id"] in result.stdout


REDIS_DOWN = {"PAYGATE_REDIS__URL": f"redis://127.0.0.1:{free_port()}/0"}
ONE_LINE_ERRORS = [
    ("unknown merchant", ["trigger", "payment.success", "--merchant", "key_test_nope"], {},
     "Error: no merchant with API key key_test_nope"),
    ("unknown delivery", ["webhooks", "retry", "whd_nope", "whd_gone"], {},
     "Error: no webhook delivery whd_nope, whd_gone"),
    ("redis down: trigger", ["trigger", "payment.success"], REDIS_DOWN, "Error: cannot reach Redis at redis://127.0.0.1:"),
    ("redis down: retry", ["webhooks", "retry", "--failed"], REDIS_DOWN, "Error: cannot reach Redis at redis://127.0.0.1:"),
]


@pytest.mark.parametrize("args, env, line", [c[1:] for c in ONE_LINE_ERRORS], ids=[c[0] for c in ONE_LINE_ERRORS])
async def test_operator_errors_are_one_line_and_exit_1(merchant, clean_state, args, env, line):
    result = await asyncio.to_thread(run_paygate, *args, env=paygate_env(*clean_state, **env))
    assert result.returncode == 1
    (only,) = result.stderr.strip().splitlines()
    assert only.startswith(line)

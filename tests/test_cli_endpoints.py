"""`paygate webhooks endpoints ...` and `paygate webhooks listen --events`, against real services."""

from __future__ import annotations

import asyncio
import json
import signal

from .api import create_order, eventually, get, pay, wait_final
from .conftest import free_port, paygate_env, run_paygate

LOOPBACK = {"PAYGATE_WEBHOOKS__ALLOW_PRIVATE_TARGETS": "true"}


async def _cli(clean_state, *args: str):
    return await asyncio.to_thread(run_paygate, *args, env=paygate_env(*clean_state, **LOOPBACK))


async def _json(clean_state, *args: str) -> dict:
    result = await _cli(clean_state, "webhooks", "endpoints", *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


async def test_endpoints_are_created_listed_disabled_enabled_and_deleted_from_the_command_line(
        clean_state, client, merchant, receiver):
    created = await _json(clean_state, "create", receiver.url, "--events", "payment.success, refund.processed",
                          "--description", "ops")
    assert created["secret"].startswith("whsec_") and created["enabled_events"] == ["payment.success",
                                                                                   "refund.processed"]
    shown = await get(client, merchant["headers"], f"/api/v1/webhook_endpoints/{created['id']}")
    assert shown["url"] == receiver.url and shown["description"] == "ops"

    listed = await _json(clean_state, "list")
    assert [(e["id"], e["secret"]) for e in listed["data"]] == [(created["id"], "whsec_…" + created["secret"][-4:])]
    assert (await _json(clean_state, "disable", created["id"]))["status"] == "disabled"
    assert (await _json(clean_state, "enable", created["id"]))["status"] == "enabled"
    table = await _cli(clean_state, "webhooks", "endpoints", "list")
    assert created["id"] in table.stdout and "payment.success" in table.stdout
    assert await _json(clean_state, "delete", created["id"]) == {"id": created["id"], "entity": "webhook_endpoint",
                                                                 "deleted": True}
    assert (await _json(clean_state, "list"))["data"] == []


async def test_the_endpoint_commands_refuse_in_one_line(clean_state, merchant, receiver):
    bad_event = await _cli(clean_state, "webhooks", "endpoints", "create", receiver.url, "--events", "payment.nope")
    assert bad_event.returncode == 1 and "enabled_events[0]" in bad_event.stderr, bad_event.stderr
    assert "Traceback" not in bad_event.stderr
    nobody = await _cli(clean_state, "webhooks", "endpoints", "list", "--merchant", "key_nobody")
    assert nobody.returncode == 1 and "no merchant with API key key_nobody" in nobody.stderr
    unknown = await _cli(clean_state, "webhooks", "endpoints", "disable", "we_0000000000000000")
    assert unknown.returncode == 1 and "no webhook endpoint" in unknown.stderr


async def test_listen_with_events_registers_a_temporary_endpoint_and_verifies_its_deliveries(
        clean_state, hooks_client, merchant, paygate_process):
    headers = merchant["headers"]
    port = free_port()
    listener = paygate_process("webhooks", "listen", "--port", str(port), "--events", "payment.success",
                               "--no-payload", env=paygate_env(*clean_state, **LOOPBACK), port=port)
    registered = (await eventually(lambda: get(hooks_client, headers, "/api/v1/webhook_endpoints"),
                                   lambda page: page["data"], timeout=30))["data"][0]
    assert registered["url"] == f"http://127.0.0.1:{port}/" and registered["enabled_events"] == ["payment.success"]

    order = await create_order(hooks_client, headers)
    payment = await wait_final(hooks_client, headers, (await pay(hooks_client, headers, order["id"]))["id"])
    await eventually(lambda: asyncio.sleep(0, listener.output()), lambda out: payment["id"] in out)
    listener.signal(signal.SIGINT)
    assert await asyncio.to_thread(listener.wait, 20) == 0
    output = listener.output()
    assert f"as webhook endpoint {registered['id']}" in output
    line = next(x for x in output.splitlines() if payment["id"] in x)
    assert "payment.success" in line and "webhook-signature valid" in line and "→ 200" in line, line
    assert "payment.created" not in output  # only the events asked for
    assert (await get(hooks_client, headers, "/api/v1/webhook_endpoints"))["data"] == []  # deleted on exit

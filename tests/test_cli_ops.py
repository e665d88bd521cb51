"""Operator commands: `paygate status` and `paygate merchants create|list|rotate-secret|set-rate-limit`, against real
services."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from paygate.cli import main

from .api import create_order, pay, wait_final
from .conftest import REPO, paygate_env, run_paygate


def _invoke(env: dict[str, str], *args: str):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


async def _cli(env: dict[str, str], *args: str):
    """In-process, off the event loop (the command runs its own), so that the app's workers keep running."""
    return await asyncio.to_thread(_invoke, env, *args)


def _status(env: dict[str, str]) -> dict:
    result = _invoke(env, "status", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


# -- status ---------------------------------------------------------------------------------------------------

async def test_status_counts_queues_workers_and_recent_failures(worker_client, merchant, clean_state):
    headers = merchant["headers"]
    order = await create_order(worker_client, headers)
    failed = await wait_final(worker_client, headers, (await pay(worker_client, headers, order["id"],
                                                                 vpa="failure@paygate"))["id"])
    assert failed["status"] == "failed"
    env = paygate_env(*clean_state)

    result = await _cli(env, "status", "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report["queues"]) == {"payments", "refunds", "webhooks"}
    assert set(report["queues"]["payments"]) == {"waiting", "active"}
    assert set(report["streams"]["payments"]) == {"length", "pending", "consumers", "oldest_pending_age_s"}
    assert [(w["queues"], w["host"]) for w in report["workers"]] == [(["payments", "refunds", "webhooks"],
                                                                      report["workers"][0]["host"])]
    assert isinstance(report["workers"][0]["pid"], int)
    assert report["failures_last_hour"] == {"payments": 1, "refunds": 0, "deliveries": 0}
    assert report["deliveries"] == {"due": 0, "failed": 0, "oldest_due_age_s": 0.0}
    assert report["scheduler"]["last_pass_age_s"] is not None

    text = await _cli(env, "status")
    assert text.exit_code == 0, text.output
    for heading in ("queues", "workers connected (1)", "payments failed in the last hour"):
        assert heading in text.output


@pytest.mark.slow
def test_status_reports_a_stopped_worker_as_gone_within_30_s(clean_state, paygate_process):
    env = paygate_env(*clean_state)
    worker = paygate_process("worker", env=env)
    deadline = time.monotonic() + 60
    while not [w for w in _status(env)["workers"] if w["pid"] == worker.proc.pid]:
        assert worker.proc.poll() is None, worker.output()
        assert time.monotonic() < deadline, "the worker never showed up in paygate status"
        time.sleep(0.5)

    stopped_at = time.monotonic()
    worker.signal(signal.SIGTERM)
    while [w for w in _status(env)["workers"] if w["pid"] == worker.proc.pid]:
        assert time.monotonic() - stopped_at < 30, "a stopped worker is still listed after 30 s"
        time.sleep(0.5)
    assert worker.wait(timeout=30) == 0


@pytest.mark.slow
def test_status_watch_refreshes_until_ctrl_c(clean_state):
    proc = subprocess.Popen([sys.executable, "-m", "paygate", "status", "--watch", "--json"],
                            env=paygate_env(*clean_state), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        first = proc.stdout.readline()  # blocks until the first refresh
        second = proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        rest, errors = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, errors
    reports = [json.loads(line) for line in (first, second)]
    assert all("queues" in r for r in reports)
    assert reports[0]["at"] <= reports[1]["at"]


# -- merchants -------------------------------------------------------------------------------------------------

async def test_merchants_create_list_and_rotate_secret(client, clean_state):
    env = paygate_env(*clean_state)
    result = await _cli(env, "merchants", "create", "--name", "Corner Shop", "--email", "corner@example.com",
                        "--json")
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    old = {"X-Api-Key": created["api_key"], "X-Api-Secret": created["api_secret"]}
    resp = await client.get("/api/v1/merchant", headers=old)
    assert resp.status == 200 and (await resp.json())["id"] == created["merchant_id"]

    again = await _cli(env, "merchants", "create", "--name", "Twin", "--email", "corner@example.com")
    assert again.exit_code == 1 and "exists" in again.output

    for args in (("merchants", "list", "--json"), ("merchants", "list")):
        listed = await _cli(env, *args)
        assert listed.exit_code == 0, listed.output
        assert created["merchant_id"] in listed.output and created["api_key"] in listed.output
        for secret in (created["api_secret"], created["webhook_secret"], "secret_hash", "_enc"):
            assert secret not in listed.output
    rows = json.loads((await _cli(env, "merchants", "list", "--json")).output)["data"]
    assert [r["email"] for r in rows] == ["corner@example.com"]
    # A terminal 80 columns wide (FORCE_COLOR makes rich take the pipe for one), and a pipe.
    for extra in ({"COLUMNS": "80", "FORCE_COLOR": "1"}, {"COLUMNS": "80"}):
        narrow = run_paygate("merchants", "list", env={**env, **extra})
        assert narrow.returncode == 0, narrow.stderr
        shown = re.sub(r"\x1b\[[0-9;]*m", "", narrow.stdout)
        for value in (created["merchant_id"], created["api_key"], "corner@example.com", "Corner Shop"):
            assert value in shown, f"nothing is cut short: {shown}"
        assert "…" not in shown

    rotated = await _cli(env, "merchants", "rotate-secret", created["merchant_id"], "--json")
    assert rotated.exit_code == 0, rotated.output
    new_secret = json.loads(rotated.output)["api_secret"]
    assert new_secret != created["api_secret"]
    assert (await client.get("/api/v1/merchant", headers=old)).status == 401
    new = {**old, "X-Api-Secret": new_secret}
    assert (await client.get("/api/v1/merchant", headers=new)).status == 200

    unknown = await _cli(env, "merchants", "rotate-secret", "mer_doesnotexist0000")
    assert unknown.exit_code == 1 and "no merchant" in unknown.output


async def test_merchants_set_rate_limit_sets_and_drops_a_merchants_own_limit(merchant, clean_state):
    env = paygate_env(*clean_state, PAYGATE_API__RATE_LIMIT="50", PAYGATE_API__RATE_LIMIT_BURST="80")
    merchant_id = merchant["merchant_id"]

    result = await _cli(env, "merchants", "set-rate-limit", merchant_id, "--burst", "5", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"merchant_id": merchant_id, "rate_limit": None, "rate_limit_burst": 5,
                                         "effective": {"rate": 50, "burst": 5}}
    [row] = json.loads((await _cli(env, "merchants", "list", "--json")).output)["data"]
    assert (row["rate_limit"], row["rate_limit_burst"]) == (None, 5)

    shown = await _cli(env, "merchants", "set-rate-limit", merchant_id, "--rate", "0")
    assert shown.exit_code == 0 and "no limit (its own)" in " ".join(shown.output.split())
    shown = await _cli(env, "merchants", "set-rate-limit", merchant_id, "--default")
    said = " ".join(shown.output.split())
    assert shown.exit_code == 0 and "50 requests per second, 80 at once (the default)" in said
    [row] = json.loads((await _cli(env, "merchants", "list", "--json")).output)["data"]
    assert (row["rate_limit"], row["rate_limit_burst"]) == (None, None)

    for args in ((), ("--default", "--rate", "3"), ("--rate", "-1"), ("--burst", "0")):
        refused = await _cli(env, "merchants", "set-rate-limit", merchant_id, *args)
        assert refused.exit_code == 2, (args, refused.output)
    unknown = await _cli(env, "merchants", "set-rate-limit", "mer_doesnotexist0000", "--rate", "5")
    assert unknown.exit_code == 1 and "no merchant" in unknown.output


async def test_merchants_create_refuses_a_webhook_url_the_guard_refuses(clean_state):
    result = await _cli(paygate_env(*clean_state), "merchants", "create", "--name", "Sneaky", "--email",
                        "sneaky@example.com", "--webhook-url", "http://127.0.0.1:9/hook")
    assert result.exit_code == 1 and "--webhook-url" in result.output
    listed = json.loads((await _cli(paygate_env(*clean_state), "merchants", "list", "--json")).output)
    assert listed["data"] == []


async def test_a_worker_that_fell_silent_is_not_listed(config, monkeypatch):
    """A worker whose host vanished stays in the stream's consumer group; its heartbeat, not membership, decides."""
    import redis.asyncio

    from paygate.core.operations import status as status_ops
    from paygate.core.services import open_services
    from paygate.infra import queue

    monkeypatch.setattr(queue, "WORKER_SILENT_AFTER", 2)  # 30 s in production
    ghost = redis.asyncio.Redis.from_url(config.redis.url)
    try:
        await ghost.xgroup_create(queue.stream(queue.PAYMENTS), queue.GROUP, id="0", mkstream=True)
        await ghost.execute_command("XGROUP", "CREATECONSUMER", queue.stream(queue.PAYMENTS), queue.GROUP,
                                    "vanished-host-4242")
        await ghost.zadd(queue.heartbeats(queue.PAYMENTS), {"vanished-host-4242": time.time()})  # its last
        async with open_services(config, pool=None) as services:
            seen = status_ops._workers(await status_ops._streams(services))
            assert seen["payments"] == ["vanished-host-4242"]
            await asyncio.sleep(3)
            assert status_ops._workers(await status_ops._streams(services))["payments"] == []
    finally:
        await ghost.aclose()

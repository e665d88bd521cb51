"""paygate serve --processes N: N children share the port, /metrics adds them up, and they stop together."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time

import aiohttp
import pytest

from .conftest import paygate_env
from .metrics_text import Scrape

pytestmark = pytest.mark.slow


def _started(output: str) -> dict:
    for line in output.splitlines():
        if line.startswith("{") and json.loads(line)["logger"] == "paygate.serve":
            return json.loads(line)
    raise AssertionError(f"no start-up line from the serving parent:\n{output}")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


async def test_two_processes_answer_and_metrics_add_up_across_both(clean_state, paygate_process):
    server = paygate_process("serve", "--processes", "2", env=paygate_env(*clean_state, PAYGATE_LOGGING__FORMAT="json"))
    await server.ready(timeout=60)
    started = _started(server.output())
    pids, metrics_dir = started["pids"], started["metrics_dir"]
    assert len(pids) == 2 and all(_alive(p) for p in pids) and os.path.isdir(metrics_dir)

    # SO_REUSEPORT spreads connections, not requests: every request gets a connection of its own.
    n = 120
    async with aiohttp.ClientSession(server.base_url, connector=aiohttp.TCPConnector(force_close=True)) as http:
        for _ in range(n):
            async with http.get("/healthz") as resp:
                assert resp.status == 200
        # Both children run workers: two distinct worker processes on each queue.
        deadline = time.monotonic() + 20
        while True:
            async with http.get("/metrics") as resp:
                scrape = Scrape(await resp.text())
            if scrape.value("paygate_queue_workers", queue="payments") == 2 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        assert scrape.value("paygate_queue_workers", queue="payments") == 2
        # Whichever child answers, it reports every child's requests (each scrape is one more connection,
        # so the kernel picks a child afresh), and the scrape-time gauges once, not once per process.
        for _ in range(8):
            async with http.get("/metrics") as resp:
                scrape = Scrape(await resp.text())
            assert scrape.value("paygate_http_requests_total", route="/healthz", method="GET", status="200") == n
            assert len(scrape.samples("paygate_webhook_oldest_due_age_seconds")) == 1
    # Each child wrote its own counters (so both served some of the requests), into the parent's directory.
    assert {f"counter_{pid}.db" for pid in pids} <= set(os.listdir(metrics_dir))

    server.signal(signal.SIGTERM)
    assert server.wait(timeout=60) == 0
    assert not [p for p in pids if _alive(p)], "a serving child outlived the parent"
    assert not os.path.exists(metrics_dir), "the metrics directory was left behind"


async def test_when_a_child_dies_the_parent_stops_the_other_and_fails(clean_state, paygate_process):
    server = paygate_process("serve", "--processes", "2", env=paygate_env(*clean_state, PAYGATE_LOGGING__FORMAT="json"))
    await server.ready(timeout=60)
    pids = _started(server.output())["pids"]
    os.kill(pids[0], signal.SIGKILL)
    assert server.wait(timeout=60) == 1
    assert not [p for p in pids if _alive(p)]

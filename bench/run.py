"""paygate's benchmark: ``python -m bench.run [--quick] [--out bench/results.json] [--profile DIR]``.

One run starts its own embedded Postgres and Redis in a temporary directory, migrates and seeds them,
starts a real ``paygate serve`` subprocess, measures, and stops everything again (also on error, Ctrl-C
and SIGTERM), by PID. All traffic goes to 127.0.0.1. Figures:

1. ``POST /api/v1/payments`` at concurrency 64 (each payment has its own order, made beforehand through SQL)
2. ``GET /api/v1/payments/{id}`` at concurrency 64
3. end to end, payment created -> ``payment.success`` webhook received, open loop at 200 payments/s
4. webhook delivery throughput: N due deliveries (inserted through ``paygate.storage.events.record`` while
   their endpoint is disabled) drained from the moment it is enabled
5. the physical baseline: single-row INSERT + SELECT through aiopg (pool of 20) at concurrency 64
5f. the stack's floor: the same two statements behind one aiohttp POST route (``bench.floor``), served as
   paygate serves; without a target, it shows how much of the baseline any create-payment request can reach
6. ``paygate serve --processes N`` against N = 1, when the option exists
7. how quickly the ``paygate`` command answers: ``--help``, each subcommand's ``--help`` and ``status --json``,
   median wall and CPU time of new processes (``bench.cli``; runs first, while the machine is quiet)

They run in the order 5, 5f, 1, 2, 6, 3b (the end-to-end path at 10 payments/s: a reference without target, full
run only), 4, 3, so that no phase queues behind another's backlog: after phase 1 the bench waits (bounded) for
the worker to catch up, what phase 6 left unprocessed is cancelled (its jobs dropped, its payments marked failed
through SQL), and what phase 4 left unsent is marked failed through SQL before phase 3. Every loop and wait is
bounded; the whole run keeps to a time budget (4 min 12 s, so that ``make bench`` from a fresh
clone, installing included, ends within 5; about a minute with --quick) and skips what would not fit.

The machine is shared and noisy, so throughput is also reported as a ratio to the baseline of the same run,
with the CPU each process used per operation (steadier than rates), Postgres transactions and Redis commands per
operation, and how much CPU everything else on the machine took meanwhile. ``--profile DIR`` samples the server
with py-spy during each phase and prints where its event loop spent the time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import aiopg
import redis.asyncio
from rich.console import Console
from rich.table import Table

import paygate
from paygate import config as config_mod
from paygate import crypto, migrations
from paygate.db import create_pool, transaction
from paygate.queue import PAYMENTS, Dispatcher
from paygate.seed import TEST_MERCHANT, seed_test_merchant
from paygate.storage import events

from . import cli as cli_bench
from .load import LoopLag, closed_loop, ms, percentile
from .profile import Recording, print_summary, py_spy
from .receiver import Receiver
from .system import CpuMeter, Server, supports_processes

console = Console()

CONCURRENCY = 64
BASELINE_POOL = 20  # paygate's default database.max_size
E2E_RATE = 200  # payments per second, open loop
REFERENCE_RATE = 10  # payments per second: the same end-to-end path nearly unloaded (full run only, no target)
ORDER_RATE_CAP = 2500  # orders made per second of a closed-loop window: more than one server can take here

HEADERS = {"X-Api-Key": TEST_MERCHANT["api_key"], "X-Api-Secret": TEST_MERCHANT["api_secret"],
           "Content-Type": "application/json"}
CARD = '{"number": "4111111111111111", "expiry_month": 12, "expiry_year": 2035, "cvv": "123", "name": "Bench"}'

TARGETS = {
    "create_vs_baseline": 0.5,
    "create_p99_ms": 50.0,
    "e2e_p50_ms": 100.0,
    "e2e_p99_ms": 500.0,
    "deliveries_per_s": 1500.0,
}


@dataclass(frozen=True)
class Plan:
    duration: float  # closed-loop windows (1, 2, 5, 6)
    floor_duration: float  # the closed-loop window of 5f
    warmup: float
    e2e_duration: float
    deliveries: int
    drain_timeout: float  # waiting for the worker to catch up between phases
    e2e_grace: float  # waiting for the last webhooks after the open loop ends
    reference_duration: float  # the end-to-end path at REFERENCE_RATE (0: not measured)
    delivery_timeout: float
    budget: float  # seconds for the whole run; waits are cut and phases skipped to stay within it
    cli_subcommand_runs: int  # runs of each subcommand's --help (paygate --help and status --json: cli.RUNS)


FULL = Plan(duration=30, floor_duration=10, warmup=2, e2e_duration=20, deliveries=10_000, drain_timeout=30,
            e2e_grace=15, reference_duration=6, delivery_timeout=60, budget=252,
            cli_subcommand_runs=3)
QUICK = Plan(duration=5, floor_duration=3, warmup=0.5, e2e_duration=5, deliveries=1_000, drain_timeout=2,
             e2e_grace=4, reference_duration=0, delivery_timeout=10, budget=50,
             cli_subcommand_runs=1)


def payment_body(order_id: str) -> bytes:
    return f'{{"order_id": "{order_id}", "method": "card", "card": {CARD}}}'.encode()


class Bench:
    """State shared by the phases; ``servers`` is what ``main`` stops whatever happens."""

    def __init__(self, plan: Plan, data_dir: Path, profile_dir: Path | None):
        self.plan = plan
        self.data_dir = data_dir
        self.profile_dir = profile_dir
        self.started = time.monotonic()
        self.servers: list[Server] = []
        self.results: dict = {"figures": {}, "phases": {}, "notes": []}
        self.master_key = crypto.new_master_key()
        self.embedded = None
        self.counters: Counters | None = None
        self.database_url = self.redis_url = ""

    # -- helpers ------------------------------------------------------------------------------------------

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def mark(self, name: str) -> None:
        """When each phase started, seconds into the run."""
        self.results.setdefault("timeline_s", {})[name] = round(self.elapsed(), 1)

    def clip(self, seconds: float, reserve: float = 0.0) -> float:
        """``seconds``, cut so that ``reserve`` seconds of the budget stay for what follows (at least 1 s)."""
        return max(1.0, min(seconds, self.plan.budget - self.elapsed() - reserve))

    def fits(self, name: str, seconds: float) -> bool:
        if self.elapsed() + seconds <= self.plan.budget:
            return True
        note = f"{name}: skipped, it would not fit in the {self.plan.budget:g} s budget ({self.elapsed():.0f} s used)"
        console.print(f"[yellow]{note}")
        self.results["notes"].append(note)
        return False

    def server_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAYGATE_")}
        env.update({
            "PAYGATE_DATABASE__URL": self.database_url,
            "PAYGATE_REDIS__URL": self.redis_url,
            "PAYGATE_SECURITY__MASTER_KEY": self.master_key,
            "PAYGATE_PROCESSOR__DELAY_MIN": "0",
            "PAYGATE_PROCESSOR__DELAY_MAX": "0",
            "PAYGATE_WEBHOOKS__ALLOW_PRIVATE_TARGETS": "true",
            "PAYGATE_LOGGING__LEVEL": "warning",
        })
        return env

    async def start_server(self, processes: int | None = None, module: tuple[str, ...] = ("paygate", "serve")
                           ) -> Server:
        log = self.data_dir / f"{module[-1]}-{len(self.servers)}.log"
        server = Server(self.server_env(), log, processes, module)
        self.servers.append(server)
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if not server.running():
                    raise RuntimeError(f"{' '.join(module)} exited with {server.proc.returncode}:\n{server.tail()}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(f"{server.base_url}/readyz",
                                           timeout=aiohttp.ClientTimeout(total=3)) as resp:
                        if resp.status == 200:
                            return server
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{' '.join(module)} was not ready within 60 s:\n{server.tail()}")

    def stop_servers(self) -> None:
        # Its graceful shutdown is not measured: an overloaded server gets a few seconds, then SIGKILL.
        while self.servers:
            self.stop_server(self.servers[-1])

    def stop_server(self, server: Server) -> None:
        self.servers.remove(server)
        server.stop(timeout=6)

    def meter(self, server: Server | None) -> CpuMeter:
        return CpuMeter({
            "paygate": (server.pid if server else None, True),
            "postgres": (self.embedded.postgres.pid(), True),
            "redis": (self.embedded.redis.pid(), True),
            "bench": (os.getpid(), False),
        }).start()

    def profile(self, server: Server, name: str, seconds: float) -> Recording | None:
        if self.profile_dir is None:
            return None
        return Recording(server.pid, seconds, self.profile_dir / f"{name}.txt")

    def finish_profile(self, recording: Recording | None, phase: dict) -> None:
        if recording is not None:
            summary = recording.finish()
            if summary:
                phase["profile"] = summary
                print_summary(summary, console)


class Counters:
    """Postgres transactions and rows (pg_stat_database) and Redis commands (INFO commandstats), so that a
    phase can say what one operation costs. Postgres publishes its counters with up to a second's delay."""

    def __init__(self, pool: aiopg.Pool, redis_url: str):
        self.pool = pool
        self.redis = redis.asyncio.Redis.from_url(redis_url)

    async def snapshot(self) -> dict[str, float]:
        out: dict[str, float] = {}
        async with self.pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute("""SELECT xact_commit, tup_inserted, tup_updated, tup_fetched
                                 FROM pg_stat_database WHERE datname = current_database()""")
            row = await cur.fetchone()
        out.update(zip(("pg_commits", "pg_rows_inserted", "pg_rows_updated", "pg_rows_fetched"), row, strict=True))
        stats = await self.redis.info("commandstats")
        for name, value in stats.items():
            out["redis_" + name.removeprefix("cmdstat_")] = float(value["calls"])
        return out

    async def per_op(self, before: dict[str, float], ops: int) -> dict:
        if not ops:
            return {}
        await asyncio.sleep(1.0)  # Postgres backends flush their counters at most once a second
        after = await self.snapshot()
        delta = {k: v - before.get(k, 0.0) for k, v in after.items()}
        redis_total = sum(v for k, v in delta.items() if k.startswith("redis_"))
        out = {k: round(v / ops, 2) for k, v in delta.items() if k.startswith("pg_")}
        out["redis_commands"] = round(redis_total / ops, 2)
        top = sorted(((k, v) for k, v in delta.items() if k.startswith("redis_") and v / ops >= 0.05),
                     key=lambda kv: -kv[1])
        out["redis_by_command"] = {k.removeprefix("redis_"): round(v / ops, 2) for k, v in top}
        return out

    async def close(self) -> None:
        await self.redis.aclose()


async def count(pool: aiopg.Pool, sql: str, args: tuple = ()) -> int:
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(sql, args)
        (n,) = await cur.fetchone()
        return int(n)


async def make_orders(pool: aiopg.Pool, merchant_id: str, n: int) -> list[str]:
    """``n`` fresh orders of 500.00 INR, inserted in bulk (not part of any measurement)."""
    ids = [crypto.new_id("order") for _ in range(n)]
    for start in range(0, n, 20_000):
        async with transaction(pool) as cur:
            await cur.execute(
                """INSERT INTO orders (id, merchant_id, amount, currency)
                   SELECT unnest(%s::text[]), %s, 50000, 'INR'""",
                (ids[start:start + 20_000], merchant_id),
            )
    return ids


async def wait_until_zero(pool: aiopg.Pool, sql: str, timeout: float) -> tuple[int, float, int]:
    """Poll ``sql`` (a count) until it is 0 or ``timeout``; (count at start, seconds waited, count at end)."""
    start = time.perf_counter()
    first = n = await count(pool, sql)
    while n and time.perf_counter() - start < timeout:
        await asyncio.sleep(0.25)
        n = await count(pool, sql)
    return first, round(time.perf_counter() - start, 2), n


async def cancel_unfinished_payments(bench: Bench, pool: aiopg.Pool) -> int:
    """Drop the waiting payment jobs and mark their payments failed (skipping any a worker holds): phases after
    phase 6 must not queue behind a backlog that only phase 6 made."""
    dispatcher = Dispatcher(bench.redis_url)
    try:
        await dispatcher.queues[PAYMENTS].drain()
    finally:
        await dispatcher.close()
    async with transaction(pool) as cur:
        await cur.execute("""UPDATE payments SET status = 'failed', error_code = 'BENCH_CANCELLED',
                                    error_description = 'cancelled by bench', updated_at = now()
                             WHERE id IN (SELECT id FROM payments WHERE status = 'pending'
                                          ORDER BY id FOR UPDATE SKIP LOCKED)""")
        return cur.rowcount


async def cancel_pending_deliveries(pool: aiopg.Pool) -> int:
    """Mark what is still pending failed; rows are locked in id order, as a worker's record locks them, so the
    two cannot deadlock while the server is still sending."""
    async with transaction(pool) as cur:
        await cur.execute("""UPDATE webhook_logs SET status = 'failed', next_retry_at = NULL,
                                    response_body = 'cancelled by bench', updated_at = now()
                             WHERE id IN (SELECT id FROM webhook_logs WHERE status = 'pending'
                                          ORDER BY id FOR UPDATE)""")
        return cur.rowcount


UNFINISHED_PAYMENTS = "SELECT count(*) FROM payments WHERE status IN ('pending', 'processing')"
PENDING_DELIVERIES = "SELECT count(*) FROM webhook_logs WHERE status = 'pending'"


# -- phases ------------------------------------------------------------------------------------------------

async def phase_baseline(bench: Bench) -> dict:
    """5. Single-row INSERT + SELECT through aiopg, pool of 20, concurrency 64, on a scratch table."""
    plan = bench.plan
    pool = await aiopg.create_pool(bench.database_url, minsize=1, maxsize=BASELINE_POOL, timeout=60)
    try:
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute("DROP TABLE IF EXISTS bench_scratch")
            await cur.execute("""CREATE TABLE bench_scratch (
                id bigserial PRIMARY KEY, merchant_id text NOT NULL, amount bigint NOT NULL,
                payload jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())""")
        payload = json.dumps({"order_id": "order_" + "x" * 16, "method": "card", "last4": "1111"})

        async def op() -> int:
            async with pool.acquire() as conn, conn.cursor() as cur:
                await cur.execute(
                    "INSERT INTO bench_scratch (merchant_id, amount, payload) VALUES (%s, %s, %s) RETURNING id",
                    ("mer_bench", 50000, payload))
                (row_id,) = await cur.fetchone()
                await cur.execute("SELECT * FROM bench_scratch WHERE id = %s", (row_id,))
                await cur.fetchone()
            return 200

        meter = bench.meter(None)
        lag = LoopLag().start()
        result = await closed_loop(op, concurrency=CONCURRENCY, duration=plan.duration, warmup=plan.warmup)
        cpu = meter.stop()
        phase = {"what": "INSERT + SELECT one row, aiopg pool of 20, concurrency 64", **result.summary(),
                 "client_loop_lag": await lag.stop(), "cpu": cpu,
                 "cpu_ms_per_op": CpuMeter.per_op(cpu, result.total_requests)}
        phase["ops_per_s"] = phase.pop("requests_per_s")
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute("DROP TABLE bench_scratch")
        return phase
    finally:
        pool.close()
        await pool.wait_closed()


async def phase_floor(bench: Bench, session: aiohttp.ClientSession) -> dict:
    """5f. The baseline's INSERT + SELECT behind one aiohttp route (``bench.floor``), POSTed at concurrency 64:
    the most that paygate's HTTP server and database driver let a create-payment request reach here."""
    plan = bench.plan
    server = await bench.start_server(module=("bench.floor",))
    try:
        url = f"{server.base_url}/floor"
        body = payment_body("order_" + "x" * 16)

        async def post() -> int:
            async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
                await resp.read()
                return resp.status

        meter = bench.meter(server)
        lag = LoopLag().start()
        result = await closed_loop(post, concurrency=CONCURRENCY, duration=plan.floor_duration, warmup=plan.warmup)
        cpu = meter.stop()
        return {"what": "POST of a payment body to an aiohttp route that runs the baseline's INSERT + SELECT "
                        "(aiopg, pool of 20) and answers the row as JSON, concurrency 64",
                **result.summary(), "client_loop_lag": await lag.stop(), "cpu": cpu,
                "cpu_ms_per_op": CpuMeter.per_op(cpu, result.total_requests)}
    finally:
        bench.stop_server(server)


async def phase_create(bench: Bench, server: Server, session: aiohttp.ClientSession, pool: aiopg.Pool,
                       merchant_id: str, name: str = "create", drain: bool = True) -> tuple[dict, list[str]]:
    """1. POST /api/v1/payments at concurrency 64; each payment pays its own order, made beforehand. Then the
    worker's backlog is waited for (``drain``), or cancelled."""
    plan = bench.plan
    orders = await make_orders(pool, merchant_id, int(ORDER_RATE_CAP * (plan.duration + plan.warmup)))
    next_order = iter(orders).__next__
    url = f"{server.base_url}/api/v1/payments"
    created: list[str] = []

    async def post(order_id: str) -> int:
        async with session.post(url, data=payment_body(order_id), headers=HEADERS) as resp:
            data = await resp.read()
            if resp.status == 201:
                created.append(json.loads(data)["id"])
            return resp.status

    def request():
        try:
            return post(next_order())
        except StopIteration:
            return None

    meter = bench.meter(server)
    lag = LoopLag().start()
    counters = await bench.counters.snapshot()
    recording = bench.profile(server, name, plan.warmup + plan.duration + 5)
    result = await closed_loop(request, concurrency=CONCURRENCY, duration=plan.duration, warmup=plan.warmup)
    cpu = meter.stop()
    phase = {"what": "POST /api/v1/payments, concurrency 64 (the worker in the same process processes them)",
             **result.summary(), "client_loop_lag": await lag.stop(), "cpu": cpu,
             "cpu_ms_per_op": CpuMeter.per_op(cpu, result.total_requests)}
    bench.finish_profile(recording, phase)
    if not drain:
        phase["per_payment_created_within_window"] = await bench.counters.per_op(counters, result.total_requests)
        phase["worker_backlog_cancelled"] = await cancel_unfinished_payments(bench, pool)
        return phase, created
    # What the phases after it need: phase 1 is followed by 2 and 6.
    backlog, waited, left = await wait_until_zero(pool, UNFINISHED_PAYMENTS,
                                                  bench.clip(plan.drain_timeout, 2 * (plan.duration + plan.warmup)))
    phase["worker_backlog_after_window"] = backlog
    # The worker in the same process falls behind the API: what was created *and* processed per second,
    # from the start of the warm-up until the backlog drained (or the drain wait gave up).
    done = result.total_requests - left
    phase["created_and_processed_per_s"] = round(done / (cpu["wall_s"] + waited), 1)
    phase["per_payment"] = await bench.counters.per_op(counters, result.total_requests)  # created and processed
    phase["worker_drain_s"] = waited
    phase["worker_unfinished_after_drain"] = left
    return phase, created


async def phase_get(bench: Bench, server: Server, session: aiohttp.ClientSession, ids: list[str]) -> dict:
    """2. GET /api/v1/payments/{id} at concurrency 64, over the payments made in phase 1."""
    plan = bench.plan
    urls = itertools.cycle([f"{server.base_url}/api/v1/payments/{i}" for i in ids])
    headers = {k: v for k, v in HEADERS.items() if k != "Content-Type"}

    async def get(url: str) -> int:
        async with session.get(url, headers=headers) as resp:
            await resp.read()
            return resp.status

    meter = bench.meter(server)
    lag = LoopLag().start()
    counters = await bench.counters.snapshot()
    recording = bench.profile(server, "get", plan.warmup + plan.duration + 5)
    result = await closed_loop(lambda: get(next(urls)), concurrency=CONCURRENCY, duration=plan.duration,
                               warmup=plan.warmup)
    cpu = meter.stop()
    phase = {"what": "GET /api/v1/payments/{id}, concurrency 64", **result.summary(),
             "client_loop_lag": await lag.stop(), "cpu": cpu,
             "cpu_ms_per_op": CpuMeter.per_op(cpu, result.total_requests),
             "per_request": await bench.counters.per_op(counters, result.total_requests)}
    bench.finish_profile(recording, phase)
    return phase


async def set_webhook_url(session: aiohttp.ClientSession, server: Server, url: str | None,
                          enabled: bool = True) -> None:
    async with session.patch(f"{server.base_url}/api/v1/merchant", json={"webhook_url": url,
                                                                           "webhook_enabled": enabled},
                             headers=HEADERS) as resp:
        if resp.status != 200:
            raise RuntimeError(f"PATCH /api/v1/merchant answered {resp.status}: {await resp.text()}")


async def phase_e2e(bench: Bench, server: Server, session: aiohttp.ClientSession, pool: aiopg.Pool,
                    merchant_id: str, receiver: Receiver, rate: float, duration: float, *, grace: float,
                    name: str = "e2e") -> dict:
    """3. Open loop at ``rate`` payments/s for ``duration`` s: from each POST being sent to its payment.success
    webhook arriving; ``grace`` seconds are given to the last ones."""
    n = int(rate * duration)
    orders = await make_orders(pool, merchant_id, n)
    url = f"{server.base_url}/api/v1/payments"
    sent_at: dict[str, float] = {}  # payment id -> when its POST was sent
    post_latency: list[float] = []
    schedule_lag: list[float] = []
    errors: dict[str, int] = {}

    async def one(order_id: str, due: float) -> None:
        t0 = time.perf_counter()
        schedule_lag.append(t0 - due)
        try:
            async with session.post(url, data=payment_body(order_id), headers=HEADERS) as resp:
                data = await resp.read()
                status = resp.status
        except Exception as exc:  # noqa: BLE001 - every failure is a figure
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            return
        post_latency.append(time.perf_counter() - t0)
        if status != 201:
            errors[f"HTTP {status}"] = errors.get(f"HTTP {status}", 0) + 1
            return
        sent_at[json.loads(data)["id"]] = t0

    payments_before = await count(pool, "SELECT count(*) FROM payments")
    meter = bench.meter(server)
    lag = LoopLag().start()
    counters = await bench.counters.snapshot()
    recording = bench.profile(server, name, duration + grace + 5)
    tasks = []
    start = time.perf_counter() + 0.05
    for i, order_id in enumerate(orders):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(order_id, due)))
    sending_took = time.perf_counter() - start
    # The last answers and webhooks, bounded by the grace period; POSTs still unanswered then are cancelled.
    grace_end = time.perf_counter() + grace
    _, unanswered = await asyncio.wait(tasks, timeout=grace)
    for task in unanswered:
        task.cancel()
    await asyncio.gather(*unanswered, return_exceptions=True)
    for _ in range(int(grace / 0.05) + 1):
        if time.perf_counter() >= grace_end or all(p in receiver.success_at for p in sent_at):
            break
        await asyncio.sleep(0.05)
    cpu = meter.stop()
    loop_lag = await lag.stop()
    made = await count(pool, "SELECT count(*) FROM payments") - payments_before  # answered or not
    # Percentiles over every payment scheduled: one whose POST or webhook never came within the grace period
    # counts as slower than anything measured (censored), so an overloaded server cannot look fast.
    observed_until = time.perf_counter()
    inf = float("inf")
    latencies = [receiver.success_at[p] - t for p, t in sent_at.items() if p in receiver.success_at]
    missing = n - len(latencies)
    everything = latencies + [inf] * missing
    censored_ms = ms(observed_until - start - n / rate)  # every missing one took at least this long

    def pct(q: float):
        v = percentile(everything, q)
        return ms(v) if v != inf else None

    phase = {
        "what": f"open loop {rate} payments/s for {duration:g} s; POST sent -> payment.success received",
        "scheduled": n, "sent_per_s": round(n / sending_took, 1) if sending_took > 0 else None,
        "created_answered": len(sent_at), "created_in_database": made,
        "unanswered_posts_cancelled": len(unanswered), "post_errors": errors,
        "webhooks_received": len(latencies), "webhooks_missing": missing,
        "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99),
        "missing_took_at_least_ms": censored_ms if missing else None,
        "received_only": {"p50_ms": ms(percentile(latencies, 50)), "p99_ms": ms(percentile(latencies, 99)),
                          "max_ms": ms(max(latencies) if latencies else None)},
        "post_answered_p50_ms": ms(percentile(post_latency, 50)),
        "post_answered_p99_ms": ms(percentile(post_latency, 99)),
        "success_webhooks_per_s": round(len(latencies) / (observed_until - start), 1),
        "schedule_lag_p99_ms": ms(percentile(schedule_lag, 99)),
        "client_loop_lag": loop_lag, "cpu": cpu,
        "cpu_ms_per_payment_in_database": CpuMeter.per_op(cpu, made),
        "per_payment_in_database": await bench.counters.per_op(counters, made),
    }
    if missing:
        phase["note"] = (f"{missing} of {n} payment.success webhooks (and {len(unanswered)} POST answers) had not "
                         f"arrived {grace:g} s after the last POST was sent; percentiles count them as slower "
                         f"than {censored_ms:g} ms")
    bench.finish_profile(recording, phase)
    return phase


async def phase_deliveries(bench: Bench, server: Server, session: aiohttp.ClientSession, pool: aiopg.Pool,
                           merchant_id: str, receiver: Receiver) -> dict:
    """4. N due deliveries drained: inserted through events.record while the endpoint is disabled, then the
    endpoint is enabled (PATCH /api/v1/merchant) and deliveries/s are counted from then until all arrived."""
    plan = bench.plan
    n = plan.deliveries
    batch, inserters = 500, 4
    receiver.expect_bench(n)

    async def insert(part: range) -> None:
        for start in range(part.start, part.stop, batch):
            async with transaction(pool) as cur:
                for i in range(start, min(start + batch, part.stop)):
                    await events.record(cur, merchant_id, "bench.delivery", f"bench_{i}", {"bench": {"seq": i}})

    await set_webhook_url(session, server, receiver.url, enabled=False)
    per = -(-n // inserters)
    t_insert = time.perf_counter()
    await asyncio.gather(*(insert(range(k * per, min(n, (k + 1) * per))) for k in range(inserters)))
    insert_s = time.perf_counter() - t_insert
    # The table grew from a few hundred rows to thousands within seconds, sooner than autovacuum looks again:
    # gather the statistics it would, so that no plan made for the near-empty table keeps scanning it whole.
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("ANALYZE webhook_logs")

    arrivals_before = sum(receiver.by_type.values())
    meter = bench.meter(server)
    lag = LoopLag().start()
    counters = await bench.counters.snapshot()
    recording = bench.profile(server, "deliveries", plan.delivery_timeout + 10)
    t0 = time.perf_counter()
    await set_webhook_url(session, server, receiver.url, enabled=True)
    timeout = bench.clip(plan.delivery_timeout, reserve=plan.e2e_duration + 8)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(receiver.bench_done.wait(), timeout=timeout)
    cpu = meter.stop()
    all_arrivals = sum(receiver.by_type.values()) - arrivals_before
    loop_lag = await lag.stop()
    arrivals = sorted(receiver.bench_arrivals.values())
    got = len(arrivals)
    last = arrivals[-1] if arrivals else t0
    phase = {
        "what": f"{n} due deliveries drained from the moment their endpoint was enabled (inserted beforehand via "
                f"events.record, {inserters} connections, {batch} per transaction, then ANALYZE)",
        "inserted": n, "insert_s": round(insert_s, 2), "received": got,
        "deliveries_per_s": round(got / (last - t0), 1) if got and last > t0 else 0.0,
        "seconds_enabled_to_last_arrival": round(last - t0, 2),
        "first_arrival_after_enabled_ms": ms(arrivals[0] - t0) if arrivals else None,
        "duplicates_at_receiver": receiver.duplicates, "client_loop_lag": loop_lag, "cpu": cpu,
        "cpu_ms_per_delivery": CpuMeter.per_op(cpu, all_arrivals), "all_arrivals_during_phase": all_arrivals,
        "per_delivery": await bench.counters.per_op(counters, all_arrivals),
    }
    if got >= 10:
        lo, hi = arrivals[int(got * 0.1)], arrivals[int(got * 0.9) - 1]
        phase["steady_deliveries_per_s_p10_p90"] = round((int(got * 0.9) - int(got * 0.1)) / (hi - lo), 1) \
            if hi > lo else None
    if got < n:
        phase["note"] = f"only {got} of {n} arrived within {timeout:g} s"
    bench.finish_profile(recording, phase)
    return phase


async def phase_multiprocess_get(bench: Bench, server: Server, session: aiohttp.ClientSession, ids: list[str],
                                 n: int) -> None:
    """6b. GET /payments/{id} again on ``serve --processes n``: reads scale with processes where writes queue
    on Postgres, so this is the cleaner measure of what more event loops give."""
    plan = bench.plan
    one = bench.results["phases"].get("get", {}).get("requests_per_s")
    # Leave room for phases 4 and 3, which have targets: this figure is the one to drop when time is short.
    room = plan.duration + plan.warmup + 20 + plan.e2e_duration + plan.e2e_grace + 10
    if not (ids and one and bench.fits("6b. multi-process get", room)):
        return
    console.print(f"[bold]6b. multi-process[/] paygate serve --processes {n}, get payment again")
    phase = await phase_get(bench, server, session, ids)
    phase.update(processes=n, gain_vs_1=round(phase["requests_per_s"] / one, 2))
    bench.results["phases"]["multiprocess_get"] = phase
    console.print(f"   {phase['requests_per_s']} req/s ({phase['gain_vs_1']}x of 1 process)")


# -- the run -----------------------------------------------------------------------------------------------

async def run(bench: Bench) -> None:
    plan, results = bench.plan, bench.results
    phases = results["phases"]
    config = config_mod.build({"database.url": bench.database_url, "redis.url": bench.redis_url,
                               "security.master_key": bench.master_key}, check_required=True)
    multiprocess = asyncio.create_task(asyncio.to_thread(supports_processes))  # paygate serve --help
    pool = await create_pool(config)
    bench.counters = Counters(pool, bench.redis_url)
    receiver = await Receiver().start()
    connector = aiohttp.TCPConnector(limit=1024, limit_per_host=0)
    session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30))
    try:
        await migrations.migrate(pool)
        merchant = await seed_test_merchant(pool, crypto.SecretBox(bench.master_key))
        merchant_id = merchant["merchant_id"]
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute("SHOW server_version")
            results["machine"]["postgres"] = (await cur.fetchone())[0]
        bench.mark("services up")
        bench.mark("7. CLI start-up")
        console.print(f"[bold]7. CLI start-up[/] paygate --help and status --json, median of {cli_bench.RUNS}")
        cli_env = {**os.environ, "PAYGATE_DATABASE__URL": bench.database_url, "PAYGATE_REDIS__URL": bench.redis_url}
        phases["cli"] = await asyncio.to_thread(cli_bench.run, cli_bench.RUNS, cli_env, True, plan.cli_subcommand_runs)
        console.print(f"   --help {phases['cli']['help']['wall_s']} s, status --json "
                      f"{phases['cli']['status_json']['wall_s']} s")
        server = await bench.start_server()
        bench.mark("serve ready")
        console.print(f"paygate serve pid {server.pid} on {server.base_url}; receiver on {receiver.url}")

        bench.mark("5. baseline")
        console.print(f"[bold]5. baseline[/] INSERT+SELECT, concurrency {CONCURRENCY}, {plan.duration:g} s")
        phases["baseline"] = await phase_baseline(bench)
        console.print(f"   {phases['baseline']['ops_per_s']} ops/s")

        bench.mark("5f. floor")
        console.print(f"[bold]5f. floor[/] the baseline's statements behind aiohttp, concurrency {CONCURRENCY}, "
                      f"{plan.floor_duration:g} s")
        phases["floor"] = await phase_floor(bench, session)
        console.print(f"   {phases['floor']['requests_per_s']} req/s, p99 {phases['floor']['p99_ms']} ms")

        bench.mark("1. create payment")
        console.print(f"[bold]1. create payment[/] concurrency {CONCURRENCY}, {plan.duration:g} s")
        phases["create"], created = await phase_create(bench, server, session, pool, merchant_id)
        console.print(f"   {phases['create']['requests_per_s']} req/s, p99 {phases['create']['p99_ms']} ms")

        if created and bench.fits("2. get payment", plan.duration + plan.warmup):
            bench.mark("2. get payment")
            console.print(f"[bold]2. get payment[/] concurrency {CONCURRENCY}, {plan.duration:g} s")
            phases["get"] = await phase_get(bench, server, session, created)
            console.print(f"   {phases['get']['requests_per_s']} req/s, p99 {phases['get']['p99_ms']} ms")

        n = os.cpu_count() or 1
        if not await multiprocess:
            phases["multiprocess"] = {"available": False, "note": "paygate serve has no --processes option"}
            console.print("[bold]6. multi-process[/] not available (paygate serve has no --processes)")
        elif bench.fits("6. multi-process", plan.duration + plan.warmup + 10 + plan.e2e_duration):
            bench.mark("6. multi-process")
            console.print(f"[bold]6. multi-process[/] paygate serve --processes {n}, create payment again")
            bench.stop_servers()
            server = await bench.start_server(processes=n)
            phase, _ = await phase_create(bench, server, session, pool, merchant_id, name=f"create_x{n}",
                                          drain=False)
            phase.update(available=True, processes=n)
            one = phases["create"]["requests_per_s"]
            phase["gain_vs_1"] = round(phase["requests_per_s"] / one, 2) if one else None
            phases["multiprocess"] = phase
            console.print(f"   {phase['requests_per_s']} req/s ({phase['gain_vs_1']}x of 1 process)")
            await phase_multiprocess_get(bench, server, session, created, n)
            bench.stop_servers()
            server = await bench.start_server()  # phases 4 and 3 measure the default, one process

        await set_webhook_url(session, server, receiver.url)
        # 3b, the same path nearly unloaded, first: a reference for phase 3, taken before any burst.
        reference = plan.reference_duration
        if reference and bench.fits("3b. end to end, reference", reference + 10 + plan.e2e_duration):
            bench.mark("3b. end to end, reference")
            console.print(f"[bold]3b. end to end, reference[/] {REFERENCE_RATE} payments/s, {reference:g} s")
            phases["e2e_reference"] = await phase_e2e(bench, server, session, pool, merchant_id, receiver,
                                                      REFERENCE_RATE, plan.reference_duration, grace=3,
                                                      name="e2e_reference")
            e2e = phases["e2e_reference"]
            console.print(f"   p50 {e2e['p50_ms']} ms, p99 {e2e['p99_ms']} ms")
            await wait_until_zero(pool, PENDING_DELIVERIES, 10)  # its deliveries, before phase 4 starts

        # Phase 4 before phase 3: the open loop of phase 3 may leave a backlog that would queue ahead.
        if bench.fits("4. webhook deliveries", 5):
            bench.mark("4. webhook deliveries")
            console.print(f"[bold]4. webhook deliveries[/] {plan.deliveries} due deliveries")
            phases["deliveries"] = await phase_deliveries(bench, server, session, pool, merchant_id, receiver)
            console.print(f"   {phases['deliveries']['deliveries_per_s']} deliveries/s")
            left = await count(pool, PENDING_DELIVERIES)
            if left:
                # Phase 3 must not queue behind them: mark them failed.
                cancelled = await cancel_pending_deliveries(pool)
                bench.results["notes"].append(
                    f"{cancelled} deliveries of phase 4 had not been sent when it ended; before phase 3 they were "
                    "marked failed through SQL")

        if bench.fits("3. end to end", plan.e2e_duration + 1):
            bench.mark("3. end to end")
            console.print(f"[bold]3. end to end[/] {E2E_RATE} payments/s open loop, {plan.e2e_duration:g} s")
            phases["e2e"] = await phase_e2e(bench, server, session, pool, merchant_id, receiver, E2E_RATE,
                                            plan.e2e_duration, grace=bench.clip(plan.e2e_grace, reserve=1))
            e2e = phases["e2e"]
            console.print(f"   p50 {e2e['p50_ms']} ms, p99 {e2e['p99_ms']} ms, "
                          f"{e2e['webhooks_missing']} of {e2e['scheduled']} webhooks missing")
            phases["e2e"]["pending_deliveries_at_end"] = await count(pool, PENDING_DELIVERIES)
            phases["e2e"]["unfinished_payments_at_end"] = await count(pool, UNFINISHED_PAYMENTS)
        results["receiver"] = {"by_type": dict(receiver.by_type), "duplicates": receiver.duplicates,
                               "unparsable": receiver.bad}
    finally:
        await session.close()
        await bench.counters.close()
        await receiver.stop()
        pool.close()
        await pool.wait_closed()


def figures(results: dict) -> list[tuple[str, str, str, bool | None]]:
    """(figure, value, target, met) rows; the values are also stored under results["figures"]."""
    p = results["phases"]
    rows: list[tuple[str, str, str, bool | None]] = []
    figs = results["figures"]
    base = p.get("baseline", {}).get("ops_per_s")

    def show(value, unit: str) -> str:
        if value is None:
            return "-"
        if unit == "%":
            return f"{value:.1%}"
        return f"{value:,.1f}{unit}" if isinstance(value, float) else f"{value:,}{unit}"

    def add(key, label, value, unit, target_text="", met=None):
        figs[key] = value
        rows.append((label, show(value, unit), target_text, met))

    def ratio(value):
        return round(value / base, 4) if value and base else None

    add("baseline_ops_per_s", "baseline: INSERT+SELECT one row (aiopg, pool 20, c=64)", base, " ops/s")
    floor = p.get("floor", {})
    add("floor_per_s", "floor: the same behind an aiohttp POST route (c=64)", floor.get("requests_per_s"), " req/s")
    add("floor_vs_baseline", "  floor / baseline: the most create payment could reach",
        ratio(floor.get("requests_per_s")), "%")
    add("floor_p99_ms", "  floor p99 (c=64)", floor.get("p99_ms"), " ms")
    # Little's law: 64 requests always in flight, each under 50 ms, complete at more than 64 / 0.05 per second.
    add("create_p99_target_needs_per_s", f"  a create p99 of {TARGETS['create_p99_ms']:g} ms at c=64 needs at least",
        CONCURRENCY / (TARGETS["create_p99_ms"] / 1000), " req/s")
    create = p.get("create", {})
    add("create_per_s", "create payment (c=64)", create.get("requests_per_s"), " req/s")
    r = ratio(create.get("requests_per_s"))
    add("create_vs_baseline", "create payment / baseline", r, "%", f"≥ {TARGETS['create_vs_baseline']:.0%}",
        None if r is None else r >= TARGETS["create_vs_baseline"])
    add("create_processed_per_s", "  created and processed, until the worker caught up",
        create.get("created_and_processed_per_s"), " /s")
    f = floor.get("requests_per_s")
    add("create_vs_floor", "create payment / floor", round(create["requests_per_s"] / f, 4)
        if f and create.get("requests_per_s") else None, "%")
    add("create_p50_ms", "create payment p50 (c=64)", create.get("p50_ms"), " ms")
    v = create.get("p99_ms")
    add("create_p99_ms", "create payment p99 (c=64)", v, " ms", f"≤ {TARGETS['create_p99_ms']:g} ms",
        None if v is None else v <= TARGETS["create_p99_ms"])
    get = p.get("get", {})
    add("get_per_s", "get payment (c=64)", get.get("requests_per_s"), " req/s")
    add("get_vs_baseline", "get payment / baseline", ratio(get.get("requests_per_s")), "%")
    add("get_p50_ms", "get payment p50 (c=64)", get.get("p50_ms"), " ms")
    add("get_p99_ms", "get payment p99 (c=64)", get.get("p99_ms"), " ms")
    e2e = p.get("e2e", {})
    for q in ("p50", "p99"):
        v = e2e.get(f"{q}_ms")
        t = TARGETS[f"e2e_{q}_ms"]
        label = f"end to end {q}, POST → payment.success webhook ({E2E_RATE}/s open loop)"
        if v is None and e2e.get("missing_took_at_least_ms") is not None:
            figs[f"e2e_{q}_ms"] = None
            rows.append((label, f"> {e2e['missing_took_at_least_ms']:,.0f} ms", f"≤ {t:g} ms", False))
        else:
            add(f"e2e_{q}_ms", label, v, " ms", f"≤ {t:g} ms", None if v is None else v <= t)
    if e2e:
        add("e2e_webhooks_missing", "  payment.success webhooks not received in time", e2e.get("webhooks_missing"),
            f" of {e2e.get('scheduled')}")
        add("e2e_success_webhooks_per_s", "  payment.success webhooks received per second",
            e2e.get("success_webhooks_per_s"), "/s")
    d = p.get("deliveries", {})
    ref = p.get("e2e_reference", {})
    if ref:
        for q in ("p50", "p99"):
            v = ref.get(f"{q}_ms")
            label = f"  reference: end to end {q} at {REFERENCE_RATE}/s"
            if v is None and ref.get("missing_took_at_least_ms") is not None:
                figs[f"e2e_reference_{q}_ms"] = None
                rows.append((label, f"> {ref['missing_took_at_least_ms']:,.0f} ms", "", None))
            else:
                add(f"e2e_reference_{q}_ms", label, v, " ms")
    v = d.get("deliveries_per_s")
    add("deliveries_per_s", f"webhook deliveries ({d.get('inserted', '-')} due)", v, "/s",
        f"≥ {TARGETS['deliveries_per_s']:,.0f}/s", None if v is None else v >= TARGETS["deliveries_per_s"])
    add("deliveries_vs_baseline", "webhook deliveries / baseline", ratio(v), "%")
    m = p.get("multiprocess", {})
    if m.get("available"):
        add("multiprocess_per_s", f"create payment, serve --processes {m['processes']} (c=64)",
            m.get("requests_per_s"), " req/s")
        add("multiprocess_gain", f"gain of --processes {m['processes']} vs 1", m.get("gain_vs_1"), "x")
        g = p.get("multiprocess_get", {})
        add("multiprocess_get_gain", f"  get payment, gain of --processes {m['processes']} vs 1",
            g.get("gain_vs_1"), "x")
    else:
        figs["multiprocess_gain"] = None
        rows.append((f"gain of serve --processes {os.cpu_count()} vs 1", "not available", "", None))

    cli = p.get("cli", {})
    for key, label, target in (("help", "paygate --help, median of runs", "help_s"),
                               ("slowest_subcommand_help", "  slowest subcommand --help", "help_s"),
                               ("status_json", "paygate status --json, median of runs", "status_s")):
        r = cli.get(key)
        if r:
            t = cli_bench.TARGETS[target]
            add(f"cli_{key}_ms", label if key != "slowest_subcommand_help" else f"{label} ({r['command']})",
                round(r["wall_s"] * 1000, 1), " ms", f"≤ {t * 1000:g} ms", r["wall_s"] <= t)
            add(f"cli_{key}_cpu_ms", "    CPU of it", round(r["cpu_s"] * 1000, 1), " ms")

    # Where the time goes: CPU and round trips per operation hold steadier than rates on a shared machine.
    rows.append(("", "", "", None))
    cpu = create.get("cpu_ms_per_op", {})
    add("create_paygate_cpu_ms", "paygate CPU per payment (create + process)", cpu.get("paygate"), " ms")
    add("create_postgres_cpu_ms", "Postgres CPU per payment", cpu.get("postgres"), " ms")
    add("baseline_postgres_cpu_ms", "Postgres CPU per baseline op",
        p.get("baseline", {}).get("cpu_ms_per_op", {}).get("postgres"), " ms")
    add("create_pg_commits", "Postgres transactions per payment", create.get("per_payment", {}).get("pg_commits"), "")
    add("create_redis_commands", "Redis commands per payment (Lua-internal included)",
        create.get("per_payment", {}).get("redis_commands"), "")
    add("get_paygate_cpu_ms", "paygate CPU per GET", get.get("cpu_ms_per_op", {}).get("paygate"), " ms")
    add("delivery_paygate_cpu_ms", "paygate CPU per webhook delivery", d.get("cpu_ms_per_delivery", {}).get("paygate"),
        " ms")
    add("delivery_redis_commands", "Redis commands per delivery (Lua-internal included)",
        d.get("per_delivery", {}).get("redis_commands"), "")
    others = [ph["cpu"]["others_pct_of_core"] for ph in p.values()
              if isinstance(ph, dict) and "others_pct_of_core" in ph.get("cpu", {})]
    noise = round(sum(others) / len(others), 1) if others else None
    add("others_pct_of_core", "other processes on the machine meanwhile (noise)", noise, " % of a core")
    return rows


def print_table(rows) -> None:
    table = Table(title="paygate bench")
    for column in ("figure", "value", "target", "met?"):
        table.add_column(column, justify="right" if column == "value" else "left")
    for label, value, target, met in rows:
        mark = "" if met is None else ("[green]yes[/]" if met else "[red]no[/]")
        table.add_row(label, value, target, mark)
    console.print(table)


def machine() -> dict:
    return {
        "cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "paygate": paygate.__version__,
        "aiohttp": aiohttp.__version__, "hostname": platform.node(),
    }


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke test: short windows, under about 60 s")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results.json",
                        help="where to write the figures (default bench/results.json)")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="sample the server with py-spy during each phase; raw stacks go to DIR")
    args = parser.parse_args(argv)
    if args.profile and py_spy() is None:
        parser.error("--profile needs py-spy: pip install py-spy")

    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)  # unwind like Ctrl-C, stopping everything
    plan = QUICK if args.quick else FULL
    data_dir = Path(tempfile.mkdtemp(prefix="paygate-bench-"))
    bench = Bench(plan, data_dir, args.profile)
    bench.results.update(machine=machine(), mode="quick" if args.quick else "full",
                         plan=plan.__dict__, concurrency=CONCURRENCY, e2e_rate=E2E_RATE,
                         reference_rate=REFERENCE_RATE)
    code = 0
    try:
        from paygate.embedded import Embedded

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bench.embedded = Embedded(data_dir / "services")
            bench.database_url, bench.redis_url = bench.embedded.start()
        asyncio.run(run(bench))
    except KeyboardInterrupt:
        console.print("[yellow]interrupted; stopping everything")
        bench.results["error"] = "interrupted"
        code = 130
    except Exception as exc:  # noqa: BLE001 - report, clean up, exit non-zero
        console.print_exception(max_frames=8)
        bench.results["error"] = f"{type(exc).__name__}: {exc}"
        for server in bench.servers:
            console.print(f"[dim]paygate serve log (tail):\n{server.tail()}")
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not stop the clean-up half way
        try:
            bench.stop_servers()
        finally:
            if bench.embedded is not None:
                bench.embedded.stop()
            shutil.rmtree(data_dir, ignore_errors=True)
            signal.signal(signal.SIGINT, signal.default_int_handler)
    bench.mark("stopped")
    bench.results["seconds"] = round(bench.elapsed(), 1)
    rows = figures(bench.results)
    print_table(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(bench.results, indent=2, default=str) + "\n")
    console.print(f"figures written to {args.out} ({bench.results['seconds']} s)")
    return code


if __name__ == "__main__":
    sys.exit(main())

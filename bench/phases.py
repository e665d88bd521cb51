"""The phases against the API, one function per figure: the baseline and the floor, create payment (API only),
GET payment, fairness at saturation and create at half the maximum in an open loop. Each returns its phase
dict (what was measured, the figures, CPU per process and per operation) for ``bench.report``."""

from __future__ import annotations

import json
import math
import time

import aiopg

from . import rawhttp, wrk
from .harness import Bench, console, make_orders
from .load import LoopLag, closed_loop, ms, open_loop, percentile
from .plan import (
    BASELINE_CONCURRENCY,
    BASELINE_POOL,
    CONCURRENCY,
    HEADERS,
    ORDER_RATE_CAP,
    SATURATION,
    payment_body,
)
from .system import CpuMeter, Server

PAYMENTS = "/api/v1/payments"
GET_HEADERS = {k: v for k, v in HEADERS.items() if k != "Content-Type"}


async def measure_wrk(bench: Bench, server: Server, name: str, what: str, path: str, *, connections: int,
                      duration: int, method: str = "GET", headers: dict[str, str] | None = None, ids=None,
                      body=None, warmup: int = 0, warmup_ids=None) -> dict:
    """A wrk run (after an unmeasured one of ``warmup`` s), with the CPU of every process and, per 2xx answer,
    CPU, Postgres transactions and Redis commands."""
    if warmup:
        await wrk.run(server.base_url, path, connections=connections, duration=warmup, method=method,
                      headers=headers, ids=warmup_ids or ids, body=body)
    meter = bench.meter(server)
    counters = await bench.counters.snapshot()
    recording = bench.profile(server, name, duration + 5)
    result = await wrk.run(server.base_url, path, connections=connections, duration=duration, method=method,
                           headers=headers, ids=ids, body=body)
    cpu = meter.stop(extra={"wrk": result["wrk_cpu_s"]})
    phase = {"what": what, **result, "cpu": cpu, "cpu_ms_per_op": CpuMeter.per_op(cpu, result["ok"]),
             "per_op": await bench.counters.per_op(counters, result["ok"])}
    bench.finish_profile(recording, phase)
    return phase


def show(phase: dict) -> None:
    cpu = phase.get("cpu_ms_per_op", {})
    console.print(f"   {phase['requests_per_s']} req/s, p50 {phase['p50_ms']} ms, p99 {phase['p99_ms']} ms, "
                  f"{phase['status_503']} × 503, {phase['errors']} errors; CPU {cpu.get('total')} ms/op "
                  f"(paygate {cpu.get('paygate')}, Postgres {cpu.get('postgres')}, Redis {cpu.get('redis')})")


async def baseline(bench: Bench) -> dict:
    """Single-row INSERT + SELECT through aiopg, pool of 20, concurrency 64, on a scratch table (a Python closed
    loop in the bench process: no HTTP, so nothing for wrk to do)."""
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
        counters = await bench.counters.snapshot()
        result = await closed_loop(op, concurrency=BASELINE_CONCURRENCY, duration=plan.baseline_duration,
                                   warmup=min(plan.warmup, 2))
        cpu = meter.stop()
        phase = {"what": f"INSERT + SELECT one row, aiopg pool of {BASELINE_POOL}, concurrency "
                         f"{BASELINE_CONCURRENCY}", **result.summary(), "client_loop_lag": await lag.stop(),
                 "cpu": cpu, "cpu_ms_per_op": CpuMeter.per_op(cpu, result.total_requests),
                 "per_op": await bench.counters.per_op(counters, result.total_requests)}
        phase["ops_per_s"] = phase.pop("requests_per_s")
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute("DROP TABLE bench_scratch")
        return phase
    finally:
        pool.close()
        await pool.wait_closed()


async def floor(bench: Bench) -> dict:
    """The baseline's INSERT + SELECT behind one aiohttp route (``bench.floor``), POSTed by wrk at c=50: the most
    that paygate's HTTP server and database driver let a create-payment request reach here."""
    plan = bench.plan
    server = await bench.start_server(module=("bench.floor",))
    try:
        body = bench.data_dir / "floor.json"
        body.write_text(payment_body("order_" + "x" * 16))
        return await measure_wrk(
            bench, server, "floor", f"POST of a payment body to an aiohttp route that runs the baseline's INSERT + "
            f"SELECT (aiopg, pool of {BASELINE_POOL}) and answers the row as JSON; wrk c={CONCURRENCY}", "/floor",
            connections=CONCURRENCY, duration=plan.floor_duration, method="POST",
            headers={"Content-Type": "application/json"}, body=body, warmup=plan.warmup)
    finally:
        bench.stop_server(server)


async def _orders_file(bench: Bench, name: str, seconds: float) -> tuple:
    ids = await make_orders(bench.pool, bench.merchant_id, max(1, int(ORDER_RATE_CAP * seconds)))
    return bench.write_ids(name, ids), len(ids)


async def create(bench: Bench, server: Server, connections: int = CONCURRENCY, duration: int | None = None,
                 name: str = "create", warmup: int | None = None) -> dict:
    """POST /api/v1/payments from wrk against ``serve --no-worker``; each request pays its own order, made
    beforehand through SQL (ids are reused only if the run outlasts them, and the phase says so)."""
    plan = bench.plan
    duration = duration or plan.create_duration
    warmup = plan.warmup if warmup is None else warmup
    body = bench.data_dir / "create.json"
    body.write_text(payment_body("{id}"))
    ids, n = await _orders_file(bench, name, duration)
    warm_ids = (await _orders_file(bench, f"{name}-warmup", warmup))[0] if warmup else None
    phase = await measure_wrk(bench, server, name, f"POST /api/v1/payments, API only (serve --no-worker), wrk "
                              f"c={connections}, {n} fresh orders", PAYMENTS, connections=connections,
                              duration=duration, method="POST", headers=HEADERS, ids=ids, body=body, warmup=warmup,
                              warmup_ids=warm_ids)
    phase["orders_made"] = n
    return phase


async def get(bench: Bench, server: Server, connections: int = CONCURRENCY, duration: int | None = None,
              name: str = "get") -> dict:
    """GET /api/v1/payments/{id} from wrk, cycling over the payments made so far (newest first, up to 50,000)."""
    async with bench.pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("SELECT id FROM payments WHERE merchant_id = %s ORDER BY created_at DESC LIMIT 50000",
                          (bench.merchant_id,))
        payment_ids = [r[0] for r in await cur.fetchall()]
    if not payment_ids:
        raise RuntimeError("no payments to GET")
    ids = bench.write_ids(name, payment_ids)
    phase = await measure_wrk(bench, server, name, f"GET /api/v1/payments/{{id}}, wrk c={connections}, over "
                              f"{len(payment_ids)} payments", PAYMENTS + "/{id}", connections=connections,
                              duration=duration or bench.plan.get_duration, headers=GET_HEADERS, ids=ids)
    phase.pop("ids_reused")  # cycling over them is the point
    return phase


async def fairness(bench: Bench, server: Server) -> dict:
    """Saturation: wrk at c=200 on GET, then on create. What counts is the spread (p99 / p50) and that every
    answer is a 2xx or a 503 with Retry-After (a bounded number of requests in flight per process)."""
    plan = bench.plan
    out = {}
    console.print(f"   GET, c={SATURATION}, {plan.saturation_duration} s")
    out["get"] = await get(bench, server, SATURATION, plan.saturation_duration, name="fairness_get")
    show(out["get"])
    console.print(f"   create, c={SATURATION}, {plan.saturation_duration} s")
    out["create"] = await create(bench, server, SATURATION, plan.saturation_duration, name="fairness_create",
                                 warmup=0)
    show(out["create"])
    return out


async def create_open_loop(bench: Bench, server: Server, rate: float) -> dict:
    """POST /api/v1/payments in an open loop at ``rate`` (half the maximum that wrk measured), from Python: the
    latency a merchant sees when the API is busy but not saturated. The first ``plan.warmup`` seconds of it are
    not measured, as in the other phases: there the client opens its connections and the orders' bulk insert
    settles."""
    duration = bench.plan.open_loop_duration
    warm = int(rate * bench.plan.warmup)
    n = warm + max(1, int(rate * duration))
    orders = await make_orders(bench.pool, bench.merchant_id, n)
    requests = [rawhttp.Client.encode("POST", PAYMENTS, HEADERS, payment_body(order)) for order in orders]
    latencies: list[float] = []
    errors: dict[str, int] = {}
    client = rawhttp.Client("127.0.0.1", server.port)
    meter = lag = recording = None

    async def send(i: int) -> None:
        nonlocal meter, lag, recording
        if i == warm:
            meter, lag = bench.meter(server), LoopLag().start()
            recording = bench.profile(server, "create_open_loop", duration)
        t0 = time.perf_counter()
        try:
            status, _ = await client.request(requests[i])
        except Exception as exc:  # noqa: BLE001 - every failure is a figure
            if i >= warm:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            return
        if i < warm:
            return
        if 200 <= status < 300:
            latencies.append(time.perf_counter() - t0)
        else:
            errors[f"HTTP {status}"] = errors.get(f"HTTP {status}", 0) + 1

    try:
        loop = await open_loop(send, n, rate, grace=5)
    finally:
        client.close()
    cpu = meter.stop()
    # Percentiles over every request measured: one that failed or was not answered counts as slower than any.
    failed = n - warm - len(latencies)
    every = latencies + [math.inf] * failed

    def pct(q: float) -> float | None:
        v = percentile(every, q)
        return None if v == math.inf else ms(v)

    phase = {"what": f"POST /api/v1/payments, open loop at {rate:g}/s (half of wrk's c={CONCURRENCY} rate) for "
                     f"{duration:g} s after {bench.plan.warmup:g} s not measured, from Python (bench.rawhttp)",
             "rate": rate, **loop.summary(), "measured": n - warm, "ok": len(latencies), "failed": failed,
             "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99),
             "max_ms": ms(max(latencies) if latencies else None), "errors": errors,
             "client_loop_lag": await lag.stop(), "cpu": cpu, "cpu_ms_per_op": CpuMeter.per_op(cpu, len(latencies))}
    bench.finish_profile(recording, phase)
    return phase

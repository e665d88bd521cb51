"""The phases measured through paygate's workers, one function per figure: one ``paygate worker`` draining a
backlog of pending payments, webhook deliveries drained, and end to end (POST -> webhooks at the receiver)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time

import aiohttp

from paygate.core.states import UNFINISHED
from paygate.infra.queue import PAYMENTS, Dispatcher
from paygate.storage import events
from paygate.storage.db import transaction

from .harness import UNFINISHED_PAYMENTS, Bench, console, count, make_orders, make_pending_payments
from .load import LoopLag, ms, open_loop, percentile
from .plan import HEADERS, WEBHOOKS_PER_PAYMENT, payment_body
from .receiver import Receiver
from .system import CpuMeter, Server

FIRST_FINAL_WAIT = 30  # seconds a worker may take to start and finish its first payment
ENQUEUE_CHUNK = 2000


def session() -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=1024, limit_per_host=0)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30))


async def set_webhook_url(server: Server, url: str | None, enabled: bool = True) -> None:
    async with session() as s, s.patch(f"{server.base_url}/api/v1/merchant", headers=HEADERS,
                                       json={"webhook_url": url, "webhook_enabled": enabled}) as resp:
        if resp.status != 200:
            raise RuntimeError(f"PATCH /api/v1/merchant answered {resp.status}: {await resp.text()}")


async def enqueue(redis_url: str, ids: list[str]) -> int:
    """Put each payment on the payments queue through paygate's Dispatcher (``enqueue_many`` where it exists);
    how many it did not take."""
    dispatcher = Dispatcher(redis_url)
    missed = 0
    try:
        many = getattr(dispatcher, "enqueue_many", None)
        for start in range(0, len(ids), ENQUEUE_CHUNK):
            chunk = ids[start:start + ENQUEUE_CHUNK]
            if many is not None:
                missed += 0 if await many(PAYMENTS, chunk) else len(chunk)
            else:
                taken = await asyncio.gather(*(dispatcher.enqueue(PAYMENTS, i) for i in chunk))
                missed += taken.count(False)
    finally:
        await dispatcher.close()
    return missed


async def drain(bench: Bench) -> dict:
    """A backlog of pending payments (orders and payments inserted through SQL while no worker runs, then each
    enqueued through the Dispatcher) moved to a final state by one ``paygate worker`` process. Rate and CPU are
    measured from the first payment that went final (the worker's start-up is not) until none is unfinished,
    counted through SQL, or the bounded wait ends."""
    plan, pool = bench.plan, bench.pool
    n = plan.drain_backlog
    t = time.perf_counter()
    ids = await make_pending_payments(pool, bench.merchant_id, n)
    made_s = time.perf_counter() - t
    t = time.perf_counter()
    missed = await enqueue(bench.redis_url, ids)
    enqueue_s = time.perf_counter() - t
    console.print(f"   {n} pending payments made in {made_s:.1f} s, enqueued in {enqueue_s:.1f} s"
                  + (f" ({missed} not taken)" if missed else ""))
    unfinished_before = await count(pool, UNFINISHED_PAYMENTS)
    counters = await bench.counters.snapshot()
    worker = await bench.start_server(("paygate", "worker"), http=False)
    try:
        spawned = time.perf_counter()
        left = unfinished_before
        while left >= unfinished_before and time.perf_counter() - spawned < FIRST_FINAL_WAIT:
            if not worker.running():
                raise RuntimeError(f"paygate worker exited with {worker.proc.returncode}:\n{worker.tail()}")
            await asyncio.sleep(0.05)
            left = await count(pool, UNFINISHED_PAYMENTS)
        first_final_s = time.perf_counter() - spawned
        meter = bench.meter(worker)
        t0, left0 = time.perf_counter(), left
        # Nothing final yet: the worker is not working (its log says why), so there is no drain to wait for.
        timeout = 0 if left0 >= unfinished_before else bench.clip(plan.drain_timeout, reserve=plan.e2e_duration + 30)
        recording = bench.profile(worker, "drain", timeout + 5)
        while left and time.perf_counter() - t0 < timeout and worker.running():
            await asyncio.sleep(0.1)
            left = await count(pool, UNFINISHED_PAYMENTS)
        cpu = meter.stop()
        window = time.perf_counter() - t0
        running = worker.running()
    finally:
        bench.stop_server(worker)
    done = left0 - left
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("""SELECT status, count(*), extract(epoch FROM max(updated_at) - min(updated_at))
                             FROM payments WHERE id = ANY(%s) GROUP BY status""", (ids,))
        by_status = {status: (int(c), float(span or 0)) for status, c, span in await cur.fetchall()}
    finals = {s: c for s, (c, _) in by_status.items() if s not in UNFINISHED["payment"]}
    phase = {
        "what": f"{n} pending payments (SQL) enqueued through Dispatcher, moved to final by one paygate worker",
        "backlog": n, "insert_s": round(made_s, 2), "enqueue_s": round(enqueue_s, 2), "enqueue_missed": missed,
        "worker_start_to_first_final_s": round(first_final_s, 2),
        "payments_per_s": round(done / window, 1) if window > 0 else 0.0,
        "window_s": round(window, 2), "final_in_window": done, "unfinished_at_end": left,
        "final_by_status": finals, "cpu": cpu, "cpu_ms_per_op": CpuMeter.per_op(cpu, done),
        "per_op": await bench.counters.per_op(counters, n - left),  # from the worker's start
    }
    success = by_status.get("success")
    if success and success[1] > 0:  # the same rate from Postgres's clock: first to last success recorded
        phase["success_per_s_by_updated_at"] = round((success[0] - 1) / success[1], 1)
    if not running:
        phase["note"] = f"the worker exited during the drain:\n{worker.tail()}"
    elif left:
        phase["note"] = f"{left} of {n} were not final after {window:.0f} s"
    if left0 >= unfinished_before:
        phase["note"] = (f"no payment went final within {FIRST_FINAL_WAIT} s of the worker's start; its log:\n"
                         f"{worker.tail(15)}")
    bench.finish_profile(recording, phase)
    return phase


async def deliveries(bench: Bench, server: Server, receiver: Receiver) -> dict:
    """N due deliveries drained: inserted through events.record while the endpoint is disabled, then the endpoint
    is enabled (PATCH /api/v1/merchant) and deliveries/s are counted from then until all arrived."""
    plan, pool = bench.plan, bench.pool
    n = plan.deliveries
    batch, inserters = 500, 4
    receiver.expect_bench(n)

    async def insert(part: range) -> None:
        for start in range(part.start, part.stop, batch):
            async with transaction(pool) as cur:
                for i in range(start, min(start + batch, part.stop)):
                    await events.record(cur, bench.merchant_id, "bench.delivery", f"bench_{i}",
                                        {"bench": {"seq": i}})

    await set_webhook_url(server, receiver.url, enabled=False)
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
    await set_webhook_url(server, receiver.url, enabled=True)
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
        "cpu_ms_per_op": CpuMeter.per_op(cpu, all_arrivals), "all_arrivals_during_phase": all_arrivals,
        "per_op": await bench.counters.per_op(counters, all_arrivals),
    }
    if got < n:
        phase["note"] = f"only {got} of {n} arrived within {timeout:g} s"
    bench.finish_profile(recording, phase)
    return phase


async def e2e(bench: Bench, server: Server, receiver: Receiver, rate: float, duration: float, grace: float) -> dict:
    """Open loop at ``rate`` payments/s for ``duration`` s: from each POST being sent to its payment.success
    webhook arriving, and whether all of each payment's webhooks (WEBHOOKS_PER_PAYMENT) arrived; ``grace``
    seconds are given to the last ones."""
    pool = bench.pool
    n = int(rate * duration)
    orders = await make_orders(pool, bench.merchant_id, n)
    url = f"{server.base_url}/api/v1/payments"
    sent_at: dict[str, float] = {}  # payment id -> when its POST was sent
    post_latency: list[float] = []
    errors: dict[str, int] = {}
    client = session()

    async def send(i: int) -> None:
        t0 = time.perf_counter()
        try:
            async with client.post(url, data=payment_body(orders[i]), headers=HEADERS) as resp:
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

    def complete(payment_id: str) -> bool:
        got = receiver.payment_events.get(payment_id, {})
        return all(kind in got for kind in WEBHOOKS_PER_PAYMENT)

    payments_before = await count(pool, "SELECT count(*) FROM payments")
    meter = bench.meter(server)
    lag = LoopLag().start()
    counters = await bench.counters.snapshot()
    recording = bench.profile(server, "e2e", duration + grace + 5)
    try:
        loop = await open_loop(send, n, rate, grace)
    finally:
        await client.close()
    # The last webhooks, until ``grace`` seconds after the last POST was sent.
    grace_end = loop.start + loop.sending_took + grace
    while time.perf_counter() < grace_end and not all(complete(p) for p in sent_at):  # noqa: ASYNC110 - polls
        await asyncio.sleep(0.05)
    cpu = meter.stop()
    loop_lag = await lag.stop()
    made = await count(pool, "SELECT count(*) FROM payments") - payments_before  # answered or not
    # Percentiles over every payment scheduled: one whose POST or webhook never came within the grace period
    # counts as slower than anything measured (censored), so an overloaded server cannot look fast.
    observed_until = time.perf_counter()
    latencies = [receiver.success_at[p] - t for p, t in sent_at.items() if p in receiver.success_at]
    missing = n - len(latencies)
    everything = latencies + [math.inf] * missing
    censored_ms = ms(observed_until - loop.start - n / rate)  # every missing one took at least this long
    delivered = sum(kind in receiver.payment_events.get(p, {}) for p in sent_at for kind in WEBHOOKS_PER_PAYMENT)
    expected = n * len(WEBHOOKS_PER_PAYMENT)

    def pct(q: float):
        v = percentile(everything, q)
        return ms(v) if v != math.inf else None

    phase = {
        "what": f"open loop {rate:g} payments/s for {duration:g} s; POST sent -> payment.success received, and "
                f"each payment's {', '.join(WEBHOOKS_PER_PAYMENT)}",
        **loop.summary(), "created_answered": len(sent_at), "created_in_database": made, "post_errors": errors,
        "success_webhooks_received": len(latencies), "success_webhooks_missing": missing,
        "webhooks_expected": expected, "webhooks_delivered": delivered, "webhooks_missing": expected - delivered,
        "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99),
        "missing_took_at_least_ms": censored_ms if missing else None,
        "received_only": {"p50_ms": ms(percentile(latencies, 50)), "p99_ms": ms(percentile(latencies, 99)),
                          "max_ms": ms(max(latencies) if latencies else None)},
        "post_answered_p50_ms": ms(percentile(post_latency, 50)),
        "post_answered_p99_ms": ms(percentile(post_latency, 99)),
        "success_webhooks_per_s": round(len(latencies) / (observed_until - loop.start), 1),
        "client_loop_lag": loop_lag, "cpu": cpu, "cpu_ms_per_op": CpuMeter.per_op(cpu, made),
        "per_op": await bench.counters.per_op(counters, made),
    }
    if missing or expected > delivered:
        phase["note"] = (f"{missing} of {n} payment.success webhooks ({expected - delivered} of {expected} webhooks "
                         f"in all) had not arrived {grace:g} s after the last POST was sent; percentiles count the "
                         f"missing as slower than {censored_ms:g} ms")
    bench.finish_profile(recording, phase)
    return phase

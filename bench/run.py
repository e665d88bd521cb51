"""paygate's benchmark: ``python -m bench.run [--quick] [--only GROUPS] [--set KEY=VALUE] [--out FILE]``.

One run starts its own embedded Postgres and Redis in a temporary directory, migrates and seeds them, starts the
processes each phase needs (``paygate serve --no-worker``, one ``paygate worker``, ``paygate serve``,
``bench.floor``), measures, and stops everything again (also on error, Ctrl-C and SIGTERM), by PID. HTTP load
comes from wrk (``bench.wrk``); all traffic goes to 127.0.0.1. What runs, in what order and within what time is in
``bench.plan``; the phases are in ``bench.phases`` and ``bench.workers``; the table and results.json in
``bench.report``.

The machine is shared and noisy, so throughput is reported as a ratio to the baseline of the same run, with the
CPU each process used per operation (steadier than rates), Postgres transactions and Redis commands per
operation, and how much CPU everything else on the machine took meanwhile. ``--profile DIR`` samples the server
with py-spy during each phase and prints where its event loop spent the time.

While working on one part, ``--only drain`` (or ``cli``, ``floor``, ``api``, ``workers``, comma-separated) runs the
baseline and those groups only, and ``--set worker.batch=100`` (repeatable) gives every paygate process the bench
starts that setting.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
import tempfile
import warnings
from pathlib import Path

from paygate.infra import config as config_mod
from paygate.infra import crypto
from paygate.storage import migrations
from paygate.storage.db import create_pool
from paygate.storage.seed import seed_test_merchant

from . import cli as cli_bench
from . import phases, report, workers, wrk
from .harness import PENDING_DELIVERIES, Bench, Counters, cancel_pending_deliveries, cancel_pending_payments, console
from .harness import count as sql_count
from .plan import CONCURRENCY, E2E_RATE, FULL, QUICK, SATURATION
from .profile import py_spy
from .receiver import Receiver

GROUPS = ("cli", "floor", "drain", "api", "workers")  # what --only selects; the baseline always runs


async def api_only(bench: Bench) -> None:
    """1, 2, 9 and 1o against ``paygate serve --no-worker``."""
    plan, p = bench.plan, bench.phases
    server = await bench.start_server(args=("--no-worker",))
    try:
        bench.mark("1. create payment")
        console.print(f"[bold]1. create payment[/] API only, wrk c={CONCURRENCY}, {plan.create_duration} s")
        p["create"] = await phases.create(bench, server)
        phases.show(p["create"])
        if bench.fits("2. get payment", plan.get_duration + 2):
            bench.mark("2. get payment")
            console.print(f"[bold]2. get payment[/] wrk c={CONCURRENCY}, {plan.get_duration} s")
            p["get"] = await phases.get(bench, server)
            phases.show(p["get"])
        if bench.fits("9. fairness", 2 * plan.saturation_duration + 4):
            bench.mark("9. fairness")
            console.print(f"[bold]9. fairness at saturation[/] wrk c={SATURATION}")
            p["fairness"] = await phases.fairness(bench, server)
        rate = round(p["create"]["requests_per_s"] / 2)
        if plan.open_loop_duration and rate and bench.fits("1o. create, open loop", plan.open_loop_duration + 3):
            bench.mark("1o. create, open loop")
            console.print(f"[bold]1o. create payment[/] open loop at {rate}/s (half the maximum), "
                          f"{plan.open_loop_duration:g} s")
            o = p["create_open_loop"] = await phases.create_open_loop(bench, server, rate)
            console.print(f"   p50 {o['p50_ms']} ms, p99 {o['p99_ms']} ms, {o['failed']} failed")
    finally:
        bench.stop_server(server)


async def with_workers(bench: Bench, receiver: Receiver) -> None:
    """4 and 3 against ``paygate serve`` (its workers in it), once nothing is left queued."""
    plan, p = bench.plan, bench.phases
    cancelled = await cancel_pending_payments(bench.pool)
    await bench.counters.flush()
    if cancelled:
        bench.results["notes"].append(f"{cancelled} payments that the API-only phases left pending were marked "
                                      "failed through SQL, and Redis emptied, before phases 4 and 3")
    server = await bench.start_server()
    try:
        if bench.fits("4. webhook deliveries", 5 + plan.e2e_duration):
            bench.mark("4. webhook deliveries")
            console.print(f"[bold]4. webhook deliveries[/] {plan.deliveries} due deliveries")
            p["deliveries"] = await workers.deliveries(bench, server, receiver)
            console.print(f"   {p['deliveries']['deliveries_per_s']} deliveries/s")
            if await sql_count(bench.pool, PENDING_DELIVERIES):  # phase 3 must not queue behind them
                n = await cancel_pending_deliveries(bench.pool)
                bench.results["notes"].append(f"{n} deliveries of phase 4 had not been sent when it ended; before "
                                              "phase 3 they were marked failed through SQL")
        if bench.fits("3. end to end", plan.e2e_duration + 1):
            bench.mark("3. end to end")
            console.print(f"[bold]3. end to end[/] {E2E_RATE} payments/s open loop, {plan.e2e_duration:g} s")
            await workers.set_webhook_url(server, receiver.url)
            e = p["e2e"] = await workers.e2e(bench, server, receiver, E2E_RATE, plan.e2e_duration,
                                             grace=bench.clip(plan.e2e_grace, reserve=1))
            console.print(f"   p50 {e['p50_ms']} ms, p99 {e['p99_ms']} ms, {e['webhooks_missing']} of "
                          f"{e['webhooks_expected']} webhooks missing")
        bench.results["receiver"] = {"by_type": dict(receiver.by_type), "duplicates": receiver.duplicates,
                                     "unparsable": receiver.bad}
    finally:
        bench.stop_server(server)


async def run(bench: Bench) -> None:
    plan, p = bench.plan, bench.phases
    config = config_mod.build({"database.url": bench.database_url, "redis.url": bench.redis_url,
                               "security.master_key": bench.master_key}, check_required=True)
    bench.pool = pool = await create_pool(config)
    bench.counters = Counters(pool, bench.redis_url)
    receiver = await Receiver().start()
    try:
        await migrations.migrate(pool)
        merchant = await seed_test_merchant(pool, crypto.SecretBox(bench.master_key))
        bench.merchant_id = merchant["merchant_id"]
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute("SHOW server_version")
            bench.results["machine"]["postgres"] = (await cur.fetchone())[0]
        bench.mark("services up")

        if bench.runs("cli"):
            await cli_startup(bench)
        bench.mark("5. baseline")
        console.print(f"[bold]5. baseline[/] INSERT+SELECT, {plan.baseline_duration:g} s")
        p["baseline"] = await phases.baseline(bench)
        console.print(f"   {p['baseline']['ops_per_s']} ops/s")
        if bench.runs("floor"):
            bench.mark("5f. floor")
            console.print(f"[bold]5f. floor[/] the baseline's statements behind aiohttp, wrk c={CONCURRENCY}, "
                          f"{plan.floor_duration} s")
            p["floor"] = await phases.floor(bench)
            phases.show(p["floor"])
        if bench.runs("drain"):
            await drain(bench)
        if bench.runs("api"):
            await api_only(bench)
        if bench.runs("workers"):
            await with_workers(bench, receiver)
    finally:
        await bench.counters.close()
        await receiver.stop()
        pool.close()
        await pool.wait_closed()


async def cli_startup(bench: Bench) -> None:
    plan, p = bench.plan, bench.phases
    bench.mark("7. CLI start-up")
    console.print(f"[bold]7. CLI start-up[/] paygate --help and status --json, median of {plan.cli_runs}")
    cli_env = {**os.environ, "PAYGATE_DATABASE__URL": bench.database_url, "PAYGATE_REDIS__URL": bench.redis_url}
    p["cli"] = await asyncio.to_thread(cli_bench.run, plan.cli_runs, cli_env, True, plan.cli_subcommand_runs)
    console.print(f"   --help {p['cli']['help']['wall_s']} s, status --json {p['cli']['status_json']['wall_s']} s")


async def drain(bench: Bench) -> None:
    bench.mark("8. drain")
    console.print(f"[bold]8. drain[/] one paygate worker, {bench.plan.drain_backlog} pending payments")
    try:  # a failure here is reported and the other phases go on
        d = bench.phases["drain"] = await workers.drain(bench)
        console.print(f"   {d['payments_per_s']} payments/s, CPU {d['cpu_ms_per_op'].get('total')} ms/payment, "
                      f"{d['unfinished_at_end']} unfinished at the end")
        if d.get("note"):
            bench.note(f"8. drain: {d['note']}")
    except Exception as exc:  # noqa: BLE001
        bench.note(f"8. drain failed: {type(exc).__name__}: {str(exc)[-1500:]}")


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke test: short windows, about a minute and a half")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results.json",
                        help="where to write the figures (default bench/results.json)")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="sample the server with py-spy during each phase; raw stacks go to DIR")
    parser.add_argument("--only", metavar="GROUPS", type=lambda text: set(text.split(",")) - {""},
                        help=f"the baseline and these only, comma-separated: {', '.join(GROUPS)}")
    parser.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], dest="settings",
                        help="a paygate setting for every process the bench starts, e.g. worker.batch=100")
    args = parser.parse_args(argv)
    if args.only and args.only - set(GROUPS):
        parser.error(f"--only: unknown {', '.join(sorted(args.only - set(GROUPS)))} (known: {', '.join(GROUPS)})")
    if any("=" not in s for s in args.settings):
        parser.error("--set takes KEY=VALUE, e.g. worker.batch=100")
    if args.profile and py_spy() is None:
        parser.error("--profile needs py-spy: pip install py-spy")
    try:
        wrk.executable()
    except wrk.WrkMissing as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2

    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)  # unwind like Ctrl-C, stopping everything
    plan = QUICK if args.quick else FULL
    data_dir = Path(tempfile.mkdtemp(prefix="paygate-bench-"))
    bench = Bench(plan, data_dir, args.profile, dict(s.split("=", 1) for s in args.settings), args.only)
    bench.results.update(machine=report.machine(), mode="quick" if args.quick else "full", plan=plan.__dict__,
                         settings=bench.settings, only=sorted(args.only) if args.only else None,
                         concurrency=CONCURRENCY, saturation=SATURATION, e2e_rate=E2E_RATE)
    code = 0
    try:
        from paygate.infra.embedded import Embedded

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
            console.print(f"[dim]{server.name} log (tail):\n{server.tail()}")
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
    report.print_tables(bench.results)
    report.write(bench.results, args.out)
    console.print(f"figures written to {args.out} ({bench.results['seconds']} s)")
    return code


if __name__ == "__main__":
    sys.exit(main())

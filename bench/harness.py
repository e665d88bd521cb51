"""What the phases share: the run's state and budget (``Bench``), the processes it starts, counters of Postgres
transactions and Redis commands, and the SQL that makes and clears work outside any measurement."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from pathlib import Path

import aiohttp
import aiopg
import redis.asyncio
from rich.console import Console

from paygate.core.states import UNFINISHED
from paygate.infra import crypto
from paygate.storage.db import transaction

from .plan import CARD_NUMBER, Plan
from .profile import Recording, print_summary
from .system import CpuMeter, Server

console = Console(width=None if sys.stdout.isatty() else 132)  # not 80 columns when piped

# Literal lists, so that the planner can use the partial indexes on unfinished rows.
UNFINISHED_PAYMENTS = ("SELECT count(*) FROM payments WHERE status IN ("
                       + ", ".join(f"'{s}'" for s in sorted(UNFINISHED["payment"])) + ")")
PENDING_DELIVERIES = "SELECT count(*) FROM webhook_logs WHERE status = 'pending'"


class Bench:
    """State shared by the phases; ``servers`` is what ``run.main`` stops whatever happens."""

    def __init__(self, plan: Plan, data_dir: Path, profile_dir: Path | None, settings: dict[str, str] | None = None,
                 only: set[str] | None = None):
        self.plan = plan
        self.settings = settings or {}  # paygate settings for every process the bench starts (--set)
        self.only = only  # the groups of phases to run (--only); None: all
        self.data_dir = data_dir
        self.profile_dir = profile_dir
        self.started = time.monotonic()
        self.servers: list[Server] = []
        self.results: dict = {"figures": {}, "phases": {}, "notes": []}
        self.master_key = crypto.new_master_key()
        self.embedded = None
        self.counters: Counters | None = None
        self.pool: aiopg.Pool | None = None
        self.merchant_id = ""
        self.database_url = self.redis_url = ""

    def runs(self, group: str) -> bool:
        return self.only is None or group in self.only

    @property
    def phases(self) -> dict:
        return self.results["phases"]

    def note(self, text: str) -> None:
        console.print(f"[yellow]{text}")
        self.results["notes"].append(text)

    # -- time ---------------------------------------------------------------------------------------------------

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
        self.note(f"{name}: skipped, it would not fit in the {self.plan.budget:g} s budget "
                  f"({self.elapsed():.0f} s used)")
        return False

    # -- processes ----------------------------------------------------------------------------------------------

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
            # One merchant makes all of the load: its API rate limit counts every request (as in production) but
            # never refuses one (--set api.rate_limit=0 leaves the count out).
            "PAYGATE_API__RATE_LIMIT": "1000000000",
            "PAYGATE_API__RATE_LIMIT_BURST": "1000000000",
        })
        env.update({"PAYGATE_" + key.upper().replace(".", "__"): value for key, value in self.settings.items()})
        return env

    async def start_server(self, module: tuple[str, ...] = ("paygate", "serve"), args: tuple[str, ...] = (),
                           http: bool = True) -> Server:
        """Start it; an HTTP server is returned once /readyz answers 200 (within 60 s), any other at once."""
        log = self.data_dir / f"{module[-1]}-{len(self.servers)}.log"
        server = Server(self.server_env(), log, module, args, http)
        self.servers.append(server)
        if not http:
            return server
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if not server.running():
                    raise RuntimeError(f"{server.name} exited with {server.proc.returncode}:\n{server.tail()}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(f"{server.base_url}/readyz",
                                           timeout=aiohttp.ClientTimeout(total=3)) as resp:
                        if resp.status == 200:
                            return server
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{server.name} was not ready within 60 s:\n{server.tail()}")

    def stop_servers(self) -> None:
        # Their graceful shutdown is not measured: an overloaded server gets a few seconds, then SIGKILL.
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

    def write_ids(self, name: str, ids: list[str]) -> Path:
        """A file of ids, one a line, for wrk's script."""
        path = self.data_dir / f"{name}.ids"
        path.write_text("\n".join(ids) + "\n")
        return path


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

    async def flush(self) -> None:
        """Empty the bench's own Redis (only while no paygate process runs): queues, streams and caches."""
        await self.redis.flushdb()

    async def close(self) -> None:
        await self.redis.aclose()


# -- SQL outside the measurements -------------------------------------------------------------------------------

async def count(pool: aiopg.Pool, sql: str, args: tuple = ()) -> int:
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(sql, args)
        (n,) = await cur.fetchone()
        return int(n)


async def make_orders(pool: aiopg.Pool, merchant_id: str, n: int, status: str = "created") -> list[str]:
    """``n`` fresh orders of 500.00 INR (automatic capture), inserted in bulk."""
    ids = [crypto.new_id("order") for _ in range(n)]
    for start in range(0, n, 20_000):
        async with transaction(pool) as cur:
            await cur.execute(
                """INSERT INTO orders (id, merchant_id, amount, currency, status)
                   SELECT unnest(%s::text[]), %s, 50000, 'INR', %s""",
                (ids[start:start + 20_000], merchant_id, status),
            )
    return ids


async def make_pending_payments(pool: aiopg.Pool, merchant_id: str, n: int) -> list[str]:
    """``n`` orders, each with one pending card payment, as ``POST /api/v1/payments`` leaves them (without its
    payment.created event and without enqueueing them); the payments' ids."""
    from paygate.core.processors.simulator import Simulator

    token = Simulator(pool).tokenize_card(CARD_NUMBER).token  # a card token the simulator approves
    orders = await make_orders(pool, merchant_id, n, status="attempted")
    ids = [crypto.new_id("pay") for _ in range(n)]
    for start in range(0, n, 20_000):
        async with transaction(pool) as cur:
            await cur.execute(
                """INSERT INTO payments (id, order_id, merchant_id, amount, currency, method, capture_method,
                                         card_network, card_last4, card_expiry_month, card_expiry_year,
                                         processor_token)
                   SELECT unnest(%s::text[]), unnest(%s::text[]), %s, 50000, 'INR', 'card', 'automatic',
                          'visa', '1111', 12, 2035, %s""",
                (ids[start:start + 20_000], orders[start:start + 20_000], merchant_id, token),
            )
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("ANALYZE orders")  # thousands of rows within a second: plan with what is there
        await cur.execute("ANALYZE payments")
    return ids


async def wait_until_zero(pool: aiopg.Pool, sql: str, timeout: float) -> tuple[int, float, int]:
    """Poll ``sql`` (a count) until it is 0 or ``timeout``; (count at start, seconds waited, count at end)."""
    start = time.perf_counter()
    first = n = await count(pool, sql)
    while n and time.perf_counter() - start < timeout:
        await asyncio.sleep(0.25)
        n = await count(pool, sql)
    return first, round(time.perf_counter() - start, 2), n


async def cancel_pending_payments(pool: aiopg.Pool) -> int:
    """Mark the pending payments failed (run only while no worker runs): the API-only phases leave thousands,
    which the end-to-end phase must not queue behind."""
    async with transaction(pool) as cur:
        await cur.execute("""UPDATE payments SET status = 'failed', error_code = 'BENCH_CANCELLED',
                                    error_description = 'cancelled by bench', updated_at = now()
                             WHERE status = 'pending'""")
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

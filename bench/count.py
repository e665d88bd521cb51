"""What one operation costs in round trips, counted exactly: ``python -m bench.count [-n N] [--json]``.

Rates on a shared machine are noisy; statement and command counts are not. This starts its own embedded
Postgres and Redis, builds the real application in this process (no workers, so nothing runs in the
background) and counts, per operation:

- SQL statements sent through aiopg (BEGIN and COMMIT included) and transactions (an explicit BEGIN … COMMIT,
  or one autocommit statement), by wrapping ``aiopg.Cursor.execute`` in this process only;
- Redis commands the server executed, Lua-internal ones included (``INFO commandstats`` before and after).

Operations: create payment (HTTP, merchant with and without a webhook URL, with and without an
Idempotency-Key), GET payment (HTTP), process payment (one alone, and a batch of ``worker.batch`` as a worker
reads them from its stream), one webhook delivery
(what a webhook job runs, to a local receiver), and a scheduler pass, with N due deliveries already
queued and with nothing to do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import warnings
from collections import Counter
from pathlib import Path

import aiopg
import redis.asyncio
from aiohttp.test_utils import TestClient, TestServer

from paygate.core.operations import webhooks as webhook_ops
from paygate.core.operations.processing import process_payment, process_payments
from paygate.core.webhooks.delivery import new_session
from paygate.http import appkeys
from paygate.http.app import create_app
from paygate.infra import config as config_mod
from paygate.infra import crypto
from paygate.storage import migrations
from paygate.storage.db import Statement, create_pool
from paygate.storage.seed import TEST_MERCHANT, seed_test_merchant
from paygate.worker.runner import WorkerRole

from .harness import make_orders
from .plan import CARD
from .receiver import Receiver

HEADERS = {"X-Api-Key": TEST_MERCHANT["api_key"], "X-Api-Secret": TEST_MERCHANT["api_secret"],
           "Content-Type": "application/json"}


class SqlCounter:
    """Counts statements and transactions sent through every aiopg cursor of this process."""

    def __init__(self) -> None:
        self.statements = 0
        self.transactions = 0
        self.by_kind: Counter[str] = Counter()
        self._in_tx: set[int] = set()
        self._original = aiopg.Cursor.execute

    def install(self) -> None:
        counter, original = self, self._original

        async def execute(cur, operation, parameters=None, *args, **kwargs):
            counter.note(id(cur.connection), operation)
            return await original(cur, operation, parameters, *args, **kwargs)

        aiopg.Cursor.execute = execute

    def uninstall(self) -> None:
        aiopg.Cursor.execute = self._original

    def note(self, conn: int, sql: str | bytes) -> None:
        """One round trip, named by its first word: a transaction's first carries its BEGIN (``BEGIN; INSERT …``),
        and its last may carry deferred writes before the COMMIT (``WITH …; COMMIT``)."""
        if isinstance(sql, bytes):
            sql = sql.decode()
        words = sql.split(None, 2)
        if len(words) > 1 and words[0] == "EXECUTE":  # a prepared statement: named by its own first word
            words = Statement.by_name[words[1].split("(")[0]].sql.split(None, 1)
        kind = words[0].upper().rstrip(";") if words else ""
        self.statements += 1
        self.by_kind[kind] += 1
        if kind == "BEGIN":
            self._in_tx.add(conn)
            self.transactions += 1
        elif conn not in self._in_tx and kind not in ("COMMIT", "ROLLBACK"):
            self.transactions += 1
        if sql.rstrip().upper().endswith(("COMMIT", "ROLLBACK")):
            self._in_tx.discard(conn)

    def snapshot(self) -> tuple[int, int, Counter]:
        return self.statements, self.transactions, Counter(self.by_kind)


class RedisCounter:
    def __init__(self, url: str):
        self.client = redis.asyncio.Redis.from_url(url)

    async def snapshot(self) -> Counter:
        stats = await self.client.info("commandstats")
        return Counter({k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()})


async def measure(name: str, n: int, sql: SqlCounter, rds: RedisCounter, op, calls: int | None = None) -> dict:
    """Run ``op(i)`` for i in range(calls), one at a time, which does ``n`` operations in all (one each unless
    ``calls`` says otherwise); the cost of one operation, averaged."""
    s0, t0, k0 = sql.snapshot()
    r0 = await rds.snapshot()
    for i in range(n if calls is None else calls):
        await op(i)
    s1, t1, k1 = sql.snapshot()
    r1 = await rds.snapshot()
    redis_delta = {k: v for k, v in (r1 - r0).items() if k != "info"}
    kinds = {k: round(v / n, 2) for k, v in (k1 - k0).items()}
    return {"operation": name, "n": n, "sql_statements": round((s1 - s0) / n, 2),
            "transactions": round((t1 - t0) / n, 2), "redis_commands": round(sum(redis_delta.values()) / n, 2),
            "sql_by_kind": kinds, "redis_by_command": {k: round(v / n, 2) for k, v in sorted(redis_delta.items())}}


async def run(database_url: str, redis_url: str, n: int) -> list[dict]:
    master_key = crypto.new_master_key()
    config = config_mod.build({"database.url": database_url, "redis.url": redis_url,
                               "security.master_key": master_key, "processor.delay_min": 0,
                               "processor.delay_max": 0, "webhooks.allow_private_targets": True,
                               "logging.level": "warning"}, check_required=True)
    pool = await create_pool(config)
    await migrations.migrate(pool)
    await seed_test_merchant(pool, crypto.SecretBox(master_key))
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("SELECT id FROM merchants WHERE api_key = %s", (TEST_MERCHANT["api_key"],))
        (merchant_id,) = await cur.fetchone()

    receiver = await Receiver().start()
    sql, rds = SqlCounter(), RedisCounter(redis_url)
    app = create_app(config)
    client = TestClient(TestServer(app))
    await client.start_server()
    services = app[appkeys.SERVICES]
    session = new_session(True, 10)
    results = []
    sql.install()
    try:
        created: list[str] = []

        async def create(order_ids: list[str], key_prefix: str | None = None):
            async def op(i: int):
                headers = dict(HEADERS)
                if key_prefix:
                    headers["Idempotency-Key"] = f"{key_prefix}-{i}"
                body = f'{{"order_id": "{order_ids[i]}", "method": "card", "card": {CARD}}}'
                resp = await client.post("/api/v1/payments", data=body, headers=headers)
                assert resp.status == 201, await resp.text()
                created.append((await resp.json())["id"])
            return op

        async def set_url(url: str | None):
            resp = await client.patch("/api/v1/merchant", json={"webhook_url": url}, headers=HEADERS)
            assert resp.status == 200, await resp.text()

        # Warm-up: the first request pays for loading Lua scripts and opening connections.
        await (await create(await make_orders(pool, merchant_id, 1)))(0)

        results.append(await measure("create payment, no webhook URL", n, sql, rds,
                                     await create(await make_orders(pool, merchant_id, n))))
        results.append(await measure("create payment, no webhook URL, Idempotency-Key", n, sql, rds,
                                     await create(await make_orders(pool, merchant_id, n), "k")))

        async def get(i: int):
            resp = await client.get(f"/api/v1/payments/{created[i]}", headers=HEADERS)
            assert resp.status == 200
            await resp.read()

        results.append(await measure("GET payment", n, sql, rds, get))
        pending = list(created)

        async def process(i: int):
            assert await process_payment(services, pending[i]) == "success"

        results.append(await measure("process payment (no webhook URL)", n, sql, rds, process))

        # As a worker does: the entries of one read (worker.batch) through the phases together.
        created.clear()
        make = await create(await make_orders(pool, merchant_id, n))
        for i in range(n):
            await make(i)
        batched, size = list(created), config.worker.batch

        async def process_batch(i: int):
            statuses = await process_payments(services, batched[i * size:(i + 1) * size])
            assert set(statuses.values()) == {"success"}, statuses

        results.append(await measure(f"process payments, {size} at a time (no webhook URL)", n, sql, rds,
                                     process_batch, calls=-(-n // size)))

        await set_url(receiver.url)
        created.clear()
        results.append(await measure("create payment, with webhook URL", n, sql, rds,
                                     await create(await make_orders(pool, merchant_id, n))))
        pending = list(created)
        results.append(await measure("process payment (with webhook URL)", n, sql, rds, process))

        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute("SELECT count(*) FROM webhook_logs WHERE status = 'pending'")
            (due,) = await cur.fetchone()
        limiter = webhook_ops.EndpointLimiter(10, 200)
        batch = min(config.worker.webhook_batch, webhook_ops.per_merchant(config.webhooks))  # one merchant

        async def deliver(i: int):  # as the deliverer does when each claim's attempts end together
            claimed = await webhook_ops.claim(services, config.worker.webhook_batch)
            attempts = await asyncio.gather(*(webhook_ops.attempt(services, session, limiter, d, claimed.start_before)
                                              for d in claimed.deliveries))
            recorded = await webhook_ops.record(services, attempts)
            assert [r["status"] for r in recorded] == ["success"] * min(batch, due - i * batch)

        results.append(await measure(f"webhook delivery (claimed in batches of {batch})", due, sql, rds, deliver,
                                     calls=-(-due // batch)))

        role = WorkerRole(services)  # not started: its pass only (it wakes a deliverer, which does not run here)

        async def scheduler_pass(i: int):
            await role.run_scheduler_once()

        results.append(await measure("scheduler pass", 5, sql, rds, scheduler_pass))
    finally:
        sql.uninstall()
        await session.close()
        await client.close()
        await receiver.stop()
        await rds.client.aclose()
        pool.close()
        await pool.wait_closed()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.count", description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=50, help="operations of each kind (default 50)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="paygate-count-"))
    embedded = None
    try:
        from paygate.infra.embedded import Embedded

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            embedded = Embedded(data_dir / "services")
            database_url, redis_url = embedded.start()
        results = asyncio.run(run(database_url, redis_url, args.n))
    finally:
        if embedded is not None:
            embedded.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"{'operation':<50} {'SQL':>6} {'tx':>5} {'Redis':>6}")
    for r in results:
        print(f"{r['operation']:<50} {r['sql_statements']:>6} {r['transactions']:>5} {r['redis_commands']:>6}")
        print(f"{'':<4}sql {dict(r['sql_by_kind'])}")
        print(f"{'':<4}redis {r['redis_by_command']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The worker role: bullmq workers that process payments and refunds, the webhook deliverer, and the
scheduler beside them.

Runs inside ``paygate serve`` and ``paygate dev`` (unless --no-worker) and alone in
``paygate worker``. Several processes may run it at once: jobs are claimed through
bullmq, deliveries through Postgres (FOR UPDATE SKIP LOCKED, under a lease), and everything the
scheduler does is safe to do twice.

Webhook deliveries need no job each: Postgres already holds them, due or not, and a claim takes a batch.
The deliverer claims whenever some may be due (a NOTIFY at the commit that made them, a scheduler pass
for retries whose time came, a batch that was cut short) and sends each batch in a task of its own.
A bullmq job per wake-up cost 2-4 ms of CPU, more than the one to three deliveries it usually carried.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import time

import aiopg

from . import idempotency
from .operations import webhooks as webhook_ops
from .operations.processing import process_payment, process_refund, release_expired_authorizations
from .queue import PAYMENTS, REFUNDS, WEBHOOKS, Worker
from .services import Services
from .storage import payments, refunds
from .storage.webhooks import NOTIFY_CHANNEL
from .webhooks.delivery import new_session

log = logging.getLogger("paygate.worker")
jobs_log = logging.getLogger("paygate.jobs")  # one line per finished job (per delivery, for webhooks)


class WorkerRole:
    def __init__(self, services: Services):
        self.services = services
        self.workers: list[Worker] = []
        self._tasks: list[asyncio.Task] = []
        self._stopping = asyncio.Event()
        hooks = services.config.webhooks
        self.limiter = webhook_ops.EndpointLimiter(hooks.per_endpoint_concurrency,
                                                   services.config.worker.webhook_concurrency)
        self.session = None
        self._due = asyncio.Event()  # webhook deliveries may be due: the deliverer claims
        self._due.set()  # whatever waited while no worker ran
        self._sending: set[asyncio.Task] = set()

    async def start(self) -> None:
        config = self.services.config
        hooks = config.webhooks
        self.session = new_session(hooks.allow_private_targets, hooks.per_endpoint_concurrency)
        options = {
            "connection": config.redis.url,
            "concurrency": config.worker.concurrency,
            "name": f"{socket.gethostname()}-{os.getpid()}",
            # How long an idle worker blocks on Redis; shorter makes shutdown prompt.
            "drainDelay": 1,
        }
        self.workers = [
            Worker(PAYMENTS, self._payment_job, options),
            Worker(REFUNDS, self._refund_job, options),
        ]
        self._tasks = [
            asyncio.create_task(self._schedule(), name="paygate-scheduler"),
            asyncio.create_task(self._listen(), name="paygate-webhook-listener"),
            asyncio.create_task(self._deliver(), name="paygate-webhook-deliverer"),
        ]

    async def _payment_job(self, job, token) -> str:
        status = await process_payment(self.services, job.data["id"])
        jobs_log.info("payment %s: %s", job.data["id"], status,
                 extra={"queue": PAYMENTS, "job_id": job.id, "payment_id": job.data["id"], "status": status})
        return status

    async def _refund_job(self, job, token) -> str:
        status = await process_refund(self.services, job.data["id"])
        jobs_log.info("refund %s: %s", job.data["id"], status,
                 extra={"queue": REFUNDS, "job_id": job.id, "refund_id": job.data["id"], "status": status})
        return status

    async def _deliver(self) -> None:
        """Claim due deliveries whenever some may be due, and send each batch in a task of its own: at most
        ``worker.webhook_concurrency`` / ``per_merchant`` batches at once, so that one process's batches can
        fill its webhook concurrency even when each holds a single merchant's share.

        A wake-up less than ``worker.webhook_claim_gap`` after the last claim waits for the gap: at 200
        payments/s a NOTIFY comes every few milliseconds, and claiming and recording ten deliveries costs
        Postgres about 2.5 times what one costs (4 ms against 1.7 ms, measured one claim at a time). A claim
        cut short by its size or by a merchant's share is followed at once: a backlog drains at the rate it
        is sent."""
        config = self.services.config
        slots = asyncio.Semaphore(-(-config.worker.webhook_concurrency // webhook_ops.per_merchant(config.webhooks)))
        gap, last = config.worker.webhook_claim_gap, -math.inf
        while not self._stopping.is_set():
            await self._due.wait()
            await asyncio.sleep(last + gap - time.monotonic())  # under load, what becomes due meanwhile joins
            while not self._stopping.is_set():
                self._due.clear()  # a wake-up from now on means another claim
                await slots.acquire()
                last = time.monotonic()
                try:
                    batch = await webhook_ops.claim(self.services)
                except Exception:  # Postgres away: the scheduler's next pass wakes this again
                    slots.release()
                    log.exception("claiming due webhook deliveries failed")
                    break
                if not batch.deliveries:
                    slots.release()
                    break
                task = asyncio.create_task(self._send(batch, slots))
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)
                if not batch.more_may_be_due:
                    break

    async def _send(self, batch: webhook_ops.Batch, slots: asyncio.Semaphore) -> None:
        try:
            recorded = await webhook_ops.deliver(self.services, self.session, self.limiter, batch)
        except Exception:
            # The deliveries stay pending in Postgres and are claimed again when their lease ends.
            log.exception("%d webhook deliveries failed before their attempts were recorded", len(batch.deliveries))
            return
        finally:
            slots.release()
        for row in recorded:
            jobs_log.info("webhook delivery %s: %s", row["id"], row["status"], extra={
                "queue": WEBHOOKS, "delivery_id": row["id"], "status": row["status"]})

    async def _schedule(self) -> None:
        interval = self.services.config.scheduler.interval
        while not self._stopping.is_set():
            try:
                await self.run_scheduler_once()
            except Exception:  # the scheduler must outlive a passing Postgres or Redis outage
                log.exception("scheduler pass failed; trying again in %ss", interval)
            try:
                async with asyncio.timeout(interval):
                    await self._stopping.wait()
            except TimeoutError:
                pass

    async def run_scheduler_once(self) -> dict[str, int]:
        """One pass: wake the deliverer (for retries whose time came, and anything a lost NOTIFY or an expired
        lease left), requeue work whose job was lost, release expired authorizations, purge old idempotency
        keys."""
        services = self.services
        stuck_after = services.config.payments.stuck_after
        self._due.set()
        async with services.pool.acquire() as conn, conn.cursor() as cur:
            stuck = [(PAYMENTS, i) for i in await payments.unfinished_before(cur, stuck_after)]
            stuck += [(REFUNDS, i) for i in await refunds.unfinished_before(cur, stuck_after)]
        requeued = 0
        for queue, object_id in stuck:
            requeued += await services.dispatcher.requeue(queue, object_id)
        released = await release_expired_authorizations(services)
        purged = await idempotency.purge_expired(services)
        await services.dispatcher.mark_scheduler_pass()  # for the scheduler-lag gauge
        return {"requeued": requeued, "released": released, "purged_keys": purged}

    async def _listen(self) -> None:
        """Deliveries that became due are announced by NOTIFY on commit: claim them at once, not at the next
        pass."""
        while not self._stopping.is_set():
            try:
                async with aiopg.connect(self.services.config.database.url) as conn:
                    async with conn.cursor() as cur:
                        await cur.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self._due.set()  # what was announced while this was not listening
                    while not self._stopping.is_set():
                        await conn.notifies.get()
                        while not conn.notifies.empty():  # one claim answers everything announced meanwhile
                            conn.notifies.get_nowait()
                        self._due.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the scheduler still finds every due delivery meanwhile
                log.warning("webhook listener lost its connection (%s); reconnecting", exc)
                await asyncio.sleep(1)

    async def close(self) -> None:
        """Stop taking jobs and claiming deliveries, let running ones finish (deliveries: within their
        timeout), stop the scheduler and the listener."""
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        _, pending = await asyncio.wait(self._tasks, timeout=5)
        if pending:
            # On Python 3.11 a cancel can be swallowed by asyncio.wait_for (which aiopg uses) when the
            # awaited query finishes at the same moment; the loops see _stopping, and a second cancel ends a wait.
            for task in pending:
                task.cancel()
            await asyncio.wait(pending, timeout=5)
        await asyncio.gather(*(w.close() for w in self.workers))
        if self._sending:
            _, late = await asyncio.wait(self._sending, timeout=self.services.config.webhooks.timeout + 5)
            for task in late:  # claimed again once their lease ends
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=5)
        if self.session is not None:
            await self.session.close()

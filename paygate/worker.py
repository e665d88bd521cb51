"""The worker role: bullmq workers that process jobs, and the scheduler beside them.

Runs inside ``paygate serve`` and ``paygate dev`` (unless --no-worker) and alone in
``paygate worker``. Several processes may run it at once: jobs are claimed through
bullmq, and everything the scheduler does is safe to do twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

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

NOTIFY_BATCH = 1000  # announcements of new deliveries turned into wake-up jobs together


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
            # A webhook job sends a batch, with at most per_merchant deliveries to one endpoint.
            Worker(WEBHOOKS, self._webhook_job, {**options, "concurrency": -(
                -config.worker.webhook_concurrency // webhook_ops.per_merchant(hooks))}),
        ]
        self._tasks = [
            asyncio.create_task(self._schedule(), name="paygate-scheduler"),
            asyncio.create_task(self._listen(), name="paygate-webhook-listener"),
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

    async def _webhook_job(self, job, token) -> str:
        try:
            recorded = await webhook_ops.deliver_due(self.services, self.session, self.limiter)
        except Exception:
            # Claimed deliveries stay pending in Postgres and are claimed again when their lease ends.
            log.exception("webhook job %s failed before its attempts were recorded", job.id)
            return "error"
        for row in recorded:
            jobs_log.info("webhook delivery %s: %s", row["id"], row["status"], extra={
                "queue": WEBHOOKS, "job_id": job.id, "delivery_id": row["id"], "status": row["status"]})
        return f"{len(recorded)} recorded"

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
        """One pass: enqueue due webhooks, requeue work whose job was lost, release expired authorizations,
        purge old idempotency keys."""
        services = self.services
        stuck_after = services.config.payments.stuck_after
        webhooks_due = await webhook_ops.enqueue_due(services)
        async with services.pool.acquire() as conn, conn.cursor() as cur:
            stuck = [(PAYMENTS, i) for i in await payments.unfinished_before(cur, stuck_after)]
            stuck += [(REFUNDS, i) for i in await refunds.unfinished_before(cur, stuck_after)]
        requeued = 0
        for queue, object_id in stuck:
            requeued += await services.dispatcher.requeue(queue, object_id)
        released = await release_expired_authorizations(services)
        purged = await idempotency.purge_expired(services)
        await services.dispatcher.mark_scheduler_pass()  # for the scheduler-lag gauge
        return {"webhooks_due": webhooks_due, "requeued": requeued, "released": released, "purged_keys": purged}

    async def _listen(self) -> None:
        """New deliveries are announced by NOTIFY on commit; enqueue them at once instead of at the next pass."""
        while not self._stopping.is_set():
            try:
                async with aiopg.connect(self.services.config.database.url) as conn:
                    async with conn.cursor() as cur:
                        await cur.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    while not self._stopping.is_set():
                        # Whatever else has arrived meanwhile goes in the same few round trips to Redis.
                        messages = [await conn.notifies.get()]
                        while not conn.notifies.empty() and len(messages) < NOTIFY_BATCH:
                            messages.append(conn.notifies.get_nowait())
                        deliveries = []
                        for message in messages:
                            delivery_id, _, attempts = message.payload.partition(" ")
                            deliveries.append({"id": delivery_id, "attempts": int(attempts)})
                        await webhook_ops.enqueue(self.services, deliveries)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the scheduler still finds every due delivery meanwhile
                log.warning("webhook listener lost its connection (%s); reconnecting", exc)
                await asyncio.sleep(1)

    async def close(self) -> None:
        """Stop taking jobs, let running ones finish, stop the scheduler and the listener."""
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
        if self.session is not None:
            await self.session.close()

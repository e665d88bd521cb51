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

from bullmq import Worker

from . import idempotency
from .operations.processing import process_payment, process_refund, release_expired_authorizations
from .queue import PAYMENTS, REFUNDS
from .services import Services
from .storage import payments, refunds

log = logging.getLogger("paygate.worker")


class WorkerRole:
    def __init__(self, services: Services):
        self.services = services
        self.workers: list[Worker] = []
        self._scheduler: asyncio.Task | None = None

    async def start(self) -> None:
        config = self.services.config
        options = {
            "connection": config.redis.url,
            "concurrency": config.worker.concurrency,
            "name": f"{socket.gethostname()}-{os.getpid()}",
        }
        self.workers = [
            Worker(PAYMENTS, self._payment_job, options),
            Worker(REFUNDS, self._refund_job, options),
        ]
        self._scheduler = asyncio.create_task(self._schedule(), name="paygate-scheduler")

    async def _payment_job(self, job, token) -> str:
        return await process_payment(self.services, job.data["id"])

    async def _refund_job(self, job, token) -> str:
        return await process_refund(self.services, job.data["id"])

    async def _schedule(self) -> None:
        interval = self.services.config.scheduler.interval
        while True:
            try:
                await self.run_scheduler_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the scheduler must outlive a passing Postgres or Redis outage
                log.exception("scheduler pass failed; trying again in %ss", interval)
            await asyncio.sleep(interval)

    async def run_scheduler_once(self) -> dict[str, int]:
        """One pass: requeue work whose job was lost, release expired authorizations, purge old keys."""
        services = self.services
        stuck_after = services.config.payments.stuck_after
        async with services.pool.acquire() as conn, conn.cursor() as cur:
            stuck = [(PAYMENTS, i) for i in await payments.unfinished_before(cur, stuck_after)]
            stuck += [(REFUNDS, i) for i in await refunds.unfinished_before(cur, stuck_after)]
        requeued = 0
        for queue, object_id in stuck:
            requeued += await services.dispatcher.requeue(queue, object_id)
        released = await release_expired_authorizations(services)
        purged = await idempotency.purge_expired(services)
        return {"requeued": requeued, "released": released, "purged_keys": purged}

    async def close(self) -> None:
        """Stop taking jobs, let running ones finish, stop the scheduler."""
        if self._scheduler:
            self._scheduler.cancel()
            try:
                await self._scheduler
            except asyncio.CancelledError:
                pass
        await asyncio.gather(*(w.close() for w in self.workers))

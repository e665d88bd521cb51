"""The worker role: stream consumers that process payments and refunds, the webhook deliverer (delivery.py),
the scheduler beside them (scheduler.py), and the NOTIFY listener that wakes the deliverer.

Runs inside ``paygate serve`` and ``paygate dev`` (unless --no-worker) and alone in
``paygate worker``. Several processes may run it at once: entries are read through one Redis Streams consumer
group (infra/queue.py), deliveries are claimed through Postgres (FOR UPDATE SKIP LOCKED, under a lease), and
everything the scheduler does is safe to do twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

from ..core.operations.processing import process_payments, process_refund
from ..core.services import Services
from ..infra.queue import PAYMENTS, REFUNDS, Consumer
from ..storage import webhooks as webhook_rows
from .delivery import Deliverer, jobs_log
from .scheduler import Scheduler

log = logging.getLogger("paygate.worker")


class WorkerRole:
    """One process's worker: its consumers of the payments and refunds streams, its deliverer, its scheduler."""

    def __init__(self, services: Services):
        self.services = services
        self.consumers: list[Consumer] = []
        self._tasks: list[asyncio.Task] = []
        self._stopping = asyncio.Event()
        self.deliverer = Deliverer(services)
        self.scheduler = Scheduler(services, self.deliverer)

    async def start(self) -> None:
        config = self.services.config
        name = f"{socket.gethostname()}-{os.getpid()}"
        options = {"concurrency": config.worker.concurrency, "batch": config.worker.batch,
                   "claim_after": config.worker.claim_after, "timeout": config.redis.timeout,
                   "redis_state": self.services.dispatcher.redis}
        self.consumers = [Consumer(config.redis.url, PAYMENTS, name, self._payments, **options),
                          Consumer(config.redis.url, REFUNDS, name, self._refunds, **options)]
        self.scheduler.consumers = self.consumers
        self.deliverer.start()
        self._tasks = [
            *(asyncio.create_task(c.run(), name=f"paygate-{c.queue}-consumer") for c in self.consumers),
            asyncio.create_task(self.scheduler.run(self._stopping), name="paygate-scheduler"),
            asyncio.create_task(self._listen(), name="paygate-webhook-listener"),
        ]

    async def _payments(self, ids: list[str], claimed: bool) -> None:
        """A batch of payments through its phases together (processing.process_payments)."""
        self._log(PAYMENTS, "payment", await process_payments(self.services, ids,
                                                              take_over_after=self._take_over_after(claimed)))

    async def _refunds(self, ids: list[str], claimed: bool) -> None:
        after = self._take_over_after(claimed)
        statuses = await asyncio.gather(*(process_refund(self.services, i, take_over_after=after) for i in ids))
        self._log(REFUNDS, "refund", dict(zip(ids, statuses, strict=True)))

    def _take_over_after(self, claimed: bool) -> float:
        """Entries claimed from a worker that went silent have their calls taken over at once: that worker is
        presumed dead. A failure (Postgres away) fails the whole batch, which is then claimed again; what it did
        finish is found final."""
        return 0.0 if claimed else self.services.config.worker.claim_after

    @staticmethod
    def _log(queue: str, kind: str, statuses: dict[str, str]) -> None:
        for object_id, status in statuses.items():
            jobs_log.info("%s %s: %s", kind, object_id, status,
                          extra={"queue": queue, f"{kind}_id": object_id, "status": status})

    async def run_scheduler_once(self) -> dict[str, int]:
        """One scheduler pass now (Scheduler.run_once)."""
        return await self.scheduler.run_once()

    async def _listen(self) -> None:
        """Deliveries that became due are announced by NOTIFY on commit: claim them at once, not at the next
        pass."""
        lost = False
        while not self._stopping.is_set():
            try:
                async with webhook_rows.announcements(self.services.config.database.url) as notifies:
                    if lost:
                        log.info("webhook listener connected again")
                        lost = False
                    self.deliverer.wake()  # what was announced while this was not listening
                    while not self._stopping.is_set():
                        await notifies.get()
                        while not notifies.empty():  # one claim answers everything announced meanwhile
                            notifies.get_nowait()
                        self.deliverer.wake()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the scheduler still finds every due delivery meanwhile
                if not lost:  # once per outage, not once a second
                    log.warning("webhook listener lost its connection (%s); reconnecting every second",
                                " ".join(str(exc).split()) or type(exc).__name__)
                    lost = True
                await asyncio.sleep(1)

    async def close(self) -> None:
        """Stop reading entries and claiming deliveries, let running ones finish (deliveries: within their
        timeout), stop the scheduler and the listener."""
        self._stopping.set()
        await asyncio.gather(*(c.stop(grace=10) for c in self.consumers))
        for task in self._tasks:
            task.cancel()
        _, pending = await asyncio.wait(self._tasks, timeout=5)
        if pending:
            # On Python 3.11 a cancel can be swallowed by asyncio.wait_for (which aiopg uses) when the
            # awaited query finishes at the same moment; the loops see _stopping, and a second cancel ends a wait.
            for task in pending:
                task.cancel()
            await asyncio.wait(pending, timeout=5)
        await asyncio.gather(*(c.close() for c in self.consumers), self.deliverer.close())

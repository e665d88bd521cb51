"""The scheduler: a pass every ``scheduler.interval`` seconds in each worker role. Everything it does is safe to do
twice, so every worker runs one."""

from __future__ import annotations

import asyncio
import logging
import math
import time

from ..core import idempotency
from ..core.operations.merchants import expire_api_secrets
from ..core.operations.processing import release_expired_authorizations
from ..core.services import Services
from ..infra.broker import RedisUnavailable
from ..infra.queue import PAYMENTS, REFUNDS, WORKER_SILENT_AFTER, Consumer
from ..storage import payments, refunds
from ..storage import sessions as ended_sessions
from ..storage.db import DatabaseUnavailable, cursor
from .delivery import Deliverer

log = logging.getLogger("paygate.worker")
UNFINISHED_BATCH = 500  # most payments, and most refunds, one scheduler pass requeues
# Passes a sweep after an outage goes on while batches come back full: under steady load there are always more
# than a batch unfinished, and each pass re-reads the oldest; what is left waits payments.stuck_after.
SWEEP_PASSES = 10


class Scheduler:
    """Wakes the deliverer, releases expired authorizations, purges old keys and sessions, ends API secrets'
    grace periods, requeues work whose queue entry was lost, and removes silent consumers from the group."""

    def __init__(self, services: Services, deliverer: Deliverer):
        self.services = services
        self.deliverer = deliverer
        self.consumers: list[Consumer] = []  # this worker's, once started
        self._sweep_all = False  # Redis failed a pass: the next pass that reaches it requeues everything unfinished
        self._sweeps = 0  # passes of the current sweep
        self._pruned_at = -math.inf

    async def run(self, stopping: asyncio.Event) -> None:
        interval = self.services.config.scheduler.interval
        while not stopping.is_set():
            try:
                await self.run_once()
            except DatabaseUnavailable:  # db.py has said so once per outage; the next pass tries again
                pass
            except Exception:  # the scheduler must outlive anything else that passes too
                log.exception("scheduler pass failed; trying again in %ss", interval)
            try:
                async with asyncio.timeout(interval):
                    await stopping.wait()
            except TimeoutError:
                pass

    async def run_once(self) -> dict[str, int]:
        """One pass: wake the deliverer (for retries whose time came, and anything a lost NOTIFY or an expired
        lease left), release expired authorizations, purge old idempotency keys, forget previous API secrets
        whose grace ended (recording merchant.api_secret_expired), then requeue work whose job was lost. The
        Postgres work comes first and needs no Redis, so it goes on while Redis is away."""
        services = self.services
        self.deliverer.wake()
        released = await release_expired_authorizations(services)
        purged = await idempotency.purge_expired(services)
        async with cursor(services.pool) as cur:
            await ended_sessions.purge_expired(cur)
        expired = await expire_api_secrets(services.pool)
        requeued = await self._requeue_unfinished()
        await self._remove_silent_consumers()
        return {"requeued": requeued, "released": released, "purged_keys": purged, "expired_secrets": expired}

    async def _remove_silent_consumers(self) -> None:
        """Now and then, drop from the consumer group the workers that went silent and hold nothing (what they
        held was claimed by others), so that status lists the live ones only."""
        silent_after = max(WORKER_SILENT_AFTER, 2 * self.services.config.worker.claim_after)
        if time.monotonic() - self._pruned_at < silent_after:
            return
        self._pruned_at = time.monotonic()
        for consumer in self.consumers:
            try:
                gone = await consumer.remove_silent(silent_after)
            except RedisUnavailable:
                return
            if gone:
                log.info("removed %s consumers silent for %ss: %s", consumer.queue, silent_after, ", ".join(gone))

    async def _requeue_unfinished(self) -> int:
        """Requeue payments and refunds left unfinished past ``payments.stuck_after``, or all of them once Redis
        is back after it failed (their jobs may never have been added): they reach a final state within seconds,
        not stuck_after later. While Redis is away this gives up at its first call, within ``redis.timeout``."""
        dispatcher = self.services.dispatcher
        try:
            await dispatcher.mark_scheduler_pass()  # for the scheduler-lag gauge, and to see Redis answer
        except RedisUnavailable:
            self._sweep_all = True
            return 0
        sweep_all = self._sweep_all or dispatcher.take_missed()
        stuck_after = 0 if sweep_all else self.services.config.payments.stuck_after
        async with cursor(self.services.pool) as cur:
            found = {PAYMENTS: await payments.unfinished_before(cur, stuck_after, UNFINISHED_BATCH),
                     REFUNDS: await refunds.unfinished_before(cur, stuck_after, UNFINISHED_BATCH)}
        stuck = [(queue, object_id) for queue, ids in found.items() for object_id in ids]
        requeued = 0
        try:
            for queue, object_id in stuck:
                requeued += await dispatcher.requeue(queue, object_id)
        except RedisUnavailable:  # gone again: the next pass that reaches it sweeps everything
            self._sweep_all = True
            return requeued
        # A full batch may leave more behind; sweep again at the next pass.
        self._sweeps = self._sweeps + 1 if sweep_all else 0
        self._sweep_all = (sweep_all and self._sweeps < SWEEP_PASSES
                           and any(len(ids) >= UNFINISHED_BATCH for ids in found.values()))
        if not self._sweep_all:
            self._sweeps = 0
        if sweep_all and stuck:
            log.info("Redis missed jobs: requeued %d of %d unfinished payments and refunds", requeued, len(stuck))
        return requeued

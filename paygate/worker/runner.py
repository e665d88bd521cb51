"""The worker role: stream consumers that process payments and refunds, the webhook deliverer, and the
scheduler beside them.

Runs inside ``paygate serve`` and ``paygate dev`` (unless --no-worker) and alone in
``paygate worker``. Several processes may run it at once: entries are read through one Redis Streams consumer
group (queue.py), deliveries are claimed through Postgres (FOR UPDATE SKIP LOCKED, under a lease), and everything
the scheduler does is safe to do twice.

Webhook deliveries need no job each: Postgres already holds them, due or not, and a claim takes a batch.
The deliverer claims whenever some may be due (a NOTIFY at the commit that made them, a scheduler pass
for retries whose time came, a claim that was cut short, room made by attempts recorded) and sends each
delivery in a task of its own. A queue job per wake-up (under bullmq) cost 2-4 ms of CPU, more than the one to
three deliveries it usually carried.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import time
from collections import Counter

from ..core import idempotency
from ..core.operations import webhooks as webhook_ops
from ..core.operations.processing import process_payments, process_refund, release_expired_authorizations
from ..core.services import Services
from ..core.webhooks.delivery import new_session
from ..infra.broker import RedisUnavailable
from ..infra.queue import PAYMENTS, REFUNDS, WEBHOOKS, WORKER_SILENT_AFTER, Consumer
from ..storage import payments, refunds
from ..storage import sessions as ended_sessions
from ..storage import webhooks as webhook_rows
from ..storage.db import DatabaseUnavailable, cursor

log = logging.getLogger("paygate.worker")
jobs_log = logging.getLogger("paygate.jobs")  # one line per finished job (per delivery, for webhooks)
UNFINISHED_BATCH = 500  # most payments, and most refunds, one scheduler pass requeues
# Passes a sweep after an outage goes on while batches come back full: under steady load there are always more
# than a batch unfinished, and each pass re-reads the oldest; what is left waits payments.stuck_after.
SWEEP_PASSES = 10


class Deliverer:
    """Claims due webhook deliveries, sends each in a task of its own, and records the attempts as they end.

    It holds at most four times ``worker.webhook_concurrency`` deliveries at once (what its limiter lets out,
    and the rest waiting in memory behind their endpoint's limit), and at most ``per_merchant`` of one
    merchant's before a claim passes that merchant over (a claim adds at most as many again): an endpoint
    that hangs ties up its own share and its endpoint limit's worth of sends, never the others' room. An
    attempt that ends is recorded with those that ended meanwhile, in one statement, whatever claim it came
    from.

    A wake-up or a record less than ``worker.webhook_claim_gap`` after the last one waits for the gap: at 200
    payments/s a NOTIFY comes every few milliseconds, and claiming and recording ten deliveries costs
    Postgres about 2.5 times what one costs (4 ms against 1.7 ms, measured one claim at a time). A claim cut
    short by its size is followed at once, and attempts recorded wake the claims when they make room or bring
    a merchant that was passed over under its share: a backlog drains at the rate it is sent.
    """

    def __init__(self, services: Services):
        self.services = services
        config = services.config
        self.limiter = webhook_ops.EndpointLimiter(config.webhooks.per_endpoint_concurrency,
                                                   config.worker.webhook_concurrency)
        self.session = None
        self._due = asyncio.Event()  # deliveries may be due: claim
        self._due.set()  # whatever waited while no worker ran
        self._held: Counter[str] = Counter()  # deliveries claimed and not yet recorded, by merchant
        self._room = 4 * config.worker.webhook_concurrency
        self._share = webhook_ops.per_merchant(config.webhooks)
        self._sending: set[asyncio.Task] = set()
        self._attempts: list[dict] = []  # attempts made, not yet recorded
        self._attempted = asyncio.Event()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        hooks = self.services.config.webhooks
        self.session = new_session(hooks.allow_private_targets, hooks.per_endpoint_concurrency)
        self._tasks = [asyncio.create_task(self._claim(), name="paygate-webhook-deliverer"),
                       asyncio.create_task(self._record(), name="paygate-webhook-recorder")]

    def wake(self) -> None:
        """Deliveries may be due."""
        self._due.set()

    async def _claim(self) -> None:
        config = self.services.config
        gap, last = config.worker.webhook_claim_gap, -math.inf
        while not self._stopping.is_set():
            await self._due.wait()
            await asyncio.sleep(last + gap - time.monotonic())  # under load, what becomes due meanwhile joins
            while not self._stopping.is_set():
                self._due.clear()  # a wake-up from now on means another claim
                size = min(config.worker.webhook_batch, self._room - self._held.total())
                if size <= 0:  # recording attempts makes room, and wakes this
                    break
                full = [merchant for merchant, n in self._held.items() if n >= self._share]
                last = time.monotonic()
                try:
                    batch = await webhook_ops.claim(self.services, size, full)
                except DatabaseUnavailable:  # db.py has said so once; the scheduler's next pass wakes this again
                    break
                except Exception:
                    log.exception("claiming due webhook deliveries failed")
                    break
                for delivery in batch.deliveries:
                    self._held[delivery["merchant_id"]] += 1
                    task = asyncio.create_task(self._send(delivery, batch.start_before))
                    self._sending.add(task)
                    task.add_done_callback(self._sending.discard)
                if not batch.more_may_be_due:
                    break

    async def _send(self, delivery: dict, start_before: float) -> None:
        try:
            made = await webhook_ops.attempt(self.services, self.session, self.limiter, delivery, start_before)
        except DatabaseUnavailable:  # it stays pending in Postgres and is claimed again when its lease ends
            made = None
        except Exception:
            log.exception("webhook delivery %s failed before its attempt was made", delivery["id"])
            made = None
        if made is None:
            self._release([delivery["merchant_id"]])
        else:
            self._attempts.append(made)
            self._attempted.set()

    async def _record(self) -> None:
        gap, last = self.services.config.worker.webhook_claim_gap, -math.inf
        while not (self._stopping.is_set() and not self._sending and not self._attempts):
            await self._attempted.wait()
            await asyncio.sleep(last + gap - time.monotonic())  # what ends meanwhile goes in the same statement
            self._attempted.clear()
            attempts, self._attempts = self._attempts, []
            if not attempts:
                continue
            last = time.monotonic()
            try:
                recorded = await webhook_ops.record(self.services, attempts)
            except DatabaseUnavailable:  # not recorded: they stay pending and are sent again after their lease
                recorded = []
            except Exception:
                log.exception("recording %d webhook attempts failed", len(attempts))
                recorded = []
            finally:
                self._release([a["merchant_id"] for a in attempts])
            for row in recorded:
                jobs_log.info("webhook delivery %s: %s", row["id"], row["status"], extra={
                    "queue": WEBHOOKS, "delivery_id": row["id"], "status": row["status"]})

    def _release(self, merchant_ids: list[str]) -> None:
        """Forget deliveries recorded or given up; wake the claims if that made room, or let a merchant that
        was passed over (holding its share) be claimed again."""
        no_room = self._held.total() >= self._room
        passed_over = {m for m in merchant_ids if self._held[m] >= self._share}
        self._held.subtract(merchant_ids)
        self._held = +self._held  # drop the merchants that no longer hold any
        if (no_room and self._held.total() < self._room) or any(self._held[m] < self._share for m in passed_over):
            self._due.set()

    async def close(self) -> None:
        """Stop claiming; let the attempts being made end (within their timeout) and record them."""
        self._stopping.set()
        claimer, recorder = self._tasks or (None, None)
        if claimer is not None:
            claimer.cancel()
            await asyncio.wait([claimer], timeout=5)
        if self._sending:
            _, late = await asyncio.wait(self._sending, timeout=self.services.config.webhooks.timeout + 5)
            for task in late:  # claimed again once their lease ends
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=5)
        if recorder is not None:
            self._attempted.set()  # the last record, of what ended meanwhile
            _, late = await asyncio.wait([recorder], timeout=15)
            for task in late:
                task.cancel()
        if self.session is not None:
            await self.session.close()


class WorkerRole:
    def __init__(self, services: Services):
        self.services = services
        self.consumers: list[Consumer] = []
        self._tasks: list[asyncio.Task] = []
        self._stopping = asyncio.Event()
        self._sweep_all = False  # Redis failed a pass: the next pass that reaches it requeues everything unfinished
        self._sweeps = 0  # passes of the current sweep
        self._pruned_at = -math.inf
        self.deliverer = Deliverer(services)

    async def start(self) -> None:
        config = self.services.config
        name = f"{socket.gethostname()}-{os.getpid()}"
        options = {"concurrency": config.worker.concurrency, "batch": config.worker.batch,
                   "claim_after": config.worker.claim_after, "timeout": config.redis.timeout,
                   "redis_state": self.services.dispatcher.redis}
        self.consumers = [Consumer(config.redis.url, PAYMENTS, name, self._payments, **options),
                          Consumer(config.redis.url, REFUNDS, name, self._refunds, **options)]
        self.deliverer.start()
        self._tasks = [
            *(asyncio.create_task(c.run(), name=f"paygate-{c.queue}-consumer") for c in self.consumers),
            asyncio.create_task(self._schedule(), name="paygate-scheduler"),
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

    async def _schedule(self) -> None:
        interval = self.services.config.scheduler.interval
        while not self._stopping.is_set():
            try:
                await self.run_scheduler_once()
            except DatabaseUnavailable:  # db.py has said so once per outage; the next pass tries again
                pass
            except Exception:  # the scheduler must outlive anything else that passes too
                log.exception("scheduler pass failed; trying again in %ss", interval)
            try:
                async with asyncio.timeout(interval):
                    await self._stopping.wait()
            except TimeoutError:
                pass

    async def run_scheduler_once(self) -> dict[str, int]:
        """One pass: wake the deliverer (for retries whose time came, and anything a lost NOTIFY or an expired
        lease left), release expired authorizations, purge old idempotency keys, then requeue work whose job
        was lost. The Postgres work comes first and needs no Redis, so it goes on while Redis is away."""
        services = self.services
        self.deliverer.wake()
        released = await release_expired_authorizations(services)
        purged = await idempotency.purge_expired(services)
        async with cursor(services.pool) as cur:
            await ended_sessions.purge_expired(cur)
        requeued = await self._requeue_unfinished()
        await self._remove_silent_consumers()
        return {"requeued": requeued, "released": released, "purged_keys": purged}

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

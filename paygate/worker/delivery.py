"""The webhook deliverer: claims due deliveries from Postgres, sends each in a task of its own, records the attempts.

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
import time
from collections import Counter

from ..core.operations import webhooks as webhook_ops
from ..core.services import Services
from ..core.webhooks.delivery import new_session
from ..infra.queue import WEBHOOKS
from ..storage.db import DatabaseUnavailable

log = logging.getLogger("paygate.worker")
jobs_log = logging.getLogger("paygate.jobs")  # one line per finished job (per delivery, for webhooks)


class Deliverer:
    """Claims due webhook deliveries, sends each in a task of its own, and records the attempts as they end.

    It holds at most four times ``worker.webhook_concurrency`` deliveries at once (what its limiter lets out,
    and the rest waiting in memory behind their endpoint's limit), and at most ``per_merchant`` to one
    endpoint before a claim passes that endpoint over (a claim adds at most as many again): an endpoint
    that hangs ties up its own share and its endpoint limit's worth of sends, never the others' room (its
    merchant's other endpoints included). An
    attempt that ends is recorded with those that ended meanwhile, in one statement, whatever claim it came
    from.

    A wake-up or a record less than ``worker.webhook_claim_gap`` after the last one waits for the gap: at 200
    payments/s a NOTIFY comes every few milliseconds, and claiming and recording ten deliveries costs
    Postgres about 2.5 times what one costs (4 ms against 1.7 ms, measured one claim at a time). A claim cut
    short by its size is followed at once, and attempts recorded wake the claims when they make room or bring
    an endpoint that was passed over under its share: a backlog drains at the rate it is sent.
    """

    def __init__(self, services: Services):
        self.services = services
        config = services.config
        self.limiter = webhook_ops.EndpointLimiter(config.webhooks.per_endpoint_concurrency,
                                                   config.worker.webhook_concurrency)
        self.session = None
        self._due = asyncio.Event()  # deliveries may be due: claim
        self._due.set()  # whatever waited while no worker ran
        self._held: Counter[str] = Counter()  # deliveries claimed and not yet recorded, by endpoint_key
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
                full = [endpoint for endpoint, n in self._held.items() if n >= self._share]
                last = time.monotonic()
                try:
                    batch = await webhook_ops.claim(self.services, size, full)
                except DatabaseUnavailable:  # db.py has said so once; the scheduler's next pass wakes this again
                    break
                except Exception:
                    log.exception("claiming due webhook deliveries failed")
                    break
                for delivery in batch.deliveries:
                    self._held[webhook_ops.endpoint_key(delivery)] += 1
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
            self._release([webhook_ops.endpoint_key(delivery)])
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
                self._release([webhook_ops.endpoint_key(a) for a in attempts])
            for row in recorded:
                jobs_log.info("webhook delivery %s: %s", row["id"], row["status"], extra={
                    "queue": WEBHOOKS, "delivery_id": row["id"], "status": row["status"]})

    def _release(self, endpoints: list[str]) -> None:
        """Forget deliveries recorded or given up; wake the claims if that made room, or let an endpoint that
        was passed over (holding its share) be claimed again."""
        no_room = self._held.total() >= self._room
        passed_over = {e for e in endpoints if self._held[e] >= self._share}
        self._held.subtract(endpoints)
        self._held = +self._held  # drop the endpoints that no longer hold any
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

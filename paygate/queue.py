"""The bullmq queues. A job's id is the object's id, so enqueueing the same object twice is a no-op."""

from __future__ import annotations

import asyncio
import logging

import bullmq
from bullmq import Queue
from redis.exceptions import RedisError

log = logging.getLogger("paygate.queue")

ENQUEUE_TIMEOUT = 2.0  # seconds; Postgres holds the work, so giving up here loses nothing

PAYMENTS = "payments"
REFUNDS = "refunds"
WEBHOOKS = "webhooks"
QUEUE_NAMES = (PAYMENTS, REFUNDS, WEBHOOKS)

JOB_OPTIONS = {
    # Transient failures (Postgres restarting, say) are retried by bullmq; anything left
    # unfinished after that is found again by the scheduler, which reads Postgres.
    "attempts": 5,
    "backoff": {"type": "exponential", "delay": 1000},
    "removeOnComplete": {"age": 24 * 3600, "count": 10_000},
    "removeOnFail": {"age": 7 * 24 * 3600},
}
# A webhook job is one attempt (its id names the attempt); Postgres keeps the history, so Redis need not.
WEBHOOK_JOB_OPTIONS = {"removeOnComplete": True, "removeOnFail": True}


class Worker(bullmq.Worker):
    """bullmq's Worker, asking Redis for one job at a time.

    bullmq for Python starts ``concurrency`` fetches at once whenever it has room; while the queue is
    empty all but one of them run moveToActive for nothing, so an idle payments worker (concurrency 50)
    ran ~50 Lua scripts per second, and near-empty queues cost ~50 per job that arrived (counted with
    INFO commandstats: an idle `paygate serve` went from ~1850 Redis commands/s to a handful). Taking
    turns keeps the blocking wait to one fetch and lets the others queue behind it; jobs still run
    ``concurrency`` at once.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._fetching = asyncio.Lock()

    async def getNextJob(self, token: str):
        async with self._fetching:
            if self.closing or self.paused:
                return None
            return await super().getNextJob(token)


class Dispatcher:
    """Puts work on the queues; enqueue failures are logged, never lost (Postgres holds the work)."""

    def __init__(self, redis_url: str):
        self.queues = {name: Queue(name, {"connection": redis_url}) for name in QUEUE_NAMES}

    async def enqueue(self, queue: str, object_id: str, job_id: str | None = None) -> bool:
        options = WEBHOOK_JOB_OPTIONS if queue == WEBHOOKS else JOB_OPTIONS
        try:
            # bullmq retries a lost connection for a long time; the request must not wait for it.
            async with asyncio.timeout(ENQUEUE_TIMEOUT):
                await self.queues[queue].add(queue, {"id": object_id}, {**options, "jobId": job_id or object_id})
            return True
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("could not enqueue %s %s (the scheduler will): %s", queue, object_id, exc or "timed out")
            return False

    async def enqueue_many(self, queue: str, jobs: list[tuple[str, str]]) -> int:
        """Enqueue (object id, job id) pairs whose job is not in the queue yet; how many were added.

        The scheduler offers every due object on every pass, and most already have their job: one
        pipeline of EXISTS finds those without, and one pipeline adds them (bullmq still makes a job
        that appeared meanwhile a no-op). A failure is logged, never lost: Postgres holds the work.
        """
        if not jobs:
            return 0
        q = self.queues[queue]
        options = WEBHOOK_JOB_OPTIONS if queue == WEBHOOKS else JOB_OPTIONS
        try:
            async with asyncio.timeout(ENQUEUE_TIMEOUT):
                async with q.client.pipeline(transaction=False) as pipe:
                    for _, job_id in jobs:
                        pipe.exists(q.toKey(job_id))
                    present = await pipe.execute()
                missing = [(object_id, job_id) for (object_id, job_id), there in zip(jobs, present, strict=True)
                           if not there]
                if missing:
                    await q.addBulk([{"name": queue, "data": {"id": object_id}, "opts": {**options, "jobId": job_id}}
                                     for object_id, job_id in missing])
            return len(missing)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("could not enqueue %d %s jobs (the scheduler will): %s", len(jobs), queue,
                        exc or "timed out")
            return 0

    async def requeue(self, queue: str, object_id: str) -> bool:
        """Enqueue again an object whose earlier job finished or failed without finishing the object."""
        q = self.queues[queue]
        try:
            job = await q.getJob(object_id)
            if job is not None:
                state = await q.getJobState(object_id)
                if state not in ("completed", "failed", "unknown"):
                    return False  # still waiting, delayed or active: a worker will get to it
                await q.remove(object_id)
        except (RedisError, OSError) as exc:
            log.warning("could not requeue %s %s: %s", queue, object_id, exc)
            return False
        return await self.enqueue(queue, object_id)

    async def counts(self, queue: str) -> dict[str, int]:
        counts = await self.queues[queue].getJobCounts("waiting", "delayed", "prioritized", "active",
                                                       "completed", "failed")
        return {k: int(v or 0) for k, v in counts.items()}

    async def workers(self, queue: str) -> int:
        """Workers connected now (each holds two named connections to Redis)."""
        return len({client["rawname"] for client in await self.queues[queue].get_workers()})

    async def close(self) -> None:
        for q in self.queues.values():
            await q.close()

"""The bullmq queues. A job's id is the object's id, so enqueueing the same object twice is a no-op."""

from __future__ import annotations

import asyncio
import logging
import time

import bullmq
import redis.asyncio
from bullmq import Queue
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import BusyLoadingError, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("paygate.queue")

ENQUEUE_TIMEOUT = 2.0  # seconds; Postgres holds the work, so giving up here loses nothing

PAYMENTS = "payments"
REFUNDS = "refunds"
QUEUE_NAMES = (PAYMENTS, REFUNDS)
# Not a bullmq queue: webhook deliveries are claimed from Postgres (see worker.py); status, metrics and the
# job log show them under this name.
WEBHOOKS = "webhooks"
SCHEDULER_PASS_KEY = "paygate:scheduler:last_pass"
WORKER_SILENT_AFTER = 30  # seconds without a command after which a connected worker counts as gone

JOB_OPTIONS = {
    # Transient failures (Postgres restarting, say) are retried by bullmq; anything left
    # unfinished after that is found again by the scheduler, which reads Postgres.
    "attempts": 5,
    "backoff": {"type": "exponential", "delay": 1000},
    "removeOnComplete": {"age": 24 * 3600, "count": 10_000},
    "removeOnFail": {"age": 7 * 24 * 3600},
}


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


def pooled_client(redis_url: str) -> redis.asyncio.Redis:
    """A Redis client with a pool of connections, for bullmq to use as given (the dispatcher's queues).

    From a URL bullmq makes a single-connection client: every command of a queue waits for the one before
    it to be answered. Under load, with each answer waiting its turn in a busy event loop, enqueues queued
    behind each other past ENQUEUE_TIMEOUT (at 200 payments/s most creates waited 2 s and left their
    payment to the scheduler). Workers keep bullmq's own: given pooled clients, their many concurrent
    job moves cost more CPU than they saved (measured with make bench). The retry policy is bullmq's own.
    """
    return redis.asyncio.Redis.from_url(
        redis_url, decode_responses=True, retry=Retry(ExponentialBackoff(cap=20, base=1), 20),
        retry_on_error=[BusyLoadingError, RedisConnectionError, RedisTimeoutError])


class Dispatcher:
    """Puts work on the queues; enqueue failures are logged, never lost (Postgres holds the work)."""

    def __init__(self, redis_url: str):
        self.queues = {name: Queue(name, {"connection": pooled_client(redis_url)}) for name in QUEUE_NAMES}

    async def enqueue(self, queue: str, object_id: str, job_id: str | None = None) -> bool:
        try:
            # bullmq retries a lost connection for a long time; the request must not wait for it.
            async with asyncio.timeout(ENQUEUE_TIMEOUT):
                await self.queues[queue].add(queue, {"id": object_id}, {**JOB_OPTIONS, "jobId": job_id or object_id})
            return True
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("could not enqueue %s %s (the scheduler will): %s", queue, object_id, str(exc) or "timed out")
            return False

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
        """How many workers are connected now (see ``connected_workers``)."""
        return len(await self.connected_workers(queue))

    async def connected_workers(self, queue: str) -> list[str]:
        """Names of the workers connected now, from CLIENT LIST (bullmq names their connections).

        A worker that stops, or whose process dies, closes its connections and is gone at once. One whose
        host vanished leaves them open until TCP gives up, so a worker is also dropped once none of its
        connections has sent a command for WORKER_SILENT_AFTER seconds: a live one blocks for jobs every
        second when idle, and renews its job locks every 15 s when busy."""
        idle: dict[str, int] = {}
        for client in await self.queues[queue].get_workers():
            name = client["rawname"].partition(":w:")[2]
            seconds = int(client.get("idle") or 0)
            idle[name] = min(seconds, idle.get(name, seconds))
        return sorted(name for name, seconds in idle.items() if name and seconds < WORKER_SILENT_AFTER)

    async def mark_scheduler_pass(self) -> None:
        """Record that a scheduler pass finished now (any process's; the latest wins)."""
        await self.queues[PAYMENTS].client.set(SCHEDULER_PASS_KEY, repr(time.time()))

    async def last_scheduler_pass(self) -> float | None:
        """Unix time of the most recent scheduler pass anywhere, None when none has run."""
        value = await self.queues[PAYMENTS].client.get(SCHEDULER_PASS_KEY)
        return float(value) if value is not None else None

    async def close(self) -> None:
        for q in self.queues.values():
            await q.close()

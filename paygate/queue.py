"""The bullmq queues. A job's id is the object's id, so enqueueing the same object twice is a no-op."""

from __future__ import annotations

import asyncio
import logging
import time

import bullmq
import redis.asyncio
from bullmq import Queue
from bullmq.worker import default_maximum_block_timeout

from .broker import UNREACHABLE, Reachability, RedisUnavailable, bound, retry_policy

log = logging.getLogger("paygate.queue")

# Seconds an enqueue or any other call may wait for Redis when the caller names no ``redis.timeout``;
# Postgres holds the work, so giving up loses nothing.
ENQUEUE_TIMEOUT = 2.0
# After a fetch failed for want of Redis, a worker tries again this soon (bullmq waits 15 s, which kept
# payments waiting that long after Redis came back).
RUN_RETRY_DELAY_MS = 1000
OUTAGE = ("payments and refunds stay pending in Postgres and are enqueued by the scheduler once it is back; "
          "webhook deliveries, authorization releases and key purges go on")

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

    def __init__(self, name: str, processor, opts: dict, *, timeout: float):
        super().__init__(name, processor, {"runRetryDelay": RUN_RETRY_DELAY_MS, **opts})
        self._fetching = asyncio.Lock()
        # bullmq builds its clients with 20 retries up to 20 s apart and no socket timeouts; its connections
        # are made when run() starts, after this. The blocking one waits up to bullmq's longest block for a job.
        bound(self.backend.connection.conn, timeout, timeout)
        bound(self.backend.blocking_connection.conn, timeout, timeout + default_maximum_block_timeout)

    async def getNextJob(self, token: str):
        async with self._fetching:
            if self.closing or self.paused:
                return None
            return await super().getNextJob(token)


def pooled_client(redis_url: str, timeout: float) -> redis.asyncio.Redis:
    """A Redis client with a pool of connections, for bullmq to use as given (the dispatcher's queues).

    From a URL bullmq makes a single-connection client: every command of a queue waits for the one before
    it to be answered. Under load, with each answer waiting its turn in a busy event loop, enqueues queued
    behind each other past ENQUEUE_TIMEOUT (at 200 payments/s most creates waited 2 s and left their
    payment to the scheduler). Workers keep bullmq's own: given pooled clients, their many concurrent
    job moves cost more CPU than they saved (measured with make bench). Connects are bounded here; answers
    by the Dispatcher, which runs every call within its timeout (a socket timeout would also cut off a
    blocking command that a caller means to wait for).
    """
    return redis.asyncio.Redis.from_url(redis_url, decode_responses=True, retry=retry_policy(),
                                        socket_connect_timeout=timeout)


class Dispatcher:
    """Puts work on the queues and reads their state, each call within ``timeout``.

    An enqueue that fails is logged (once per outage) and loses nothing: Postgres holds the work and the
    scheduler enqueues it. Every other call raises RedisUnavailable (a 503 with Retry-After) when Redis is away.
    """

    def __init__(self, redis_url: str, timeout: float = ENQUEUE_TIMEOUT):
        self.timeout = timeout
        self.redis = Reachability(OUTAGE)
        self.missed = False  # an enqueue failed since the scheduler last looked: it sweeps everything unfinished
        self.queues = {name: Queue(name, {"connection": pooled_client(redis_url, timeout)}) for name in QUEUE_NAMES}

    def _call(self):
        return self.redis.call(self.timeout)

    async def enqueue(self, queue: str, object_id: str, job_id: str | None = None) -> bool:
        """Add the object's job; False (and a warning once per outage) when Redis did not take it in time."""
        try:
            async with self._call():
                await self.queues[queue].add(queue, {"id": object_id}, {**JOB_OPTIONS, "jobId": job_id or object_id})
            return True
        except RedisUnavailable:
            self.missed = True
            log.debug("could not enqueue %s %s; the scheduler will", queue, object_id)
            return False

    def take_missed(self) -> bool:
        """Whether an enqueue failed since the last call (and forget it)."""
        missed, self.missed = self.missed, False
        return missed

    async def requeue(self, queue: str, object_id: str) -> bool:
        """Enqueue again an object whose job was lost, or finished or failed without finishing the object;
        False when its job is still waiting or running. Raises RedisUnavailable."""
        q = self.queues[queue]
        async with self._call():
            job = await q.getJob(object_id)
            if job is not None:
                state = await q.getJobState(object_id)
                if state not in ("completed", "failed", "unknown"):
                    return False  # still waiting, delayed or active: a worker will get to it
                await q.remove(object_id)
            await q.add(queue, {"id": object_id}, {**JOB_OPTIONS, "jobId": object_id})
        return True

    async def counts(self, queue: str) -> dict[str, int]:
        async with self._call():
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
        async with self._call():
            clients = await self.queues[queue].get_workers()
        idle: dict[str, int] = {}
        for client in clients:
            name = client["rawname"].partition(":w:")[2]
            seconds = int(client.get("idle") or 0)
            idle[name] = min(seconds, idle.get(name, seconds))
        return sorted(name for name, seconds in idle.items() if name and seconds < WORKER_SILENT_AFTER)

    async def mark_scheduler_pass(self) -> None:
        """Record that a scheduler pass finished now (any process's; the latest wins)."""
        async with self._call():
            await self.queues[PAYMENTS].client.set(SCHEDULER_PASS_KEY, repr(time.time()))

    async def last_scheduler_pass(self) -> float | None:
        """Unix time of the most recent scheduler pass anywhere, None when none has run."""
        async with self._call():
            value = await self.queues[PAYMENTS].client.get(SCHEDULER_PASS_KEY)
        return float(value) if value is not None else None

    async def close(self) -> None:
        for q in self.queues.values():
            try:
                async with asyncio.timeout(self.timeout):
                    await q.close()
            except UNREACHABLE:  # nothing is left to flush; the connections go with the process
                pass

"""Work dispatch through Redis Streams: one stream per kind of work, read by the worker processes as one consumer
group (the primitive Hyperswitch's scheduler and drainer are built on).

An entry says only "look at this object"; Postgres holds the work and its state, so delivery is at least once and
a duplicate or a lost entry costs nothing but time (processing is idempotent; the scheduler's sweep re-adds what
was lost). Per entry that is one XADD to add it, a share of one XREADGROUP to read it and of one XACK + XDEL to
finish it; a consumer that dies leaves its entries pending, and another claims them (XAUTOCLAIM) once they have
been idle for ``worker.claim_after``.

Entries are deleted once acknowledged, so a stream's length is what is waiting or being worked on: waiting is
the length less the pending entries.
"""

from __future__ import annotations

import asyncio
import logging
import time

import redis.asyncio
from redis.exceptions import ResponseError

from .batching import Batcher
from .broker import UNREACHABLE, Reachability, RedisUnavailable, retry_policy

log = logging.getLogger("paygate.queue")

# Seconds an enqueue or any other call may wait for Redis when the caller names no ``redis.timeout``;
# Postgres holds the work, so giving up loses nothing.
ENQUEUE_TIMEOUT = 2.0
OUTAGE = ("payments and refunds stay pending in Postgres and are enqueued by the scheduler once it is back; "
          "webhook deliveries, authorization releases and key purges go on")

PAYMENTS = "payments"
REFUNDS = "refunds"
QUEUE_NAMES = (PAYMENTS, REFUNDS)
# Not a stream: webhook deliveries are claimed from Postgres (see worker.py); status, metrics and the job log show
# them under this name.
WEBHOOKS = "webhooks"
GROUP = "paygate-workers"
SCHEDULER_PASS_KEY = "paygate:scheduler:last_pass"
COMPLETED_KEY = "paygate:stream:completed"  # queue -> entries handled and acknowledged, ever
WORKER_SILENT_AFTER = 30  # seconds without a heartbeat after which a consumer counts as gone
HEARTBEAT_EVERY = 5.0  # seconds between a consumer's heartbeats (Redis 6.2 does not count an empty read as a sign)
ENQUEUE_BATCH, ENQUEUE_BATCHES = 1000, 4  # entries one pipeline adds at most, pipelines in flight at most
MAXLEN = 1_000_000  # entries a stream keeps at most (approximately): a backstop, acknowledged entries are deleted


def stream(queue: str) -> str:
    return f"paygate:stream:{queue}"


def heartbeats(queue: str) -> str:
    """A sorted set: each consumer of the queue's stream, scored by the time of its last heartbeat."""
    return f"paygate:consumers:{queue}"


def _log_failure(future: asyncio.Future) -> None:
    """An enqueue nobody waits for that failed other than by Redis being away (which _send logs): Postgres has the
    object, and the scheduler's sweep enqueues it."""
    if not future.cancelled() and future.exception() is not None:
        log.error("an enqueue failed; the scheduler will enqueue again", exc_info=future.exception())


def entry_age(entry_id: str, now: float | None = None) -> float:
    """Seconds since an entry was added: its id starts with Redis's clock in milliseconds."""
    return max(0.0, (now or time.time()) - int(entry_id.split("-", 1)[0]) / 1000)


class Dispatcher:
    """Adds work to the streams and reads their state, each call within ``timeout``.

    Enqueues made while others are being sent go together, in one pipelined round trip (batching.Batcher). An
    enqueue that fails is logged (once per outage) and loses nothing: Postgres holds the work and the scheduler
    enqueues it. Every other call raises RedisUnavailable (a 503 with Retry-After) when Redis is away.
    """

    def __init__(self, redis_url: str, timeout: float = ENQUEUE_TIMEOUT, max_connections: int = 50):
        self.timeout = timeout
        self.redis = Reachability(OUTAGE)
        self.missed = False  # an enqueue failed since the scheduler last looked: it sweeps everything unfinished
        self.client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True, retry=retry_policy(),
                                                   socket_connect_timeout=timeout, max_connections=max_connections)
        self._adds = Batcher(self._send, size=ENQUEUE_BATCH, concurrency=ENQUEUE_BATCHES)

    def _call(self):
        return self.redis.call(self.timeout)

    async def enqueue(self, queue: str, object_id: str) -> bool:
        """Add the object's entry; False (and a warning once per outage) when Redis did not take it in time."""
        return await self._adds.submit((queue, object_id))

    def enqueue_soon(self, queue: str, object_id: str) -> None:
        """Add the object's entry without waiting for Redis: a merchant's answer does not wait on the queue. The
        entry goes with the next pipelined round trip; close() sends what is left."""
        self._adds.submit_nowait((queue, object_id)).add_done_callback(_log_failure)

    async def enqueue_many(self, queue: str, object_ids: list[str]) -> bool:
        return all(await asyncio.gather(*(self.enqueue(queue, object_id) for object_id in object_ids)))

    async def _send(self, batch: list[tuple[str, str]]) -> list[bool]:
        try:
            async with self._call():
                async with self.client.pipeline(transaction=False) as pipe:
                    for queue, object_id in batch:
                        pipe.xadd(stream(queue), {"id": object_id}, maxlen=MAXLEN, approximate=True)
                    await pipe.execute()
        except RedisUnavailable:
            self.missed = True
            log.debug("could not enqueue %d entries; the scheduler will", len(batch))
            return [False] * len(batch)
        return [True] * len(batch)

    def take_missed(self) -> bool:
        """Whether an enqueue failed since the last call (and forget it)."""
        missed, self.missed = self.missed, False
        return missed

    async def requeue(self, queue: str, object_id: str) -> bool:
        """Enqueue again an object whose entry was lost, or finished without finishing the object (a duplicate
        entry is harmless). Raises RedisUnavailable."""
        async with self._call():
            await self.client.xadd(stream(queue), {"id": object_id}, maxlen=MAXLEN, approximate=True)
        return True

    async def stream_state(self, queue: str) -> dict:
        """length, pending (read by a consumer, not yet acknowledged), consumers (name -> entries it holds),
        live (the consumers that sent a heartbeat in the last WORKER_SILENT_AFTER seconds) and the oldest pending
        entry's age in seconds (0: none)."""
        name = stream(queue)
        async with self._call():
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.xlen(name)
                pipe.zrangebyscore(heartbeats(queue), time.time() - WORKER_SILENT_AFTER, "+inf")
                pipe.xpending(name, GROUP)
                pipe.xinfo_consumers(name, GROUP)
                length, live, *rest = await pipe.execute(raise_on_error=False)
        if any(isinstance(answer, ResponseError) for answer in rest):  # no group yet: no worker has started
            pending, consumers = {"pending": 0}, []
        else:
            pending, consumers = rest
        oldest = entry_age(pending["min"]) if pending["pending"] else 0.0
        return {"length": int(length), "pending": int(pending["pending"]),
                "consumers": {c["name"]: c["pending"] for c in consumers}, "live": sorted(live),
                "oldest_pending_age_s": round(oldest, 3)}

    async def completed(self, queue: str) -> int:
        """Entries handled and acknowledged since the streams began."""
        async with self._call():
            return int(await self.client.hget(COMPLETED_KEY, queue) or 0)

    async def mark_scheduler_pass(self) -> None:
        """Record that a scheduler pass finished now (any process's; the latest wins)."""
        async with self._call():
            await self.client.set(SCHEDULER_PASS_KEY, repr(time.time()))

    async def last_scheduler_pass(self) -> float | None:
        """Unix time of the most recent scheduler pass anywhere, None when none has run."""
        async with self._call():
            value = await self.client.get(SCHEDULER_PASS_KEY)
        return float(value) if value is not None else None

    async def close(self) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                await self._adds.drained()
                await self.client.aclose()
        except UNREACHABLE:  # what was not sent, the scheduler sends; the connections go with the process
            pass


class Consumer:
    """One worker process's reader of one stream: reads batches for ``handle`` (which gets the object ids, and
    whether they were claimed from a silent consumer, and must not raise for a single bad object), acknowledges and
    deletes each batch once handled, and claims the entries a silent consumer held past ``claim_after`` seconds.
    At most ``concurrency`` entries are being handled at once.

    A batch whose handling failed (Postgres away, say) is not acknowledged: it is claimed again after
    ``claim_after``, here or by another worker.
    """

    def __init__(self, redis_url: str, queue: str, name: str, handle, *, concurrency: int, batch: int,
                 claim_after: float, timeout: float, redis_state: Reachability, block: float = 1.0):
        self.queue, self.stream, self.name, self.handle = queue, stream(queue), name, handle
        self.concurrency, self.batch, self.claim_after, self.block = concurrency, batch, claim_after, block
        self.timeout = timeout
        # Its own connections: a blocking read holds one for up to ``block`` seconds.
        self.client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True, retry=retry_policy(),
                                                   socket_connect_timeout=timeout,
                                                   socket_timeout=timeout + block)
        self.redis = redis_state  # the process's one view of Redis: an outage is logged once, not per stream
        self._busy = 0  # entries being handled
        self._freed = asyncio.Event()  # a batch was handled: there may be room to read
        self._handling: set[asyncio.Task] = set()
        self._stopping = asyncio.Event()
        self._claimed_at = 0.0
        self._beat_at = -HEARTBEAT_EVERY

    async def run(self) -> None:
        """Read and hand out batches until ``stop``; Redis away costs a try a second, logged once."""
        while not self._stopping.is_set():
            try:
                await self._ensure_group()
                while not self._stopping.is_set():
                    room = min(self.batch, self.concurrency - self._busy)
                    if room <= 0:
                        self._freed.clear()
                        await self._freed.wait()
                        continue
                    await self._heartbeat()
                    claimed = await self._claim(room)
                    entries = claimed or await self._read(room)
                    if entries:
                        self._start(entries, claimed=bool(claimed))
            except (*UNREACHABLE, RedisUnavailable) as exc:
                self.redis.failed(exc)
                await asyncio.sleep(1)

    async def _ensure_group(self) -> None:
        try:
            # From the start of the stream: entries added before any worker ran are read too.
            await self.client.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        # In the group from now on, not only once it first reads an entry (Redis 6.2).
        await self.client.execute_command("XGROUP", "CREATECONSUMER", self.stream, GROUP, self.name)
        self.redis.answered()

    async def _heartbeat(self) -> None:
        if time.monotonic() - self._beat_at >= HEARTBEAT_EVERY:
            await self.client.zadd(heartbeats(self.queue), {self.name: time.time()})
            self._beat_at = time.monotonic()

    async def _read(self, count: int) -> list[tuple[str, str]]:
        answer = await self.client.xreadgroup(GROUP, self.name, {self.stream: ">"}, count=count,
                                              block=int(self.block * 1000))
        self.redis.answered()
        return [(entry_id, fields.get("id", "")) for _, entries in answer or [] for entry_id, fields in entries]

    async def _claim(self, count: int) -> list[tuple[str, str]]:
        """Entries a consumer read and never finished, idle past ``claim_after``: checked every few seconds."""
        now = time.monotonic()
        if now - self._claimed_at < min(self.claim_after / 2, 5.0):
            return []
        self._claimed_at = now
        _, entries, *_ = await self.client.xautoclaim(self.stream, GROUP, self.name,
                                                      min_idle_time=int(self.claim_after * 1000), count=count)
        if entries:
            log.info("claimed %d %s entries that a stopped worker left unfinished", len(entries), self.queue)
        return [(entry_id, (fields or {}).get("id", "")) for entry_id, fields in entries if fields is not None]

    def _start(self, entries: list[tuple[str, str]], *, claimed: bool) -> None:
        self._busy += len(entries)
        task = asyncio.create_task(self._handle(entries, claimed))
        self._handling.add(task)
        task.add_done_callback(self._handling.discard)

    async def _handle(self, entries: list[tuple[str, str]], claimed: bool) -> None:
        try:
            ids = list(dict.fromkeys(object_id for _, object_id in entries if object_id))
            try:
                await self.handle(ids, claimed)
            except Exception:
                log.exception("handling %d %s failed; they are claimed again after %ss", len(ids), self.queue,
                              self.claim_after)
                return
            entry_ids = [entry_id for entry_id, _ in entries]
            try:
                async with self.redis.call(self.timeout):
                    async with self.client.pipeline(transaction=False) as pipe:
                        pipe.xack(self.stream, GROUP, *entry_ids)
                        pipe.xdel(self.stream, *entry_ids)
                        pipe.hincrby(COMPLETED_KEY, self.queue, len(entry_ids))
                        await pipe.execute()
            except RedisUnavailable:  # handled: whoever claims them finds the objects final
                pass
        finally:
            self._busy -= len(entries)
            self._freed.set()

    async def remove_silent(self, silent_after: float) -> list[str]:
        """Remove from the group the consumers with no heartbeat for ``silent_after`` seconds that hold nothing
        (what they held was claimed by others first)."""
        async with self.redis.call(self.timeout):
            live = set(await self.client.zrangebyscore(heartbeats(self.queue), time.time() - silent_after, "+inf"))
            consumers = await self.client.xinfo_consumers(self.stream, GROUP)
            gone = [c["name"] for c in consumers if c["name"] not in live and not c["pending"]]
            for name in gone:
                await self.client.xgroup_delconsumer(self.stream, GROUP, name)
            await self.client.zremrangebyscore(heartbeats(self.queue), "-inf", time.time() - silent_after)
        return gone

    async def stop(self, grace: float) -> None:
        """Stop reading; let the batches being handled finish (within ``grace``); those that do not are claimed
        by another worker later."""
        self._stopping.set()
        if self._handling:
            await asyncio.wait(self._handling, timeout=grace)

    async def close(self) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                await self.client.aclose()
        except UNREACHABLE:
            pass

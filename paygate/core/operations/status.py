"""What an operator looks at: queues, connected workers, deliveries, recent failures, scheduler lag, and the
processor calls whose outcome paygate is still waiting for.

Read from Redis and Postgres, so every figure is system-wide: one process reads it once, for
``paygate status`` and for the scrape-time part of /metrics. Payments and refunds are Redis streams; webhook
deliveries are claimed from Postgres by every worker role, and are shown as a queue of their own.

/metrics and /api/v1/test/jobs/status answer from ``Snapshots``: figures at most a second old, read by one
request at a time for all that ask meanwhile, so a flood of them costs no query per request.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Generic, TypeVar

from ...infra import metrics
from ...infra.queue import PAYMENTS, QUEUE_NAMES, WEBHOOKS
from ...storage import status as storage
from ...storage import webhooks
from ...storage.db import cursor
from ..services import Services

QUEUE_STATES = ("waiting", "delayed", "active")  # delayed: webhook retries not yet due (streams have none)
FAILURE_WINDOW = 3600.0  # seconds: "failures in the last hour"
SNAPSHOT_MAX_AGE = 1.0  # seconds
SCRAPE_TIMEOUT = 5.0  # seconds for the figures /metrics reads from Postgres and Redis

T = TypeVar("T")


class Fresh(Generic[T]):
    """What ``read`` answered, for ``max_age`` seconds from when that read began; one read at a time, its
    answer (or its failure) shared by every caller that came meanwhile. A failure is not kept: the next
    caller reads again."""

    def __init__(self, read: Callable[[], Awaitable[T]], max_age: float = SNAPSHOT_MAX_AGE):
        self._read, self._max_age = read, max_age
        self._value: T | None = None
        self._read_at = -math.inf
        self._reading: asyncio.Task[T] | None = None

    async def get(self) -> T:
        if time.monotonic() - self._read_at <= self._max_age:
            return self._value
        if self._reading is None:
            self._reading = asyncio.create_task(self._refresh())
            # Retrieved here, so that a failure that every waiter gave up on is not reported as never retrieved.
            self._reading.add_done_callback(lambda task: task.cancelled() or task.exception())
        return await asyncio.shield(self._reading)  # a caller that goes away does not cancel the others' read

    async def _refresh(self) -> T:
        began = time.monotonic()
        try:
            value = await self._read()
        finally:
            self._reading = None
        self._value, self._read_at = value, began
        return value


class Snapshots:
    """The figures /metrics and the test endpoint answer with, per process."""

    def __init__(self, services: Services, max_age: float = SNAPSHOT_MAX_AGE):
        self.metrics = Fresh(lambda: asyncio.wait_for(metrics_snapshot(services), SCRAPE_TIMEOUT), max_age)
        self.jobs = Fresh(lambda: jobs_status(services), max_age)


async def jobs_status(services: Services) -> dict:
    """The payment stream as the workers see it (the seed's test endpoint). Raises RedisUnavailable."""
    dispatcher = services.dispatcher
    state, completed = await asyncio.gather(dispatcher.stream_state(PAYMENTS), dispatcher.completed(PAYMENTS))
    workers = state["live"]
    return {
        "pending": _waiting(state),
        "processing": state["pending"],
        "completed": completed,
        "failed": 0,  # a batch that fails stays pending in the stream and is claimed again
        "workers": len(workers),
        "worker_status": "running" if workers else "stopped",
    }


def _waiting(state: dict) -> int:
    return max(0, state["length"] - state["pending"])


async def _streams(services: Services) -> dict[str, dict]:
    """Each stream's length, entries pending (read, not yet finished), consumers and oldest pending age."""
    states = await asyncio.gather(*(services.dispatcher.stream_state(q) for q in QUEUE_NAMES))
    return dict(zip(QUEUE_NAMES, states, strict=True))


def _queues(streams: dict[str, dict]) -> dict[str, dict[str, int]]:
    return {q: {"waiting": _waiting(s), "active": s["pending"]} for q, s in streams.items()}


def _workers(streams: dict[str, dict]) -> dict[str, list[str]]:
    """Queue -> names of the workers reading it now. A worker role that takes payments also delivers webhooks."""
    by_queue = {q: s["live"] for q, s in streams.items()}
    by_queue[WEBHOOKS] = by_queue[PAYMENTS]
    return by_queue


def _stream_rows(streams: dict[str, dict]) -> dict[str, dict]:
    return {q: {"length": s["length"], "pending": s["pending"], "consumers": len(s["consumers"]),
                "oldest_pending_age_s": s["oldest_pending_age_s"]} for q, s in streams.items()}


async def _postgres(services: Services) -> tuple[dict, dict]:
    """Webhook deliveries pending, and the calls at the processor."""
    async with cursor(services.pool) as cur:
        return await webhooks.pending(cur), await storage.at_processor(cur, services.config.payments.stuck_after)


def _delivery_queue(pending: dict) -> dict[str, int]:
    return {s: pending[s] for s in ("waiting", "delayed", "active")}


def _worker_rows(by_queue: dict[str, list[str]]) -> list[dict]:
    """One row per worker process; paygate names its workers <host>-<pid>."""
    rows: dict[str, dict] = {}
    for queue, names in by_queue.items():
        for name in names:
            host, _, pid = name.rpartition("-")
            row = rows.setdefault(name, {"name": name, "host": host or name,
                                         "pid": int(pid) if pid.isdigit() else None, "queues": []})
            row["queues"].append(queue)
    return sorted(rows.values(), key=lambda r: r["name"])


async def _live(services: Services) -> tuple[dict, float | None]:
    """The streams, and the time of the last scheduler pass (from Redis)."""
    return await asyncio.gather(_streams(services), services.dispatcher.last_scheduler_pass())


async def metrics_snapshot(services: Services) -> metrics.Snapshot:
    (streams, last_pass), (pending, processor) = await asyncio.gather(_live(services), _postgres(services))
    queues = _queues(streams)
    queues[WEBHOOKS] = _delivery_queue(pending)
    return metrics.Snapshot(queue_depth=queues, queue_workers={q: len(n) for q, n in _workers(streams).items()},
                            streams=_stream_rows(streams),
                            oldest_due_delivery_age=pending["oldest_due_age"], scheduler_last_pass=last_pass,
                            scheduler_interval=services.config.scheduler.interval, processor=processor)


async def report(services: Services) -> dict:
    """Everything ``paygate status`` shows, as one JSON-ready dict."""
    streams, last_pass = await _live(services)
    queues = _queues(streams)
    async with cursor(services.pool) as cur:
        pending = await webhooks.pending(cur)
        deliveries = {"due": pending["due"], "failed": await storage.failed_deliveries(cur),
                      "oldest_due_age_s": round(pending["oldest_due_age"], 3)}
        failures = await storage.failures_since(cur, FAILURE_WINDOW)
        processor = await storage.at_processor(cur, services.config.payments.stuck_after)
    queues[WEBHOOKS] = _delivery_queue(pending)
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "queues": queues,
        "streams": _stream_rows(streams),
        "workers": _worker_rows(_workers(streams)),
        "deliveries": deliveries,
        "failures_last_hour": failures,
        "processor": processor,
        "scheduler": {"last_pass_age_s": round(time.time() - last_pass, 3) if last_pass is not None else None},
    }

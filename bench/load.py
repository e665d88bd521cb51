"""Load generators in Python (closed loop at a fixed concurrency, open loop at a fixed rate) and their statistics.

HTTP load at a fixed concurrency comes from wrk (``bench.wrk``); the closed loop here drives the baseline (aiopg,
no HTTP), and the open loop the end-to-end and half-maximum phases: wrk has no fixed-rate mode. The half-maximum
phase sends through ``bench.rawhttp`` (about 0.1 ms of CPU a request, aiohttp's client 0.24); the phases report
what the client cost (``bench`` CPU).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of ``values`` (any order); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


@dataclass
class ClosedLoopResult:
    duration: float  # the measured window, seconds
    completed: int = 0  # 2xx answers completed inside the window
    latencies: list[float] = field(default_factory=list)  # seconds, of those
    errors: Counter = field(default_factory=Counter)  # "HTTP 500", "ClientConnectorError", ... (whole run)
    per_second: list[int] = field(default_factory=list)  # 2xx completions in each second of the window
    exhausted: bool = False  # the generator ran out of work (e.g. orders) before the window ended
    total_requests: int = 0  # everything sent, warm-up included

    @property
    def rate(self) -> float:
        return self.completed / self.duration if self.duration > 0 else 0.0

    def summary(self) -> dict:
        return {
            "requests_per_s": round(self.rate, 1),
            "p50_ms": ms(percentile(self.latencies, 50)),
            "p90_ms": ms(percentile(self.latencies, 90)),
            "p99_ms": ms(percentile(self.latencies, 99)),
            "max_ms": ms(max(self.latencies) if self.latencies else None),
            "completed_in_window": self.completed,
            "window_s": round(self.duration, 2),
            "errors": dict(self.errors),
            "per_second": self.per_second,
            "ran_out_of_work": self.exhausted,
            "total_requests": self.total_requests,
        }


async def closed_loop(request: Callable[[], Awaitable[int] | None], *, concurrency: int, duration: float,
                      warmup: float) -> ClosedLoopResult:
    """``concurrency`` workers each send ``request()`` back to back for ``warmup + duration`` seconds.

    ``request()`` returns an awaitable of the HTTP status (or None when there is no more work); exceptions
    count as errors. Only requests that start after the warm-up and complete before the end are measured.
    Requests in flight at the end finish (each is bounded by its client timeout) but are not counted.
    """
    start = time.perf_counter()
    measure_from = start + warmup
    end = measure_from + duration
    samples: list[tuple[float, float]] = []  # (started, finished) of 2xx answers
    result = ClosedLoopResult(duration=duration)

    async def worker() -> None:
        while time.perf_counter() < end:
            pending = request()
            if pending is None:
                result.exhausted = True
                return
            result.total_requests += 1
            t0 = time.perf_counter()
            try:
                status = await pending
            except Exception as exc:  # noqa: BLE001 - every failure is a figure
                result.errors[type(exc).__name__] += 1
                continue
            t1 = time.perf_counter()
            if 200 <= status < 300:
                samples.append((t0, t1))
            else:
                result.errors[f"HTTP {status}"] += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    if result.exhausted:
        # Measure the part of the window that had work; the flag says it was cut short.
        last = max((t1 for _, t1 in samples), default=measure_from)
        end = min(end, last)
        result.duration = max(end - measure_from, 1e-9)
    seconds = max(1, math.ceil(result.duration))
    result.per_second = [0] * seconds
    for t0, t1 in samples:
        if t0 >= measure_from and t1 <= end:
            result.completed += 1
            result.latencies.append(t1 - t0)
            result.per_second[min(int(t1 - measure_from), seconds - 1)] += 1
    return result


@dataclass
class OpenLoopResult:
    scheduled: int
    start: float  # perf_counter of the first request's due time
    sending_took: float  # seconds from the first due time to the last request's start
    schedule_lag: list[float] = field(default_factory=list)  # how late each request started, seconds
    unanswered: int = 0  # requests still running ``grace`` seconds after the last started (cancelled)

    def summary(self) -> dict:
        return {"scheduled": self.scheduled,
                "sent_per_s": round(self.scheduled / self.sending_took, 1) if self.sending_took > 0 else None,
                "schedule_lag_p99_ms": ms(percentile(self.schedule_lag, 99)),
                "unanswered_cancelled": self.unanswered}


async def open_loop(send: Callable[[int], Awaitable[None]], n: int, rate: float, grace: float) -> OpenLoopResult:
    """Start ``send(i)`` for i in range(n) at ``rate`` a second, each in its own task whatever the earlier ones are
    doing (so a slow server meets the same arrivals, not fewer); wait up to ``grace`` seconds after the last start
    for them to end, and cancel the rest. ``send`` records what it measures and handles its own errors."""
    start = time.perf_counter() + 0.05
    result = OpenLoopResult(scheduled=n, start=start, sending_took=0.0)
    tasks = []

    async def one(i: int, due: float) -> None:
        result.schedule_lag.append(time.perf_counter() - due)
        await send(i)

    for i in range(n):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    result.sending_took = time.perf_counter() - start
    tasks = [task for task in tasks if not task.done()]  # waiting on all of them would stall the loop a while
    if tasks:
        _, unanswered = await asyncio.wait(tasks, timeout=grace)
        for task in unanswered:
            task.cancel()
        await asyncio.gather(*unanswered, return_exceptions=True)
        result.unanswered = len(unanswered)
    return result


class LoopLag:
    """Measures how late the bench's own event loop wakes up: a busy client would distort latencies."""

    def __init__(self, interval: float = 0.05):
        self.interval = interval
        self.lags: list[float] = []
        self._task: asyncio.Task | None = None

    def start(self) -> LoopLag:
        self.lags = []
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        while True:
            t0 = time.perf_counter()
            await asyncio.sleep(self.interval)
            self.lags.append(max(0.0, time.perf_counter() - t0 - self.interval))

    async def stop(self) -> dict:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        return {"p50_ms": ms(percentile(self.lags, 50)), "p99_ms": ms(percentile(self.lags, 99)),
                "max_ms": ms(max(self.lags) if self.lags else None)}

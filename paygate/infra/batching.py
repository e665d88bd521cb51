"""Group commit: calls that arrive while a batch is being written wait, and go together in the next one."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Batcher(Generic[Item, Result]):
    """Hands submitted items to ``handle`` in batches.

    An item submitted while fewer than ``concurrency`` batches are being handled goes at once (with whatever was
    submitted in the same turn of the event loop); the others wait, and each batch that ends takes up to ``size``
    of them together. So nothing waits when the process is idle, and under load one round trip carries many
    items: a transaction's fixed costs (statements, locks, the commit's flush) are paid once per batch.

    ``handle`` returns one result per item, in order: a value, or an exception that only that item's caller
    sees. An exception that ``handle`` raises reaches every caller of the batch.
    """

    def __init__(self, handle: Callable[[list[Item]], Awaitable[list[Result | Exception]]], *, size: int,
                 concurrency: int = 1):
        self._handle, self.size, self.concurrency = handle, size, concurrency
        self._waiting: deque[tuple[Item, asyncio.Future]] = deque()
        self._running: set[asyncio.Task] = set()

    async def submit(self, item: Item) -> Result:
        return await self.submit_nowait(item)

    def submit_nowait(self, item: Item) -> asyncio.Future[Result]:
        """Hand the item over; its result arrives on the future, whether or not anyone waits for it."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if len(self._running) < self.concurrency:
            self._running.add(asyncio.create_task(self._drain()))
        return future

    async def drained(self) -> None:
        """Return once every item submitted so far has been handled."""
        while self._running:
            await asyncio.wait(set(self._running))

    async def _drain(self) -> None:
        try:
            await self._drain_waiting()
        finally:
            # Here, not in a done-callback: that would run a turn later, and a caller woken by this batch who
            # submits again at once would find the lanes still counted, and wait for ever.
            self._running.discard(asyncio.current_task())

    async def _drain_waiting(self) -> None:
        while self._waiting:
            batch = [self._waiting.popleft() for _ in range(min(self.size, len(self._waiting)))]
            try:
                results = await self._handle([item for item, _ in batch])
            except Exception as exc:
                results = [exc] * len(batch)
            except BaseException:  # cancelled (the process is stopping): so are the calls waiting on it
                for _, future in [*batch, *self._waiting]:
                    future.cancel()
                self._waiting.clear()
                raise
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():  # its caller went away
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

"""A real local HTTP receiver for webhook tests: scripted answers, every request recorded."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Received:
    at: float
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each request with ``answer(n)`` -> (status, headers, delay); records what arrived. While ``hold``
    is set to an unset event, every request waits for it: an endpoint that hangs."""

    answer: Callable[[int], tuple[int, dict, float]] = lambda n: (200, {}, 0.0)
    requests: list[Received] = field(default_factory=list)
    hold: asyncio.Event | None = None
    url: str = ""
    _runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append(Received(time.monotonic(), dict(request.headers), await request.read()))
        status, headers, delay = self.answer(len(self.requests))
        if self.hold is not None:
            await self.hold.wait()
        if delay:
            await asyncio.sleep(delay)
        return web.Response(status=status, text="ok" if status < 300 else "not ok", headers=headers)

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        app.router.add_post("/elsewhere", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/hook"
        return self

    async def stop(self) -> None:
        if self.hold is not None:
            self.hold.set()
        if self._runner:
            await self._runner.cleanup()

    async def wait_for(self, count: int, timeout: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.requests)} of {count} webhooks arrived within {timeout}s")
            await asyncio.sleep(0.02)
        return self.requests


def statuses(*codes: int) -> Callable[[int], tuple[int, dict, float]]:
    """Answer the n-th request with codes[n-1], and the last code after that."""
    return lambda n: (codes[min(n, len(codes)) - 1], {}, 0.0)

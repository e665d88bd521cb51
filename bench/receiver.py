"""The local webhook receiver: an aiohttp server inside the bench process that timestamps what arrives."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter

from aiohttp import web


class Receiver:
    """Answers every POST /hook with 204 and records, per event type, when each event first arrived.

    ``success_at[payment_id]`` is the arrival time (``time.perf_counter()``) of the first ``payment.success``
    for that payment, ``payment_events[payment_id]`` that of the first of each ``payment.*`` event type;
    ``bench_arrivals`` holds the arrival time of each ``bench.delivery`` event (by event id).
    """

    def __init__(self) -> None:
        self.success_at: dict[str, float] = {}
        self.payment_events: dict[str, dict[str, float]] = {}
        self.bench_arrivals: dict[str, float] = {}
        self.bench_expected = 0
        self.bench_done = asyncio.Event()
        self.by_type: Counter[str] = Counter()
        self.duplicates = 0
        self.bad = 0
        self._seen_webhook_ids: set[str] = set()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> Receiver:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def expect_bench(self, count: int) -> None:
        """Start counting ``bench.delivery`` events; ``bench_done`` is set when ``count`` distinct ones arrived."""
        self.bench_arrivals.clear()
        self.bench_expected = count
        self.bench_done.clear()

    async def _hook(self, request: web.Request) -> web.Response:
        raw = await request.read()
        now = time.perf_counter()
        try:
            event = json.loads(raw)
            kind = event["event"]
        except (ValueError, KeyError, TypeError):
            self.bad += 1
            return web.Response(status=204)
        self.by_type[kind] += 1
        webhook_id = request.headers.get("webhook-id", "")
        if webhook_id:
            if webhook_id in self._seen_webhook_ids:
                self.duplicates += 1
            self._seen_webhook_ids.add(webhook_id)
        if kind.startswith("payment."):
            try:
                payment_id = event["data"]["payment"]["id"]
            except (KeyError, TypeError):
                self.bad += 1
                return web.Response(status=204)
            self.payment_events.setdefault(payment_id, {}).setdefault(kind, now)
            if kind == "payment.success":
                self.success_at.setdefault(payment_id, now)
        elif kind == "bench.delivery":
            self.bench_arrivals.setdefault(event["id"], now)
            if self.bench_expected and len(self.bench_arrivals) >= self.bench_expected:
                self.bench_done.set()
        return web.Response(status=204)

"""/api/v1/test/jobs/status (the seed's): the payment queue as the workers see it."""

from __future__ import annotations

from aiohttp import web

from ..queue import PAYMENTS
from .common import API, respond, services

routes = web.RouteTableDef()


@routes.get(f"{API}/test/jobs/status")
async def jobs_status(request: web.Request) -> web.Response:
    dispatcher = services(request).dispatcher
    counts = await dispatcher.counts(PAYMENTS)
    workers = await dispatcher.workers(PAYMENTS)
    return respond({
        "pending": counts["waiting"] + counts["delayed"] + counts["prioritized"],
        "processing": counts["active"],
        "completed": counts["completed"],
        "failed": counts["failed"],
        "workers": workers,
        "worker_status": "running" if workers else "stopped",
    })

"""/metrics in Prometheus text format, unauthenticated (see the metrics.enabled setting)."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from .. import metrics
from ..operations import status
from .common import services

log = logging.getLogger("paygate.metrics")
routes = web.RouteTableDef()

SCRAPE_TIMEOUT = 5.0  # seconds for the figures read from Postgres and Redis


@routes.get("/metrics")
async def metrics_text(request: web.Request) -> web.Response:
    try:
        async with asyncio.timeout(SCRAPE_TIMEOUT):
            snap = await status.metrics_snapshot(services(request))
    except Exception as exc:  # the counters are still worth serving while Postgres or Redis is away
        log.warning("metrics: could not read queue and delivery figures: %s", exc or type(exc).__name__)
        snap = None
    return web.Response(body=metrics.exposition(snap), headers={"Content-Type": metrics.CONTENT_TYPE})

"""/metrics in Prometheus text format (see the metrics.enabled and metrics.token settings).

The figures read from Postgres and Redis come from a snapshot at most a second old, shared by every scrape
meanwhile; the counters are this process's (or every process's, under multi-process serving).
"""

from __future__ import annotations

import hmac
import logging

from aiohttp import web

from ...infra import metrics
from ...infra.broker import RedisUnavailable
from ...infra.errors import Unauthorized
from .. import appkeys

log = logging.getLogger("paygate.metrics")
routes = web.RouteTableDef()


def _authorize(request: web.Request) -> None:
    """With ``metrics.token`` set, only ``Authorization: Bearer <token>`` reads /metrics."""
    token = request.app[appkeys.CONFIG].metrics.token
    if not token:
        return
    scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(sent.strip().encode(), token.encode()):
        raise Unauthorized("/metrics needs the header Authorization: Bearer <metrics.token>", field="Authorization",
                           headers={"WWW-Authenticate": 'Bearer realm="metrics"'})


@routes.get("/metrics")
async def metrics_text(request: web.Request) -> web.Response:
    _authorize(request)
    try:
        snap = await request.app[appkeys.SNAPSHOTS].metrics.get()
    except RedisUnavailable:  # logged once by the dispatcher; the counters are still worth serving
        snap = None
    except Exception as exc:  # Postgres away, say: the counters are still worth serving
        log.warning("metrics: could not read queue and delivery figures: %s", exc or type(exc).__name__)
        snap = None
    return web.Response(body=metrics.exposition(snap), headers={"Content-Type": metrics.CONTENT_TYPE})

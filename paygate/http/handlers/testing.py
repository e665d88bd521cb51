"""/api/v1/test/jobs/status (the seed's): the payment queue as the workers see it.

Served only with ``api.test_endpoints`` (on under ``paygate dev``); from a snapshot at most a second old, and
503 with Retry-After while Redis is away.
"""

from __future__ import annotations

from aiohttp import web

from .. import appkeys
from .common import API, respond

routes = web.RouteTableDef()


@routes.get(f"{API}/test/jobs/status")
async def jobs_status(request: web.Request) -> web.Response:
    return respond(await request.app[appkeys.SNAPSHOTS].jobs.get())

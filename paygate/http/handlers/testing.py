"""/api/v1/test/jobs/status (the seed's): the payment queue as the workers see it.

Served only with ``api.test_endpoints`` (on under ``paygate dev``); from a snapshot at most a second old, and
503 with Retry-After while Redis is away.
"""

from __future__ import annotations

from aiohttp import web

from .. import api_models as a
from .. import appkeys
from ..endpoints import API, Endpoints
from .common import respond

routes = Endpoints()


@routes.operation(
    "GET", f"{API}/test/jobs/status", "getJobsStatus", "Payment queue status",
    "Counts of the payment queue and the workers connected (the seed's test endpoint), at most a "
    "second old. Served only with `api.test_endpoints` on (as under `paygate dev`).", "Operations",
    "none", 200, a.JobsStatus, (503,),
    {"pending": 0, "processing": 1, "completed": 42, "failed": 0, "workers": 2,
     "worker_status": "running"})
async def jobs_status(request: web.Request) -> web.Response:
    return respond(await request.app[appkeys.SNAPSHOTS].jobs.get())

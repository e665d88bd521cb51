"""Liveness and readiness."""

from __future__ import annotations

from aiohttp import web

from ...infra.errors import ServiceUnavailable
from .. import appkeys
from ..health import readiness

routes = web.RouteTableDef()

READY_TIMEOUT = 2.0  # seconds each check may take; a load balancer polls often and must not pile up


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    app = request.app
    checks = await readiness(app[appkeys.DB], app[appkeys.REDIS], timeout=READY_TIMEOUT)
    if all(c["ok"] for c in checks.values()):
        return web.json_response({"status": "ready", "checks": checks})
    return web.json_response({"status": "unavailable", "checks": checks}, status=503,
                             headers={"Retry-After": str(ServiceUnavailable.RETRY_AFTER)})

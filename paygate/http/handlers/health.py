"""Liveness and readiness."""

from __future__ import annotations

from aiohttp import web

from ...infra.errors import ServiceUnavailable
from .. import api_models as a
from .. import appkeys
from ..endpoints import Endpoints
from ..health import readiness

routes = Endpoints()

READY_TIMEOUT = 2.0  # seconds each check may take; a load balancer polls often and must not pile up


@routes.operation(
    "GET", "/healthz", "healthz", "Liveness", "The process answers.", "Operations", "none",
    200, a.Health, (), {"status": "ok"})
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.operation(
    "GET", "/readyz", "readyz", "Readiness",
    "Postgres (migrated) and Redis reachable: 200; otherwise 503 with the reasons.", "Operations",
    "none", 200, a.Readiness, (503,),
    {"status": "ready", "checks": {"postgres": {"ok": True}, "redis": {"ok": True}}})
async def readyz(request: web.Request) -> web.Response:
    app = request.app
    checks = await readiness(app[appkeys.DB], app[appkeys.REDIS], timeout=READY_TIMEOUT)
    if all(c["ok"] for c in checks.values()):
        return web.json_response({"status": "ready", "checks": checks})
    return web.json_response({"status": "unavailable", "checks": checks}, status=503,
                             headers={"Retry-After": str(ServiceUnavailable.RETRY_AFTER)})

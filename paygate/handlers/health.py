"""Liveness and readiness."""

from __future__ import annotations

from aiohttp import web

from .. import appkeys
from ..health import readiness

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    app = request.app
    checks = await readiness(app[appkeys.DB], app[appkeys.REDIS], timeout=2.0)
    ok = all(c["ok"] for c in checks.values())
    return web.json_response({"status": "ready" if ok else "unavailable", "checks": checks}, status=200 if ok else 503)


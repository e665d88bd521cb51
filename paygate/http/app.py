"""The aiohttp application factory: every role builds this one object."""

from __future__ import annotations

from aiohttp import web

from ..core.operations.status import Snapshots
from ..core.services import open_services
from ..infra.broker import create_redis
from ..infra.config import Config
from ..storage.db import create_pool
from ..worker.runner import WorkerRole
from . import appkeys, proxies, sessions
from .handlers import AREAS, checkout, dashboard, metrics, testing
from .middleware import access_middleware, error_middleware, in_flight_middleware, request_id_middleware
from .ratelimit import RateLimiter

MAX_BODY = 1024 * 1024  # 1 MiB; larger bodies get 413


async def _postgres(app: web.Application):
    app[appkeys.DB] = await create_pool(app[appkeys.CONFIG])
    yield
    app[appkeys.DB].close()
    await app[appkeys.DB].wait_closed()


async def _redis(app: web.Application):
    app[appkeys.REDIS] = await create_redis(app[appkeys.CONFIG])
    yield
    await app[appkeys.REDIS].aclose()


async def _services(app: web.Application):
    async with open_services(app[appkeys.CONFIG], app[appkeys.DB]) as services:
        app[appkeys.SERVICES] = services
        app[appkeys.SNAPSHOTS] = Snapshots(services)
        yield


async def _workers(app: web.Application):
    role = WorkerRole(app[appkeys.SERVICES])
    await role.start()
    app[appkeys.WORKERS] = role
    yield
    await role.close()


def create_app(config: Config, *, workers: bool = False, http: bool = True) -> web.Application:
    """The whole service for ``config``; resources open on startup and close on cleanup.

    ``workers`` adds the queue workers and the scheduler; ``http=False`` leaves out the
    routes, for ``paygate worker``.
    """
    # The proxies' first, so that every other sees the client's address and scheme; left out when no proxy is
    # trusted, as every middleware costs every request. The in-flight bound last, so that checkout's refusals
    # carry its CORS headers.
    behind_proxies = [proxies.middleware(config)] if config.server.trusted_proxies else []
    app = web.Application(
        middlewares=[*behind_proxies, request_id_middleware, access_middleware, error_middleware,
                     checkout.public_api, in_flight_middleware(config)],
        client_max_size=MAX_BODY,
    )
    app[appkeys.CONFIG] = config
    app[sessions.STORAGE] = sessions.storage(config)
    app[appkeys.RATE_LIMITER] = RateLimiter(config.redis.url, {
        "checkout": config.checkout.rate_limit, "checkout-status": config.checkout.status_rate_limit,
        dashboard.LOGIN: config.dashboard.login_attempts}, timeout=config.redis.timeout)
    app.cleanup_ctx.extend([_postgres, _redis, _services])
    if workers:
        app.cleanup_ctx.append(_workers)
    app[appkeys.OPERATIONS] = []
    if http:
        switched_off = {testing: not config.api.test_endpoints, metrics: not config.metrics.enabled}
        for area in AREAS:
            if not switched_off.get(area):
                add_endpoints(app, area.routes)
    return app


def add_endpoints(app: web.Application, routes: web.RouteTableDef) -> None:
    """Serve ``routes``; those declared as operations (endpoints.Endpoints) are in the app's OpenAPI document."""
    app.add_routes(routes)
    app[appkeys.OPERATIONS].extend(getattr(routes, "operations", ()))

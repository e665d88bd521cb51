"""The aiohttp application factory: every role builds this one object."""

from __future__ import annotations

from aiohttp import web

from . import appkeys
from .broker import create_redis
from .config import Config
from .db import create_pool
from .handlers import health
from .middleware import error_middleware, request_id_middleware

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


def create_app(config: Config) -> web.Application:
    """The whole service for ``config``; resources open on startup and close on cleanup."""
    app = web.Application(
        middlewares=[request_id_middleware, error_middleware],
        client_max_size=MAX_BODY,
    )
    app[appkeys.CONFIG] = config
    app.cleanup_ctx.extend([_postgres, _redis])
    app.add_routes(health.routes)
    return app

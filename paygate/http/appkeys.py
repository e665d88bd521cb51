"""Typed keys for what the aiohttp application holds."""

from __future__ import annotations

import redis.asyncio as aioredis
from aiohttp import web

from ..infra.config import Config
from ..storage.db import Pool

CONFIG = web.AppKey("config", Config)
DB = web.AppKey("db", Pool)
REDIS = web.AppKey("redis", aioredis.Redis)
SERVICES = web.AppKey("services", "Services")
WORKERS = web.AppKey("workers", "WorkerRole")
RATE_LIMITER = web.AppKey("rate_limiter", "RateLimiter")
SNAPSHOTS = web.AppKey("status_snapshots", "Snapshots")  # what /metrics and the test endpoint answer from
# The documented operations of the routes the app serves, in document order (app.add_endpoints).
OPERATIONS = web.AppKey("operations", list)

# per-request
REQUEST_ID = web.RequestKey("request_id", str)
MERCHANT_ID = web.RequestKey("merchant_id", str)  # set once the request is authenticated, for the access log

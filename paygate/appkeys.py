"""Typed keys for what the aiohttp application holds."""

from __future__ import annotations

import aiopg
import redis.asyncio as aioredis
from aiohttp import web

from .config import Config

CONFIG = web.AppKey("config", Config)
DB = web.AppKey("db", aiopg.Pool)
REDIS = web.AppKey("redis", aioredis.Redis)

# per-request
REQUEST_ID = web.RequestKey("request_id", str)

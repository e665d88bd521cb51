"""Redis through redis.asyncio: the connection every role shares."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from .config import Config, mask_url
from .errors import StartupError


async def create_redis(config: Config) -> aioredis.Redis:
    """Connect and ping, or raise StartupError naming the (masked) URL and the reason."""
    url = config.redis.url
    client = aioredis.from_url(
        url,
        max_connections=config.redis.max_connections,
        socket_timeout=config.redis.timeout,
        socket_connect_timeout=config.redis.timeout,
        decode_responses=True,
    )
    try:
        await asyncio.wait_for(client.ping(), timeout=config.redis.timeout)
    except (TimeoutError, RedisError, OSError) as exc:
        await client.aclose()
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise StartupError(f"cannot reach Redis at {mask_url(url)}: {reason}") from None
    return client

"""Redis through redis.asyncio: the connection every role shares, and the bounds that make an outage cost
seconds, not minutes.

Postgres holds every payment, refund and delivery; Redis only carries the jobs that tell a worker to start.
So nothing waits long for Redis: connects and answers are bounded by ``redis.timeout``, a dropped connection
is retried a few times within about a second (redis-py's and bullmq's own policies retried for up to minutes,
which once froze the scheduler for minutes per object), and a call that still fails is reported once, not per
request.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .config import Config, mask_url
from .errors import ServiceUnavailable, StartupError

log = logging.getLogger("paygate.redis")

PROBE_EVERY = 1.0  # seconds between tries of a Redis known to be away
# Failures that mean "Redis is not there (now)"; anything else is a bug and propagates.
UNREACHABLE = (RedisError, OSError, TimeoutError)


def retry_policy() -> Retry:
    """Three more tries of a refused or dropped connection, 0.1, 0.2 and 0.25 s apart: a Redis restarting or
    failing over is caught, a Redis that is down costs about half a second. A timeout is not retried: it has
    waited its ``redis.timeout`` already. (BusyLoadingError, Redis loading its data, is a ConnectionError.)"""
    return Retry(ExponentialBackoff(cap=0.25, base=0.05), 3, supported_errors=(RedisConnectionError,))


def describe(exc: BaseException) -> str:
    """What went wrong, in words fit for a client: no address, no object."""
    return "timed out" if isinstance(exc, TimeoutError | RedisTimeoutError) else "unreachable"


class RedisUnavailable(ServiceUnavailable):
    """503 with Retry-After for a request that needs Redis while it is away."""

    def __init__(self, what: str = "the job queue"):
        super().__init__(f"{what} is unavailable at the moment (Redis is unreachable); retry after "
                         f"{self.RETRY_AFTER} s")


class Reachability:
    """Whether Redis answered the last call, logged only when that changes: one warning when it goes, one line
    when it is back, not a traceback per request or per scheduler pass."""

    def __init__(self, consequence: str):
        self.consequence = consequence  # what an outage means, for the operator reading the warning
        self.down = False
        self._failed_at = -math.inf

    def failed(self, exc: BaseException) -> None:
        if not self.down:
            self.down = True
            reason = " ".join(str(exc).split()) or describe(exc)
            log.warning("Redis is unreachable (%s); %s", reason, self.consequence)

    def answered(self) -> None:
        if self.down:
            self.down = False
            log.info("Redis is reachable again")

    @asynccontextmanager
    async def call(self, timeout: float, what: str = "the job queue") -> AsyncIterator[None]:
        """Run the body within ``timeout``; Redis failing or slow becomes RedisUnavailable (logged once).

        While Redis is known to be away, one call a second tries it and the others fail at once: a create
        during an outage answers without waiting, and the first call after Redis is back finds it."""
        if self.down:
            if time.monotonic() - self._failed_at < PROBE_EVERY:
                raise RedisUnavailable(what)
            self._failed_at = time.monotonic()  # this call tries; the others meanwhile fail at once
        try:
            async with asyncio.timeout(timeout):
                yield
        except UNREACHABLE as exc:
            self._failed_at = time.monotonic()
            self.failed(exc)
            raise RedisUnavailable(what) from exc
        self.answered()


async def create_redis(config: Config) -> aioredis.Redis:
    """Connect and ping, or raise StartupError naming the (masked) URL and the reason."""
    url = config.redis.url
    client = aioredis.from_url(
        url,
        max_connections=config.redis.max_connections,
        socket_timeout=config.redis.timeout,
        socket_connect_timeout=config.redis.timeout,
        retry=retry_policy(),
        decode_responses=True,
    )
    try:
        await asyncio.wait_for(client.ping(), timeout=config.redis.timeout)
    except UNREACHABLE as exc:
        await client.aclose()
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise StartupError(f"cannot reach Redis at {mask_url(url)}: {reason}") from None
    return client

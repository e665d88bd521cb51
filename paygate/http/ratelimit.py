"""Per-IP rate limits for the public endpoints, through the `limits` library on the shared Redis.

`limits` gives a tested moving-window algorithm with atomic Redis scripts; writing our
own would mean re-deriving its race handling.
"""

from __future__ import annotations

import math
import time

from limits import parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

from ..infra.broker import Reachability, RedisUnavailable
from ..infra.errors import ServiceUnavailable, TooManyRequests


class RateLimiter:
    """Named rules, e.g. {"checkout": "120/minute"}, each counted per client."""

    def __init__(self, redis_url: str, rules: dict[str, str], timeout: float = 5.0):
        self._timeout = timeout  # a count that takes longer is given up
        # While Redis is away, one count a second tries it and the others give up at once.
        self._redis = Reachability("checkout rate limits are not checked and sign-in is refused until it is back")
        uri = "async+" + redis_url if redis_url.startswith(("redis://", "rediss://")) else redis_url
        self._limiter = MovingWindowRateLimiter(RedisStorage(uri, implementation="redispy", key_prefix="paygate"))
        self._rules = {scope: parse(rule) for scope, rule in rules.items()}

    async def check(self, scope: str, client: str) -> None:
        """Count one request by ``client``; raise 429 when over the limit (fail open if Redis is away)."""
        item = self._rules[scope]
        try:
            async with self._redis.call(self._timeout, "rate limiting"):
                allowed = await self._limiter.hit(item, scope, client)
        except RedisUnavailable:
            return
        if not allowed:
            raise TooManyRequests(f"too many requests; the limit is {item}", headers={"Retry-After": "1"})

    async def attempt(self, scope: str, client: str) -> int:
        """Count one attempt by ``client`` and return how many came before it in the window.

        Over the limit raises 429 with Retry-After until the oldest attempt leaves the window.
        Counting before the attempt is judged means concurrent guesses cannot slip past the limit.
        Unlike ``check`` this fails closed: an attempt that cannot be counted (Redis away or slow) would be an
        unlimited, undelayed guess, so it is refused with 503 and Retry-After.
        """
        item = self._rules[scope]
        try:
            async with self._redis.call(self._timeout, "signing in"):
                allowed = await self._limiter.hit(item, scope, client)
                stats = await self._limiter.get_window_stats(item, scope, client)
        except RedisUnavailable:  # the client learns no internal address or object, only when to retry
            raise ServiceUnavailable(
                f"attempts cannot be counted at the moment; try again in {ServiceUnavailable.RETRY_AFTER} s") from None
        if not allowed:
            wait = max(1, math.ceil(stats.reset_time - time.time()))
            raise TooManyRequests(f"too many attempts; try again in {wait} s", headers={"Retry-After": str(wait)})
        return item.amount - stats.remaining - 1

    async def forget(self, scope: str, client: str) -> None:
        """Start ``client``'s count afresh (after a successful sign-in)."""
        try:
            async with self._redis.call(self._timeout, "rate limiting"):
                await self._limiter.clear(self._rules[scope], scope, client)
        except RedisUnavailable:
            pass  # the attempts age out of their window by themselves

"""Rate limits through the `limits` library on the shared Redis: per IP address for the public endpoints and
sign-in, and per merchant for the API (``count_api_request``).

`limits` gives a tested moving-window algorithm with atomic Redis scripts; writing our
own would mean re-deriving its race handling.

The merchant API's limit is a rate (``api.rate_limit`` per second) with a burst (``api.rate_limit_burst`` at
once), and every answer says how much is left (X-RateLimit-*). A merchant's requests waiting at once are counted
in one Redis round trip, which also takes places ahead for those to come (``SPARE_SHARE``), so a busy merchant
costs a round trip per hundredth of its burst, not one per request (redis-py spends ~110 µs of CPU a call). `limits`'
strategies answer a hit with allowed-or-not only: the moving window needs a second script to say what is left,
and modelling rate and burst as two items (burst per second, rate x N per N seconds) doubles both. So this is
`limits`' fixed window counter, driven through its storage's atomic ``incr`` (INCRBY and EXPIRE in one script,
the call ``FixedWindowRateLimiter.hit`` makes), which returns the count: ``burst`` requests per window of
``burst / rate`` seconds. The windows are aligned to the clock, so their end (X-RateLimit-Reset, Retry-After)
is known without asking Redis. That is the two numbers exactly: never more than ``burst`` in one window, and
``rate`` per second over time. The price of windows that do not slide: a client who spends one window's burst at
its end and the next one's at its start gets two bursts close together, still ``rate`` on average.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from dataclasses import dataclass

from aiohttp import web
from limits import parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

from ..core.operations.merchants import rate_limit
from ..infra.batching import Batcher
from ..infra.broker import Reachability, RedisUnavailable
from ..infra.errors import ServiceUnavailable, TooManyRequests
from . import appkeys


@dataclass(frozen=True, slots=True)
class Quota:
    """What is left of a merchant's window, for the X-RateLimit-* headers."""

    limit: int  # requests per window (the burst)
    remaining: int
    reset: int  # unix seconds when the window ends and the count starts afresh

    def headers(self) -> dict[str, str]:
        return {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.remaining),
                "X-RateLimit-Reset": str(self.reset)}


# The merchant API request's quota once counted (None: not counted, as the limit is off or Redis is away); the
# middleware puts it in the answer's headers.
QUOTA = web.RequestKey[Quota | None]("api_quota")
COUNT_BATCH, COUNT_BATCHES = 1000, 2  # merchant API requests counted in one go at most, counts in flight at most
# A process takes a merchant's places in a window from Redis ahead, a hundredth of the burst at a time (none under
# a burst of 100): one round trip per hundredth, not per request. Places a process took and did not give out
# before the window ended are lost, so up to (processes x burst / SPARE_SHARE) fewer requests than the burst may
# pass in a window; never more.
SPARE_SHARE = 100


@dataclass(frozen=True, slots=True)
class Count:
    """A merchant API request waiting for its place in its merchant's window (``key``)."""

    merchant_id: str
    key: str
    expiry: int
    burst: int
    spare: int  # places to take ahead for the merchant's next requests
    redis: Reachability  # the view of Redis to call it through


class RateLimiter:
    """Named rules, e.g. {"checkout": "120/minute"}, each counted per client."""

    def __init__(self, redis_url: str, rules: dict[str, str], timeout: float = 5.0):
        self._timeout = timeout  # a count that takes longer is given up
        # While Redis is away, one count a second tries it and the others give up at once.
        self._redis = Reachability("checkout rate limits are not checked and sign-in is refused until it is back")
        uri = "async+" + redis_url if redis_url.startswith(("redis://", "rediss://")) else redis_url
        self._storage = RedisStorage(uri, implementation="redispy", key_prefix="paygate")
        self._limiter = MovingWindowRateLimiter(self._storage)
        self._rules = {scope: parse(rule) for scope, rule in rules.items()}
        self._counts = Batcher(self._count_many, size=COUNT_BATCH, concurrency=COUNT_BATCHES)
        # places in a merchant's window taken from Redis ahead and not yet given out: merchant id -> (the
        # window's key, the next place, the last place, whether the window is full: every place taken)
        self._spare: dict[str, tuple[str, int, int, bool]] = {}

    def _spare_place(self, merchant_id: str, key: str) -> int | None:
        """A place in the window without asking Redis: one taken ahead, or one past the burst once the window is
        full (a merchant over its limit is refused at no cost until the window ends); None: ask Redis."""
        held = self._spare.get(merchant_id)
        if held is None or held[0] != key:
            return None
        _, place, last, full = held
        if place <= last:
            self._spare[merchant_id] = (key, place + 1, last, full)
            return place
        return last + 1 if full else None

    async def _count_many(self, requests: list[Count]) -> list[int]:
        """Give each request its place in its merchant's window: one INCRBY per merchant, however many of its
        requests are waiting, taking ``spare`` places more for the requests to come (kept in ``_spare``)."""
        waiting = Counter(r.merchant_id for r in requests)
        first = {r.merchant_id: r for r in requests}  # the same key, expiry and spare for one merchant's requests
        async with requests[0].redis.call(self._timeout, "rate limiting"):
            totals = await asyncio.gather(*(self._storage.incr(r.key, r.expiry, waiting[m] + r.spare)
                                            for m, r in first.items()))
        places = {}
        for (merchant_id, r), total in zip(first.items(), totals, strict=True):
            start = total - waiting[merchant_id] - r.spare + 1
            places[merchant_id] = start
            last = min(total, r.burst)  # places past the burst would be refused: not worth keeping
            if r.spare or total >= r.burst:
                self._spare[merchant_id] = (r.key, start + waiting[merchant_id], last, total >= r.burst)
        given = []
        for r in requests:  # in the order they came
            given.append(places[r.merchant_id])
            places[r.merchant_id] += 1
        return given

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

    async def count_merchant(self, merchant_id: str, rate: int, burst: int,
                             redis_state: Reachability | None = None) -> Quota | None:
        """Count one API request by the merchant against ``burst`` requests per ``burst / rate`` seconds (see the
        module's docstring); raise 429 with Retry-After and X-RateLimit-* when over. None when it cannot be
        counted: Redis away or slow fails open, as ``check`` does, rather than refuse the API.

        ``redis_state``: the process's view of Redis that the API's other calls share (the job queue's), so that
        an outage is logged once, and while it lasts the count gives up at once as they do."""
        window = burst / rate
        now = time.time()
        number = int(now // window)
        ends = (number + 1) * window
        # The window's number in the key: a new window is a new count, and the limit's numbers in it start the
        # count afresh when they change.
        key = f"api/{merchant_id}/{rate}/{burst}/{number}"
        count = self._spare_place(merchant_id, key)
        if count is None:
            try:
                count = await self._counts.submit(Count(merchant_id, key, math.ceil(window) + 1, burst,
                                                        burst // SPARE_SHARE, redis_state or self._redis))
            except RedisUnavailable:
                return None
        quota = Quota(burst, max(0, burst - count), math.ceil(ends))
        if count > burst:
            wait = max(1, math.ceil(ends - now))
            raise TooManyRequests(f"too many requests: this merchant may make {burst} per {window:g} s; retry in "
                                  f"{wait} s", headers={"Retry-After": str(wait), **quota.headers()})
        return quota


async def count_api_request(request: web.Request, merchant: dict) -> None:
    """Count a request made with the merchant's API key against its limit: its own (``rate_limit``,
    ``rate_limit_burst``, set by ``paygate merchants set-rate-limit``) or else ``api.rate_limit`` and
    ``api.rate_limit_burst``; a rate of 0 is no limit. Once per request."""
    if QUOTA in request:
        return
    limit = rate_limit(request.app[appkeys.CONFIG].api, merchant)
    request[QUOTA] = None if limit is None else await request.app[appkeys.RATE_LIMITER].count_merchant(
        merchant["id"], *limit, request.app[appkeys.SERVICES].dispatcher.redis)

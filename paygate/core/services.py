"""What operations need, bundled: the pool, the queues, the processor, the config and the secret box."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from ..infra.authcache import MerchantCache
from ..infra.batching import Batcher
from ..infra.config import Config
from ..infra.crypto import SecretBox
from ..infra.queue import Dispatcher
from ..storage.db import Pool
from .processors import Processor
from .processors.simulator import Simulator


@dataclass
class Services:
    config: Config
    pool: Pool
    dispatcher: Dispatcher
    processor: Processor
    box: SecretBox | None
    merchants: MerchantCache = field(default_factory=lambda: MerchantCache(0))
    batchers: dict[str, Batcher] = field(default_factory=dict)

    def today(self) -> date:
        return datetime.now(UTC).date()

    def batcher(self, name: str, handle, *, size: int, concurrency: int = 1) -> Batcher:
        """This process's batcher of that name (made at its first use): calls of an operation that arrive while
        others are being written go together (batching.Batcher)."""
        batcher = self.batchers.get(name)
        if batcher is None:
            batcher = self.batchers[name] = Batcher(handle, size=size, concurrency=concurrency)
        return batcher


@asynccontextmanager
async def open_services(config: Config, pool: Pool) -> AsyncIterator[Services]:
    """Services over an open pool: the queues opened here are closed on leaving."""
    dispatcher = Dispatcher(config.redis.url, config.redis.timeout)
    box = SecretBox(config.security.master_key) if config.security.master_key else None
    try:
        yield Services(config, pool, dispatcher, build_processor(config, pool), box,
                       MerchantCache(config.api.auth_cache_ttl))
    finally:
        await dispatcher.close()


def build_processor(config: Config, pool: Pool) -> Processor:
    p = config.processor
    return Simulator(pool, delay_min=p.delay_min, delay_max=p.delay_max, success_rate=p.success_rate,
                     timeout_rate=p.timeout_rate, failure_rate=p.failure_rate)

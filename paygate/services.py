"""What operations need, bundled: the pool, the queues, the processor, the config and the secret box."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import aiopg

from .config import Config
from .crypto import SecretBox
from .processors import Processor
from .processors.simulator import Simulator
from .queue import Dispatcher


@dataclass
class Services:
    config: Config
    pool: aiopg.Pool
    dispatcher: Dispatcher
    processor: Processor
    box: SecretBox | None

    def today(self) -> date:
        return datetime.now(UTC).date()


def build_processor(config: Config) -> Processor:
    p = config.processor
    return Simulator(p.delay_min, p.delay_max, p.success_rate)

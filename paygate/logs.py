"""Logging set-up for every role."""

from __future__ import annotations

import logging

from rich.logging import RichHandler

from .config import Config


def setup(config: Config) -> None:
    level = getattr(logging, config.logging.level.upper())
    handler = RichHandler(show_path=False, rich_tracebacks=False)
    logging.basicConfig(level=level, format="%(name)s: %(message)s", datefmt="[%X]", handlers=[handler], force=True)
    # aiohttp's access log is noisy at info; our own middleware logs what matters.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

"""Logging set-up for every role: readable rich output, or one JSON object per line (``logging.format: json``).

The JSON formatter is a few lines over the stdlib (python-json-logger would add a dependency for the same
20 lines). Whatever a log call passes in ``extra=`` becomes a field. Card numbers must never be logged; as a
last line of defence, any run of 13-19 digits that passes the Luhn check is masked in every line written.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

from rich.console import Console
from rich.logging import RichHandler

from .cards import luhn_valid
from .config import Config

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is written as a field.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
_DIGIT_RUN = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")


def mask_card_numbers(text: str) -> str:
    """Replace anything that looks like a card number (13-19 digits, spaces or dashes between, Luhn-valid)."""

    def mask(match: re.Match) -> str:
        digits = re.sub(r"\D", "", match.group())
        return "[card number masked]" if 13 <= len(digits) <= 19 and luhn_valid(digits) else match.group()

    return _DIGIT_RUN.sub(mask, text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the record's extra fields, and exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace(
                "+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and value is not None and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return mask_card_numbers(json.dumps(entry, default=str, ensure_ascii=False))


class _MaskingRichHandler(RichHandler):
    def render_message(self, record: logging.LogRecord, message: str):
        return super().render_message(record, mask_card_numbers(message))


class _MaskingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask_card_numbers(super().format(record))


# One line per request and per job. Rich renders a line in about a millisecond of CPU, as much as the
# request itself costs, so in text format these streams are written plainly (~20 µs a line).
EVENT_LOGGERS = ("paygate.access", "paygate.jobs")


def setup(config: Config) -> None:
    level = getattr(logging, config.logging.level.upper())
    plain: logging.Handler | None = None
    if config.logging.format == "json":
        handler: logging.Handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
    else:
        # On stderr, as every other handler here: stdout is for what a command answers (its --json).
        handler = _MaskingRichHandler(console=Console(stderr=True), show_path=False, rich_tracebacks=False)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s", datefmt="[%X]"))
        plain = logging.StreamHandler()
        plain.setFormatter(_MaskingFormatter("[%(asctime)s] %(levelname)-8s %(name)s: %(message)s", datefmt="%X"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for name in EVENT_LOGGERS:
        events = logging.getLogger(name)
        events.handlers = [plain] if plain else []
        events.propagate = plain is None
    # aiohttp's access log is noisy at info; our own middleware (paygate.access) logs every request.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

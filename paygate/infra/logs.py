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

from ..core.cards import luhn_valid
from .config import Config

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is written as a field.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
_DIGIT_RUN = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
# Every ASCII digit as "0", so that a run of 13 is one substring test.
_AS_ZEROS = bytes.maketrans(b"0123456789", b"0" * 10)
_SHORTEST_RUN = b"0" * 13


def mask_card_numbers(text: str) -> str:
    """Replace anything that looks like a card number (13-19 digits, spaces or dashes between, Luhn-valid)."""
    # The regex costs about 0.5 µs per 10 characters, as much as the rest of an access line. A line without 13
    # digits in a row once spaces and dashes are dropped (nearly every one) cannot match it, and bytes.translate
    # tells that in a tenth of the time. Text with other scripts' digits, which \d also matches, goes to the regex.
    if text.isascii() and _SHORTEST_RUN not in text.encode().translate(_AS_ZEROS, b" -"):
        return text

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
    _second: int | None = None
    _time_text = ""

    def format(self, record: logging.LogRecord) -> str:
        return mask_card_numbers(super().format(record))

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        """The time to the second (datefmt), formatted once a second rather than once a line."""
        second = int(record.created)
        if second != self._second:
            self._second, self._time_text = second, super().formatTime(record, datefmt)
        return self._time_text


# One line per request and per job. Rich renders a line in about a millisecond of CPU, as much as the
# request itself costs, so in text format these streams are written plainly (~8 µs a line).
EVENT_LOGGERS = ("paygate.access", "paygate.jobs")

# Whether the fields a log call passes in ``extra=`` are written anywhere: by the JSON formatter, and by whatever
# reads records when setup() has not run (a test's capture). The text format writes the message alone, so the
# access line does not build them there (see middleware.access_middleware).
fields_wanted = True


def setup(config: Config) -> None:
    global fields_wanted
    level = getattr(logging, config.logging.level.upper())
    fields_wanted = config.logging.format == "json"
    # No line here names its call site, thread or process, which the stdlib looks up for every record: its own
    # advice for speed (the logging HOWTO, "Optimization"). A third of the cost of an access line.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
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

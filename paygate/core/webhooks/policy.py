"""When to try a delivery again. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Attempt:
    """What one HTTP attempt came to."""

    status_code: int | None
    body: str | None  # first 1 KiB of the response
    error: str | None  # timeout, connection refused, refused target ...
    duration_ms: int
    retry_after: float | None = None  # seconds, from a Retry-After header on 429/503

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        """410 Gone: the merchant has retired this endpoint."""
        return self.status_code == 410


@dataclass(frozen=True)
class Next:
    status: str  # success | pending | failed
    delay: float | None  # seconds until the next attempt, when pending


def after(attempt: Attempt, attempts_made: int, schedule: list[float], max_attempts: int) -> Next:
    """Decide the delivery's state after its ``attempts_made``-th attempt."""
    if attempt.succeeded:
        return Next("success", None)
    if attempts_made >= max_attempts:
        return Next("failed", None)
    delay = schedule[min(attempts_made - 1, len(schedule) - 1)] if schedule else 0.0
    if attempt.retry_after is not None and attempt.status_code in (429, 503):
        delay = max(delay, attempt.retry_after)
    return Next("pending", delay)


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is rare for webhooks and ignored)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if 0 <= seconds <= 24 * 3600 else None

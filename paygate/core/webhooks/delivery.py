"""One HTTP attempt of a webhook delivery. No database here."""

from __future__ import annotations

import time

import aiohttp

from . import ssrf
from .policy import Attempt, parse_retry_after

EXCERPT = 1024


def new_session(allow_private: bool, per_endpoint: int) -> aiohttp.ClientSession:
    """The shared client: addresses are checked by the resolver, so what is checked is what is connected to."""
    connector = aiohttp.TCPConnector(
        resolver=ssrf.GuardedResolver(allow_private), limit=0, limit_per_host=per_endpoint,
        ttl_dns_cache=60,
    )
    return aiohttp.ClientSession(connector=connector, auto_decompress=False, trust_env=False)


def _describe(exc: BaseException) -> str:
    refused = exc if isinstance(exc, ssrf.TargetRefused) else getattr(exc, "os_error", None)
    if isinstance(refused, ssrf.TargetRefused):
        return f"refused target: {refused}"
    return " ".join(str(exc).split())[:300] or type(exc).__name__


async def send(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], timeout: float,
               allow_private: bool) -> Attempt:
    """POST ``body`` once. Redirects are not followed; any non-2xx, timeout or connection error is a failure."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        if not allow_private:
            ssrf.check_without_dns(url)  # aiohttp does not consult the resolver for an IP literal
        async with session.post(url, data=body, headers=headers, allow_redirects=False,
                                timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            excerpt = (await resp.content.read(EXCERPT)).decode("utf-8", "replace")[:EXCERPT].replace("\x00", "")
            return Attempt(resp.status, excerpt, None, elapsed(), parse_retry_after(resp.headers.get("Retry-After")))
    except TimeoutError:
        return Attempt(None, None, f"timed out after {timeout:g}s", elapsed())
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return Attempt(None, None, _describe(exc), elapsed())

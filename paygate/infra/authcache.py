"""A short memory of authenticated merchants, so that most API requests skip the merchant lookup.

The price, bounded: a secret rotated or a merchant deactivated through *another* process is still accepted
here for at most ``api.auth_cache_ttl`` seconds (0 turns the memory off). A change made through this
process forgets the merchant at once (``forget``). Only a successful lookup is kept, and the secret is
still checked against the remembered hash on every request, so a wrong secret never gets through.

A rotation with a grace period keeps the previous secret's hash and the end of its grace in the row; that end is
compared with the clock at every request (http/auth.py), so a remembered row never stretches the grace. (A row
remembered from before a rotation made through another process still knows the old secret as the current one:
that process accepts it until the grace ends or the entry's ttl does, whichever is later.)
"""

from __future__ import annotations

import time
import weakref

MAX_ENTRIES = 10_000

_caches: weakref.WeakSet[MerchantCache] = weakref.WeakSet()


class MerchantCache:
    """Merchant rows by API key, each for ``ttl`` seconds."""

    def __init__(self, ttl: float):
        self.ttl = ttl
        self._rows: dict[str, tuple[float, dict]] = {}
        self._forgotten: dict[str, float] = {}  # merchant id -> when it was last forgotten
        _caches.add(self)

    def get(self, api_key: str) -> dict | None:
        hit = self._rows.get(api_key)
        if hit is None:
            return None
        if hit[0] <= time.monotonic():
            self._rows.pop(api_key, None)
            return None
        return hit[1]

    def put(self, api_key: str, merchant: dict, read_started: float) -> None:
        """Remember a row read from ``read_started`` (time.monotonic()) on, unless the merchant was forgotten
        meanwhile: a read that began before a rotation committed may carry the old secret's hash."""
        if self.ttl <= 0 or read_started <= self._forgotten.get(merchant["id"], float("-inf")):
            return
        if len(self._rows) >= MAX_ENTRIES:
            self._rows.pop(next(iter(self._rows)))  # the oldest entry
        self._rows[api_key] = (time.monotonic() + self.ttl, merchant)

    def forget(self, merchant_id: str) -> None:
        now = time.monotonic()
        # a read older than ttl would be refused as stale anyway: keep only the recent marks
        self._forgotten = {m: t for m, t in self._forgotten.items() if t > now - self.ttl}
        self._forgotten[merchant_id] = now
        for key in [k for k, (_, m) in self._rows.items() if m["id"] == merchant_id]:
            del self._rows[key]


def forget(merchant_id: str) -> None:
    """Drop the merchant from every cache in this process: call after committing a change to its row."""
    for cache in list(_caches):
        cache.forget(merchant_id)

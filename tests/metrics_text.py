"""Reading /metrics in tests: Prometheus text parsed by prometheus-client's own parser."""

from __future__ import annotations

import asyncio
import time

from prometheus_client.parser import text_string_to_metric_families


class Scrape:
    def __init__(self, text: str):
        self.text = text
        self.families = {f.name: f for f in text_string_to_metric_families(text)}

    def value(self, name: str, **labels: str) -> float:
        """The sample ``name`` with exactly these labels; 0 when absent (a counter not yet incremented)."""
        for family in self.families.values():
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return sample.value
        return 0.0

    def samples(self, name: str) -> list:
        return [s for f in self.families.values() for s in f.samples if s.name == name]


async def scrape(client, path: str = "/metrics") -> Scrape:
    resp = await client.get(path)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/plain; version=")
    return Scrape(await resp.text())


async def scrape_until(client, check, timeout: float = 20) -> Scrape:
    """Scrape until ``check(scrape)`` holds (the counters move just after the rows commit)."""
    deadline = time.monotonic() + timeout
    while True:
        current = await scrape(client)
        if check(current):
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"/metrics never satisfied the check:\n{current.text}")
        await asyncio.sleep(0.1)

"""The dashboard's overview: volume and counts by status for today and the last seven (UTC) days."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, time, timedelta

from ...storage import stats
from ...storage.db import cursor
from ..services import Services
from ..states import STATUSES

DAYS = 7
# Authorized by the processor: what the success rate counts as a success (a voided one was, then released).
AUTHORIZED = ("success", "capture_pending", "void_pending", "voided")


def _summary(rows: list[dict]) -> dict:
    """Volume is what succeeded (and was not voided), per currency; the success rate is over payments that the
    processor answered: authorized, or failed."""
    counts = Counter()
    volume = Counter()
    for r in rows:
        counts[r["status"]] += r["count"]
        if r["status"] == "success":
            volume[r["currency"]] += r["amount"]
    authorized = sum(counts[s] for s in AUTHORIZED)
    finished = authorized + counts["failed"]
    return {
        "volume": dict(sorted(volume.items())),
        "counts": {s: counts[s] for s in STATUSES["payment"]},
        "total": sum(counts.values()),
        "success_rate": round(authorized / finished, 4) if finished else None,
    }


async def overview(services: Services, merchant: dict, now: datetime | None = None) -> dict:
    today = (now or datetime.now(UTC)).date()
    days = [today - timedelta(days=n) for n in range(DAYS - 1, -1, -1)]
    async with cursor(services.pool) as cur:
        rows = await stats.payments_by_day(cur, merchant["id"], datetime.combine(days[0], time(), UTC))
    by_day = {d: [r for r in rows if r["day"] == d] for d in days}
    daily = []
    for d in days:
        summary = _summary(by_day[d])
        daily.append({"date": d.isoformat(), "volume": summary["volume"], "count": summary["total"]})
    return {"today": _summary(by_day[today]), "last_7_days": _summary(rows), "daily": daily}

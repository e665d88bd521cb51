"""The dashboard's overview: volume and counts by status for today and the last seven (UTC) days."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, time, timedelta

from ..db import cursor
from ..services import Services
from ..storage import stats

DAYS = 7
STATUSES = ("pending", "processing", "success", "failed")


def _summary(rows: list[dict]) -> dict:
    """Volume is what succeeded, per currency; the success rate is over finished payments only."""
    counts = Counter()
    volume = Counter()
    for r in rows:
        counts[r["status"]] += r["count"]
        if r["status"] == "success":
            volume[r["currency"]] += r["amount"]
    finished = counts["success"] + counts["failed"]
    return {
        "volume": dict(sorted(volume.items())),
        "counts": {s: counts[s] for s in STATUSES},
        "total": sum(counts.values()),
        "success_rate": round(counts["success"] / finished, 4) if finished else None,
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

"""paygate's tables against the simulator's books (what the acquirer did), payment by payment and call by call."""

from __future__ import annotations

from paygate.storage import fetch_all, ledger
from paygate.storage.db import cursor
from paygate.storage.ledger import Books

UNSETTLED_PAYMENTS = ("pending", "processing", "capture_pending", "void_pending")
UNSETTLED_REFUNDS = ("pending", "processing")


async def unsettled(pool) -> int:
    """Payments and refunds not yet in a settled state."""
    async with cursor(pool) as cur:
        rows = await fetch_all(cur, """SELECT (SELECT count(*) FROM payments WHERE status = ANY(%s))
                                            + (SELECT count(*) FROM refunds WHERE status = ANY(%s)) AS n""",
                               (list(UNSETTLED_PAYMENTS), list(UNSETTLED_REFUNDS)))
    return rows[0]["n"]


async def disagreements(pool) -> list[str]:
    """Every way in which Postgres and the simulator's books differ; [] when they agree row for row.

    Run once nothing is in flight: a payment or refund still waiting for an answer is reported too."""
    books = await ledger.all_books(pool)
    async with cursor(pool) as cur:
        payments = await fetch_all(cur, "SELECT * FROM payments ORDER BY created_at")
        refunds = await fetch_all(cur, "SELECT * FROM refunds ORDER BY created_at")
    found: list[str] = []
    by_payment: dict[str, list[dict]] = {}
    for refund in refunds:
        by_payment.setdefault(refund["payment_id"], []).append(refund)
    for p in payments:
        b = books.pop(p["id"], Books([]))
        found += [f"{p['id']}: {problem}" for problem in _payment(p, b, by_payment.get(p["id"], []))]
    found += [f"{reference}: booked by the acquirer for no payment" for reference in books]
    return found


def _payment(p: dict, b: Books, refunds: list[dict]) -> list[str]:
    problems = []
    status = p["status"]
    if status in UNSETTLED_PAYMENTS:
        problems.append(f"still {status}")
    expected_auth = 0 if status in ("pending", "failed") else p["amount"]
    if b.authorized != expected_auth:
        problems.append(f"authorized {b.authorized} at the acquirer, {expected_auth} by paygate ({status})")
    if b.captured != p["amount_captured"]:
        problems.append(f"captured {b.captured} at the acquirer, {p['amount_captured']} by paygate")
    expected_held = p["amount"] if status == "success" and not p["captured"] else 0
    if b.held != expected_held:
        problems.append(f"the acquirer holds {b.held}, paygate says {expected_held} is held ({status})")
    if b.voided != (status == "voided"):
        problems.append(f"voided at the acquirer: {b.voided}; paygate's status: {status}")
    for operation in ("authorize", "sale", "capture", "void"):
        approved = [r for r in b.rows if r["approved"] and r["operation"] == operation]
        if len(approved) > 1:
            problems.append(f"{len(approved)} approved {operation} calls")
    if p["capture_method"] == "automatic" and any(r["operation"] != "sale" and r["operation"] != "refund"
                                                  for r in b.rows):
        problems.append("an automatic capture that was not one sale")
    processed = {r["id"]: r for r in refunds if r["status"] == "processed"}
    booked = {r["reference"]: r for r in b.rows if r["operation"] == "refund" and r["approved"]}
    if processed.keys() != booked.keys():
        problems.append(f"refunds processed {sorted(processed)}, refunded by the acquirer {sorted(booked)}")
    problems += [f"refund {rid}: {booked[rid]['amount']} at the acquirer, {r['amount']} by paygate"
                 for rid, r in processed.items() if rid in booked and booked[rid]["amount"] != r["amount"]]
    problems += [f"refund {r['id']} still {r['status']}" for r in refunds if r["status"] in UNSETTLED_REFUNDS]
    reserved = sum(r["amount"] for r in refunds if r["status"] != "failed")
    if reserved != p["amount_refunded"]:
        problems.append(f"refunds add up to {reserved}, the payment says {p['amount_refunded']} refunded")
    return problems

"""The state machines of orders, payments and refunds. Pure: no SQL, no HTTP.

    payment:  pending ──▶ processing ──▶ success   (authorized; captured at once when automatic: a sale)
                  │             └──────▶ failed
                  └──────────────────────▶ failed   (rejected before reaching the processor)
              success (uncaptured) ──▶ capture_pending ──▶ success (captured)     (declined: back to success)
              success (uncaptured) ──▶ void_pending ─────▶ voided                (declined: back to success)
    order:    created ──▶ attempted ──▶ paid ──▶ attempted   (its authorization voided or released)
                  └─────────────────────▶ paid
    refund:   pending ──▶ processing ──▶ processed | failed

The ``*_pending`` states and ``processing`` are committed before the processor is called, so a crash in the
call leaves a state that says a call may have been made: it is settled by asking the processor (fetch), never
by calling again blind.

Every status change goes through ``transition``; an illegal one raises, it never
silently overwrites.
"""

from __future__ import annotations

TRANSITIONS: dict[str, dict[str, frozenset[str]]] = {
    "payment": {
        "pending": frozenset({"processing", "failed"}),
        "processing": frozenset({"success", "failed"}),
        "success": frozenset({"capture_pending", "void_pending"}),
        "capture_pending": frozenset({"success"}),
        "void_pending": frozenset({"voided", "success"}),
        "failed": frozenset(),
        "voided": frozenset(),
    },
    "order": {
        "created": frozenset({"attempted", "paid"}),
        "attempted": frozenset({"paid"}),
        "paid": frozenset({"attempted"}),
    },
    "refund": {
        "pending": frozenset({"processing"}),
        "processing": frozenset({"processed", "failed"}),
        "processed": frozenset(),
        "failed": frozenset(),
    },
}

STATUSES = {kind: tuple(table) for kind, table in TRANSITIONS.items()}
FINAL = {kind: frozenset(s for s, nxt in table.items() if not nxt) for kind, table in TRANSITIONS.items()}
# A call to the processor may be under way (or its answer lost): settled by the worker, never by a request.
IN_FLIGHT = {"payment": frozenset({"processing", "capture_pending", "void_pending"}),
             "refund": frozenset({"processing"})}
# Not final, waiting for a worker: the scheduler's sweep looks for these.
UNFINISHED = {"payment": frozenset({"pending"}) | IN_FLIGHT["payment"],
              "refund": frozenset({"pending"}) | IN_FLIGHT["refund"]}


class IllegalTransition(Exception):
    """A change the state machine does not allow; a bug or a race, never a silent update."""

    def __init__(self, kind: str, current: str, target: str):
        super().__init__(f"{kind} cannot go from {current} to {target}")
        self.kind, self.current, self.target = kind, current, target


def transition(kind: str, current: str, target: str) -> str:
    """Return ``target`` when ``current -> target`` is allowed for ``kind``; raise otherwise."""
    if target not in TRANSITIONS[kind].get(current, frozenset()):
        raise IllegalTransition(kind, current, target)
    return target


def is_final(kind: str, status: str) -> bool:
    return status in FINAL[kind]

"""The state machines of orders, payments and refunds. Pure: no SQL, no HTTP.

    payment:  pending ──▶ processing ──▶ success   (captured later, or at once when automatic)
                  │             └──────▶ failed
                  └──────────────────────▶ failed   (rejected before reaching the processor)
    order:    created ──▶ attempted ──▶ paid
                  └─────────────────────▶ paid
    refund:   pending ──▶ processed | failed

Every status change goes through ``transition``; an illegal one raises, it never
silently overwrites.
"""

from __future__ import annotations

TRANSITIONS: dict[str, dict[str, frozenset[str]]] = {
    "payment": {
        "pending": frozenset({"processing", "failed"}),
        "processing": frozenset({"success", "failed"}),
        "success": frozenset(),
        "failed": frozenset(),
    },
    "order": {
        "created": frozenset({"attempted", "paid"}),
        "attempted": frozenset({"paid"}),
        "paid": frozenset(),
    },
    "refund": {
        "pending": frozenset({"processed", "failed"}),
        "processed": frozenset(),
        "failed": frozenset(),
    },
}

FINAL = {kind: frozenset(s for s, nxt in table.items() if not nxt) for kind, table in TRANSITIONS.items()}


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

"""Webhook deliveries (webhook_logs) and their attempts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiopg

from . import Filters, fetch_all, fetch_one, page
from .db import Cursor, Statement

# NOTIFY on this channel, with an empty payload, when deliveries may have become due: at commit, every worker
# role's listener wakes its deliverer, which claims them. Postgres sends one per transaction.
NOTIFY_CHANNEL = "paygate_webhooks"


@asynccontextmanager
async def announcements(database_url: str) -> AsyncIterator[asyncio.Queue]:
    """A connection of its own, LISTENing on NOTIFY_CHANNEL: yields the queue its notifications arrive on."""
    async with aiopg.connect(database_url) as conn:
        async with conn.cursor() as cur:
            await cur.execute(f"LISTEN {NOTIFY_CHANNEL}")
        yield conn.notifies



def _sendable(merchant: str) -> str:
    """A delivery ``d`` may be sent when its endpoint is enabled: its merchant's own (webhook_url, no endpoint_id;
    ``merchant`` names the merchant row) or one of the merchant's webhook_endpoints."""
    return f"""(CASE WHEN d.endpoint_id IS NULL THEN {merchant}.webhook_enabled AND {merchant}.webhook_url IS NOT NULL
                     ELSE EXISTS (SELECT 1 FROM webhook_endpoints x WHERE x.id = d.endpoint_id
                                  AND NOT x.disabled AND x.deleted_at IS NULL) END)"""


_CLAIM_DUE = Statement(
    f"""WITH RECURSIVE waiting(merchant_id) AS (  -- the merchants with pending deliveries: one index probe each
           (SELECT merchant_id FROM webhook_logs WHERE status = 'pending' ORDER BY merchant_id LIMIT 1)
           UNION ALL
           SELECT (SELECT d.merchant_id FROM webhook_logs d
                   WHERE d.status = 'pending' AND d.merchant_id > p.merchant_id ORDER BY d.merchant_id LIMIT 1)
           FROM waiting p WHERE p.merchant_id IS NOT NULL),
       heads AS (  -- each merchant's oldest due and how many are due, up to a share: read by key, not locked
           SELECT e.id AS merchant_id, h.oldest, h.due
           FROM waiting JOIN merchants e ON e.id = waiting.merchant_id
           CROSS JOIN LATERAL (
               SELECT min(d.next_retry_at) AS oldest, count(*) AS due FROM (
                   SELECT d.next_retry_at FROM webhook_logs d
                   WHERE d.merchant_id = e.id AND d.status = 'pending'
                     AND d.next_retry_at <= now() + interval '1 second'
                     AND (d.locked_until IS NULL OR d.locked_until < now()) AND {_sendable('e')}
                     AND coalesce(d.endpoint_id, d.merchant_id) <> ALL(%(exclude)s::text[])
                   ORDER BY d.next_retry_at LIMIT %(per_merchant)s) d) h
           WHERE h.due > 0
             -- a merchant with no endpoint enabled and not excluded is passed over without reading its backlog
             AND ((e.webhook_enabled AND e.webhook_url IS NOT NULL AND e.id <> ALL(%(exclude)s::text[]))
                  OR EXISTS (SELECT 1 FROM webhook_endpoints x WHERE x.merchant_id = e.id
                             AND NOT x.disabled AND x.deleted_at IS NULL AND x.id <> ALL(%(exclude)s::text[])))),
       chosen AS (  -- the merchants with the oldest due, until their shares cover the claim
           SELECT merchant_id FROM (
               SELECT merchant_id, sum(due) OVER (ORDER BY oldest, merchant_id) - due AS before FROM heads) r
           WHERE before < %(limit)s),
       claimed AS (
           UPDATE webhook_logs w SET locked_until = now() + make_interval(secs => %(lease)s)
           FROM merchants m
           WHERE m.id = w.merchant_id AND w.id = ANY(ARRAY(  -- an array, so that the rows are found by key
               SELECT d.id FROM chosen JOIN merchants o ON o.id = chosen.merchant_id
               CROSS JOIN LATERAL (  -- locked only here: at most a claim and a share
                   SELECT d.id, d.next_retry_at FROM webhook_logs d
                   WHERE d.merchant_id = chosen.merchant_id AND d.status = 'pending'
                     AND d.next_retry_at <= now() + interval '1 second'
                     AND (d.locked_until IS NULL OR d.locked_until < now()) AND {_sendable('o')}
                     AND coalesce(d.endpoint_id, d.merchant_id) <> ALL(%(exclude)s::text[])
                   ORDER BY d.next_retry_at LIMIT %(per_merchant)s
                   FOR UPDATE OF d SKIP LOCKED) d
               ORDER BY d.next_retry_at LIMIT %(limit)s))
           RETURNING w.*, m.webhook_url AS merchant_url, m.webhook_secret_enc AS merchant_secret_enc,
                     m.webhook_secret_prev_enc AS merchant_secret_prev_enc,
                     m.webhook_secret_prev_until AS merchant_secret_prev_until)
       SELECT c.*, coalesce(x.url, c.merchant_url) AS webhook_url,
              coalesce(x.secret_enc, c.merchant_secret_enc) AS webhook_secret_enc,
              CASE WHEN c.endpoint_id IS NULL THEN c.merchant_secret_prev_enc ELSE x.secret_prev_enc END
                  AS webhook_secret_prev_enc,
              coalesce(CASE WHEN c.endpoint_id IS NULL THEN c.merchant_secret_prev_until ELSE x.secret_prev_until END
                       > now(), false) AS previous_secret_valid
       FROM claimed c LEFT JOIN webhook_endpoints x ON x.id = c.endpoint_id""")


async def claim_due(cur: Cursor, limit: int, lease: float, per_merchant: int,
                    exclude: list[str] | tuple[str, ...] = ()) -> list[dict]:
    """Hold up to ``limit`` due deliveries, at most ``per_merchant`` of one merchant's and none to the endpoints
    in ``exclude`` (endpoint keys: a webhook endpoint's id, or a merchant's id for its own webhook_url), for
    ``lease`` seconds, oldest due first; return them with their endpoint and
    secrets (``webhook_url``, ``webhook_secret_enc``, ``webhook_secret_prev_enc``, ``previous_secret_valid``: the
    endpoint's, or the merchant's for its implicit endpoint). Each row's ``locked_until`` is the claim's token for
    ``record_attempts``.

    Due means pending, its time come (or within the second), not held by a worker, to an enabled endpoint.
    Rows another claim is taking at the same moment are skipped, not waited for, so concurrent claims
    never return the same delivery. Each merchant's due deliveries are looked up by key on their own, so one
    merchant's backlog does not stand in front of another's, and the excluded endpoints' (those whose
    deliveries the caller already holds its fill of, as behind an endpoint that hangs) are passed over: at no cost
    when they are all the merchant's endpoints, otherwise by reading past their due deliveries.
    Rows are locked only for the merchants chosen (at most ``limit`` + ``per_merchant`` - 1 rows). The cost of a
    claim grows with the number of merchants that have deliveries pending, due or not: ~15 µs each (a claim
    of 50 with one merchant pending took 1.4 ms of Postgres, with 1,000 merchants holding retries ~14 ms).
    """
    return await fetch_all(cur, _CLAIM_DUE, {"limit": limit, "per_merchant": per_merchant, "lease": lease,
                                             "exclude": list(exclude)})


_RECORD_ATTEMPTS = Statement(
    """WITH r AS (
           SELECT * FROM jsonb_to_recordset(%(attempts)s::jsonb) AS r(
               id text, lease timestamptz, merchant_id text, endpoint_id text, number int, trigger text, url text,
               status text, delay float8, code int, body text, error text, duration_ms int, disable_reason text)),
       locked AS (  -- found by key (an array) and locked in id order; checked once locked, so that no status
                    -- condition invites the planner to scan webhook_logs_merchant_due (the backlog) instead
           SELECT w.id, w.status, w.locked_until FROM webhook_logs w
           WHERE w.id = ANY(ARRAY(SELECT id FROM r)) ORDER BY w.id FOR UPDATE),
       held AS (  -- only those this claim still holds
           SELECT r.* FROM locked l JOIN r ON r.id = l.id WHERE l.locked_until = r.lease AND l.status = 'pending'),
       a AS (
           INSERT INTO webhook_attempts (webhook_log_id, number, trigger, status_code, response_body, error,
                                         duration_ms)
           SELECT id, number, trigger, code, body, error, duration_ms FROM held
           ON CONFLICT (webhook_log_id, number) DO NOTHING),
       d AS (  -- the endpoint that answered 410: the merchant's own, or one of its webhook_endpoints
           UPDATE merchants m SET webhook_enabled = false, webhook_disabled_reason = held.disable_reason,
                  updated_at = now()
           FROM held WHERE m.id = held.merchant_id AND held.endpoint_id IS NULL AND held.disable_reason IS NOT NULL),
       x AS (
           UPDATE webhook_endpoints x SET disabled = true, disabled_reason = held.disable_reason, updated_at = now()
           FROM held WHERE x.id = held.endpoint_id AND held.disable_reason IS NOT NULL)
       UPDATE webhook_logs w SET attempts = r.number, status = r.status, url = r.url,
              last_attempt_at = now(), response_code = r.code, response_body = r.body,
              next_retry_at = CASE WHEN r.status = 'pending'
                                   THEN now() + make_interval(secs => coalesce(r.delay, 0)) END,
              manual_retry = false, locked_until = NULL, updated_at = now()
       FROM held r WHERE w.id = r.id
       RETURNING w.id, w.merchant_id, w.status""")


async def record_attempts(cur: Cursor, attempts: list[dict]) -> list[dict]:
    """Each attempt's row and its delivery's new state (and, for those with a ``disable_reason``, their endpoint
    disabled), all in one statement: atomic without a transaction around it. Safe to repeat.

    ``attempts``: dicts with id, lease (the ``locked_until`` its claim returned, ISO 8601), merchant_id,
    endpoint_id (None for the merchant's own webhook_url), number,
    trigger, url, status ('success', 'pending' or 'failed'), delay (seconds until the next attempt, when
    pending), code, body, error, duration_ms, disable_reason. An attempt whose delivery is no longer held by
    its claim (the lease ran out and another worker took it) is not recorded. Returns each recorded
    delivery's id, merchant_id and status.
    """
    return await fetch_all(cur, _RECORD_ATTEMPTS, {"attempts": json.dumps(attempts)})


async def announce(cur: Cursor) -> None:
    """Wake the workers when the caller's transaction commits: deliveries may be due."""
    await cur.execute("SELECT pg_notify(%s, '')", (NOTIFY_CHANNEL,))


async def pending(cur: Cursor) -> dict:
    """Pending deliveries as a queue's states: ``waiting`` (due, not held), ``delayed`` (waiting for a later
    attempt), ``active`` (held by a worker sending them); ``due``, those whose time has come, held or not; and
    ``oldest_due_age``, the seconds the oldest waiting one has waited (0: none waits)."""
    row = await fetch_one(
        cur,
        """SELECT count(*) FILTER (WHERE waits AND next_retry_at <= now()) AS waiting,
                  count(*) FILTER (WHERE waits AND next_retry_at > now()) AS delayed,
                  count(*) FILTER (WHERE NOT waits) AS active,
                  count(*) FILTER (WHERE next_retry_at <= now()) AS due,
                  coalesce(extract(epoch FROM now() - min(next_retry_at) FILTER (WHERE waits)), 0) AS age
           FROM (SELECT next_retry_at, (locked_until IS NULL OR locked_until < now()) AS waits
                 FROM webhook_logs WHERE status = 'pending') p""",
    )
    return {"waiting": int(row["waiting"]), "delayed": int(row["delayed"]), "active": int(row["active"]),
            "due": int(row["due"]), "oldest_due_age": max(0.0, float(row["age"]))}


async def retry_now(cur: Cursor, merchant_id: str | None, delivery_ids: list[str]) -> list[dict]:
    """Reset deliveries to pending, due now, marked as asked for by hand; keeps their attempts (and the lease of
    one being sent right now, whose attempt is then recorded, and the next made as its outcome decides). The
    workers are woken on commit."""
    reset = await fetch_all(
        cur,
        """UPDATE webhook_logs SET status = 'pending', next_retry_at = now(), manual_retry = true,
                  locked_until = CASE WHEN locked_until > now() THEN locked_until END, updated_at = now()
           WHERE id IN (SELECT id FROM webhook_logs  -- locked in id order, as a worker's record locks them
                        WHERE id = ANY(%(ids)s) AND (%(merchant_id)s::text IS NULL OR merchant_id = %(merchant_id)s)
                        ORDER BY id FOR UPDATE)
           RETURNING id, attempts""",
        {"ids": delivery_ids, "merchant_id": merchant_id},
    )
    if reset:
        await announce(cur)
    return reset


async def failed_between(cur: Cursor, merchant_id: str | None, since, until, limit: int = 10_000) -> list[str]:
    rows = await fetch_all(
        cur,
        """SELECT id FROM webhook_logs WHERE status = 'failed'
             AND (%(merchant_id)s::text IS NULL OR merchant_id = %(merchant_id)s)
             AND created_at >= %(since)s AND (%(until)s::timestamptz IS NULL OR created_at <= %(until)s)
           ORDER BY created_at LIMIT %(limit)s""",
        {"merchant_id": merchant_id, "since": since, "until": until, "limit": limit},
    )
    return [r["id"] for r in rows]


async def get(cur: Cursor, merchant_id: str, delivery_id: str) -> dict | None:
    return await fetch_one(cur, "SELECT * FROM webhook_logs WHERE id = %s AND merchant_id = %s",
                           (delivery_id, merchant_id))


async def for_event(cur: Cursor, event_id: str, endpoint_id: str | None = None) -> dict | None:
    """The event's delivery to the endpoint (None: to the merchant's own webhook_url)."""
    return await fetch_one(cur, "SELECT * FROM webhook_logs WHERE event_id = %s "
                                "AND endpoint_id IS NOT DISTINCT FROM %s", (event_id, endpoint_id))


async def attempts(cur: Cursor, delivery_id: str) -> list[dict]:
    return await fetch_all(cur, "SELECT * FROM webhook_attempts WHERE webhook_log_id = %s ORDER BY number",
                           (delivery_id,))


async def list_page(cur: Cursor, merchant_id: str, *, status=None, event=None, endpoint_id=None, created_from=None,
                    created_to=None, limit: int, offset: int) -> tuple[list[dict], int]:
    filters = Filters(merchant_id).equal("status", status).equal("event", event).equal("endpoint_id", endpoint_id)
    return await page(cur, "webhook_logs", filters.created_between(created_from, created_to), limit, offset)


async def list_all(cur: Cursor, *, status: str | None, limit: int) -> list[dict]:
    """Across merchants, for operators."""
    return await fetch_all(
        cur,
        """SELECT * FROM webhook_logs WHERE (%(status)s::text IS NULL OR status = %(status)s)
           ORDER BY created_at DESC, id DESC LIMIT %(limit)s""",
        {"status": status, "limit": limit},
    )

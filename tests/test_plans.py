"""Hot statements find their rows by key, whatever the planner statistics say about the partial indexes.

A statement that reads "id = $1 AND status = 'pending'" lets the planner use a partial index whose predicate
that implies (payments_unfinished, webhook_logs_merchant_due): cheap while statistics say few rows are pending, a scan
of the whole backlog per row once thousands are. These tests gather statistics while nothing is pending, then
make thousands pending, and look at the generic plan each pooled connection would keep.
"""

from __future__ import annotations

import json

from paygate.storage import payments, webhooks
from paygate.storage.db import Statement, cursor, transaction

BACKLOG = 3000


async def generic_plan(pool, statement: Statement, args: tuple) -> str:
    async with cursor(pool) as cur:
        await cur.execute("BEGIN")
        try:
            await cur.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            await cur.execute(statement._prepare.replace(statement.name, "plan_under_test"))
            await cur.execute("EXPLAIN (COSTS OFF) " + statement._execute.replace(statement.name, "plan_under_test"),
                              args)
            return "\n".join(line for (line,) in await cur.fetchall())
        finally:
            await cur.execute("ROLLBACK")


async def test_starting_a_payments_processing_looks_it_up_by_key_behind_a_backlog(pool, merchant):
    async with transaction(pool) as cur:
        await cur.execute(
            """WITH o AS (INSERT INTO orders (id, merchant_id, amount, currency)
                          SELECT 'order_plan' || lpad(n::text, 12, '0'), %(m)s, 50000, 'INR'
                          FROM generate_series(1, %(n)s) n RETURNING id)
               INSERT INTO payments (id, order_id, merchant_id, amount, currency, method, capture_method, vpa,
                                     processor_token, status, error_code)
               SELECT 'pay_' || substr(o.id, 7), o.id, %(m)s, 50000, 'INR', 'upi', 'automatic', 'plan@paygate',
                      'tok', 'failed', 'DECLINED' FROM o""",
            {"m": merchant["merchant_id"], "n": 2 * BACKLOG})
    async with cursor(pool) as cur:
        await cur.execute("ANALYZE payments")  # nothing pending
        await cur.execute("""UPDATE payments SET status = 'pending', error_code = NULL
                             WHERE id IN (SELECT id FROM payments ORDER BY id LIMIT %s)""", (BACKLOG,))

    plan = await generic_plan(pool, payments._START_PROCESSING, (["pay_plan000000000001", "pay_plan000000000002"],))

    assert "payments_pkey" in plan and "payments_unfinished" not in plan, plan


async def _delivery_backlog(pool, merchant_id: str) -> None:
    """2 × BACKLOG deliveries, the statistics gathered while none was pending, then BACKLOG of them due."""
    async with transaction(pool) as cur:
        await cur.execute(
            """WITH e AS (INSERT INTO events (id, merchant_id, type, object_id, payload)
                          SELECT 'evt_plan' || lpad(n::text, 12, '0'), %(m)s, 'plan.test', 'x', '{}'
                          FROM generate_series(1, %(n)s) n RETURNING id)
               INSERT INTO webhook_logs (id, merchant_id, event_id, event, url, payload, status)
               SELECT 'whd_' || substr(e.id, 5), %(m)s, e.id, 'plan.test', 'http://127.0.0.1:9/', '{}', 'success'
               FROM e""",
            {"m": merchant_id, "n": 2 * BACKLOG})
    async with cursor(pool) as cur:
        await cur.execute("ANALYZE webhook_logs")  # nothing pending
        await cur.execute("""UPDATE webhook_logs SET status = 'pending', next_retry_at = now()
                             WHERE id IN (SELECT id FROM webhook_logs ORDER BY id LIMIT %s)""", (BACKLOG,))


async def test_recording_attempts_looks_deliveries_up_by_key_behind_a_backlog(pool, merchant):
    await _delivery_backlog(pool, merchant["merchant_id"])
    attempts = [{"id": "whd_plan000000000001", "lease": "2026-01-01T00:00:00+00:00", "merchant_id": "x",
                 "number": 1, "trigger": "initial", "url": "u", "status": "success", "delay": None, "code": 200,
                 "body": "ok", "error": None, "duration_ms": 1, "disable_reason": None}]
    plan = await generic_plan(pool, webhooks._RECORD_ATTEMPTS, (json.dumps(attempts),))

    assert "webhook_logs_pkey" in plan and "webhook_logs_merchant_due" not in plan, plan


async def test_a_claim_looks_each_merchants_due_deliveries_up_by_key_behind_a_backlog(pool, merchant):
    """Neither a scan of every pending delivery nor one of the backlog of a merchant the claim passes over: each
    merchant's due deliveries are read by key, and only the chosen merchants' are locked, by key."""
    await _delivery_backlog(pool, merchant["merchant_id"])
    statement = webhooks._CLAIM_DUE
    plan = await generic_plan(pool, statement, tuple(statement.args(
        {"lease": 60, "exclude": [merchant["merchant_id"]], "per_merchant": 20, "limit": 50})))

    assert "Seq Scan on webhook_logs" not in plan, plan
    assert "Index Cond: ((merchant_id = e.id) AND (next_retry_at <= " in plan, plan  # read, not locked
    assert "Index Cond: ((merchant_id = r.merchant_id) AND (next_retry_at <= " in plan, plan  # the chosen, locked


async def test_a_metadata_filter_is_served_by_the_index_of_the_rows_that_carry_some(pool, merchant):
    """The GIN indexes hold only non-empty metadata (an empty object costs every insert an entry otherwise): the
    filter's clause must say so, or the planner cannot use them and scans the merchant's payments instead."""
    from paygate.storage import Filters

    async with transaction(pool) as cur:  # the merchant's payments, one in a hundred with metadata
        await cur.execute(
            """WITH o AS (INSERT INTO orders (id, merchant_id, amount, currency)
                          SELECT 'order_plan' || lpad(n::text, 12, '0'), %(m)s, 50000, 'INR'
                          FROM generate_series(1, %(n)s) n RETURNING id)
               INSERT INTO payments (id, order_id, merchant_id, amount, currency, method, capture_method, vpa,
                                     processor_token, metadata)
               SELECT 'pay_' || substr(o.id, 7), o.id, %(m)s, 50000, 'INR', 'upi', 'automatic', 'plan@paygate',
                      'tok', CASE WHEN right(o.id, 2) = '00' THEN jsonb_build_object('order_ref', o.id)
                                  ELSE '{}'::jsonb END FROM o""",
            {"m": merchant["merchant_id"], "n": BACKLOG})
    filters = Filters(merchant["merchant_id"]).contains("metadata", {"order_ref": "order_plan000000000100"})
    async with cursor(pool) as cur:
        await cur.execute("ANALYZE payments")
        await cur.execute("BEGIN")
        try:
            await cur.execute(f"EXPLAIN (COSTS OFF) SELECT * FROM payments WHERE {filters.where}", filters.params)
            plan = "\n".join(line for (line,) in await cur.fetchall())
        finally:
            await cur.execute("ROLLBACK")
    assert "payments_metadata" in plan, plan

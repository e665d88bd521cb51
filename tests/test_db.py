"""db.transaction: BEGIN travels with the first statement, and everything still commits or rolls back as one."""

from __future__ import annotations

import psycopg2
import pytest

from paygate.infra import crypto
from paygate.storage import fetch_one, merchants
from paygate.storage.db import DatabaseUnavailable, Statement, create_pool, cursor, transaction

from .conftest import MASTER_KEY


def merchant_row(email: str) -> dict:
    box = crypto.SecretBox(MASTER_KEY)
    return {"id": crypto.new_id("mer"), "name": "Tx Shop", "email": email, "api_key": crypto.new_api_key(),
            "api_secret_hash": crypto.hash_secret("s"), "api_secret_enc": box.seal("s"), "webhook_url": None,
            "webhook_secret_enc": box.seal(crypto.new_webhook_secret())}


async def count(pool, email: str) -> int:
    async with cursor(pool) as cur:
        return (await fetch_one(cur, "SELECT count(*) AS n FROM merchants WHERE email = %s", (email,)))["n"]


async def test_the_first_statements_answer_and_rowcount_are_its_own(pool):
    async with transaction(pool) as cur:
        assert await merchants.insert_if_absent(cur, merchant_row("a@example.com"))
        assert cur.rowcount == 1
        row = await fetch_one(cur, "SELECT txid_current_if_assigned() IS NOT NULL AS in_tx")
        assert row["in_tx"], "the insert ran inside the transaction"
    assert await count(pool, "a@example.com") == 1


async def test_an_exception_rolls_back_every_statement(pool):
    with pytest.raises(RuntimeError):
        async with transaction(pool) as cur:
            await merchants.insert_if_absent(cur, merchant_row("b@example.com"))
            await merchants.insert_if_absent(cur, merchant_row("c@example.com"))
            raise RuntimeError("after two writes")
    assert await count(pool, "b@example.com") == 0 and await count(pool, "c@example.com") == 0


async def test_a_failing_first_statement_leaves_every_connection_usable(pool):
    for _ in range(3):
        with pytest.raises(psycopg2.errors.UndefinedTable):
            async with transaction(pool) as cur:
                await cur.execute("SELECT * FROM no_such_table")
    for n in range(pool.maxsize + 1):  # every pooled connection is back to idle, not in an aborted transaction
        async with transaction(pool) as cur:
            await merchants.insert_if_absent(cur, merchant_row(f"d{n}@example.com"))
    assert await count(pool, "d0@example.com") == 1


async def test_a_transaction_without_statements_sends_nothing(pool):
    async with transaction(pool) as cur:
        assert not cur.begun
    async with transaction(pool) as cur:
        row = await fetch_one(cur, "SELECT 1 AS one")
    assert row == {"one": 1}


async def test_deferred_writes_travel_with_the_next_statement_or_the_commit(pool):
    async with transaction(pool) as cur:
        cur.defer("INSERT INTO merchants (id, name, email, api_key, api_secret_hash, api_secret_enc, "
                  "webhook_secret_enc) VALUES (%(id)s, %(name)s, %(email)s, %(api_key)s, %(api_secret_hash)s, "
                  "%(api_secret_enc)s, %(webhook_secret_enc)s)", merchant_row("e1@example.com"))
        assert not cur.begun  # nothing sent yet
        row = await fetch_one(cur, "SELECT count(*) AS n FROM merchants WHERE email = %s", ("e1@example.com",))
        assert row == {"n": 1}, "the deferred insert ran before the statement it travelled with"
        cur.defer("UPDATE merchants SET name = %s WHERE email = %s", ("100% shop", "e1@example.com"))
    async with cursor(pool) as cur:
        assert (await fetch_one(cur, "SELECT name FROM merchants WHERE email = %s", ("e1@example.com",))) == {
            "name": "100% shop"}, "the write deferred to the commit was committed"


async def test_a_deferred_write_belongs_to_its_transaction(pool):
    with pytest.raises(RuntimeError):
        async with transaction(pool) as cur:
            cur.defer("UPDATE merchants SET name = %s WHERE email = %s", ("changed", "a@example.com"))
            cur.defer("INSERT INTO merchants (id, name, email, api_key, api_secret_hash, api_secret_enc, "
                      "webhook_secret_enc) VALUES (%(id)s, %(name)s, %(email)s, %(api_key)s, %(api_secret_hash)s, "
                      "%(api_secret_enc)s, %(webhook_secret_enc)s)", merchant_row("h@example.com"))
            await fetch_one(cur, "SELECT 1 AS one")  # both are sent, inside the transaction
            raise RuntimeError("after the deferred writes were sent")
    assert await count(pool, "h@example.com") == 0


async def test_a_failing_deferred_write_rolls_back_the_whole_transaction(pool):
    for deferred_to_commit in (False, True):
        email = f"f{int(deferred_to_commit)}@example.com"
        with pytest.raises(psycopg2.errors.UndefinedTable):
            async with transaction(pool) as cur:
                await merchants.insert_if_absent(cur, merchant_row(email))
                cur.defer("INSERT INTO no_such_table VALUES (%s)", (1,))
                if not deferred_to_commit:
                    await fetch_one(cur, "SELECT 1 AS one")
        assert await count(pool, email) == 0
    for n in range(pool.maxsize + 1):  # and every pooled connection is usable again
        async with transaction(pool) as cur:
            await merchants.insert_if_absent(cur, merchant_row(f"g{n}@example.com"))


async def test_rows_deferred_one_after_another_go_in_one_statement_in_order_with_the_rest(pool):
    """A batch of payments records its events as one multi-row insert; another deferred write between two rows
    keeps its place."""
    await _scratch(pool)
    many = Statement("INSERT INTO db_scratch SELECT * FROM unnest(%(id)s::int[], %(name)s::text[])")
    async with transaction(pool) as cur:
        cur.defer_row(many, {"id": 2, "name": "two"})
        cur.defer_row(many, {"id": 3, "name": "three"})
        cur.defer("UPDATE db_scratch SET name = name || '!' WHERE id >= 2")
        cur.defer_row(many, {"id": 4, "name": "four"})
        assert [len(parameters) if operation is many else None for operation, parameters in cur._deferred] == [
            2, None, 2]  # two columns of two rows, the update, two columns of one row
        assert len(cur._deferred[0][1]["id"]) == 2
    async with cursor(pool) as cur:
        await cur.execute("SELECT id, name FROM db_scratch ORDER BY id")
        assert await cur.fetchall() == [(1, "one"), (2, "two!"), (3, "three!"), (4, "four")]


SCRATCH = Statement("SELECT * FROM db_scratch WHERE id = %(id)s")


async def _scratch(pool) -> None:
    async with cursor(pool) as cur:
        await cur.execute("DROP TABLE IF EXISTS db_scratch")
        await cur.execute("CREATE TABLE db_scratch (id int PRIMARY KEY, name text)")
        await cur.execute("INSERT INTO db_scratch VALUES (1, 'one')")


async def _runs(cur, statement: Statement) -> int | None:
    await cur.execute("SELECT generic_plans + custom_plans FROM pg_prepared_statements WHERE name = %s",
                      (statement.name,))
    row = await cur.fetchone()
    return row[0] if row else None


async def test_a_statement_is_prepared_once_per_connection_and_then_run_by_name(pool):
    await _scratch(pool)
    async with pool.acquire() as conn, conn.cursor() as cur:
        for _ in range(3):
            assert await fetch_one(cur, SCRATCH, {"id": 1}) == {"id": 1, "name": "one"}
        assert await _runs(cur, SCRATCH) == 3
    async with transaction(pool) as cur:  # inside a transaction, and deferred to the commit, the same
        cur.defer(Statement("UPDATE db_scratch SET name = %s WHERE id = %s"), ("uno", 1))
        assert await fetch_one(cur, SCRATCH, {"id": 1}) == {"id": 1, "name": "uno"}


async def test_without_prepared_statements_the_same_sql_is_sent_as_text(config, pool):
    await _scratch(pool)
    plain = await create_pool(config.replace(database__prepared_statements=False))
    try:
        async with plain.acquire() as conn, conn.cursor() as cur:
            assert await fetch_one(cur, SCRATCH, {"id": 1}) == {"id": 1, "name": "one"}
            assert await _runs(cur, SCRATCH) is None
    finally:
        plain.close()
        await plain.wait_closed()


async def test_a_table_changed_under_a_prepared_statement_costs_one_error_and_its_connection(pool):
    await _scratch(pool)
    async with pool.acquire() as conn, conn.cursor() as cur:
        assert await fetch_one(cur, SCRATCH, {"id": 1}) == {"id": 1, "name": "one"}
        await cur.execute("ALTER TABLE db_scratch ADD COLUMN note text")
        with pytest.raises(psycopg2.errors.FeatureNotSupported):  # cached plan must not change result type
            await fetch_one(cur, SCRATCH, {"id": 1})
        assert conn.closed
    for _ in range(pool.maxsize + 1):  # a fresh connection prepares it anew
        async with cursor(pool) as cur:
            assert await fetch_one(cur, SCRATCH, {"id": 1}) == {"id": 1, "name": "one", "note": None}


async def test_a_stale_statement_inside_a_transaction_rolls_it_back_and_drops_its_connection(pool):
    await _scratch(pool)
    for _ in range(pool.maxsize):  # every pooled connection prepares it
        async with transaction(pool) as cur:
            await fetch_one(cur, SCRATCH, {"id": 1})
    async with cursor(pool) as cur:
        await cur.execute("ALTER TABLE db_scratch ADD COLUMN note text")
    with pytest.raises(psycopg2.errors.FeatureNotSupported):
        async with transaction(pool) as cur:
            await merchants.insert_if_absent(cur, merchant_row("stale@example.com"))
            await fetch_one(cur, SCRATCH, {"id": 1})
    assert await count(pool, "stale@example.com") == 0
    failures = 1
    for _ in range(2 * pool.maxsize):  # each stale connection fails once and is replaced by a fresh one
        try:
            async with transaction(pool) as cur:
                assert (await fetch_one(cur, SCRATCH, {"id": 1}))["note"] is None
        except psycopg2.errors.FeatureNotSupported:
            failures += 1
    assert failures <= pool.maxsize
    async with transaction(pool) as cur:
        assert (await fetch_one(cur, SCRATCH, {"id": 1}))["note"] is None


async def test_a_connection_lost_at_commit_says_the_outcome_is_unknown_not_retry_blindly(pool):
    """A COMMIT cut off may have been applied: a client told only "retry shortly" could make a second refund."""
    async with pool.acquire() as other, other.cursor() as killer:
        with pytest.raises(DatabaseUnavailable) as caught:
            async with transaction(pool) as cur:
                await cur.execute("SELECT pg_backend_pid()")
                (pid,) = await cur.fetchone()
                await killer.execute("SELECT pg_terminate_backend(%s)", (pid,))
    assert caught.value.status == 503 and "may or may not have taken effect" in caught.value.description
    async with transaction(pool) as cur:  # the broken connection was not handed out again
        await cur.execute("SELECT 1")
        assert await cur.fetchone() == (1,)

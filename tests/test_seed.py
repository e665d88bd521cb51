"""The test merchant: idempotent, with secrets stored hashed and sealed."""

from __future__ import annotations

import json

import psycopg2

from .conftest import paygate_env, run_paygate


def test_seed_is_idempotent_and_prints_the_seed_credentials(clean_state):
    env = paygate_env(*clean_state)
    first = run_paygate("seed", "--json", env=env)
    second = run_paygate("seed", "--json", env=env)
    assert first.returncode == second.returncode == 0, first.stderr
    a, b = json.loads(first.stdout), json.loads(second.stdout)

    assert (a["created"], b["created"]) == (True, False)
    assert a["api_key"] == "key_test_abc123"
    assert a["api_secret"] == "secret_test_xyz789"
    assert a["merchant_id"] == b["merchant_id"]
    assert a["webhook_secret"] == b["webhook_secret"]
    assert a["webhook_secret"].startswith("whsec_")

    with psycopg2.connect(clean_state[0]) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM merchants")
        assert cur.fetchone()[0] == 1
        cur.execute("SELECT api_secret_hash, webhook_secret_enc FROM merchants")
        secret_hash, sealed = cur.fetchone()
    assert "secret_test_xyz789" not in secret_hash
    assert a["webhook_secret"] not in sealed
    assert len(secret_hash) == 64


def test_seed_rich_output_names_the_keys(clean_state):
    result = run_paygate("seed", env=paygate_env(*clean_state))
    assert result.returncode == 0
    assert "key_test_abc123" in result.stdout and "secret_test_xyz789" in result.stdout


def test_seed_without_master_key_is_one_clear_line(clean_state):
    env = paygate_env(*clean_state)
    del env["PAYGATE_SECURITY__MASTER_KEY"]
    result = run_paygate("seed", env=env)
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: security.master_key: required to store webhook secrets"

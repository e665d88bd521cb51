"""Migrations: applied once, in order, under a lock; drift refused; status for people and CI."""

from __future__ import annotations

import json
import subprocess
import sys

import psycopg2

from paygate.storage import migrations

from .conftest import REPO, paygate_env, run_paygate


def _applied(url: str) -> list[tuple[str, str]]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT name, checksum FROM schema_migrations ORDER BY name")
        return cur.fetchall()


def test_two_concurrent_migrate_runs_both_succeed_and_apply_each_file_once(fresh_database, services):
    env = paygate_env(fresh_database, services[1])
    runs = [
        subprocess.Popen([sys.executable, "-m", "paygate", "migrate", "--json"], env=env, cwd=REPO,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=60) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    applied_by_each = [json.loads(out)["applied"] for out, _ in outputs]
    files = [m.name for m in migrations.discover()]
    # One run applied everything, the other waited on the lock and found nothing to do.
    assert sorted(applied_by_each, key=len) == [[], files]
    assert [name for name, _ in _applied(fresh_database)] == files


def test_migrate_refuses_when_an_applied_file_changed(fresh_database, services):
    env = paygate_env(fresh_database, services[1])
    assert run_paygate("migrate", env=env).returncode == 0
    first = migrations.discover()[0].name
    with psycopg2.connect(fresh_database) as conn, conn.cursor() as cur:
        cur.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE name = %s", (first,))

    result = run_paygate("migrate", env=env)

    assert result.returncode == 1
    assert f"applied migration {first} has changed on disk" in result.stderr
    assert "Traceback" not in result.stderr
    status = run_paygate("migrate", "--status", "--json", env=env)
    states = {m["name"]: m["state"] for m in json.loads(status.stdout)["migrations"]}
    assert states[first] == "changed"
    assert status.returncode == 1


def test_migrate_status_shows_pending_then_applied(fresh_database, services):
    env = paygate_env(fresh_database, services[1])
    names = [m.name for m in migrations.discover()]

    before = json.loads(run_paygate("migrate", "--status", "--json", env=env).stdout)["migrations"]
    assert [(m["name"], m["state"], m["applied_at"]) for m in before] == [(n, "pending", None) for n in names]

    run_paygate("migrate", env=env)
    after = json.loads(run_paygate("migrate", "--status", "--json", env=env).stdout)["migrations"]
    assert [(m["name"], m["state"]) for m in after] == [(n, "applied") for n in names]
    assert all(m["applied_at"] and len(m["checksum"]) == 64 for m in after)

    table = run_paygate("migrate", "--status", env={**env, "COLUMNS": "200"})
    assert table.returncode == 0
    assert "schema migrations" in table.stdout
    for name in names:
        assert name in table.stdout
    assert "applied" in table.stdout


def test_second_migrate_applies_nothing(fresh_database, services):
    env = paygate_env(fresh_database, services[1])
    assert json.loads(run_paygate("migrate", "--json", env=env).stdout)["applied"]
    assert json.loads(run_paygate("migrate", "--json", env=env).stdout)["applied"] == []


def test_unreachable_postgres_is_one_line_with_the_masked_url(services):
    env = paygate_env("postgresql://paygate:hunter2@127.0.0.1:1/nothing", services[1])
    result = run_paygate("migrate", env=env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: cannot reach Postgres at postgresql://paygate:***@127.0.0.1:1/nothing")
    assert "hunter2" not in result.stderr

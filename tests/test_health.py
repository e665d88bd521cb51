"""/healthz and /readyz, in-process and against a real server whose Postgres and Redis go away."""

from __future__ import annotations

import warnings

import pytest

from .conftest import build_config, paygate_env, wait_ready


async def test_healthz_and_readyz_when_everything_is_up(client):
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert (await resp.json()) == {"status": "ok"}
    resp = await client.get("/readyz")
    assert resp.status == 200
    body = await resp.json()
    assert body["checks"] == {"postgres": {"ok": True}, "redis": {"ok": True}}
    assert resp.headers["X-Request-Id"].startswith("req_")


async def test_readyz_is_503_while_migrations_are_pending(aiohttp_client, fresh_database, services):
    from paygate.http.app import create_app

    client = await aiohttp_client(create_app(build_config(fresh_database, services[1])))
    resp = await client.get("/readyz")
    assert resp.status == 503
    body = await resp.json()
    assert body["checks"]["postgres"] == {"ok": False, "reason": "migrations pending or changed: run paygate migrate"}


async def test_unknown_route_has_the_error_shape(client):
    resp = await client.get("/nope", headers={"X-Request-Id": "abc-123"})
    assert resp.status == 404
    assert (await resp.json()) == {
        "error": {"code": "NOT_FOUND_ERROR", "description": "Not Found", "request_id": "abc-123"}
    }
    assert resp.headers["X-Request-Id"] == "abc-123"


@pytest.fixture
def own_services(tmp_path):
    """A Postgres and Redis of this test's own, so it can stop and start them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from paygate.infra.embedded import Embedded

        embedded = Embedded(tmp_path / "own")
        urls = embedded.start()
    yield embedded, urls
    embedded.stop()


def test_the_embedded_postgres_runs_with_its_own_settings(own_services):
    import psycopg2

    from paygate.infra.embedded import SETTINGS

    _, (db_url, _) = own_services
    assert SETTINGS["wal_init_zero"] == "off"  # no stall of every commit while a new WAL segment is zero-filled
    conn = psycopg2.connect(db_url)
    try:
        with conn.cursor() as cur:
            for name, value in SETTINGS.items():
                cur.execute(f"SHOW {name}")
                assert cur.fetchone()[0] == value, name
    finally:
        conn.close()


async def test_readyz_follows_postgres_and_redis_going_away_and_coming_back(own_services, paygate_process):
    embedded, (db_url, redis_url) = own_services
    env = paygate_env(db_url, redis_url)
    from .conftest import run_paygate

    assert run_paygate("migrate", env=env).returncode == 0
    server = await paygate_process("serve", env=env).ready()

    embedded.postgres.stop()
    await wait_ready(server.base_url, timeout=20, want=503)
    embedded.postgres.start()
    await wait_ready(server.base_url, timeout=20, want=200)

    embedded.redis.stop()
    await wait_ready(server.base_url, timeout=20, want=503)
    embedded.redis.start()
    await wait_ready(server.base_url, timeout=20, want=200)
    assert server.proc.poll() is None  # the same process throughout

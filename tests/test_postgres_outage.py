"""Postgres stopped for 10 s under light load: 503 with Retry-After meanwhile, never a 500 or a traceback, and the
pool finds Postgres again by itself."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import subprocess
import time
import warnings

import aiohttp
import pytest
from pytest import param

from .conftest import paygate_env, run_paygate

OUTAGE = 10.0  # seconds Postgres stays down
RECONNECT = 5.0  # at most this long after it returns, a request succeeds again
LOG_WARNINGS = ("Traceback", "Unclosed connection", "Future exception was never retrieved")


class StoppablePostgres:
    """An embedded Postgres of this test's own, stopped and started again on the same data directory and socket."""

    def __init__(self, directory):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            from paygate.infra.embedded import EmbeddedPostgres

        self.embedded = EmbeddedPostgres(directory)
        self.url = self.embedded.start()

    @property
    def _server(self):
        return self.embedded._server  # pgserver's handle: its data directory and the system user it runs as

    def stop(self) -> None:
        """pg_ctl's fast shutdown: clients are cut off at once, as when a server is restarted or fails over."""
        from pgserver._commands import pg_ctl

        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self._server.pgdata, user=self._server.system_user, timeout=30)

    def start(self) -> None:
        _patiently(self._server.ensure_postgres_running)  # the same pg_ctl start pgserver ran: same socket
        assert self._server.get_uri(self.embedded.database) == self.url

    def close(self) -> None:
        self.embedded.stop()


def _patiently(start):
    """pgserver gives pg_ctl start 10 s; on a busy machine it can take longer, and is then found running."""
    try:
        return start()
    except subprocess.TimeoutExpired:
        return start()


@pytest.fixture(scope="module")
def stoppable_postgres(tmp_path_factory):
    postgres = StoppablePostgres(tmp_path_factory.mktemp("own") / "postgres")
    yield postgres
    postgres.close()


@pytest.fixture
def own_postgres(stoppable_postgres):
    """This module's Postgres, running again after the test whatever the test did to it."""
    yield stoppable_postgres
    stoppable_postgres.start()


class Load:
    """A few requests a second, of every kind a client sends: reads and writes, by API key and at checkout."""

    def __init__(self, http: aiohttp.ClientSession, headers: dict, order: dict):
        self.http, self.headers, self.order = http, headers, order
        self.answers: list[tuple[str, int, dict, str]] = []  # (request, status, headers, body)

    def requests(self):
        order_id = self.order["id"]
        return [
            ("GET", "/api/v1/orders", None, self.headers),
            ("POST", "/api/v1/orders", {"amount": 1000, "currency": "INR"}, self.headers),
            ("GET", f"/api/v1/orders/{order_id}", None, self.headers),
            ("GET", "/api/v1/payments?limit=5", None, self.headers),
            ("POST", "/api/v1/payments", {"order_id": order_id, "method": "upi", "vpa": "failure@paygate"},
             self.headers),
            ("GET", f"/api/v1/checkout/orders/{order_id}?key={self.headers['X-Api-Key']}", None, {}),
        ]

    async def send(self, method: str, path: str, body, headers: dict) -> tuple[int, dict, str]:
        try:
            async with self.http.request(method, path, json=body, headers=headers,
                                         timeout=aiohttp.ClientTimeout(total=15)) as resp:
                answer = (resp.status, dict(resp.headers), await resp.text())
        except (aiohttp.ClientError, TimeoutError) as exc:  # the server must answer, whatever Postgres does
            raise AssertionError(f"{method} {path}: no answer ({exc!r})") from None
        self.answers.append((f"{method} {path}", *answer))
        return answer

    async def run(self, seconds: float, gap: float = 0.2) -> list[tuple[str, int, dict, str]]:
        """Send the requests in turn, one every ``gap`` seconds, for ``seconds``; return their answers."""
        first, deadline = len(self.answers), time.monotonic() + seconds
        while time.monotonic() < deadline:
            for request in self.requests():
                await self.send(*request)
                await asyncio.sleep(gap)
                if time.monotonic() >= deadline:
                    break
        return self.answers[first:]

    async def until_ok(self, seconds: float) -> float:
        """Seconds until one request succeeds again; meanwhile only 503 answers."""
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            status, _, text = await self.send("GET", "/api/v1/orders", None, self.headers)
            if status == 200:
                return time.monotonic() - started
            assert status == 503, text
            await asyncio.sleep(0.1)
        raise AssertionError(f"no request succeeded within {seconds}s of Postgres returning")


async def test_the_pool_answers_unavailable_once_warned_and_recovers_without_a_broken_connection(
        own_postgres, caplog):
    from paygate.storage.db import DatabaseUnavailable, create_pool, cursor, transaction

    from .conftest import build_config

    caplog.set_level(logging.INFO, logger="paygate.db")
    pool = await create_pool(build_config(own_postgres.url, "redis://127.0.0.1:1/0", database__max_size=3))
    try:
        async with transaction(pool) as cur:
            await cur.execute("SELECT 1")
        await asyncio.to_thread(own_postgres.stop)
        for use in (cursor, transaction, cursor, transaction):
            with pytest.raises(DatabaseUnavailable) as refused:
                async with use(pool) as cur:
                    await cur.execute("SELECT 1")
            assert refused.value.headers["Retry-After"].isdigit() and refused.value.status == 503
        warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warned) == 1 and warned[0].startswith("Postgres is out of reach"), warned
        assert not [r for r in caplog.records if r.exc_info]

        await asyncio.to_thread(own_postgres.start)
        async with cursor(pool) as cur:  # the connection the stop broke was thrown away, not handed out again
            await cur.execute("SELECT 1")
            assert await cur.fetchone() == (1,)
        assert [r.getMessage() for r in caplog.records][-1].startswith("Postgres is back")
        assert pool.size <= 1
    finally:
        pool.close()
        await pool.wait_closed()


async def test_no_free_connection_within_database_timeout_is_unavailable_not_a_wait(own_postgres, caplog):
    from paygate.storage.db import DatabaseUnavailable, create_pool, cursor

    from .conftest import build_config

    config = build_config(own_postgres.url, "redis://127.0.0.1:1/0", database__max_size=1, database__min_size=1,
                          database__timeout=0.3)
    pool = await create_pool(config)
    try:
        async with cursor(pool) as held:
            await held.execute("SELECT 1")
            started = time.monotonic()
            with pytest.raises(DatabaseUnavailable):
                async with cursor(pool):
                    pass
            assert time.monotonic() - started < 2
        assert "no connection within 0.3 s" in caplog.text
        async with cursor(pool) as cur:  # the held one is free again
            await cur.execute("SELECT 1")
    finally:
        pool.close()
        await pool.wait_closed()


async def test_a_statement_error_is_not_an_outage(own_postgres):
    import psycopg2

    from paygate.storage.db import create_pool, transaction

    from .conftest import build_config

    pool = await create_pool(build_config(own_postgres.url, "redis://127.0.0.1:1/0"))
    try:
        with pytest.raises(psycopg2.errors.UndefinedTable):
            async with transaction(pool) as cur:
                await cur.execute("SELECT * FROM no_such_table")
        with pytest.raises(psycopg2.errors.DivisionByZero):
            async with transaction(pool) as cur:
                await cur.execute("SELECT 1 / 0")
        async with transaction(pool) as cur:
            await cur.execute("SELECT 1")
        assert pool.size == 1, "the connection of a failed statement is kept"
    finally:
        pool.close()
        await pool.wait_closed()


def _prepare(url: str, redis_url: str) -> dict:
    env = paygate_env(url, redis_url)
    for command in (("migrate",), ("seed", "--json")):
        done = run_paygate(*command, env=env)
        assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("role", [param(["--no-worker"], id="api"),
                                  param([], id="api-and-workers")])
async def test_postgres_stopped_for_ten_seconds_answers_503_with_retry_after_and_recovers(
        own_postgres, services, paygate_process, role):
    _, redis_url = services
    seeded = _prepare(own_postgres.url, redis_url)
    headers = {"X-Api-Key": seeded["api_key"], "X-Api-Secret": seeded["api_secret"]}
    env = paygate_env(own_postgres.url, redis_url, PAYGATE_LOGGING__FORMAT="json")
    server = await paygate_process("serve", *role, env=env).ready()

    async with aiohttp.ClientSession(server.base_url) as http:
        created = await http.post("/api/v1/orders", json={"amount": 5000, "currency": "INR"}, headers=headers)
        assert created.status == 201
        load = Load(http, headers, await created.json())
        before = await load.run(1)
        assert {status for _, status, _, _ in before} <= {200, 201}, before

        # A restart of a fraction of a second, as a fail-over makes, under requests in flight: the pooled
        # connections it broke are thrown away, not handed out again.
        bounce = asyncio.create_task(load.run(2, gap=0.02))
        await asyncio.to_thread(own_postgres.stop)
        await asyncio.to_thread(own_postgres.start)
        bounced = await bounce
        assert {status for _, status, _, _ in bounced} <= {200, 201, 503}, bounced
        await load.until_ok(RECONNECT)

        await asyncio.to_thread(own_postgres.stop)
        during = await load.run(OUTAGE)
        await asyncio.to_thread(own_postgres.start)
        waited = await load.until_ok(RECONNECT)
        after = await load.run(1)

    refused = [(request, status, text) for request, status, _, text in during if status != 503]
    assert not refused, f"answers other than 503 while Postgres was down: {refused[:5]}"
    assert len(during) >= 20, "a few requests a second for ten seconds"
    for request, status, answer_headers, text in [*bounced, *during]:
        if status != 503:
            continue
        assert answer_headers.get("Retry-After", "").isdigit(), (request, answer_headers)
        error = json.loads(text)["error"]
        assert error["code"] == "SERVICE_UNAVAILABLE", (request, text)
        for internal in ("/tmp", "socket", "5432", "<", "psycopg2", "Error"):
            assert internal not in error["description"], (request, text)
    checkout = [h for request, _, h, _ in during if "/checkout/" in request]
    assert checkout and all(h.get("Access-Control-Allow-Origin") == "*" for h in checkout)
    assert waited <= RECONNECT
    assert {status for _, status, _, _ in after} <= {200, 201}, after

    server.signal(signal.SIGTERM)
    assert server.wait() == 0
    output = server.output()  # shutdown included
    for needle in LOG_WARNINGS:
        assert needle not in output, f"{needle!r} in the server's log:\n{output[-4000:]}"
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    errors = [line for line in lines if line["level"] in ("error", "critical")]
    assert not errors, errors[:3]
    warned = [line["message"] for line in lines if line["level"] == "warning"]
    # Two outages (the short restart and the 10 s stop): each says it once, and its end once; with workers,
    # the webhook listener says once that it lost its connection.
    kinds = ("Postgres is out of reach", "Postgres is back", "webhook listener lost its connection")
    for kind in kinds:
        assert len([m for m in warned if m.startswith(kind)]) <= 2, warned
    assert all(m.startswith(kinds) for m in warned), warned

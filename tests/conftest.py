"""One real Postgres and one real Redis per test session (embedded unless PAYGATE_TEST_*_URL are set)."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import psycopg2
import pytest
import redis as sync_redis

from paygate.http.app import create_app
from paygate.infra import config as config_mod
from paygate.storage import migrations
from paygate.storage.db import create_pool
from paygate.storage.seed import seed_test_merchant

from .openapi_validation import make_validating_middleware

REPO = Path(__file__).resolve().parent.parent
# A fixed key for tests: sealed secrets must open across the app, the CLI and subprocesses.
MASTER_KEY = "dGVzdC1tYXN0ZXIta2V5LWZvci1wYXlnYXRlLXRlc3Q="
TABLES = (
    "merchants, orders, payments, refunds, events, webhook_logs, webhook_attempts, idempotency_keys, "
    "simulator_ledger"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


@pytest.fixture(scope="session", autouse=True)
def no_dev_services(tmp_path_factory):
    """In-process CLI runs must not find a `paygate dev` that a developer left running in the checkout."""
    os.environ["PAYGATE_DATA_DIR"] = str(tmp_path_factory.mktemp("no-dev"))
    yield
    os.environ.pop("PAYGATE_DATA_DIR", None)


@pytest.fixture(autouse=True)
def logging_as_it_was():
    """A command run in this process (CliRunner) sets paygate's logging up for itself, text lines without their
    fields; the tests after it get the fields back (tests/test_bounded_input.py reads them)."""
    from paygate.infra import logs

    wanted = logs.fields_wanted
    yield
    logs.fields_wanted = wanted


@pytest.fixture(scope="session")
def services(tmp_path_factory):
    """(database_url, redis_url) for the whole session, migrated."""
    db_url = os.environ.get("PAYGATE_TEST_DATABASE_URL")
    redis_url = os.environ.get("PAYGATE_TEST_REDIS_URL")
    embedded = None
    if not (db_url and redis_url):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from paygate.infra.embedded import Embedded

            embedded = Embedded(tmp_path_factory.mktemp("services"))
            embedded_db, embedded_redis = embedded.start()
        db_url = db_url or embedded_db
        redis_url = redis_url or embedded_redis
    config = build_config(db_url, redis_url)

    async def prepare():
        pool = await create_pool(config)
        try:
            await migrations.migrate(pool)
        finally:
            pool.close()
            await pool.wait_closed()

    asyncio.run(prepare())
    yield db_url, redis_url
    if embedded:
        embedded.stop()


def build_config(db_url: str, redis_url: str, **overrides) -> config_mod.Config:
    # The API rate limit is off: tests drive one merchant far faster than a merchant may go (test_rate_limit.py
    # turns it on).
    values = {"database.url": db_url, "redis.url": redis_url, "security.master_key": MASTER_KEY,
              "database.max_size": 30, "api.test_endpoints": True, "api.rate_limit": 0}
    values.update({k.replace("__", "."): v for k, v in overrides.items()})
    return config_mod.build(values, check_required=True)


@pytest.fixture
def clean_state(services):
    """Every test starts from empty tables and an empty Redis database."""
    db_url, redis_url = services
    conn = psycopg2.connect(db_url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    finally:
        conn.close()
    client = sync_redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()
    return services


@pytest.fixture
def config(clean_state) -> config_mod.Config:
    return build_config(*clean_state)


@pytest.fixture
async def pool(config):
    pool = await create_pool(config)
    yield pool
    pool.close()
    await pool.wait_closed()


@pytest.fixture
def make_app(config):
    """Build the real application; tests may override settings: make_app(processor__success_rate=0.5).

    Every answer of an app built here is checked against the OpenAPI document (outermost, so as clients
    see it); the test fails at teardown, listing them, if any disagreed.
    """
    violations: list[str] = []

    def make(workers: bool = False, **overrides):
        app = create_app(config.replace(**overrides) if overrides else config, workers=workers)
        app.middlewares.insert(0, make_validating_middleware(violations))
        return app

    yield make
    if violations:
        pytest.fail("answers that disagree with the OpenAPI document:\n" + "\n".join(violations), pytrace=False)


@pytest.fixture
async def client(aiohttp_client, make_app):
    """The API without workers: payments stay pending until something processes them."""
    return await aiohttp_client(make_app())


@pytest.fixture
async def worker_client(aiohttp_client, make_app):
    """The API with its workers and scheduler running in the same process, as `paygate serve` does."""
    return await aiohttp_client(make_app(workers=True))


@pytest.fixture
async def merchant(pool) -> dict:
    """The seeded test merchant, with ready-made auth headers."""
    from paygate.infra.crypto import SecretBox

    seeded = await seed_test_merchant(pool, SecretBox(MASTER_KEY))
    seeded["headers"] = {"X-Api-Key": seeded["api_key"], "X-Api-Secret": seeded["api_secret"]}
    return seeded


@pytest.fixture
def fresh_database(services):
    """An empty database on the test server, dropped afterwards; yields its URL."""
    db_url, _ = services
    name = "fresh_" + secrets.token_hex(6)
    admin = psycopg2.connect(db_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    yield with_database(db_url, name)
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def paygate_env(db_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYGATE_")}
    env.update({
        "PAYGATE_DATABASE__URL": db_url,
        "PAYGATE_REDIS__URL": redis_url,
        "PAYGATE_SECURITY__MASTER_KEY": MASTER_KEY,
        "PAYGATE_API__RATE_LIMIT": "0",  # off, as in build_config
    })
    env.update(extra)
    return env


def run_paygate(*args: str, env: dict[str, str], timeout: float = 60, cwd: Path | None = None):
    """Run ``paygate ARGS`` as a real subprocess; return the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "paygate", *args],
        env=env, capture_output=True, text=True, timeout=timeout, cwd=cwd or REPO,
    )


async def wait_ready(base_url: str, timeout: float = 30, want: int = 200, proc=None) -> None:
    deadline = time.monotonic() + timeout
    last = None
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise AssertionError(f"paygate exited with {proc.returncode}")
            try:
                async with session.get(f"{base_url}/readyz", timeout=aiohttp.ClientTimeout(total=3)) as resp:
                    last = resp.status
                    if resp.status == want:
                        return
            except (TimeoutError, aiohttp.ClientError) as exc:
                last = repr(exc)
            await asyncio.sleep(0.1)
    raise AssertionError(f"/readyz did not answer {want} within {timeout}s (last: {last})")


class PaygateProcess:
    """``paygate ARGS`` running in the background, stopped (and reaped) at teardown."""

    def __init__(self, command: list[str], env: dict[str, str], port: int, log: Path, cwd: Path = REPO):
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.log_path = log
        self._log = open(log, "w")
        self.proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT)

    async def ready(self, timeout: float = 30) -> PaygateProcess:
        try:
            await wait_ready(self.base_url, timeout, proc=self.proc)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; its output:\n{self.output()[-3000:]}") from None
        return self

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 30) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text()


@pytest.fixture
def paygate_process(tmp_path):
    """Factory: start ``paygate <args>`` as a subprocess; every one is stopped at teardown."""
    started: list[PaygateProcess] = []

    def start(*args: str, env: dict[str, str], port: int | None = None, cwd: Path = REPO) -> PaygateProcess:
        """Start ``paygate ARGS``; commands that listen get ``--port <port>`` (a free port unless given)."""
        port = port or free_port()
        if args[0] in ("serve", "dev"):
            args = [*args, "--port", str(port)]
        command = [sys.executable, "-m", "paygate", *args]
        process = PaygateProcess(command, env, port, tmp_path / f"paygate-{len(started)}.log", cwd)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
async def paygate_server(clean_state, paygate_process):
    """A real ``paygate serve`` on a free port against the test services, ready."""
    process = paygate_process("serve", env=paygate_env(*clean_state))
    return await process.ready()


@pytest.fixture
async def other_merchant(pool) -> dict:
    """A second merchant, for isolation tests."""
    from paygate.core.operations.merchants import create_merchant
    from paygate.infra.crypto import SecretBox

    created = await create_merchant(pool, SecretBox(MASTER_KEY), "Other Shop", "other@example.com")
    created["headers"] = {"X-Api-Key": created["api_key"], "X-Api-Secret": created["api_secret"]}
    return created


@pytest.fixture
def own_redis(tmp_path):
    """A Redis of this test's own, which it may stop and start again (same port, same data)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from paygate.infra.embedded import EmbeddedRedis

        redis = EmbeddedRedis(tmp_path / "redis")
        redis.start()
    yield redis
    redis.stop()


@pytest.fixture
async def receiver():
    """A real local HTTP receiver; set ``receiver.answer`` to script its answers."""
    from .receiver import Receiver

    started = await Receiver().start()
    yield started
    await started.stop()


@pytest.fixture
async def hooks_client(aiohttp_client, make_app):
    """The API with workers, loopback webhook targets allowed, the seed's test schedule and a quick scheduler."""
    return await aiohttp_client(make_app(
        workers=True, webhooks__allow_private_targets=True, webhooks__retry_schedule=[5.0, 10.0, 15.0, 20.0],
        scheduler__interval=0.2, webhooks__timeout=2.0))


@pytest.fixture
async def launching():
    """Chromium starting in the background (for browser tests), so it boots while paygate does."""
    from .browser import launch

    task = asyncio.ensure_future(launch())
    yield task
    playwright, browser = await task
    await browser.close()
    await playwright.stop()

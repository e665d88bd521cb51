"""The ``paygate`` command: thin wrappers that build the app or its parts and run them."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import click
from aiohttp import web
from rich.console import Console
from rich.table import Table

from . import __version__, crypto, migrations, serving
from . import config as config_mod
from .app import create_app
from .config import Config, ConfigError
from .db import create_pool
from .errors import StartupError
from .seed import seed_test_merchant

console = Console()


class BadConfig(click.ClickException):
    """Invalid configuration: one line naming the key, exit code 2."""

    exit_code = 2


def _config(ctx: click.Context, overrides: dict[str, Any] | None = None,
            role_defaults: dict[str, Any] | None = None) -> Config:
    try:
        config = config_mod.load(ctx.obj["config_path"], overrides=overrides, role_defaults=role_defaults)
    except ConfigError as exc:
        raise BadConfig(str(exc)) from None
    from .logs import setup

    setup(config)
    return config


def _run(coro: Awaitable, runner: Callable[[Awaitable], Any] = asyncio.run) -> Any:
    """Run a coroutine; operator-facing failures become one line and exit code 1."""
    try:
        return runner(coro)
    except (StartupError, migrations.MigrationError, crypto.MasterKeyError) as exc:
        raise click.ClickException(str(exc)) from None


@asynccontextmanager
async def _pool(config: Config):
    pool = await create_pool(config)
    try:
        yield pool
    finally:
        pool.close()
        await pool.wait_closed()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="paygate")
@click.option("--config", "config_path", envvar="PAYGATE_CONFIG", type=click.Path(dir_okay=False),
              help="YAML config file (also PAYGATE_CONFIG).")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """paygate: a self-hosted payment gateway."""
    ctx.obj = {"config_path": config_path}


@main.command()
@click.option("--status", "show_status", is_flag=True, help="Show each migration's state; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def migrate(ctx: click.Context, show_status: bool, as_json: bool) -> None:
    """Apply pending schema migrations (safe to run from several places at once)."""
    config = _config(ctx)

    async def go():
        async with _pool(config) as pool:
            if show_status:
                return await migrations.status(pool)
            return await migrations.migrate(pool)

    result = _run(go())
    if show_status:
        _print_status(result, as_json)
        if any(s.state == "changed" for s in result):
            sys.exit(1)
    elif as_json:
        click.echo(json.dumps({"applied": result}))
    else:
        console.print(f"applied {len(result)} migration(s)" + (": " + ", ".join(result) if result else ""))


def _print_status(states: list[migrations.MigrationState], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"migrations": [s.as_dict() for s in states]}))
        return
    table = Table(title="schema migrations")
    for column in ("name", "state", "applied at", "checksum"):
        table.add_column(column)
    colours = {"applied": "green", "pending": "yellow", "changed": "red", "unknown": "red"}
    for s in states:
        at = s.applied_at.strftime("%Y-%m-%d %H:%M:%S") if s.applied_at else "-"
        table.add_row(s.name, f"[{colours[s.state]}]{s.state}[/]", at, s.checksum[:12])
    console.print(table)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def seed(ctx: click.Context, as_json: bool) -> None:
    """Create the test merchant (key_test_abc123 / secret_test_xyz789) unless it exists."""
    config = _config(ctx)

    async def go():
        box = crypto.SecretBox(config.security.master_key)
        async with _pool(config) as pool:
            return await seed_test_merchant(pool, box)

    merchant = _run(go())
    if as_json:
        click.echo(json.dumps(merchant))
    else:
        _print_merchant(merchant)


def _print_merchant(merchant: dict) -> None:
    state = "created" if merchant["created"] else "already present"
    console.print(f"[bold]Test merchant[/] ({state}): {merchant['merchant_id']}")
    console.print(f"  X-Api-Key:      [cyan]{merchant['api_key']}[/]")
    console.print(f"  X-Api-Secret:   [cyan]{merchant['api_secret']}[/]")
    console.print(f"  webhook secret: [cyan]{merchant['webhook_secret']}[/]")


def _serve(config: Config, host: str, port: int, *, workers: bool,
           banner: Callable[[], None] | None = None) -> None:
    app = create_app(config, workers=workers)
    if banner:
        app.on_startup.append(lambda _app: _async_call(banner))
    try:
        serving.run_app(app, host, port)
    except (StartupError, migrations.MigrationError) as exc:
        raise click.ClickException(str(exc)) from None


async def _async_call(fn: Callable[[], None]) -> None:
    fn()


NO_WORKER = click.option("--no-worker", is_flag=True, help="Serve HTTP only; run `paygate worker` elsewhere.")


@main.command()
@click.option("--host", default=None, help="Listen address [server.host].")
@click.option("--port", type=int, default=None, help="Listen port [server.port].")
@click.option("--processes", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Serving processes sharing the port (SO_REUSEPORT), one event loop each; each opens its own "
                   "Postgres pool (up to database.max_size) and, unless --no-worker, runs its own workers.")
@NO_WORKER
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, processes: int, no_worker: bool) -> None:
    """Serve the API, checkout and dashboard (with workers and the scheduler unless --no-worker)."""
    config = _config(ctx, overrides={"server.host": host, "server.port": port})
    _require_master_key(config)
    if processes == 1:
        _serve(config, config.server.host, config.server.port, workers=not no_worker)
    else:
        sys.exit(serving.serve_processes(config, config.server.host, config.server.port, processes,
                                         workers=not no_worker))


@main.command()
@click.option("--metrics-port", type=click.IntRange(1, 65535), default=None,
              help="Serve this worker's /metrics (payments, refunds, deliveries it finished) on this port "
                   "of server.host.")
@click.pass_context
def worker(ctx: click.Context, metrics_port: int | None) -> None:
    """Process queued payments and run the scheduler, without HTTP, until SIGINT or SIGTERM."""
    config = _config(ctx)
    _require_master_key(config)
    _run(_work(config, metrics_port), serving.run)


def _require_master_key(config: Config) -> None:
    """Webhook secrets are sealed under the master key; outside paygate dev there is no default."""
    if not config.security.master_key:
        raise BadConfig("security.master_key: required; generate one with "
                        "python -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())'")
    try:
        crypto.SecretBox(config.security.master_key)
    except crypto.MasterKeyError as exc:
        raise BadConfig(str(exc)) from None


async def _work(config: Config, metrics_port: int | None = None) -> None:
    app = create_app(config, workers=True, http=False)
    if metrics_port:
        from .handlers import metrics as metrics_routes

        app.add_routes(metrics_routes.routes)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await runner.setup()  # opens Postgres and Redis and starts the workers
    try:
        if metrics_port:
            try:
                await web.TCPSite(runner, config.server.host, metrics_port).start()
            except OSError as exc:
                raise BadConfig(f"--metrics-port {metrics_port}: {exc.strerror or exc}") from None
        logging.getLogger("paygate.worker").info(
            "paygate worker running (concurrency %s); Ctrl-C stops it", config.worker.concurrency)
        await stop.wait()
    finally:
        await runner.cleanup()  # running jobs finish before the process exits


DEV_DEFAULTS = {
    "processor.delay_min": 1.0,
    "processor.delay_max": 3.0,
    "webhooks.retry_schedule": [5.0, 10.0, 15.0, 20.0],
    "webhooks.allow_private_targets": True,
}


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=Path(".paygate"),
              show_default=True, help="Where the embedded Postgres and Redis keep their data.")
@click.option("--reset", is_flag=True, help="Wipe the data directory first.")
@NO_WORKER
@click.pass_context
def dev(ctx: click.Context, host: str, port: int, data_dir: Path, reset: bool, no_worker: bool) -> None:
    """Everything on one machine: embedded Postgres and Redis, migrate, seed, serve."""
    from .embedded import Embedded

    # SIGTERM must unwind like Ctrl-C so the embedded servers are stopped, even during start-up.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    embedded = Embedded(data_dir)
    if reset:
        embedded.reset()
    try:
        try:
            database_url, redis_url = embedded.start()
        except StartupError as exc:
            raise click.ClickException(str(exc)) from None
        overrides = {"database.url": database_url, "redis.url": redis_url}
        config = _config(ctx, overrides=overrides, role_defaults={
            **DEV_DEFAULTS, "security.master_key": _dev_master_key(embedded.data_dir),
        })

        async def prepare():
            async with _pool(config) as pool:
                await migrations.migrate(pool)
                return await seed_test_merchant(pool, crypto.SecretBox(config.security.master_key))

        merchant = _run(prepare())
        _serve(config, host, port, workers=not no_worker, banner=lambda: _print_banner(host, port, merchant))
    except KeyboardInterrupt:
        pass
    finally:
        embedded.stop()
        console.print("paygate dev stopped; embedded Postgres and Redis are down.")


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def _dev_master_key(data_dir: Path) -> str:
    """Generated once per data directory and kept there, so sealed secrets open on the next start."""
    path = data_dir / "master.key"
    if not path.exists():
        path.write_text(crypto.new_master_key() + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def _print_banner(host: str, port: int, merchant: dict) -> None:
    base = f"http://{host}:{port}"
    console.rule("[bold green]paygate dev is running")
    console.print(f"  API:        {base}/api/v1")
    console.print(f"  Dashboard:  {base}/dashboard/  (sign in with the key and secret below)")
    console.print(f"  Readiness:  {base}/readyz")
    _print_merchant(merchant)
    console.print("  Try:")
    console.print(
        f"    curl -s {base}/api/v1/orders -H 'X-Api-Key: {merchant['api_key']}' "
        f"-H 'X-Api-Secret: {merchant['api_secret']}' -H 'Content-Type: application/json' "
        """-d '{"amount": 50000, "currency": "INR"}'""",
        soft_wrap=True,
    )
    console.print("  Ctrl-C stops everything.")


@main.group()
def webhooks() -> None:
    """Operate webhook deliveries."""


# Last, because they use the helpers above: importing the modules registers `webhooks list|retry|listen` and
# `trigger` (cli_webhooks), and `status` and `merchants` (cli_ops).
from . import cli_ops, cli_webhooks  # noqa: E402, F401

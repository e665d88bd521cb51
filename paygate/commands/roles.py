"""The roles: ``paygate serve``, ``worker``, ``migrate`` and ``seed``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from .context import (
    BadConfig,
    console,
    load_config,
    pool,
    print_credentials,
    print_json,
    require_master_key,
    run,
    secret_box,
)

if TYPE_CHECKING:
    from ..infra.config import Config
    from ..storage.migrations import MigrationState

NO_WORKER = click.option("--no-worker", is_flag=True, help="Serve HTTP only; run `paygate worker` elsewhere.")


def register(main: click.Group) -> None:
    for command in (migrate, seed, serve, worker):
        main.add_command(command)


@click.command()
@click.option("--status", "show_status", is_flag=True, help="Show each migration's state; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def migrate(ctx: click.Context, show_status: bool, as_json: bool) -> None:
    """Apply pending schema migrations (safe to run from several places at once)."""
    from ..storage import migrations

    config = load_config(ctx)

    async def go():
        async with pool(config) as opened:
            if show_status:
                return await migrations.status(opened)
            return await migrations.migrate(opened)

    result = run(go())
    if show_status:
        _print_status(result, as_json)
        if any(s.state == "changed" for s in result):
            sys.exit(1)
    elif as_json:
        print_json({"applied": result})
    else:
        console().print(f"applied {len(result)} migration(s)" + (": " + ", ".join(result) if result else ""))


def _print_status(states: list[MigrationState], as_json: bool) -> None:
    if as_json:
        print_json({"migrations": [s.as_dict() for s in states]})
        return
    from rich.table import Table

    table = Table(title="schema migrations")
    for column in ("name", "state", "applied at", "checksum"):
        table.add_column(column)
    colours = {"applied": "green", "pending": "yellow", "changed": "red", "unknown": "red"}
    for s in states:
        at = s.applied_at.strftime("%Y-%m-%d %H:%M:%S") if s.applied_at else "-"
        table.add_row(s.name, f"[{colours[s.state]}]{s.state}[/]", at, s.checksum[:12])
    console().print(table)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def seed(ctx: click.Context, as_json: bool) -> None:
    """Create the test merchant (key_test_abc123 / secret_test_xyz789) unless it exists."""
    from ..storage.seed import seed_test_merchant

    config = load_config(ctx)

    async def go():
        async with pool(config) as opened:
            return await seed_test_merchant(opened, secret_box(config))

    merchant = run(go())
    if as_json:
        print_json(merchant)
    else:
        print_merchant(merchant)


def print_merchant(merchant: dict) -> None:
    state = "created" if merchant["created"] else "already present"
    console().print(f"[bold]Test merchant[/] ({state}): {merchant['merchant_id']}")
    print_credentials(merchant)


def check_port_free(host: str, port: int) -> None:
    """Fail in one line, before anything starts, when the port is taken (exit code 2)."""
    import socket

    from ..http.serving import bind_error

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise BadConfig(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp binds
            try:
                probe.bind(address)
            except OSError as exc:
                raise BadConfig(bind_error(host, port, exc)) from None


def serve_app(config: Config, host: str, port: int, *, workers: bool,
              banner: Callable[[], None] | None = None) -> None:
    """Serve until SIGINT/SIGTERM; ``banner`` is printed once the port is bound."""
    from ..http import serving
    from ..http.app import create_app
    from ..infra.errors import StartupError
    from ..storage import migrations

    app = create_app(config, workers=workers)
    try:
        serving.run_app(app, host, port, on_listening=banner)
    except (StartupError, migrations.MigrationError) as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:  # the port was taken between the check and the bind
        if exc.errno not in serving.BIND_ERRORS:
            raise
        raise BadConfig(serving.bind_error(host, port, exc)) from None


@click.command()
@click.option("--host", default=None, help="Listen address [server.host].")
@click.option("--port", type=int, default=None, help="Listen port [server.port].")
@click.option("--processes", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Serving processes sharing the port (SO_REUSEPORT), one event loop each; each opens its own "
                   "Postgres pool (up to database.max_size) and, unless --no-worker, runs its own workers.")
@NO_WORKER
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, processes: int, no_worker: bool) -> None:
    """Serve the API, checkout and dashboard (with workers and the scheduler unless --no-worker)."""
    config = load_config(ctx, overrides={"server.host": host, "server.port": port})
    require_master_key(config)
    host, port = config.server.host, config.server.port
    if processes == 1:
        check_port_free(host, port)
        serve_app(config, host, port, workers=not no_worker)
    else:
        from ..http import serving

        sys.exit(serving.serve_processes(config, host, port, processes, workers=not no_worker))


@click.command()
@click.option("--metrics-port", type=click.IntRange(1, 65535), default=None,
              help="Serve this worker's /metrics (payments, refunds, deliveries it finished) on this port "
                   "of server.host.")
@click.pass_context
def worker(ctx: click.Context, metrics_port: int | None) -> None:
    """Process queued payments and run the scheduler, without HTTP, until SIGINT or SIGTERM."""
    from ..http import serving

    config = load_config(ctx)
    require_master_key(config)
    run(_work(config, metrics_port), serving.run)


async def _work(config: Config, metrics_port: int | None = None) -> None:
    import asyncio
    import logging
    import signal

    from aiohttp import web

    from ..http.app import create_app
    from ..http.serving import bind_error

    app = create_app(config, workers=True, http=False)
    if metrics_port:
        from ..http.handlers import metrics as metrics_routes

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
                raise BadConfig(bind_error(config.server.host, metrics_port, exc, option="--metrics-port")) from None
        logging.getLogger("paygate.worker").info(
            "paygate worker running (concurrency %s); Ctrl-C stops it", config.worker.concurrency)
        await stop.wait()
    finally:
        await runner.cleanup()  # running jobs finish before the process exits

"""``paygate dev``: embedded Postgres and Redis, migrate, seed the test merchant, serve; Ctrl-C stops all."""

from __future__ import annotations

import signal
from pathlib import Path

import click

from . import devstate
from .context import console, load_config, run, secret_box
from .roles import NO_WORKER, check_port_free, print_merchant, serve_app

DEV_DEFAULTS = {
    "processor.delay_min": 1.0,
    "processor.delay_max": 3.0,
    "webhooks.retry_schedule": [5.0, 10.0, 15.0, 20.0],
    "webhooks.allow_private_targets": True,
    "api.test_endpoints": True,
}


def register(main: click.Group) -> None:
    main.add_command(dev)


@click.command()
@click.option("--host", default=None, help="Listen address [server.host, 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Listen port [server.port, 8000].")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the embedded Postgres and Redis keep their data [paygate --data-dir, .paygate].")
@click.option("--reset", is_flag=True, help="Wipe the data directory first.")
@NO_WORKER
@click.pass_context
def dev(ctx: click.Context, host: str | None, port: int | None, data_dir: Path | None, reset: bool,
        no_worker: bool) -> None:
    """Everything on one machine: embedded Postgres and Redis, migrate, seed, serve."""
    from ..infra.embedded import Embedded
    from ..infra.errors import StartupError

    # Host and port first, and whether the port is free, before anything starts.
    listen = load_config(ctx, overrides={"server.host": host, "server.port": port}, required=False).server
    check_port_free(listen.host, listen.port)
    # SIGTERM must unwind like Ctrl-C so the embedded servers are stopped, even during start-up.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    embedded = Embedded(data_dir or ctx.obj["data_dir"])
    if reset:
        embedded.reset()
    try:
        try:
            database_url, redis_url = embedded.start()
        except StartupError as exc:
            raise click.ClickException(str(exc)) from None
        key_file = _dev_master_key(embedded.data_dir)
        config = load_config(ctx, discover=False, overrides={
            "database.url": database_url, "redis.url": redis_url,
            "server.host": listen.host, "server.port": listen.port,
        }, role_defaults={**DEV_DEFAULTS, "security.master_key": key_file.read_text().strip()})
        merchant = run(_prepare(config))

        def ready() -> None:
            devstate.write(embedded.data_dir, database_url=database_url, redis_url=redis_url,
                           master_key_file=key_file)
            _print_banner(listen.host, listen.port, merchant, embedded.data_dir)

        serve_app(config, listen.host, listen.port, workers=not no_worker, banner=ready)
    except KeyboardInterrupt:
        pass
    finally:
        devstate.remove(embedded.data_dir)
        embedded.stop()
        console().print("paygate dev stopped; embedded Postgres and Redis are down.")


async def _prepare(config) -> dict:
    from ..storage import migrations
    from ..storage.seed import seed_test_merchant
    from .context import pool

    async with pool(config) as opened:
        await migrations.migrate(opened)
        return await seed_test_merchant(opened, secret_box(config))


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def _dev_master_key(data_dir: Path) -> Path:
    """Generated once per data directory and kept there, so sealed secrets open on the next start."""
    from ..infra import crypto

    path = data_dir / "master.key"
    if not path.exists():
        path.write_text(crypto.new_master_key() + "\n")
        path.chmod(0o600)
    return path


def _print_banner(host: str, port: int, merchant: dict, data_dir: Path) -> None:
    out = console()
    base = f"http://{host}:{port}"
    out.rule("[bold green]paygate dev is running")
    out.print(f"  API:        {base}/api/v1")
    out.print(f"  Dashboard:  {base}/dashboard/  (sign in with the key and secret below)")
    out.print(f"  Readiness:  {base}/readyz")
    print_merchant(merchant)
    out.print("  Try:")
    out.print(
        f"    curl -s {base}/api/v1/orders -H 'X-Api-Key: {merchant['api_key']}' "
        f"-H 'X-Api-Secret: {merchant['api_secret']}' -H 'Content-Type: application/json' "
        """-d '{"amount": 50000, "currency": "INR"}'""",
        soft_wrap=True,
    )
    out.print(f"  Operator commands in this directory use these services ({data_dir / devstate.STATE_FILE}):")
    out.print("    .venv/bin/paygate status   ·   .venv/bin/paygate trigger payment.success", soft_wrap=True)
    out.print("  Ctrl-C stops everything.")

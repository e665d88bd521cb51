"""What every command shares: the console, loading the config, running a coroutine, the pool and services.

Only click is imported at the top: `paygate --help` and each command's `--help` must answer at once, so
the app, the drivers and rich are imported by the commands that use them, when they run.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import cache
from typing import TYPE_CHECKING, Any

import click

from . import devstate

if TYPE_CHECKING:
    from rich.console import Console

    from ..core.services import Services
    from ..infra.config import Config

WIDE = 200  # columns of a table written to a pipe or a file, so that its lines can be grepped whole


@cache
def console() -> Console:
    from rich.console import Console

    return Console()


def table_console() -> Console:
    """The terminal's console; a wide one when output goes to a pipe or a file."""
    if console().is_terminal:
        return console()
    from rich.console import Console

    return Console(width=WIDE)


class BadConfig(click.ClickException):
    """Invalid configuration or a bad place to listen: one line naming it, exit code 2."""

    exit_code = 2


def load_config(ctx: click.Context, overrides: dict[str, Any] | None = None,
                role_defaults: dict[str, Any] | None = None, *, discover: bool = True,
                required: bool = True) -> Config:
    """The config from defaults, file, environment and options; with no database.url configured, the
    services of a `paygate dev` running on the data directory (see ``devstate``). ``required=False``
    leaves the URLs unchecked, for commands that find out where to listen before they start services."""
    from ..infra import config as config_mod
    from ..infra.logs import setup

    path = ctx.obj["config_path"]
    role_defaults = dict(role_defaults or {})
    try:
        if discover and required and config_mod.load(path, overrides=overrides, role_defaults=role_defaults,
                                        check_required=False).database.url is None:
            found = devstate.find(ctx.obj["data_dir"])
            if found is not None:
                role_defaults.update(found.settings())
                click.echo(f"using the Postgres and Redis of paygate dev (pid {found.pid}) from {found.path}",
                           err=True)
        config = config_mod.load(path, overrides=overrides, role_defaults=role_defaults, check_required=required)
    except config_mod.ConfigError as exc:
        message = str(exc)
        if message.startswith(("database.url: required", "redis.url: required")):
            message += devstate.hint(ctx.obj["data_dir"])
        raise BadConfig(message) from None
    setup(config)
    return config


def run(coro: Awaitable, runner: Callable[[Awaitable], Any] = asyncio.run) -> Any:
    """Run a coroutine; operator-facing failures become one line and exit code 1."""
    from ..infra import crypto
    from ..infra.errors import StartupError
    from ..storage import migrations

    try:
        return runner(coro)
    except (StartupError, migrations.MigrationError, crypto.MasterKeyError) as exc:
        raise click.ClickException(str(exc)) from None


def run_operation(coro: Awaitable) -> Any:
    """``run``, and a refusal from the operations layer becomes one line and exit code 1 too."""
    from ..infra.errors import PaygateError

    try:
        return run(coro)
    except PaygateError as exc:
        raise click.ClickException(exc.description) from None


@asynccontextmanager
async def pool(config: Config):
    from ..storage.db import create_pool

    opened = await create_pool(config)
    try:
        yield opened
    finally:
        opened.close()
        await opened.wait_closed()


@asynccontextmanager
async def operator_services(config: Config) -> AsyncIterator[Services]:
    """What the app's operations need, without HTTP or workers: for commands that act and exit."""
    from ..core.services import open_services
    from ..infra.broker import create_redis

    # Fail fast, in one line, when Redis is down, before anything waits on it.
    await (await create_redis(config)).aclose()
    async with pool(config) as opened, open_services(config, opened) as services:
        yield services


def require_master_key(config: Config) -> None:
    """Webhook secrets are sealed under the master key; outside paygate dev there is no default."""
    from ..infra import crypto

    if not config.security.master_key:
        raise BadConfig("security.master_key: required; generate one with "
                        "python -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())'")
    try:
        crypto.SecretBox(config.security.master_key)
    except crypto.MasterKeyError as exc:
        raise BadConfig(str(exc)) from None


def secret_box(config: Config):
    from ..infra import crypto

    return crypto.SecretBox(config.security.master_key)


def print_credentials(merchant: dict) -> None:
    """A merchant's key and the secrets shown this once (on creation and by the seed)."""
    out = console()
    out.print(f"  X-Api-Key:      [cyan]{merchant['api_key']}[/]")
    out.print(f"  X-Api-Secret:   [cyan]{merchant['api_secret']}[/]")
    out.print(f"  webhook secret: [cyan]{merchant['webhook_secret']}[/]")


def print_json(value: Any) -> None:
    import json

    click.echo(json.dumps(value))


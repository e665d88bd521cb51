"""The ``paygate`` command: the click group. The commands live in ``paygate.commands`` and add themselves."""

from __future__ import annotations

from pathlib import Path

import click

from . import __version__
from .commands import register


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="paygate")
@click.option("--config", "config_path", envvar="PAYGATE_CONFIG", type=click.Path(dir_okay=False),
              help="YAML config file (also PAYGATE_CONFIG).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=Path(".paygate"),
              show_default=True, envvar="PAYGATE_DATA_DIR",
              help="Where paygate dev keeps its embedded Postgres and Redis (also PAYGATE_DATA_DIR); operator "
                   "commands find them there when no database.url is configured.")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, data_dir: Path) -> None:
    """paygate: a self-hosted payment gateway."""
    ctx.obj = {"config_path": config_path, "data_dir": data_dir}


register(main)

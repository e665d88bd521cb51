"""The ``paygate`` commands, one module per area; each receives the click group and adds its commands.

Nothing here imports ``paygate.cli`` back (datasette's ``register_commands``), and each module imports only
click at the top, so that ``paygate --help`` answers at once.
"""

from __future__ import annotations

import click

from . import dev, ops, payments, roles, webhooks


def register(main: click.Group) -> None:
    for module in (roles, dev, ops, payments, webhooks):
        module.register(main)

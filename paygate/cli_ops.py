"""Operator commands: ``paygate status [--json] [--watch]`` and ``paygate merchants create|list|rotate-secret``.

Imported at the end of ``cli.py``; the decorators below register the commands on its group.
"""

from __future__ import annotations

import asyncio
import json

import click
from rich.console import Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from . import crypto, views
from .cli import _config, _pool, _require_master_key, console, main
from .cli_webhooks import _run_operation, operator_services
from .operations import merchants as merchant_ops
from .operations import status as status_ops
from .webhooks import ssrf

WATCH_INTERVAL = 2.0  # seconds between refreshes of status --watch

# -- status ---------------------------------------------------------------------------------------------------


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object (one per refresh with --watch).")
@click.option("--watch", is_flag=True, help=f"Refresh every {WATCH_INTERVAL:g} s until Ctrl-C.")
@click.pass_context
def status(ctx: click.Context, as_json: bool, watch: bool) -> None:
    """Queues, connected workers, due and failed webhook deliveries, and failures in the last hour."""
    config = _config(ctx)

    async def go():
        async with operator_services(config) as services:
            if not watch:
                return await status_ops.report(services)
            if as_json:
                while True:
                    click.echo(json.dumps(await status_ops.report(services)))
                    await asyncio.sleep(WATCH_INTERVAL)
            with Live(console=console, auto_refresh=False) as live:
                while True:
                    live.update(render_status(await status_ops.report(services)), refresh=True)
                    await asyncio.sleep(WATCH_INTERVAL)

    try:
        report = _run_operation(go())
    except KeyboardInterrupt:
        return
    if as_json:
        click.echo(json.dumps(report))
    else:
        console.print(render_status(report))


def _count(n: int, bad: str = "red") -> str:
    return f"[{bad}]{n}[/]" if n else "0"


def render_status(report: dict) -> Group:
    queues = Table(title="queues", title_justify="left")
    states = status_ops.QUEUE_STATES
    for column in ("queue", *states):
        queues.add_column(column, justify="left" if column == "queue" else "right")
    for name, counts in report["queues"].items():
        queues.add_row(name, *(_count(counts[s], "red" if s == "failed" else "yellow") if s in counts else "-"
                               for s in states))  # webhook deliveries: no prioritized, failed ones below

    workers = Table(title=f"workers connected ({len(report['workers'])})", title_justify="left")
    for column in ("name", "host", "pid", "queues"):
        workers.add_column(column)
    for w in report["workers"]:
        workers.add_row(escape(w["name"]), escape(w["host"]), str(w["pid"] or "-"), ", ".join(w["queues"]))
    if not report["workers"]:
        workers.add_row("[red]none: nothing is processing payments, refunds or webhooks[/]", "", "", "")

    d, f, s = report["deliveries"], report["failures_last_hour"], report["scheduler"]
    health = Table(title="deliveries, failures, scheduler", title_justify="left", show_header=False)
    health.add_column("what")
    health.add_column("value", justify="right")
    health.add_row("webhook deliveries due now", _count(d["due"], "yellow"))
    health.add_row("oldest due delivery waiting", f"{d['oldest_due_age_s']:.1f} s")
    health.add_row("webhook deliveries failed (all time)", _count(d["failed"]))
    for kind in ("payments", "refunds", "deliveries"):
        health.add_row(f"{kind} failed in the last hour", _count(f[kind]))
    age = s["last_pass_age_s"]
    health.add_row("last scheduler pass", "[red]never[/]" if age is None else f"{age:.1f} s ago")
    return Group(f"[bold]paygate status[/] at {report['at']}", queues, workers, health)


# -- merchants ------------------------------------------------------------------------------------------------


@main.group()
def merchants() -> None:
    """Create merchants, list them, and rotate their API secrets."""


def _merchant_row(row: dict) -> dict:
    """What an operator may see of a merchant: never a secret, hashed or sealed."""
    return {"merchant_id": row["id"], "name": row["name"], "email": row["email"], "api_key": row["api_key"],
            "webhook_url": row["webhook_url"], "webhook_enabled": row["webhook_enabled"],
            "is_active": row["is_active"], "created_at": views.iso(row["created_at"])}


@merchants.command("create")
@click.option("--name", required=True, help="The merchant's display name.")
@click.option("--email", required=True, help="Contact email; one merchant per address.")
@click.option("--webhook-url", default=None, help="Where to deliver webhooks (optional; settable later).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def create_merchant(ctx: click.Context, name: str, email: str, webhook_url: str | None, as_json: bool) -> None:
    """A new merchant with fresh credentials; its API secret and webhook secret are shown this once."""
    config = _config(ctx)
    _require_master_key(config)

    async def go():
        if webhook_url is not None:
            try:
                await ssrf.check_url(webhook_url, config.webhooks.allow_private_targets)
            except ssrf.TargetRefused as exc:
                raise click.ClickException(f"--webhook-url: {exc}") from None
        async with _pool(config) as pool:
            return await merchant_ops.create_merchant(pool, crypto.SecretBox(config.security.master_key),
                                                      name, email, webhook_url)

    created = _run_operation(go())
    if as_json:
        click.echo(json.dumps(created))
        return
    console.print(f"[bold]Merchant created[/]: {created['merchant_id']} ({escape(name)} <{escape(email)}>)")
    console.print(f"  X-Api-Key:      [cyan]{created['api_key']}[/]")
    console.print(f"  X-Api-Secret:   [cyan]{created['api_secret']}[/]")
    console.print(f"  webhook secret: [cyan]{created['webhook_secret']}[/]")
    console.print("  [yellow]The secrets are shown only now; paygate keeps the API secret hashed.[/]")


@merchants.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def list_merchants(ctx: click.Context, as_json: bool) -> None:
    """Every merchant, oldest first (no secrets)."""
    config = _config(ctx)

    async def go():
        async with _pool(config) as pool:
            return await merchant_ops.list_merchants(pool)

    rows = [_merchant_row(r) for r in _run_operation(go())]
    if as_json:
        click.echo(json.dumps({"data": rows}))
        return
    table = Table(title=f"merchants ({len(rows)})")
    for column in ("id", "name", "email", "api key", "webhook url", "active", "created (UTC)"):
        table.add_column(column, no_wrap=column in ("id", "api key"))
    for r in rows:
        url = escape(r["webhook_url"] or "-") + ("" if r["webhook_enabled"] else " [red](disabled)[/]")
        table.add_row(r["merchant_id"], escape(r["name"]), escape(r["email"]), r["api_key"], url,
                      "yes" if r["is_active"] else "[red]no[/]", r["created_at"][:19].replace("T", " "))
    console.print(table)


@merchants.command("rotate-secret")
@click.argument("merchant_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def rotate_secret(ctx: click.Context, merchant_id: str, as_json: bool) -> None:
    """A new API secret for MERCHANT_ID, shown this once; the old one is refused from now on."""
    config = _config(ctx)
    _require_master_key(config)

    async def go():
        async with _pool(config) as pool:
            return await merchant_ops.rotate_api_secret(pool, crypto.SecretBox(config.security.master_key),
                                                        merchant_id)

    rotated = _run_operation(go())
    if as_json:
        click.echo(json.dumps(rotated))
        return
    console.print(f"[bold]New API secret[/] for {rotated['merchant_id']} (key {rotated['api_key']}):")
    console.print(f"  X-Api-Secret: [cyan]{rotated['api_secret']}[/]")
    console.print("  [yellow]Shown only now. The previous secret no longer works.[/]")


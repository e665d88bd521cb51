"""Operator commands for webhooks: ``paygate webhooks list|retry|listen`` and ``paygate trigger``.

Imported at the end of ``cli.py``; the decorators below register the commands on its groups.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import listen, trigger, views
from .broker import create_redis
from .cli import _config, _pool, _run, console, main, webhooks
from .config import Config
from .db import cursor
from .errors import PaygateError
from .operations import webhooks as operations
from .seed import TEST_MERCHANT
from .services import Services, open_services
from .storage import webhooks as storage

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
WIDE = 200


@asynccontextmanager
async def operator_services(config: Config) -> AsyncIterator[Services]:
    """What the app's operations need, without HTTP or workers: for commands that act and exit."""
    # Fail fast, in one line, when Redis is down: bullmq would otherwise wait for it indefinitely.
    await (await create_redis(config)).aclose()
    async with _pool(config) as pool, open_services(config, pool) as services:
        yield services


def _run_operation(coro: Awaitable) -> Any:
    """``_run``, and a refusal from the operations layer becomes one line and exit code 1 too."""
    try:
        return _run(coro)
    except PaygateError as exc:
        raise click.ClickException(exc.description) from None


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


# -- webhooks list ------------------------------------------------------------------------------------------

@webhooks.command("list")
@click.option("--status", type=click.Choice(["pending", "success", "failed"]), help="Only deliveries in this state.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def list_deliveries(ctx: click.Context, status: str | None, limit: int, as_json: bool) -> None:
    """Recent webhook deliveries across all merchants, newest first."""
    config = _config(ctx)

    async def go():
        async with _pool(config) as pool, cursor(pool) as cur:
            return await storage.list_all(cur, status=status, limit=limit)

    rows = _run(go())
    if as_json:
        click.echo(json.dumps({"data": [{**views.delivery(r), "merchant_id": r["merchant_id"]} for r in rows]}))
        return
    table = Table(title=f"webhook deliveries ({len(rows)}, newest first, times UTC)")
    for column in ("id", "merchant", "event", "status", "tries", "code", "next retry", "created"):
        table.add_column(column, no_wrap=column in ("id", "merchant", "status"))
    colours = {"pending": "yellow", "success": "green", "failed": "red"}
    for r in rows:
        table.add_row(r["id"], r["merchant_id"], r["event"], f"[{colours.get(r['status'], 'white')}]{r['status']}[/]",
                      str(r["attempts"]), str(r["response_code"] or "-"), _when(r["next_retry_at"]),
                      _when(r["created_at"]))
    # A terminal gets a table that fits it; a pipe or file gets whole lines to grep.
    (console if console.is_terminal else Console(width=WIDE)).print(table)


# -- webhooks retry -----------------------------------------------------------------------------------------

def _age(ctx: click.Context, param: click.Parameter, value: str | None):
    if value is None:
        return None
    try:
        return operations.parse_age(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


@webhooks.command()
@click.argument("ids", nargs=-1)
@click.option("--failed", is_flag=True, help="Re-queue every failed delivery, of every merchant.")
@click.option("--since", callback=_age, metavar="AGE",
              help="With --failed: only deliveries created within AGE (30m, 2h, 7d).")
@click.pass_context
def retry(ctx: click.Context, ids: tuple[str, ...], failed: bool, since) -> None:
    """Reset deliveries to pending and queue them now; running workers send them (history is kept)."""
    if bool(ids) == failed:
        raise click.UsageError("give delivery ids, or --failed (not both)")
    if since is not None and not failed:
        raise click.UsageError("--since goes with --failed")
    config = _config(ctx)

    async def go():
        async with operator_services(config) as services:
            if failed:
                start = datetime.now(UTC) - since if since is not None else EPOCH
                return await operations.recover(services, None, start, None)
            return await operations.retry(services, None, list(ids))

    result = _run_operation(go())
    if failed:
        console.print(f"re-queued {_deliveries(result, 'failed ')}")
        return
    found = {d["id"] for d in result}
    unknown = [i for i in dict.fromkeys(ids) if i not in found]
    if not found:
        raise click.ClickException("no webhook delivery " + ", ".join(unknown))
    console.print(f"re-queued {_deliveries(len(found))}: " + ", ".join(d["id"] for d in result))
    if unknown:
        console.print("[yellow]no webhook delivery[/] " + ", ".join(unknown), highlight=False)


def _deliveries(n: int, kind: str = "") -> str:
    return f"{n} {kind}delivery" if n == 1 else f"{n} {kind}deliveries"


# -- webhooks listen ----------------------------------------------------------------------------------------

def _secret(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    try:
        return listen.check_secret(value) if value is not None else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def _url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not value.startswith(("http://", "https://")):
        raise click.BadParameter("must be an http:// or https:// URL", ctx=ctx, param=param)
    return value


VERDICT_STYLE = {"valid": "green", "invalid": "bold red", "absent": "yellow", "unchecked": "dim"}


def _print_arrival(a: listen.Arrival) -> None:
    code = {200: "green", 400: "red", 500: "yellow"}.get(a.status, "white")
    line = (f"{a.at:%H:%M:%S} [bold]{escape(a.event)}[/] {escape(a.object_id or '-')} "
            f"X-Webhook-Signature [{VERDICT_STYLE[a.seed_signature]}]{a.seed_signature}[/] "
            f"webhook-signature [{VERDICT_STYLE[a.standard_signature]}]{a.standard_signature}[/] "
            f"→ [{code}]{a.status}[/]")
    if a.forwarded is not None:
        line += f" forwarded: {escape(a.forwarded)}"
    console.print(line, highlight=False, soft_wrap=True)


@webhooks.command("listen")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=4000, show_default=True)
@click.option("--secret", callback=_secret, metavar="whsec_…", help="Verify both signatures with this secret.")
@click.option("--fail-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Answer 500 to this share of requests, to watch retries.")
@click.option("--forward-to", callback=_url, metavar="URL",
              help="POST each accepted event, same body and headers, to URL.")
def listen_command(host: str, port: int, secret: str | None, fail_rate: float, forward_to: str | None) -> None:
    """A local webhook endpoint: verify, print and answer each event, until Ctrl-C."""
    app = listen.create_listener_app(secret, fail_rate, forward_to, _print_arrival)

    def ready() -> None:
        checks = "verifying signatures" if secret else "signatures not checked without --secret"
        console.print(f"listening on http://{host}:{port}/ ({checks}); Ctrl-C stops", highlight=False, soft_wrap=True)

    _run(listen.run(app, host, port, ready))


# -- trigger ------------------------------------------------------------------------------------------------

@main.command("trigger")
@click.argument("event", type=click.Choice(trigger.EVENTS), metavar="EVENT")
@click.option("--merchant", "api_key", default=TEST_MERCHANT["api_key"], show_default=True, metavar="KEY",
              help="The merchant's API key.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def trigger_command(ctx: click.Context, event: str, api_key: str, as_json: bool) -> None:
    """Fire EVENT (payment.success, payment.failed or refund.processed) with real test objects.

    Creates an order and a UPI payment (and a full refund), processes them here, and prints the ids;
    the webhook, if the merchant has a URL, is sent by the running workers (paygate serve or worker).
    """
    config = _config(ctx)

    async def go():
        async with operator_services(config) as services:
            return await trigger.trigger(services, event, api_key)

    result = _run_operation(go())
    if as_json:
        click.echo(json.dumps(result))
        return
    console.print(f"[bold]{event}[/] fired (event {result['event_id']})", highlight=False)
    for name in ("order", "payment", "refund"):
        if name in result:
            console.print(f"  {name + ':':9} {result[name]['id']} ({result[name]['status']})", highlight=False)
    if result["delivery_id"]:
        console.print(f"  webhook:  {result['delivery_id']} queued; running workers deliver it", highlight=False)
    else:
        console.print("  webhook:  none (the merchant has no webhook_url)", highlight=False)

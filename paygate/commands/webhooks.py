"""Operator commands for webhooks: ``paygate webhooks list|retry|listen|endpoints`` and ``paygate trigger``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from .context import console, load_config, operator_services, pool, print_json, run, run_operation, table_console
from .endpoints import endpoints, json_option, merchant_by_key, merchant_option, split_events

if TYPE_CHECKING:
    from collections.abc import Awaitable
    from datetime import datetime

    from .listen import Arrival

# The events `paygate trigger` fires (commands.trigger.PAYER has the UPI id behind each; a test keeps them equal).
TRIGGER_EVENTS = ("payment.success", "payment.failed", "refund.processed")


def register(main: click.Group) -> None:
    main.add_command(webhooks)
    main.add_command(trigger_command)


@click.group()
def webhooks() -> None:
    """Operate webhook deliveries and endpoints."""


webhooks.add_command(endpoints)


def _when(value: datetime | None) -> str:
    from datetime import UTC

    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


# -- webhooks list ------------------------------------------------------------------------------------------

@webhooks.command("list")
@click.option("--status", type=click.Choice(["pending", "success", "failed"]), help="Only deliveries in this state.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def list_deliveries(ctx: click.Context, status: str | None, limit: int, as_json: bool) -> None:
    """Recent webhook deliveries across all merchants, newest first."""
    from ..core import webhook_models
    from ..storage import webhooks as storage
    from ..storage.db import cursor

    config = load_config(ctx)

    async def go():
        async with pool(config) as opened, cursor(opened) as cur:
            return await storage.list_all(cur, status=status, limit=limit)

    rows = run(go())
    if as_json:
        print_json({"data": [{**webhook_models.WebhookDelivery.view(r), "merchant_id": r["merchant_id"]}
                             for r in rows]})
        return
    from rich.table import Table

    table = Table(title=f"webhook deliveries ({len(rows)}, newest first, times UTC)")
    for column in ("id", "merchant", "event", "status", "tries", "code", "next retry", "created"):
        table.add_column(column, no_wrap=column in ("id", "merchant", "status"))
    colours = {"pending": "yellow", "success": "green", "failed": "red"}
    for r in rows:
        table.add_row(r["id"], r["merchant_id"], r["event"], f"[{colours.get(r['status'], 'white')}]{r['status']}[/]",
                      str(r["attempts"]), str(r["response_code"] or "-"), _when(r["next_retry_at"]),
                      _when(r["created_at"]))
    # A terminal gets a table that fits it; a pipe or file gets whole lines to grep.
    table_console().print(table)


# -- webhooks retry -----------------------------------------------------------------------------------------

def _age(ctx: click.Context, param: click.Parameter, value: str | None):
    if value is None:
        return None
    from ..core.operations.webhooks import parse_age

    try:
        return parse_age(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


@webhooks.command()
@click.argument("ids", nargs=-1)
@click.option("--failed", is_flag=True, help="Re-queue every failed delivery, of every merchant.")
@click.option("--since", callback=_age, metavar="AGE",
              help="With --failed: only deliveries created within AGE (30m, 2h, 7d).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def retry(ctx: click.Context, ids: tuple[str, ...], failed: bool, since, as_json: bool) -> None:
    """Reset deliveries to pending and queue them now; running workers send them (history is kept)."""
    from datetime import UTC, datetime

    from ..core.operations import webhooks as operations

    if bool(ids) == failed:
        raise click.UsageError("give delivery ids, or --failed (not both)")
    if since is not None and not failed:
        raise click.UsageError("--since goes with --failed")
    config = load_config(ctx)

    async def go():
        async with operator_services(config) as services:
            if failed:
                start = datetime.now(UTC) - since if since is not None else datetime(1970, 1, 1, tzinfo=UTC)
                return await operations.recover(services, None, start, None)
            return await operations.retry(services, None, list(ids))

    result = run_operation(go())
    if failed:
        if as_json:
            print_json({"requeued": result})
        else:
            console().print(f"re-queued {_deliveries(result, 'failed ')}")
        return
    requeued = [d["id"] for d in result]
    unknown = [i for i in dict.fromkeys(ids) if i not in set(requeued)]
    if as_json:
        print_json({"requeued": requeued, "unknown": unknown})
        if not requeued:
            raise SystemExit(1)
        return
    if not requeued:
        raise click.ClickException("no webhook delivery " + ", ".join(unknown))
    console().print(f"re-queued {_deliveries(len(requeued))}: " + ", ".join(requeued))
    if unknown:
        console().print("[yellow]no webhook delivery[/] " + ", ".join(unknown), highlight=False)


def _deliveries(n: int, kind: str = "") -> str:
    return f"{n} {kind}delivery" if n == 1 else f"{n} {kind}deliveries"


# -- webhooks listen ----------------------------------------------------------------------------------------

def _secret(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from .listen import check_secret

    try:
        return check_secret(value) if value is not None else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def _url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not value.startswith(("http://", "https://")):
        raise click.BadParameter("must be an http:// or https:// URL", ctx=ctx, param=param)
    return value


VERDICT_STYLE = {"valid": "green", "invalid": "bold red", "stale": "bold red", "absent": "yellow", "unchecked": "dim"}
PAYLOAD_LIMIT = 20_000  # characters of a body that is not JSON, printed as text


def print_arrival(a: Arrival, payload: bool = True) -> None:
    """One line per request, then (unless --no-payload) its body, indented JSON when it is JSON."""
    import json

    from rich.markup import escape

    out = console()
    code = {200: "green", 400: "red", 500: "yellow"}.get(a.status, "white")
    line = (f"{a.at:%H:%M:%S} [bold]{escape(a.event)}[/] {escape(a.object_id or '-')} "
            f"X-Webhook-Signature [{VERDICT_STYLE[a.seed_signature]}]{a.seed_signature}[/] "
            f"webhook-signature [{VERDICT_STYLE[a.standard_signature]}]{a.standard_signature}[/] "
            f"→ [{code}]{a.status}[/]")
    if a.forwarded is not None:
        line += f" forwarded: {escape(a.forwarded)}"
    out.print(line, highlight=False, soft_wrap=True)
    if not payload or not a.body:
        return
    text = a.body.decode(errors="replace")
    try:
        out.print_json(json.dumps(json.loads(text), indent=2))
    except ValueError:
        out.print(escape(text[:PAYLOAD_LIMIT]), highlight=False, soft_wrap=True)


@webhooks.command("listen")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=4000, show_default=True)
@click.option("--secret", callback=_secret, metavar="whsec_…", help="Verify both signatures with this secret.")
@click.option("--events", callback=split_events, metavar="TYPES",
              help="Register this listener as a temporary webhook endpoint of --merchant for these event types "
                   "(comma-separated, or *), verified with its own secret, and delete it on exit.")
@merchant_option
@click.option("--fail-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Answer 500 to this share of requests, to watch retries.")
@click.option("--forward-to", callback=_url, metavar="URL",
              help="POST each accepted event, same body and headers, to URL.")
@click.option("--payload/--no-payload", default=True, show_default=True,
              help="Print each event's JSON body under its line.")
@click.option("--tolerance", type=click.FloatRange(min=0), default=300.0, show_default=True, metavar="SECONDS",
              help="Refuse (400) a delivery whose signed time is further than this from now: a replay.")
@click.pass_context
def listen_command(ctx: click.Context, host: str, port: int, secret: str | None, events: list[str] | None,
                   api_key: str, fail_rate: float, forward_to: str | None, payload: bool, tolerance: float) -> None:
    """A local webhook endpoint: verify, print and answer each event, until Ctrl-C.

    With --events it registers itself as a temporary endpoint of the merchant (as stripe listen --events does)
    and verifies with that endpoint's secret; the workers deliver to loopback only with
    webhooks.allow_private_targets (on under paygate dev). Without, point a merchant at it with PATCH
    /api/v1/merchant {"webhook_url": "http://127.0.0.1:4000/"} (or on the dashboard's Webhooks page), and pass that
    merchant's webhook secret as --secret.
    """
    from . import listen

    def serve(secret: str | None, ready) -> Awaitable:
        app = listen.create_listener_app(secret, fail_rate, forward_to, lambda a: print_arrival(a, payload),
                                         tolerance)
        return listen.run(app, host, port, ready)

    def ready() -> None:
        checks = "verifying signatures" if secret else "signatures not checked without --secret"
        console().print(f"listening on http://{host}:{port}/ ({checks}); Ctrl-C stops", highlight=False,
                        soft_wrap=True)

    if events is None:
        run(serve(secret, ready))
        return
    if secret is not None:
        raise click.UsageError("--secret goes without --events: the temporary endpoint's own secret is used")
    config = load_config(ctx)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{port}/"

    async def go():
        from ..core.idempotency import Receipt
        from ..core.operations import webhook_endpoints as ops
        from ..core.schemas import WebhookEndpointCreate

        async with operator_services(config) as services:
            merchant = await merchant_by_key(services, api_key)
            created = await ops.create(services, merchant, WebhookEndpointCreate(
                url=url, enabled_events=events, description="paygate webhooks listen (temporary)"), Receipt(201))

            def registered() -> None:
                console().print(f"listening on {url} as webhook endpoint {created['id']} of {merchant['id']} for "
                                f"{', '.join(created['enabled_events'])}; signing secret {created['secret']} "
                                "(verifying signatures); Ctrl-C stops and deletes the endpoint",
                                highlight=False, soft_wrap=True)

            try:
                await serve(created["secret"], registered)
            finally:
                await ops.delete(services, merchant, created["id"], Receipt(200))

    run_operation(go())


# -- trigger ------------------------------------------------------------------------------------------------

@click.command("trigger")
@click.argument("event", type=click.Choice(TRIGGER_EVENTS), metavar="EVENT")
@merchant_option
@json_option
@click.pass_context
def trigger_command(ctx: click.Context, event: str, api_key: str, as_json: bool) -> None:
    """Fire EVENT (payment.success, payment.failed or refund.processed) with real test objects.

    Creates an order and a UPI payment (and a full refund), processes them here, and prints the ids;
    the webhook, if the merchant has a URL, is sent by the running workers (paygate serve or worker).
    """
    from . import trigger

    config = load_config(ctx)

    async def go():
        async with operator_services(config) as services:
            return await trigger.trigger(services, event, api_key)

    result = run_operation(go())
    if as_json:
        print_json(result)
        return
    out = console()
    out.print(f"[bold]{event}[/] fired (event {result['event_id']})", highlight=False)
    for name in ("order", "payment", "refund"):
        if name in result:
            out.print(f"  {name + ':':9} {result[name]['id']} ({result[name]['status']})", highlight=False)
    if result["delivery_id"]:
        out.print(f"  webhook:  {result['delivery_id']} queued; running workers deliver it", highlight=False)
    else:
        out.print("  webhook:  none (the merchant has no webhook_url)", highlight=False)

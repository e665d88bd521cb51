"""``paygate webhooks endpoints list|create|disable|enable|delete``: a merchant's webhook endpoints, for operators
and developers (the API's /api/v1/webhook_endpoints, on the database directly)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import click

from .context import console, load_config, operator_services, print_json, run_operation, table_console

if TYPE_CHECKING:
    from ..core.services import Services

TEST_API_KEY = "key_test_abc123"  # the seed's test merchant (paygate.storage.seed.TEST_MERCHANT)

merchant_option = click.option("--merchant", "api_key", default=TEST_API_KEY, show_default=True, metavar="KEY",
                               help="The merchant's API key.")
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


async def merchant_by_key(services: Services, api_key: str) -> dict:
    from ..infra.errors import NotFound
    from ..storage import merchants
    from ..storage.db import cursor

    async with cursor(services.pool) as cur:
        merchant = await merchants.by_api_key(cur, api_key)
    if merchant is None:
        raise NotFound(f"no merchant with API key {api_key}", field="merchant")
    return merchant


def split_events(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    """``payment.success,refund.processed`` or ``*``; each checked by the operation, which names a bad one."""
    if value is None:
        return None
    events = [e.strip() for e in value.split(",") if e.strip()]
    if not events:
        raise click.BadParameter("give event types separated by commas, or *", ctx=ctx, param=param)
    return events


def _act(ctx: click.Context, api_key: str, act: Callable[[Services, dict], Awaitable]):
    config = load_config(ctx)

    async def go():
        async with operator_services(config) as services:
            return await act(services, await merchant_by_key(services, api_key))

    return run_operation(go())


@click.group("endpoints")
def endpoints() -> None:
    """A merchant's webhook endpoints: each has its own URL, secret and subscribed events.

    The merchant's webhook_url (the seed's, set with PATCH /api/v1/merchant) is not listed: it stays an endpoint of
    its own, subscribed to every event.
    """


@endpoints.command("list")
@merchant_option
@json_option
@click.pass_context
def list_endpoints(ctx: click.Context, api_key: str, as_json: bool) -> None:
    """The merchant's endpoints, newest first (secrets masked)."""
    from ..core.operations import webhook_endpoints as ops

    items, _ = _act(ctx, api_key, lambda services, merchant: ops.list_page(
        services, merchant, {"limit": 100, "offset": 0}))
    if as_json:
        print_json({"data": items})
        return
    from rich.table import Table

    table = Table(title=f"webhook endpoints ({len(items)}, newest first)")
    for column in ("id", "url", "events", "status", "description"):
        table.add_column(column, no_wrap=column in ("id", "status"))
    for e in items:
        status = "[green]enabled[/]" if e["status"] == "enabled" else f"[red]disabled[/] {e['disabled_reason'] or ''}"
        table.add_row(e["id"], e["url"], ", ".join(e["enabled_events"]), status, e["description"] or "")
    table_console().print(table)


@endpoints.command("create")
@click.argument("url")
@click.option("--events", callback=split_events, required=True, metavar="TYPES",
              help="Event types separated by commas (payment.success,refund.processed), or * for every event.")
@click.option("--description", help="What the endpoint is for.")
@merchant_option
@json_option
@click.pass_context
def create(ctx: click.Context, url: str, events: list[str], description: str | None, api_key: str,
           as_json: bool) -> None:
    """Add an endpoint at URL; prints its signing secret, this once."""
    from ..core.idempotency import Receipt
    from ..core.operations import webhook_endpoints as ops
    from ..core.schemas import WebhookEndpointCreate

    body = WebhookEndpointCreate(url=url, enabled_events=events, description=description)
    created = _act(ctx, api_key, lambda services, merchant: ops.create(services, merchant, body, Receipt(201)))
    if as_json:
        print_json(created)
        return
    out = console()
    out.print(f"created {created['id']} → {created['url']} for {', '.join(created['enabled_events'])}",
              highlight=False)
    out.print(f"  signing secret: {created['secret']} (shown this once)", highlight=False)


def _switch(disabled: bool):
    verb = "disable" if disabled else "enable"
    summary = ("Stop deliveries to the endpoint (those pending wait until it is enabled)." if disabled else
               "Deliver to the endpoint again (also after paygate disabled it for a 410 Gone).")

    @endpoints.command(verb, help=summary)
    @click.argument("endpoint_id")
    @merchant_option
    @json_option
    @click.pass_context
    def switch(ctx: click.Context, endpoint_id: str, api_key: str, as_json: bool) -> None:
        from ..core.idempotency import Receipt
        from ..core.operations import webhook_endpoints as ops
        from ..core.schemas import WebhookEndpointUpdate

        change = WebhookEndpointUpdate(disabled=disabled)
        updated = _act(ctx, api_key, lambda services, merchant: ops.update(
            services, merchant, endpoint_id, change, Receipt(200)))
        if as_json:
            print_json(updated)
        else:
            console().print(f"{updated['id']} {updated['status']}", highlight=False)

    return switch


disable = _switch(True)
enable = _switch(False)


@endpoints.command("delete")
@click.argument("endpoint_id")
@merchant_option
@json_option
@click.pass_context
def delete(ctx: click.Context, endpoint_id: str, api_key: str, as_json: bool) -> None:
    """Delete the endpoint: it receives nothing more and its pending deliveries fail."""
    from ..core.idempotency import Receipt
    from ..core.operations import webhook_endpoints as ops

    deleted = _act(ctx, api_key, lambda services, merchant: ops.delete(services, merchant, endpoint_id,
                                                                       Receipt(200)))
    if as_json:
        print_json(deleted)
    else:
        console().print(f"deleted {deleted['id']}", highlight=False)

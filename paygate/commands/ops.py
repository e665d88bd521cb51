"""Operator commands: ``paygate status [--json] [--watch]`` and
``paygate merchants create|list|rotate-secret|set-rate-limit``."""

from __future__ import annotations

import click

from .context import (
    console,
    load_config,
    operator_services,
    pool,
    print_credentials,
    print_json,
    require_master_key,
    run_operation,
    secret_box,
    table_console,
)

WATCH_INTERVAL = 2.0  # seconds between refreshes of status --watch
NARROW = 120  # columns below which merchants are listed one block each instead of as a table


def register(main: click.Group) -> None:
    main.add_command(status)
    main.add_command(merchants)


# -- status ---------------------------------------------------------------------------------------------------


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object (one per refresh with --watch).")
@click.option("--watch", is_flag=True, help=f"Refresh every {WATCH_INTERVAL:g} s until Ctrl-C.")
@click.pass_context
def status(ctx: click.Context, as_json: bool, watch: bool) -> None:
    """Queues, connected workers, due and failed webhook deliveries, and failures in the last hour."""
    from ..core.operations import status as status_ops

    config = load_config(ctx)

    async def once():
        async with operator_services(config) as services:
            return await status_ops.report(services)

    if watch:
        try:
            run_operation(_watch(config, as_json))
        except KeyboardInterrupt:  # Ctrl-C before the loop had its handlers
            pass
    elif as_json:
        print_json(run_operation(once()))
    else:
        console().print(render_status(run_operation(once())))


async def _watch(config, as_json: bool) -> None:
    """Refresh until SIGINT or SIGTERM. The signals only set an event that the loop looks at between
    reports, so a report is never cut off half way (a cancelled query or Redis call could otherwise leave the
    loop running, or the clean-up waiting on a connection), and the services close in order."""
    import asyncio
    import json
    import signal

    from ..core.operations import status as status_ops

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    live = None
    if not as_json:
        from rich.live import Live

        live = Live(console=console(), auto_refresh=False)

    def show(report: dict) -> None:
        if live is None:
            click.echo(json.dumps(report))
        else:
            live.update(render_status(report), refresh=True)

    async with operator_services(config) as services:
        if live is not None:
            live.start()
        try:
            while not stop.is_set():
                show(await status_ops.report(services))
                try:
                    await asyncio.wait_for(stop.wait(), WATCH_INTERVAL)
                except TimeoutError:
                    pass
        finally:
            if live is not None:
                live.stop()


def _count(n: int, bad: str = "red") -> str:
    return f"[{bad}]{n}[/]" if n else "0"


def render_status(report: dict):
    from rich.console import Group
    from rich.markup import escape
    from rich.table import Table

    from ..core.operations.status import QUEUE_STATES

    queues = Table(title="queues", title_justify="left")
    for column in ("queue", *QUEUE_STATES, "oldest active"):
        queues.add_column(column, justify="left" if column == "queue" else "right")
    for name, counts in report["queues"].items():
        oldest = report["streams"].get(name, {}).get("oldest_pending_age_s")  # webhook deliveries: shown below
        queues.add_row(name, *(_count(counts[s], "yellow") if s in counts else "-" for s in QUEUE_STATES),
                       "-" if oldest is None else f"{oldest:.1f} s")

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
    p = report["processor"]
    health.add_row("processor calls awaiting an answer", _count(p["in_flight"], "yellow"))
    health.add_row("  of them unanswered past payments.stuck_after", _count(p["overdue"]))
    health.add_row("  the oldest", f"{p['oldest_age_s']:.1f} s")
    age = s["last_pass_age_s"]
    health.add_row("last scheduler pass", "[red]never[/]" if age is None else f"{age:.1f} s ago")
    return Group(f"[bold]paygate status[/] at {report['at']}", queues, workers, health)


# -- merchants ------------------------------------------------------------------------------------------------


@click.group()
def merchants() -> None:
    """Create merchants, list them, rotate their API secrets and set their API rate limits."""


def _merchant_row(row: dict) -> dict:
    """What an operator may see of a merchant: never a secret, hashed or sealed."""
    from ..core.models import iso

    return {"merchant_id": row["id"], "name": row["name"], "email": row["email"], "api_key": row["api_key"],
            "webhook_url": row["webhook_url"], "webhook_enabled": row["webhook_enabled"],
            "is_active": row["is_active"], "created_at": iso(row["created_at"]),
            "previous_secret_expires_at": iso(row["api_secret_prev_until"]),
            "rate_limit": row["rate_limit"], "rate_limit_burst": row["rate_limit_burst"]}


@merchants.command("create")
@click.option("--name", required=True, help="The merchant's display name.")
@click.option("--email", required=True, help="Contact email; one merchant per address.")
@click.option("--webhook-url", default=None, help="Where to deliver webhooks (optional; settable later).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def create_merchant(ctx: click.Context, name: str, email: str, webhook_url: str | None, as_json: bool) -> None:
    """A new merchant with fresh credentials; its API secret and webhook secret are shown this once."""
    from rich.markup import escape

    from ..core.operations import merchants as merchant_ops
    from ..core.webhooks import ssrf

    config = load_config(ctx)
    require_master_key(config)

    async def go():
        if webhook_url is not None:
            try:
                await ssrf.check_url(webhook_url, config.webhooks.allow_private_targets)
            except ssrf.TargetRefused as exc:
                raise click.ClickException(f"--webhook-url: {exc}") from None
        async with pool(config) as opened:
            return await merchant_ops.create_merchant(opened, secret_box(config), name, email, webhook_url)

    created = run_operation(go())
    if as_json:
        print_json(created)
        return
    console().print(f"[bold]Merchant created[/]: {created['merchant_id']} ({escape(name)} <{escape(email)}>)")
    print_credentials(created)
    console().print("  [yellow]The secrets are shown only now; paygate keeps the API secret hashed.[/]")


@merchants.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def list_merchants(ctx: click.Context, as_json: bool) -> None:
    """Every merchant, oldest first (no secrets)."""
    from ..core.operations import merchants as merchant_ops

    config = load_config(ctx)

    async def go():
        async with pool(config) as opened:
            return await merchant_ops.list_merchants(opened)

    rows = [_merchant_row(r) for r in run_operation(go())]
    if as_json:
        print_json({"data": rows})
        return
    out = table_console()
    out.print(_merchant_blocks(rows) if out.width < NARROW else _merchant_table(rows))


def _webhook(r: dict) -> str:
    from rich.markup import escape

    return escape(r["webhook_url"] or "-") + ("" if r["webhook_enabled"] else " [red](disabled)[/]")


def _created(r: dict) -> str:
    return r["created_at"][:19].replace("T", " ")


def _merchant_table(rows: list[dict]):
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"merchants ({len(rows)})")
    for column in ("id", "name", "email", "api key", "webhook url", "active", "created (UTC)"):
        table.add_column(column, no_wrap=column in ("id", "api key", "email"))
    for r in rows:
        table.add_row(r["merchant_id"], escape(r["name"]), escape(r["email"]), r["api_key"], _webhook(r),
                      "yes" if r["is_active"] else "[red]no[/]", _created(r))
    return table


def _merchant_blocks(rows: list[dict]):
    """A narrow terminal: one block per merchant, so that no id, key or address is cut short."""
    from rich.console import Group
    from rich.markup import escape

    lines = [f"[bold]merchants ({len(rows)})[/]"]
    for r in rows:
        active = "" if r["is_active"] else " [red](inactive)[/]"
        lines += ["", f"[bold]{r['merchant_id']}[/]  {escape(r['name'])}{active}",
                  f"  email    {escape(r['email'])}", f"  api key  {r['api_key']}",
                  f"  webhook  {_webhook(r)}", f"  created  {_created(r)} UTC"]
    return Group(*lines)


def _grace(ctx: click.Context, param: click.Parameter, value: str) -> float:
    from ..core.operations.webhooks import parse_age

    if value.strip() == "0":
        return 0.0
    try:
        return parse_age(value.strip()).total_seconds()
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a duration like 90s, 15m, 2h or 7d", ctx=ctx, param=param) from None


@merchants.command("rotate-secret")
@click.argument("merchant_id")
@click.option("--grace", default="0", show_default=True, metavar="DURATION", callback=_grace,
              help="How long the current secret keeps working beside the new one: 90s, 15m, 2h, 7d (at most 30d). "
                   "0 refuses it at once. Rotating again while a grace runs makes the current secret the previous "
                   "one, and the older previous secret stops working at once.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def rotate_secret(ctx: click.Context, merchant_id: str, grace: float, as_json: bool) -> None:
    """A new API secret for MERCHANT_ID, shown this once; the old one is refused at once, or when --grace ends.

    Both are events for the merchant's webhooks: merchant.api_secret_rotated now, merchant.api_secret_expired when
    the old secret stops working.
    """
    from ..core.operations import merchants as merchant_ops

    config = load_config(ctx)
    require_master_key(config)

    async def go():
        async with pool(config) as opened:
            return await merchant_ops.rotate_api_secret(opened, secret_box(config), merchant_id, grace)

    rotated = run_operation(go())
    if as_json:
        print_json(rotated)
        return
    out = console()
    out.print(f"[bold]New API secret[/] for {rotated['merchant_id']} (key {rotated['api_key']}):")
    out.print(f"  X-Api-Secret: [cyan]{rotated['api_secret']}[/]")
    if grace:
        until = rotated["previous_secret_expires_at"][:19].replace("T", " ")
        out.print(f"  [yellow]Shown only now. The previous secret works until {until} UTC.[/]")
    else:
        out.print("  [yellow]Shown only now. The previous secret no longer works.[/]")


@merchants.command("set-rate-limit")
@click.argument("merchant_id")
@click.option("--rate", type=click.IntRange(min=0), default=None,
              help="Requests per second MERCHANT_ID may make to the API, sustained; 0: no limit for it.")
@click.option("--burst", type=click.IntRange(min=1), default=None,
              help="Requests it may make at once (without it: api.rate_limit_burst).")
@click.option("--default", "use_default", is_flag=True,
              help="Drop its own limit: api.rate_limit and api.rate_limit_burst apply to it again.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def set_rate_limit(ctx: click.Context, merchant_id: str, rate: int | None, burst: int | None, use_default: bool,
                   as_json: bool) -> None:
    """MERCHANT_ID's own API rate limit, in place of api.rate_limit and api.rate_limit_burst.

    Its requests are counted in windows of BURST requests every BURST / RATE seconds; over that they are refused
    with 429 and Retry-After. Running servers apply the change within api.auth_cache_ttl.
    """
    from ..core.operations import merchants as merchant_ops

    if use_default == (rate is not None or burst is not None):
        raise click.UsageError("give --rate and/or --burst, or --default")
    config = load_config(ctx)

    async def go():
        async with pool(config) as opened:
            return await merchant_ops.set_rate_limit(opened, merchant_id, rate, burst)

    limit = run_operation(go())
    api = config.api
    rate_now = api.rate_limit if limit["rate_limit"] is None else limit["rate_limit"]
    burst_now = api.rate_limit_burst if limit["rate_limit_burst"] is None else limit["rate_limit_burst"]
    limit["effective"] = {"rate": rate_now, "burst": burst_now}
    if as_json:
        print_json(limit)
        return
    whose = "its own" if limit["rate_limit"] is not None or limit["rate_limit_burst"] is not None else "the default"
    shown = "no limit" if rate_now == 0 else f"{rate_now} requests per second, {burst_now} at once"
    console().print(f"[bold]API rate limit[/] for {limit['merchant_id']}: {shown} ({whose})")

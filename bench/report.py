"""What a run prints and writes: every figure beside its target and whether it is met, the CPU each process used
per operation, and bench/results.json (the figures under "figures", everything measured under "phases")."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from rich.table import Table

import paygate

from . import cli as cli_bench
from .harness import console
from .plan import BASELINE_CONCURRENCY, CONCURRENCY, E2E_RATE, SATURATION, TARGETS

Row = tuple[str, str, str, bool | None]


def _show(value, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "%":
        return f"{value:.1%}"
    if unit == "x":
        return f"{value:.2f}×"
    return f"{value:,.1f}{unit}" if isinstance(value, float) else f"{value:,}{unit}"


def figures(results: dict) -> list[Row]:
    """(figure, value, target, met) rows; the values are also stored under results["figures"]."""
    p = results["phases"]
    rows: list[Row] = []
    figs = results["figures"]
    base = p.get("baseline", {}).get("ops_per_s")

    def add(key, label, value, unit="", target="", met=None):
        figs[key] = value
        rows.append((label, _show(value, unit), target, None if value is None and met is not None else met))

    def ratio(value):
        return round(value / base, 4) if value and base else None

    def at_least(value, goal, unit=""):
        return (f"≥ {_show(goal, unit)}", None if value is None else value >= goal)

    def at_most(value, goal, unit=""):
        return (f"≤ {_show(goal, unit)}", None if value is None else value <= goal)

    add("baseline_ops_per_s", f"baseline: INSERT+SELECT one row (aiopg, pool 20, c={BASELINE_CONCURRENCY})", base,
        " ops/s")
    f = p.get("floor", {})
    add("floor_per_s", f"floor: the same behind an aiohttp POST route (wrk c={CONCURRENCY})",
        f.get("requests_per_s"), " req/s")
    add("floor_vs_baseline", "  floor / baseline: the most create payment could reach", ratio(f.get("requests_per_s")),
        "%")
    add("floor_p99_ms", "  floor p99", f.get("p99_ms"), " ms")

    c = p.get("create", {})
    add("create_per_s", f"create payment, API only (serve --no-worker, wrk c={CONCURRENCY})", c.get("requests_per_s"),
        " req/s")
    r = ratio(c.get("requests_per_s"))
    add("create_vs_baseline", "  create / baseline", r, "%", *at_least(r, TARGETS["create_vs_baseline"], "%"))
    v = c.get("cpu_ms_per_op", {}).get("total")
    add("create_cpu_ms", "  CPU per create (paygate + Postgres + Redis)", v, " ms",
        *at_most(v, TARGETS["create_cpu_ms"], " ms"))
    add("create_p50_ms", "  create p50", c.get("p50_ms"), " ms")
    add("create_p99_ms", "  create p99", c.get("p99_ms"), " ms")
    add("create_non_2xx", "  create answers other than 2xx", c.get("non_2xx"))
    if c.get("ids_reused"):
        rows.append(("  (the run outlasted its orders: some were paid for twice)", "", "", None))

    d = p.get("drain", {})
    add("drain_per_s", f"drain: one paygate worker, {d.get('backlog', '-')} pending payments to final",
        d.get("payments_per_s"), " /s")
    r = ratio(d.get("payments_per_s"))
    add("drain_vs_baseline", "  drain / baseline", r, "%", *at_least(r, TARGETS["drain_vs_baseline"], "%"))
    v = d.get("cpu_ms_per_op", {}).get("total")
    add("drain_cpu_ms", "  CPU per payment (paygate + Postgres + Redis)", v, " ms",
        *at_most(v, TARGETS["drain_cpu_ms"], " ms"))
    add("drain_unfinished_at_end", "  payments not final when the wait ended", d.get("unfinished_at_end"), "",
        "0" if d else "", None if not d else d.get("unfinished_at_end") == 0)

    g = p.get("get", {})
    add("get_per_s", f"get payment (wrk c={CONCURRENCY})", g.get("requests_per_s"), " req/s")
    add("get_vs_baseline", "  get / baseline", ratio(g.get("requests_per_s")), "%")
    add("get_p50_ms", "  get p50", g.get("p50_ms"), " ms")
    add("get_p99_ms", "  get p99", g.get("p99_ms"), " ms")

    fair = p.get("fairness", {})
    for kind in ("get", "create"):
        ph = fair.get(kind, {})
        add(f"fairness_{kind}_per_s", f"fairness: {kind} at saturation (wrk c={SATURATION})", ph.get("requests_per_s"),
            " req/s")
        add(f"fairness_{kind}_p50_ms", "  p50", ph.get("p50_ms"), " ms")
        add(f"fairness_{kind}_p99_ms", "  p99", ph.get("p99_ms"), " ms")
        v = ph.get("p99_over_p50")
        add(f"fairness_{kind}_p99_over_p50", "  p99 / p50", v, "x", *at_most(v, TARGETS["fairness_p99_over_p50"], "x"))
        add(f"fairness_{kind}_non_2xx", "  answers other than 2xx", ph.get("non_2xx"))
        add(f"fairness_{kind}_503", "    of which 503", ph.get("status_503"))
        bad = None if not ph else ph["errors"] + ph["status_503_without_retry_after"]
        add(f"fairness_{kind}_errors", "    errors (not 2xx, not 503 with Retry-After)", bad, "", "0" if ph else "",
            None if bad is None else bad == 0)

    o = p.get("create_open_loop", {})
    v = o.get("p99_ms")
    label = f"create, open loop at half the maximum ({o.get('rate', '-')}/s), p99"
    if o and v is None:
        figs["open_loop_create_p99_ms"] = None
        rows.append((label, f"{o.get('failed')} failed", f"≤ {TARGETS['open_loop_create_p99_ms']:g} ms", False))
    else:
        add("open_loop_create_p99_ms", label, v, " ms", *at_most(v, TARGETS["open_loop_create_p99_ms"], " ms"))

    e = p.get("e2e", {})
    for q in ("p50", "p99"):
        v, t = e.get(f"{q}_ms"), TARGETS[f"e2e_{q}_ms"]
        label = f"end to end {q}, POST → payment.success webhook ({E2E_RATE}/s open loop)"
        if v is None and e.get("missing_took_at_least_ms") is not None:
            figs[f"e2e_{q}_ms"] = None
            rows.append((label, f"> {e['missing_took_at_least_ms']:,.0f} ms", f"≤ {t:g} ms", False))
        else:
            add(f"e2e_{q}_ms", label, v, " ms", *at_most(v, t, " ms"))
    if e:
        add("e2e_webhooks_missing", "  webhooks not received in time (3 per payment)", e.get("webhooks_missing"),
            f" of {e.get('webhooks_expected')}", "0", e.get("webhooks_missing") == 0)
        add("e2e_success_webhooks_per_s", "  payment.success webhooks received per second",
            e.get("success_webhooks_per_s"), " /s")

    w = p.get("deliveries", {})
    v = w.get("deliveries_per_s")
    add("deliveries_per_s", f"webhook deliveries ({w.get('inserted', '-')} due), drained", v, " /s",
        *at_least(v, TARGETS["deliveries_per_s"], " /s"))
    add("deliveries_vs_baseline", "  deliveries / baseline", ratio(v), "%")

    cli = p.get("cli", {})
    for key, label, target in (("help", "paygate --help, median of runs", "help_s"),
                               ("slowest_subcommand_help", "  slowest subcommand --help", "help_s"),
                               ("status_json", "paygate status --json, median of runs", "status_s")):
        r = cli.get(key)
        if r:
            t = cli_bench.TARGETS[target]
            add(f"cli_{key}_ms", label if key != "slowest_subcommand_help" else f"{label} ({r['command']})",
                round(r["wall_s"] * 1000, 1), " ms", f"≤ {t * 1000:g} ms", r["wall_s"] <= t)

    others = [ph["cpu"]["others_pct_of_core"] for ph in _all_phases(p) if "others_pct_of_core" in ph.get("cpu", {})]
    add("others_pct_of_core", "other processes on the machine meanwhile (noise)",
        round(sum(others) / len(others), 1) if others else None, " % of a core")
    return rows


def _all_phases(phases: dict):
    for name, ph in phases.items():
        if name == "fairness":
            yield from ph.values()
        elif isinstance(ph, dict):
            yield ph


# (phase path, label, load generator) for the CPU-per-operation table
PER_OP = (
    (("baseline",), "baseline op", "bench"),
    (("floor",), "floor request", "wrk"),
    (("create",), f"create, API only (c={CONCURRENCY})", "wrk"),
    (("drain",), "payment to final (drain)", ""),
    (("get",), f"GET (c={CONCURRENCY})", "wrk"),
    (("fairness", "get"), f"GET (c={SATURATION})", "wrk"),
    (("fairness", "create"), f"create (c={SATURATION})", "wrk"),
    (("create_open_loop",), "create, open loop", "bench"),
    (("deliveries",), "webhook delivery", "bench"),
    (("e2e",), f"payment end to end ({E2E_RATE}/s)", "bench"),
)


def per_op_rows(results: dict) -> list[tuple[str, ...]]:
    """CPU milliseconds per operation of each process, Postgres transactions and Redis commands per operation."""
    rows = []
    per_op = results.setdefault("per_operation", {})
    for path, label, client in PER_OP:
        ph = results["phases"]
        for key in path:
            ph = ph.get(key, {})
        if not ph:
            continue
        cpu, counts = ph.get("cpu_ms_per_op", {}), ph.get("per_op", {})
        per_op["/".join(path)] = {**cpu, "pg_commits": counts.get("pg_commits"),
                                  "redis_commands": counts.get("redis_commands")}

        def v(x, unit=" ms"):
            return "" if x is None else f"{x:.2f}{unit}"

        rows.append((label, v(cpu.get("paygate")), v(cpu.get("postgres")), v(cpu.get("redis")), v(cpu.get("total")),
                     f"{client} {v(cpu.get(client))}" if client else "", v(counts.get("pg_commits"), ""),
                     v(counts.get("redis_commands"), "")))
    return rows


def print_tables(results: dict) -> None:
    table = Table(title="paygate bench")
    for column in ("figure", "value", "target", "met?"):
        table.add_column(column, justify="right" if column == "value" else "left")
    for label, value, target, met in figures(results):
        table.add_row(label, value, target, "" if met is None else ("[green]yes[/]" if met else "[red]no[/]"))
    console.print(table)
    table = Table(title="per operation: CPU by process, Postgres transactions, Redis commands")
    for column in ("operation", "paygate", "Postgres", "Redis", "total", "load generator", "pg tx", "Redis cmds"):
        table.add_column(column, justify="left" if column == "operation" else "right")
    for row in per_op_rows(results):
        table.add_row(*row)
    console.print(table)


def machine() -> dict:
    return {
        "cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "paygate": paygate.__version__,
        "aiohttp": aiohttp.__version__, "hostname": platform.node(),
    }


def write(results: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")

"""How quickly the ``paygate`` command answers: ``python -m bench.cli [--runs N]``.

Each command is run N times (10 by default) as a new process, the way an operator runs it, and the median
wall time and the median CPU (user + system of the child) are reported. ``paygate status --json`` needs
Postgres and Redis: it is measured when ``PAYGATE_DATABASE__URL`` and ``PAYGATE_REDIS__URL`` are set (the
full bench passes its own), or beside a running ``paygate dev`` in the current directory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = 10
TARGETS = {"help_s": 0.3, "status_s": 1.0}
SUBCOMMANDS = ("serve", "worker", "migrate", "seed", "dev", "status", "merchants", "payments", "webhooks",
               "trigger")


def paygate_command() -> list[str]:
    """The console script beside this interpreter, as `make` installs it; ``python -m paygate`` otherwise."""
    script = Path(sys.executable).parent / "paygate"
    return [str(script)] if script.exists() else [sys.executable, "-m", "paygate"]


def measure(args: list[str], runs: int = RUNS, env: dict[str, str] | None = None) -> dict:
    """Median wall and CPU seconds of ``paygate ARGS`` over ``runs`` runs; each run must exit 0."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run([*paygate_command(), *args], env=env, capture_output=True, text=True, timeout=60)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode != 0:
            raise RuntimeError(f"paygate {' '.join(args)} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return {"command": "paygate " + " ".join(args), "runs": runs, "wall_s": round(statistics.median(walls), 3),
            "cpu_s": round(statistics.median(cpus), 3), "max_wall_s": round(max(walls), 3)}


def run(runs: int = RUNS, env: dict[str, str] | None = None, with_status: bool = True,
        subcommand_runs: int | None = None) -> dict:
    """The figures: ``--help``, the slowest subcommand's ``--help``, and (with services) ``status --json``."""
    results = {"help": measure(["--help"], runs, env)}
    subcommands = [measure([name, "--help"], subcommand_runs or runs, env) for name in SUBCOMMANDS]
    results["slowest_subcommand_help"] = max(subcommands, key=lambda r: r["wall_s"])
    results["subcommand_help"] = subcommands
    if with_status:
        results["status_json"] = measure(["status", "--json"], runs, env)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cli", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=RUNS)
    args = parser.parse_args(argv)
    if shutil.which(paygate_command()[0]) is None and not Path(paygate_command()[0]).exists():
        parser.error("paygate is not installed here")
    with_status = bool(os.environ.get("PAYGATE_DATABASE__URL")) or Path(".paygate/dev.json").exists()
    results = run(args.runs, with_status=with_status)
    for key, target in (("help", "help_s"), ("slowest_subcommand_help", "help_s"), ("status_json", "status_s")):
        if key in results:
            r = results[key]
            met = "yes" if r["wall_s"] <= TARGETS[target] else "no"
            print(f"{r['command']:<32} median {r['wall_s']:.3f} s wall, {r['cpu_s']:.3f} s CPU "
                  f"(target ≤ {TARGETS[target]:g} s: {met})")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

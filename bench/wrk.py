"""HTTP load from wrk (Debian's package): closed loops at a fixed number of connections for a fixed time.

wrk is written in C and spends a few percent of a core where a Python client spent one of the machine's two, so
what is measured is the server. ``bench/wrk.lua`` builds each request (a fresh order or payment id in each, read
from a file the bench writes), counts the answers by status and prints them with the latency percentiles as one
JSON line, which ``run`` parses. wrk stops by itself after ``-d``; the process is killed if it outlives that by
much. Its CPU is counted when it is reaped, so it can be reported beside the server's.
"""

from __future__ import annotations

import asyncio
import json
import resource
import shutil
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "wrk.lua"
MARKER = "WRK_JSON "
TIMEOUT_S = 10  # wrk's per-request timeout: a slower answer counts as an error, not as a latency


class WrkMissing(RuntimeError):
    pass


def executable() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise WrkMissing("wrk is missing: `make bench` installs it (apt-get install wrk), or install it yourself")
    return found


def _run(command: list[str], limit: float) -> tuple[str, str, int, float]:
    """(stdout, stderr, exit status, CPU seconds) of ``command``, killed after ``limit`` seconds. The CPU is what
    the children reaped meanwhile used (RUSAGE_CHILDREN): the bench's other children (servers) live on, so that
    is wrk's alone."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        err += f"\nwrk killed after {limit:g} s"
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return out, err, proc.returncode, cpu


async def run(base_url: str, path: str, *, connections: int, duration: int, method: str = "GET",
              headers: dict[str, str] | None = None, ids: Path | None = None, body: Path | None = None,
              threads: int = 1) -> dict:
    """One wrk run; the summary of what it measured (see ``summarise``). ``path`` and the body in ``body`` may
    hold ``{id}``, replaced in each request by the next line of ``ids``."""
    command = [executable(), f"-t{threads}", f"-c{connections}", f"-d{int(duration)}s", f"--timeout={TIMEOUT_S}s",
               "-s", str(SCRIPT)]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    command += [base_url, "--", method, path, str(ids) if ids else "-", str(body) if body else "-", str(threads)]
    out, err, code, cpu = await asyncio.to_thread(_run, command, duration + TIMEOUT_S + 20)
    line = next((ln for ln in out.splitlines() if ln.startswith(MARKER)), None)
    if code != 0 or line is None:
        raise RuntimeError(f"wrk exited {code} without its summary: {(err or out).strip()[-500:]}")
    return summarise(json.loads(line[len(MARKER):]), cpu)


def summarise(raw: dict, cpu_s: float = 0.0) -> dict:
    """Rates, percentiles in ms and the answers by kind: 2xx, 503 (with and without Retry-After), other errors."""
    seconds = raw["duration_us"] / 1e6
    status = {int(k): int(v) for k, v in raw["status"].items()}
    ok = sum(n for s, n in status.items() if 200 <= s < 300)
    s503 = status.get(503, 0)
    socket_errors = {k: int(v) for k, v in raw["errors"].items() if k != "status" and v}
    other = sum(n for s, n in status.items() if not 200 <= s < 300 and s != 503) + sum(socket_errors.values())
    lat = raw["latency_us"]

    def ms(key: str) -> float | None:
        v = lat.get(key)
        return None if v is None else round(v / 1000, 2)

    p50, p99 = ms("p50"), ms("p99")
    return {
        "requests_per_s": round(ok / seconds, 1) if seconds else 0.0,  # 2xx answers per second
        "answers_per_s": round(raw["requests"] / seconds, 1) if seconds else 0.0,
        "window_s": round(seconds, 2), "ok": ok, "answers": int(raw["requests"]),
        "p50_ms": p50, "p90_ms": ms("p90"), "p99_ms": p99, "p999_ms": ms("p999"), "max_ms": ms("max"),
        "p99_over_p50": round(p99 / p50, 2) if p50 and p99 is not None else None,
        "status": {str(k): v for k, v in sorted(status.items())},
        "non_2xx": sum(n for s, n in status.items() if not 200 <= s < 300),
        "status_503": s503, "status_503_without_retry_after": int(raw.get("no_retry_after_503", 0)),
        "socket_errors": socket_errors,
        "errors": other,  # neither 2xx nor 503: answers with another status, and connect/read/write/timeouts
        "ids_reused": int(raw.get("wrapped", 0)) > 0,
        "wrk_cpu_s": round(cpu_s, 3),
    }

"""The processes under test (``paygate serve``, ``paygate worker``, ``bench.floor``) and CPU accounting of every
process from /proc."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

SYSTEM = ("paygate", "postgres", "redis")  # the processes whose CPU the targets count
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped is not)."""
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


# -- /proc ----------------------------------------------------------------------------------------------------

def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (index 0 is the state, field 3 of the man page)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def cpu_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU of one process (not its children), seconds; zeros when it is gone."""
    fields = _stat(pid)
    if fields is None:
        return 0.0, 0.0
    return int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS  # utime, stime


def cpu_seconds(pid: int) -> float:
    return sum(cpu_times(pid))


def children(pid: int) -> list[int]:
    """Every live descendant of ``pid``."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None:
                parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def tree_cpu(pid: int | None) -> tuple[float, float]:
    """(user, system) CPU of ``pid`` and its live descendants."""
    if not pid:
        return 0.0, 0.0
    user, system = cpu_times(pid)
    for child in children(pid):
        u, s = cpu_times(child)
        user, system = user + u, system + s
    return user, system


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies over all CPUs, from /proc/stat."""
    try:
        parts = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)
    return float(sum(parts) - idle), float(sum(parts))


class CpuMeter:
    """CPU used by each named process between start() and stop(), as % of one core.

    ``pids`` maps a name to (pid, with_descendants); a None pid counts nothing.
    """

    def __init__(self, pids: dict[str, tuple[int | None, bool]]):
        self.pids = pids

    def _read(self, name: str) -> tuple[float, float]:
        pid, tree = self.pids[name]
        if not pid:
            return 0.0, 0.0
        return tree_cpu(pid) if tree else cpu_times(pid)

    def start(self) -> CpuMeter:
        self._t0 = time.perf_counter()
        self._cpu0 = {name: self._read(name) for name in self.pids}
        self._machine0 = machine_busy()
        return self

    def stop(self, extra: dict[str, float] | None = None) -> dict:
        """The figures; ``extra`` names processes measured otherwise (wrk: name -> CPU seconds), so that they
        are not counted as other work on the machine."""
        wall = time.perf_counter() - self._t0
        out: dict = {"wall_s": round(wall, 2)}
        ours = 0.0
        for name, used in (extra or {}).items():
            ours += used
            out[f"{name}_cpu_s"] = round(used, 2)
            out[f"{name}_pct_of_core"] = round(100 * used / wall, 1) if wall > 0 else None
        for name in self.pids:
            (u1, s1), (u0, s0) = self._read(name), self._cpu0[name]
            used = (u1 - u0) + (s1 - s0)
            ours += used
            out[f"{name}_cpu_s"] = round(used, 2)
            out[f"{name}_pct_of_core"] = round(100 * used / wall, 1) if wall > 0 else None
            out[f"{name}_kernel_share_pct"] = round(100 * (s1 - s0) / used, 1) if used > 0 else None
        busy1, total1 = machine_busy()
        busy0, total0 = self._machine0
        if total1 > total0 and wall > 0:
            busy = (busy1 - busy0) / (total1 - total0)
            out["machine_busy_pct"] = round(100 * busy, 1)
            # what everything else on this shared machine used meanwhile (other sessions' tests, say)
            out["others_pct_of_core"] = round(max(0.0, 100 * (busy * (os.cpu_count() or 1) - ours / wall)), 1)
        return out

    @staticmethod
    def per_op(cpu: dict, ops: int) -> dict:
        """CPU milliseconds per operation of each measured process: steadier than rates on a noisy machine."""
        if not ops:
            return {}
        out = {k.removesuffix("_cpu_s"): round(1000 * v / ops, 3) for k, v in cpu.items() if k.endswith("_cpu_s")}
        # what the targets count: the system under test, without the load generator
        out["total"] = round(sum(1000 * cpu.get(f"{k}_cpu_s", 0.0) for k in SYSTEM) / ops, 3)
        return out


# -- the server ------------------------------------------------------------------------------------------------

class Server:
    """A process under test in its own session (Ctrl-C reaches the bench, which stops it in order): ``python -m
    MODULE … ARGS``, given ``--host 127.0.0.1 --port P`` when it serves HTTP (``paygate serve``, ``bench.floor``),
    not when it does not (``paygate worker``)."""

    def __init__(self, env: dict[str, str], log_path: Path, module: tuple[str, ...] = ("paygate", "serve"),
                 args: tuple[str, ...] = (), http: bool = True):
        self.port = free_port() if http else 0
        self.base_url = f"http://127.0.0.1:{self.port}" if http else ""
        self.log_path = log_path
        self.name = " ".join((*module, *args))
        command = [sys.executable, "-m", *module]
        if http:
            command += ["--host", "127.0.0.1", "--port", str(self.port)]
        self.command = [*command, *args]
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(self.command, env=env, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM, then SIGKILL; then any process it left behind (by PID, found as its descendants or by its
        process group, which is its own session)."""
        leftovers = set(children(self.pid)) if self.running() else set()
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        leftovers |= set(_in_process_group(self.pid))
        for pid in leftovers:
            if alive(pid):
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 10
        while any(alive(p) for p in leftovers) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in leftovers:
            if alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if not self._log.closed:
            self._log.close()

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _in_process_group(pgid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[2]) == pgid and int(entry.name) != os.getpid():
                found.append(int(entry.name))
    return found

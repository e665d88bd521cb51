"""Optional sampling of the server with py-spy during a phase, and a summary of where its event loop went.

``python -m bench.run --profile DIR`` records one raw (collapsed-stack) file per phase into DIR and prints
the top frames; ``python -m bench.profile FILE`` summarises a file again.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

IDLE_LEAVES = ("EpollSelector.select (selectors.py)", "select (selectors.py)", "PollSelector.select (selectors.py)")


def py_spy() -> str | None:
    """The py-spy executable next to this Python, or on PATH."""
    local = Path(sys.executable).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


class Recording:
    """``py-spy record`` of ``pid`` (and its subprocesses) for ``duration`` seconds, in the background."""

    def __init__(self, pid: int, duration: float, out: Path, rate: int = 100):
        exe = py_spy()
        self.out = out
        self.proc = None
        if exe is None:
            return
        out.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [exe, "record", "--pid", str(pid), "--duration", str(max(1, int(round(duration)))),
             "--rate", str(rate), "--format", "raw", "--output", str(out), "--idle",
             "--threads", "--subprocesses", "--nonblocking"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    def finish(self, timeout: float = 20) -> dict | None:
        """Stop py-spy now (SIGINT makes it write what it has; killed by PID if late) and summarise."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        if not self.out.exists():
            return None
        return summarise(self.out)


def _parse(path: Path):
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        labels = []
        while frames and (frames[0].startswith("thread (") or frames[0].startswith("process ")):
            labels.append(frames.pop(0))
        yield labels, frames, int(count)


def summarise(path: Path, top: int = 15) -> dict:
    """Main-thread samples of every process: idle share, and the top functions by self and inclusive time
    (percent of the busy samples; an awaiting coroutine is not on the stack, so this is CPU, not waiting)."""
    total = idle = 0
    leaf: Counter[str] = Counter()
    leaf_lines: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    processes = set()
    for labels, lined, count in _parse(path):
        if not any("MainThread" in label for label in labels):
            continue
        frames = [_function(f) for f in lined]
        processes.update(label for label in labels if label.startswith("process "))
        total += count
        if not frames or frames[-1] in IDLE_LEAVES:
            idle += count
            continue
        leaf[frames[-1]] += count
        leaf_lines[lined[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    busy = total - idle

    def pct(n: int) -> float:
        return round(100 * n / busy, 1) if busy else 0.0

    ours = Counter({f: n for f, n in inclusive.items() if "(paygate/" in f})
    return {
        "file": str(path),
        "processes": max(1, len(processes)),
        "main_thread_samples": total,
        "busy_pct_of_wall": round(100 * busy / total, 1) if total else 0.0,
        "top_self_pct_of_busy": [(f, pct(n)) for f, n in leaf.most_common(top)],
        "top_self_lines_pct_of_busy": [(f, pct(n)) for f, n in leaf_lines.most_common(top)],
        "top_paygate_inclusive_pct_of_busy": [(f, pct(n)) for f, n in ours.most_common(top)],
        "by_package_self_pct_of_busy": sorted(
            ((k, pct(n)) for k, n in _packages(leaf).items()), key=lambda kv: -kv[1])[:top],
    }


def _function(frame: str) -> str:
    """``func (file:line)`` -> ``func (file)``."""
    if frame.endswith(")") and ":" in frame[frame.rfind("("):]:
        return frame[:frame.rfind(":")] + ")"
    return frame


def _packages(leaf: Counter[str]) -> Counter[str]:
    """Self time rolled up by the leaf frame's package (the first part of its file path)."""
    out: Counter[str] = Counter()
    for frame, n in leaf.items():
        where = frame[frame.rfind("(") + 1:].rstrip(")")
        package = where.split("/")[0] if "/" in where else where
        out[package] += n
    return out


def print_summary(summary: dict, console) -> None:
    console.print(f"[bold]{summary['file']}[/]: {summary['main_thread_samples']} main-thread samples over "
                  f"{summary['processes']} process(es); event loop busy {summary['busy_pct_of_wall']}% of wall")
    console.print("  self time by package (% of busy): " + ", ".join(
        f"{k} {v}" for k, v in summary["by_package_self_pct_of_busy"][:10]))
    console.print("  top self frames (% of busy):")
    for frame, p in summary["top_self_pct_of_busy"][:12]:
        console.print(f"    {p:5.1f}  {frame}")
    console.print("  top self lines (% of busy):")
    for frame, p in summary["top_self_lines_pct_of_busy"][:6]:
        console.print(f"    {p:5.1f}  {frame}")
    console.print("  top paygate frames, inclusive (% of busy):")
    for frame, p in summary["top_paygate_inclusive_pct_of_busy"][:12]:
        console.print(f"    {p:5.1f}  {frame}")


if __name__ == "__main__":
    from rich.console import Console

    for name in sys.argv[1:]:
        print_summary(summarise(Path(name)), Console())

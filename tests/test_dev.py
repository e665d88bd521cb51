"""`paygate dev`: embedded services, ready quickly, and nothing left running after SIGINT or SIGTERM."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import aiohttp
import pytest

from .conftest import free_port


def _processes_using(path: Path) -> list[str]:
    """Command lines of running postgres / redis-server processes that mention ``path``."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(path) in cmdline and ("postgres" in cmdline or "redis-server" in cmdline):
            found.append(f"{pid}: {cmdline}")
    return found


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_dev_serves_the_test_merchant_and_stops_cleanly(tmp_path, paygate_process, signum):
    data_dir = (tmp_path / "data").resolve()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYGATE_")}
    port = free_port()
    dev = paygate_process("dev", "--data-dir", str(data_dir), env=env, port=port)
    await dev.ready(timeout=60)
    assert _processes_using(data_dir), "the embedded services should be running"
    assert "key_test_abc123" in dev.output()
    assert (data_dir / "master.key").exists()

    dev.signal(signum)
    assert dev.wait(60) == 0, dev.output()
    assert _processes_using(data_dir) == []

    # The data is reused on the next start: the same merchant, not created again.
    again = paygate_process("dev", "--data-dir", str(data_dir), env=env, port=port)
    await again.ready(timeout=30)
    assert "already present" in again.output()
    async with aiohttp.ClientSession() as session, session.get(f"{again.base_url}/healthz") as resp:
        assert resp.status == 200
    again.signal(signal.SIGINT)
    assert again.wait(60) == 0
    assert _processes_using(data_dir) == []

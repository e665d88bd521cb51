"""`paygate dev`: embedded services, ready quickly, and nothing left running after SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
from pathlib import Path

import aiohttp
import pytest

from .conftest import REPO, free_port, paygate_env, run_paygate


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


def _bare_env() -> dict[str, str]:
    """The environment of a new user's shell: nothing of paygate's configured."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PAYGATE_")}


async def test_operator_commands_find_paygate_dev_in_the_same_directory(tmp_path, paygate_process):
    env = _bare_env()
    dev = paygate_process("dev", env=env, cwd=tmp_path)  # no --data-dir: ./.paygate, as `make run` does
    await dev.ready(timeout=60)
    state = json.loads((tmp_path / ".paygate" / "dev.json").read_text())
    assert state["pid"] == dev.proc.pid
    assert "secret" not in json.dumps(state)  # the master key stays in its own file

    status = run_paygate("status", "--json", env=env, cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert "queues" in json.loads(status.stdout)
    assert "using the Postgres and Redis of paygate dev" in status.stderr

    listed = run_paygate("merchants", "list", "--json", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert [m["api_key"] for m in json.loads(listed.stdout)["data"]] == ["key_test_abc123"]

    fired = run_paygate("trigger", "payment.success", "--json", env=env, cwd=tmp_path)
    assert fired.returncode == 0, fired.stderr
    payment_id = json.loads(fired.stdout)["payment"]["id"]
    async with aiohttp.ClientSession() as session, session.get(
            f"{dev.base_url}/api/v1/payments/{payment_id}",
            headers={"X-Api-Key": "key_test_abc123", "X-Api-Secret": "secret_test_xyz789"}) as resp:
        assert resp.status == 200 and (await resp.json())["status"] == "success"

    # A state file that others may write is not believed: it would choose the database and the master key.
    state_file = tmp_path / ".paygate" / "dev.json"
    assert state_file.stat().st_mode & 0o077 == 0
    state_file.chmod(0o666)
    refused = run_paygate("merchants", "list", "--json", env=env, cwd=tmp_path)
    assert refused.returncode == 2 and "database.url: required" in refused.stderr
    state_file.chmod(0o600)

    # Elsewhere, --data-dir names it.
    elsewhere = run_paygate("--data-dir", str(tmp_path / ".paygate"), "merchants", "list", "--json", env=env,
                            cwd=tmp_path.parent)
    assert elsewhere.returncode == 0, elsewhere.stderr

    dev.signal(signal.SIGINT)
    assert dev.wait(60) == 0, dev.output()
    assert not (tmp_path / ".paygate" / "dev.json").exists()
    stopped = run_paygate("status", "--json", env=env, cwd=tmp_path)
    assert stopped.returncode == 2
    assert "database.url: required" in stopped.stderr and "paygate dev" in stopped.stderr


def _one_line_error(result) -> str:
    output = (result.stdout + result.stderr).strip()
    assert "Traceback" not in output and "\n" not in output, output
    return output


@pytest.mark.parametrize("how", ["--port", "PAYGATE_SERVER__PORT"])
def test_dev_on_a_taken_port_says_so_in_one_line_and_starts_nothing(tmp_path, how):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env, args = _bare_env(), ["dev", "--data-dir", str(tmp_path / "data")]
        if how == "--port":
            args += ["--port", str(port)]
        else:
            env["PAYGATE_SERVER__PORT"] = str(port)
        result = run_paygate(*args, env=env, cwd=tmp_path)
    assert result.returncode == 2
    line = _one_line_error(result)
    assert f"port {port}" in line and "--port" in line
    assert "paygate dev is running" not in line
    assert _processes_using(tmp_path / "data") == []


def test_serve_on_a_taken_port_says_so_in_one_line(clean_state, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_paygate("serve", "--port", str(port), env=paygate_env(*clean_state), cwd=tmp_path)
    assert result.returncode == 2
    assert f"port {port}" in _one_line_error(result)


def test_make_run_passes_a_port():
    planned = subprocess.run(["make", "-n", "run", "PORT=8010"], cwd=REPO, capture_output=True, text=True)
    assert planned.returncode == 0, planned.stderr
    assert "paygate dev --port 8010" in planned.stdout


async def test_a_second_ctrl_c_while_stopping_does_not_hang(clean_state, merchant, paygate_process):
    """Ctrl-C twice is what people do. The second signal used to interrupt the clean-up half way, and aiohttp's
    last cancel of every task then left bullmq's Worker.close spinning on a cancelled teardown for ever, at
    100 % CPU. Work in flight (a payment the simulator takes 2 s over) keeps the clean-up busy meanwhile."""
    from .api import create_order, pay

    env = paygate_env(*clean_state, PAYGATE_PROCESSOR__DELAY_MIN="2", PAYGATE_PROCESSOR__DELAY_MAX="2")
    server = await paygate_process("serve", env=env).ready()
    async with aiohttp.ClientSession(base_url=server.base_url) as client:
        order = await create_order(client, merchant["headers"])
        await pay(client, merchant["headers"], order["id"])
    await asyncio.sleep(0.5)  # the worker has taken it
    server.signal(signal.SIGINT)
    await asyncio.sleep(0.5)
    server.signal(signal.SIGINT)
    assert server.wait(30) == 0, server.output()[-2000:]

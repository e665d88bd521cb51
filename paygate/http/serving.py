"""Running the app: the event loop (uvloop when installed), and ``paygate serve --processes N``.

With N > 1 a parent process starts N children, each with its own event loop, its own Postgres pool and
its own workers, all listening on the same port through SO_REUSEPORT, so that the kernel spreads the
connections over them. The parent serves nothing: it forwards SIGINT/SIGTERM to the children, and when one
child exits on its own it stops the others and exits non-zero, leaving restarts to the supervisor
(systemd, Docker) rather than hiding a crash loop. Children leave by themselves if the parent dies.

Metrics: before the children start, the parent points PROMETHEUS_MULTIPROC_DIR at a fresh directory, so
that every child writes its counters there and whichever child answers /metrics adds them all up.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable

from aiohttp import web

from ..infra import metrics

log = logging.getLogger("paygate.serve")

SHUTDOWN_TIMEOUT = 10.0  # seconds aiohttp gives open requests on the way out
STOP_GRACE = 40.0  # seconds the parent waits for its children after SIGTERM (requests, then workers) before SIGKILL


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop's event loop when it is installed (extra 'fast'), asyncio's otherwise."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def freeze_heap() -> None:
    """Put what start-up allocated (modules, the app, its settings) out of the garbage collector's reach, so that
    a full collection scans only what requests allocate: under an open loop of 1,500 creates a second, full
    collections paused the event loop for 30 to 55 ms before, about 5 ms after (Instagram's gc.freeze)."""
    gc.collect()
    gc.freeze()


def run(coro):
    """``asyncio.run`` on the fast loop, for the long-running roles."""
    freeze_heap()
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(coro)


async def _hold_further_signals(app: web.Application) -> None:
    """Once stopping, a second Ctrl-C or SIGTERM only says so. aiohttp would raise it inside the clean-up, which
    then stops half way, and its last cancel of every task leaves bullmq's Worker.close spinning for ever on a
    cancelled teardown. The clean-up is bounded by itself (SHUTDOWN_TIMEOUT, then the jobs' own timeouts)."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, log.warning, "already stopping: running work is finishing first")


def run_app(app: web.Application, host: str, port: int, *, reuse_port: bool = False,
            on_listening: Callable[[], None] | None = None) -> None:
    """Serve until SIGINT/SIGTERM; ``on_listening`` is called once the port is bound (aiohttp's ``print``)."""
    app.on_shutdown.insert(0, _hold_further_signals)
    announce = (lambda _message: on_listening()) if on_listening else None
    freeze_heap()
    web.run_app(app, host=host, port=port, print=announce, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT,
                reuse_port=reuse_port or None, loop=loop_factory()())


BIND_ERRORS = (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES)


def bind_error(host: str, port: int, exc: OSError, option: str = "--port") -> str:
    """One line for a port that cannot be bound, naming it and what to do."""
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is already in use; choose another with {option}"
    return f"cannot listen on {host}:{port}: {os.strerror(exc.errno) if exc.errno else exc}"


# -- several processes -----------------------------------------------------------------------------------

def _exit_with(parent_pid: int):
    """A cleanup_ctx that stops this child (as SIGTERM would) once its parent is gone."""

    async def watch(app: web.Application):
        async def poll() -> None:
            while True:  # nothing announces a parent's death: asking once a second is all there is
                await asyncio.sleep(1)
                if os.getppid() != parent_pid:
                    break
            log.warning("the serving parent %s is gone; stopping", parent_pid)
            os.kill(os.getpid(), signal.SIGTERM)

        task = asyncio.create_task(poll(), name="paygate-parent-watch")
        yield
        task.cancel()

    return watch


def _child(config, host: str, port: int, workers: bool, parent_pid: int) -> None:
    """One serving process (started by ``spawn``: a fresh interpreter that imports prometheus_client anew)."""
    os.setpgrp()  # a terminal's Ctrl-C reaches the parent alone, which stops the children once and in order
    from ..infra import logs
    from ..infra.errors import StartupError
    from ..storage.migrations import MigrationError
    from .app import create_app

    logs.setup(config)
    app = create_app(config, workers=workers)
    app.cleanup_ctx.insert(0, _exit_with(parent_pid))
    try:
        run_app(app, host, port, reuse_port=True)
    except (StartupError, MigrationError) as exc:
        log.error("%s", exc)
        sys.exit(1)


def serve_processes(config, host: str, port: int, processes: int, *, workers: bool) -> int:
    """Run ``processes`` serving children until SIGINT/SIGTERM or until one of them exits; the exit code."""
    metrics_dir = tempfile.mkdtemp(prefix="paygate-metrics-")
    os.environ[metrics.MULTIPROC_ENV] = metrics_dir  # read by the children when they import prometheus_client
    context = multiprocessing.get_context("spawn")
    children = [context.Process(target=_child, args=(config, host, port, workers, os.getpid()),
                                name=f"paygate-serve-{i}") for i in range(processes)]
    stopping_since: list[float] = []

    def stop(signum: int | None = None, frame=None) -> None:
        if not stopping_since:
            stopping_since.append(time.monotonic())
        for child in children:
            if child.pid is not None and child.exitcode is None:
                try:
                    os.kill(child.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    code = 0
    try:
        for child in children:
            if stopping_since:
                break
            child.start()
        started = [child for child in children if child.pid is not None]
        pids = [child.pid for child in started]
        log.info("paygate serve: %d processes on %s:%s (pids %s)", len(started), host, port,
                 ", ".join(map(str, pids)), extra={"pids": pids, "metrics_dir": metrics_dir})
        running = {child.sentinel: child for child in started}
        while running:
            timeout = None
            if stopping_since:
                timeout = max(0.0, stopping_since[0] + STOP_GRACE - time.monotonic())
            ready = multiprocessing.connection.wait(list(running), timeout)
            if not ready and stopping_since:
                for child in running.values():
                    log.error("serving process %s did not stop within %gs; killing it", child.pid, STOP_GRACE)
                    child.kill()
                    child.join()
                continue
            for sentinel in ready:
                child = running.pop(sentinel)
                child.join()
                metrics.mark_process_dead(child.pid)
                if not stopping_since:
                    log.error("serving process %s exited with code %s; stopping the others", child.pid,
                              child.exitcode)
                    code = 1
                    stop()
    finally:
        for child in children:
            if child.pid is not None and child.exitcode is None:
                child.kill()
                child.join()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        os.environ.pop(metrics.MULTIPROC_ENV, None)
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return code

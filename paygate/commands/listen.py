"""A local webhook endpoint for developers: verify paygate's signatures, show each event, optionally pass it on."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import random
import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import aiohttp
from aiohttp import web

from .. import verify
from ..infra.errors import StartupError

# Headers that belong to one hop; aiohttp sets its own for the forwarded request.
HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}
FORWARD_TIMEOUT = 10.0


@dataclass
class Arrival:
    """One request as the listener saw it, for the printer."""

    at: datetime
    path: str
    event: str
    object_id: str | None
    seed_signature: str  # valid | invalid | stale | absent | unchecked
    standard_signature: str
    status: int
    forwarded: str | None = None  # the onward answer ("200") or why it failed
    body: bytes = b""


Printer = Callable[[Arrival], None]
SESSION = web.AppKey("forward_session", aiohttp.ClientSession)


def check_secret(secret: str) -> str:
    """A webhook secret as paygate issues it: ``whsec_`` + base64; ValueError otherwise."""
    if not secret.startswith("whsec_"):
        raise ValueError("must be the merchant's webhook secret, starting with whsec_")
    try:
        base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the part after whsec_ is not valid base64") from None
    return secret


def listener_verdicts(secret: str | None, body: bytes, headers, tolerance: float | None) -> tuple[str, str]:
    """(X-Webhook-Signature, webhook-signature): valid, invalid, stale (outside the replay window), absent, or
    unchecked without a secret. Judged as ``paygate.verify`` judges them, so what passes here passes there."""
    if secret is None:
        return "unchecked", "unchecked"
    return verify.verdicts(secret, body, headers, tolerance=tolerance)


def describe(body: bytes) -> tuple[str, str | None]:
    """The event type and the id of the object it is about, from paygate's webhook body."""
    try:
        payload = json.loads(body)
        event, data = str(payload["event"]), payload.get("data") or {}
    except (ValueError, UnicodeDecodeError, TypeError, KeyError):
        return "(not a paygate event)", None
    # "refund.processed" is about data["refund"]; otherwise the first object in data.
    named = data.get(event.split(".")[0]) if isinstance(data, dict) else None
    candidates = [named, *(data.values() if isinstance(data, dict) else [])]
    for candidate in candidates:
        if isinstance(candidate, dict) and "id" in candidate:
            return event, str(candidate["id"])
    return event, None


async def _forward(session: aiohttp.ClientSession, url: str, body: bytes, headers) -> str:
    onward = {k: v for k, v in headers.items() if k.lower() not in HOP_HEADERS}
    try:
        async with session.post(url, data=body, headers=onward, allow_redirects=False) as resp:
            await resp.read()
            return str(resp.status)
    except TimeoutError:
        return f"timed out after {FORWARD_TIMEOUT:g}s"
    except aiohttp.ClientError as exc:
        return f"failed: {exc}"


def create_listener_app(secret: str | None, fail_rate: float, forward_to: str | None, printer: Printer,
                        tolerance: float | None = verify.DEFAULT_TOLERANCE) -> web.Application:
    """Accept POST on any path: 400 for a present but wrong signature or a signed time more than ``tolerance``
    seconds from now (a replay), 500 with probability ``fail_rate``."""
    refusals = {"invalid": "invalid signature",
                "stale": f"stale timestamp: more than {tolerance or 0:g} s from now (a replayed delivery?)"}

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        seed, standard = listener_verdicts(secret, body, request.headers, tolerance)
        event, object_id = describe(body)
        forwarded = None
        refused = next((refusals[v] for v in ("invalid", "stale") if v in (seed, standard)), None)
        if refused:
            status = 400
        elif random.random() < fail_rate:  # a deliberately flaky endpoint, to watch paygate retry
            status = 500
        else:
            status = 200
            if forward_to:
                forwarded = await _forward(request.app[SESSION], forward_to, body, request.headers)
        printer(Arrival(datetime.now(), request.path, event, object_id, seed, standard, status, forwarded, body))
        text = refused or {200: "ok", 500: "failing on purpose (--fail-rate)"}[status]
        return web.Response(status=status, text=text)

    async def session(app: web.Application):
        app[SESSION] = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=FORWARD_TIMEOUT))
        yield
        await app[SESSION].close()

    app = web.Application()
    app.router.add_post("/{path:.*}", handle)
    if forward_to:
        app.cleanup_ctx.append(session)
    return app


async def run(app: web.Application, host: str, port: int, on_ready: Callable[[], None]) -> None:
    """Serve ``app`` until SIGINT or SIGTERM; a port that cannot be bound is a StartupError."""
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise StartupError(f"cannot listen on {host}:{port}: {reason}") from None
        on_ready()
        await stop.wait()
    finally:
        await runner.cleanup()

"""The merchant dashboard: its static pages, and the few endpoints only it needs (session, overview,
API-secret rotation). Everything else it shows comes from /api/v1 under the session cookie."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from aiohttp import web

from ...core.models import iso
from ...core.operations import merchants as merchant_ops
from ...core.operations.overview import overview as overview_of
from ...core.operations.webhooks import endpoint_view
from ...core.schemas import RotateApiSecret, SignIn
from ...infra import crypto
from ...infra.errors import Unauthorized, UnsupportedMediaType
from ...infra.resources import static_dir
from .. import appkeys, sessions
from ..auth import check_credentials
from .common import body, merchant, respond, services

routes = web.RouteTableDef()

BASE = "/dashboard"
# Only its own files and its own API: no inline code, no other host, not framed.
POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
          "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
LOGIN = "dashboard-login"
FREE_ATTEMPTS = 3  # wrong sign-ins before each further one is slowed
MAX_DELAY = 10.0


def _file(name: str) -> web.FileResponse:
    folder = (static_dir() / "dashboard").resolve()
    path = (folder / name).resolve()
    if path.parent != folder or path.suffix not in TYPES or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={
        "Content-Type": f"{TYPES[path.suffix]}; charset=utf-8", "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff", "Content-Security-Policy": POLICY, "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin"})


@routes.get(BASE)
async def root(request: web.Request) -> web.Response:
    raise web.HTTPFound(f"{BASE}/")


@routes.get(f"{BASE}/")
async def index(request: web.Request) -> web.FileResponse:
    return _file("index.html")


@routes.get(f"{BASE}/{{name:[A-Za-z0-9_-]+\\.[a-z]+}}")
async def asset(request: web.Request) -> web.FileResponse:
    return _file(request.match_info["name"])


async def _session_view(request: web.Request, who: dict) -> web.Response:
    svc = services(request)
    return respond({"signed_in": True, "merchant": endpoint_view(svc, who),
                    "csrf_token": await sessions.csrf_token(request),
                    "idle_timeout": int(svc.config.dashboard.idle_timeout)})


@routes.post(f"{BASE}/api/session")
async def sign_in(request: web.Request) -> web.Response:
    """Key and secret for a session cookie. Attempts are counted per client IP and key since the last success
    there: past the third each waits longer, and past ``dashboard.login_attempts`` they are refused. (Per key
    too, so that one client guessing cannot lock everyone behind the same proxy out.) While Redis cannot count
    them, attempts are refused with 503 and Retry-After: uncounted, they would be unlimited guesses."""
    if request.content_type != "application/json":  # a cross-site form cannot send JSON: no login CSRF
        raise UnsupportedMediaType("send the credentials as application/json", field="Content-Type")
    credentials = await body(request, SignIn)
    limiter, client = request.app[appkeys.RATE_LIMITER], f"{request.remote or 'unknown'}|{credentials.api_key}"
    earlier = await limiter.attempt(LOGIN, client)
    if earlier >= FREE_ATTEMPTS:
        delay = services(request).config.dashboard.login_delay * (earlier - FREE_ATTEMPTS + 1)
        await asyncio.sleep(min(delay, MAX_DELAY))
    who = await check_credentials(services(request).pool, credentials.api_key, credentials.api_secret)
    await limiter.forget(LOGIN, client)
    await sessions.start(request, who)
    return await _session_view(request, who)


@routes.get(f"{BASE}/api/session")
async def current(request: web.Request) -> web.Response:
    """The signed-in merchant, or ``{"signed_in": false}``: a page asking whether it is signed in has made no
    error (a 401 here would be logged in the browser's console on every signed-out first load)."""
    try:
        who = await merchant(request)
    except Unauthorized:
        return respond({"signed_in": False})
    return await _session_view(request, who)


@routes.delete(f"{BASE}/api/session")
async def sign_out(request: web.Request) -> web.Response:
    await merchant(request)  # a write: the CSRF token is checked, so another site cannot sign you out
    await sessions.end(request, services(request).pool)
    return web.Response(status=204)


@routes.get(f"{BASE}/api/overview")
async def overview(request: web.Request) -> web.Response:
    return respond(await overview_of(services(request), await merchant(request)))


@routes.get(f"{BASE}/api/api-secret")
async def api_secret_grace(request: web.Request) -> web.Response:
    """Until when the previous API secret still works, while a rotation's grace runs (else null)."""
    until = (await merchant(request))["api_secret_prev_until"]
    return respond({"previous_secret_expires_at": iso(until) if until and until > datetime.now(UTC) else None})


@routes.post(f"{BASE}/api/api-secret/rotate")
async def rotate_api_secret(request: web.Request) -> web.Response:
    """A new API secret, shown this once; the old one works on for ``grace`` seconds (0: stops now). Every other
    session ends now: it was signed in with a secret that is no longer the current one."""
    who = await merchant(request)
    grace = (await body(request, RotateApiSecret)).grace
    svc = services(request)
    rotated = await merchant_ops.rotate_api_secret(svc.pool, svc.box, who["id"], grace)
    await sessions.renew(request, {**who, "api_secret_hash": crypto.hash_secret(rotated["api_secret"])})
    return respond({"api_key": rotated["api_key"], "api_secret": rotated["api_secret"],
                    "previous_secret_expires_at": rotated["previous_secret_expires_at"] if grace else None})

"""Dashboard sessions: an encrypted cookie naming the merchant, with a CSRF token for writes.

The cookie comes from aiohttp-session's EncryptedCookieStorage (Fernet: AES-CBC + HMAC, with a
timestamp), keyed from the master key so that every process of a deployment reads it. It is
HttpOnly, SameSite=Strict, Secure when the request came over https, and lasts while the browser
is open. Inside it, the time of the last request: one idle for longer than ``dashboard.idle_timeout``
is refused. (aiohttp-session's own max_age counts from sign-in, not from the last request.) Its middleware is
not used: it wrapped every request, though only the dashboard's use a session (its own routes, and API calls
that carry no key). The cookie is read when a function here first asks for it, and ``save`` (called by
middleware.request_id_middleware) writes it back when it changed.

A session carries a tag of the merchant's API-secret hash: rotating the secret ends every other
session of that merchant. A signed-out session's id is kept in Postgres (``dashboard_sessions_ended``) for
as long as a copy of its cookie could still be within the idle allowance, and checked in the same query
that loads the merchant. So every way a session ends is held by Postgres alone: losing Redis's data (a
FLUSHALL, a restart without persistence) brings none back, and sessions need no Redis at all.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time

from aiohttp import web
from aiohttp_session import Session
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from ..infra import crypto
from ..infra.config import Config
from ..infra.errors import Forbidden, Unauthorized
from ..storage import sessions as ended_sessions
from ..storage.db import Pool, cursor
from . import appkeys

COOKIE = "paygate_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Sessions sealed before sign-outs were kept in Postgres lack this mark: their sign-out may have been remembered
# only in a Redis that is gone, so they are refused and sign in once more.
FORMAT = 2
# A sign-out is kept this much longer than the idle allowance, for clocks of different hosts that disagree.
CLOCK_MARGIN = 300.0


class _Cookies(EncryptedCookieStorage):
    """Secure under https: aiohttp-session fixes the flag when built, so each answer sets it here.

    Safe to set on the shared storage: ``save_session`` runs to completion without awaiting.
    """

    async def save_session(self, request: web.Request, response: web.StreamResponse, session) -> None:
        self._cookie_params["secure"] = request.secure
        await super().save_session(request, response, session)


STORAGE = web.AppKey("session_storage", EncryptedCookieStorage)
SESSION = web.RequestKey("session", Session)


def storage(config: Config) -> EncryptedCookieStorage:
    """The cookie storage, built once per app (``app[STORAGE]``)."""
    master = config.security.master_key
    # Without a master key (an app built by hand in a test) sessions last as long as this process.
    key = crypto.derive_key(master, "dashboard sessions") if master else os.urandom(32)
    return _Cookies(key, cookie_name=COOKIE, httponly=True, samesite="Strict", path="/")


async def _session(request: web.Request) -> Session:
    """The request's session, read from its cookie the first time it is asked for."""
    session = request.get(SESSION)
    if session is None:
        session = request[SESSION] = await request.app[STORAGE].load_session(request)
    return session


async def save(request: web.Request, response: web.StreamResponse) -> None:
    """Write the cookie of the request's session into ``response`` if the request changed the session."""
    session = request[SESSION]
    if session._changed:  # how aiohttp-session's own middleware decides
        await request.app[STORAGE].save_session(request, response, session)


def _tag(merchant: dict) -> str:
    """Changes when the API secret does."""
    return hashlib.sha256(merchant["api_secret_hash"].encode()).hexdigest()[:16]


async def start(request: web.Request, merchant: dict) -> str:
    """A fresh session for ``merchant``; returns its CSRF token."""
    session = request[SESSION] = await request.app[STORAGE].new_session()
    csrf = secrets.token_urlsafe(32)
    session.update({"sid": secrets.token_urlsafe(16), "merchant_id": merchant["id"], "auth": _tag(merchant),
                    "csrf": csrf, "seen": time.time(), "v": FORMAT})
    return csrf


async def renew(request: web.Request, merchant: dict) -> None:
    """Keep this session signed in after the merchant's API secret changed (others end); a request
    authenticated by key has no session, and gets none."""
    session = await _session(request)
    if session.get("merchant_id") == merchant["id"]:
        session["auth"] = _tag(merchant)


async def end(request: web.Request, pool: Pool) -> None:
    """Sign out. The browser drops the cookie; a copy kept elsewhere is refused too, because the session's id
    is remembered as ended (in Postgres) for as long as any cookie sealed before now could be used."""
    session = await _session(request)
    if (sid := session.get("sid")) and (merchant_id := session.get("merchant_id")):
        keep_for = request.app[appkeys.CONFIG].dashboard.idle_timeout + CLOCK_MARGIN
        async with cursor(pool) as cur:
            await ended_sessions.end(cur, sid, merchant_id, keep_for)
    session.invalidate()


async def csrf_token(request: web.Request) -> str:
    return (await _session(request)).get("csrf", "")


async def authenticate(request: web.Request, pool: Pool) -> dict:
    """The merchant of the request's session; 401 without one, 403 for a write without the CSRF token."""
    session = await _session(request)
    merchant_id = session.get("merchant_id")
    if not merchant_id:
        raise Unauthorized("send X-Api-Key and X-Api-Secret headers (or HTTP Basic key:secret), "
                           "or sign in to the dashboard")
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "").encode("utf-8", "replace")
        if not hmac.compare_digest(sent, session.get("csrf", "").encode()):
            raise Forbidden(f"this request needs the session's {CSRF_HEADER} header", field=CSRF_HEADER,
                            code="CSRF_TOKEN_INVALID")
    merchant = await _merchant_of_live_session(request, session, pool)
    if merchant is None or not merchant["is_active"] or session.get("auth") != _tag(merchant):
        session.invalidate()
        raise Unauthorized("the dashboard session has ended; sign in again")
    session["seen"] = time.time()  # the idle timeout counts from now
    return merchant


async def _merchant_of_live_session(request: web.Request, session, pool: Pool) -> dict | None:
    """The session's merchant, or None when the session went idle, was signed out, or predates FORMAT. An idle
    one is told from the cookie alone; otherwise one query loads the merchant and checks the sign-out."""
    idle = time.time() - session.get("seen", 0) > request.app[appkeys.CONFIG].dashboard.idle_timeout
    sid = session.get("sid")
    if idle or not sid or session.get("v") != FORMAT:
        return None
    async with cursor(pool) as cur:
        return await ended_sessions.merchant_unless_ended(cur, session["merchant_id"], sid)

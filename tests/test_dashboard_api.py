"""The dashboard's server side: sign-in, the session cookie, CSRF, idle expiry, throttling, the overview."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import ssl
import time
from http.cookies import SimpleCookie

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from paygate.core.states import STATUSES
from paygate.http import sessions
from paygate.http.sessions import COOKIE

from .api import create_order, pay, wait_final
from .test_isolation import ENDPOINTS, call, first  # noqa: F401  (first is a fixture)

API = "/api/v1"
SESSION = "/dashboard/api/session"


NONE = dict.fromkeys(STATUSES["payment"], 0)  # the overview counts every payment status

async def sign_in(client, who: dict) -> dict:
    resp = await client.post(SESSION, json={"api_key": who["api_key"], "api_secret": who["api_secret"]})
    body = await resp.json()
    assert resp.status == 200, body
    return body


def csrf(session: dict) -> dict:
    return {"X-CSRF-Token": session["csrf_token"]}


def set_cookie(resp) -> SimpleCookie:
    cookie = SimpleCookie()
    for header in resp.headers.getall("Set-Cookie", []):
        cookie.load(header)
    return cookie


async def signed_in(client) -> bool:
    """What the dashboard asks on its first load: 200 either way, and whether a session is there."""
    resp = await client.get(SESSION)
    assert resp.status == 200
    return (await resp.json())["signed_in"]


async def test_asking_for_the_session_without_one_is_no_error(client, merchant):
    resp = await client.get(SESSION)
    assert resp.status == 200 and await resp.json() == {"signed_in": False}
    assert (await client.get(f"{API}/payments")).status == 401
    await sign_in(client, merchant)
    assert await signed_in(client) is True


async def test_signing_in_sets_a_strict_httponly_session_cookie(client, merchant):
    resp = await client.post(SESSION, json={"api_key": merchant["api_key"], "api_secret": merchant["api_secret"]})
    body = await resp.json()
    assert resp.status == 200, body
    assert body["merchant"]["id"] == merchant["merchant_id"]
    assert body["merchant"]["webhook_secret"].startswith("whsec_…"), "masked"
    assert len(body["csrf_token"]) >= 32 and body["idle_timeout"] == 1800
    assert resp.headers["Cache-Control"] == "no-store"
    morsel = set_cookie(resp)[COOKIE]
    assert morsel["httponly"] and morsel["samesite"] == "Strict" and morsel["path"] == "/"
    assert not morsel["secure"], "plain http here; Secure only under https"
    assert merchant["api_secret"] not in morsel.value and merchant["merchant_id"] not in morsel.value, "encrypted"
    again = await client.get(SESSION)
    assert (await again.json())["csrf_token"] == body["csrf_token"]


async def test_the_cookie_is_secure_under_https(aiohttp_client, make_app, merchant, tmp_path):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*self_signed(tmp_path))
    server = TestServer(make_app())
    await server.start_server(ssl=context)  # pytest-aiohttp's server_kwargs do not reach the listening socket
    client = await aiohttp_client(server, connector=aiohttp.TCPConnector(ssl=False))
    assert str(client.make_url("/")).startswith("https://")
    resp = await client.post(SESSION, json={"api_key": merchant["api_key"], "api_secret": merchant["api_secret"]})
    assert resp.status == 200
    assert set_cookie(resp)[COOKIE]["secure"]


def self_signed(folder) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1)).sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


@pytest.mark.parametrize("body", [
    {"api_key": "key_test_abc123", "api_secret": "wrong"},
    {"api_key": "key_test_nobody", "api_secret": "secret_test_xyz789"},
])
async def test_wrong_credentials_get_no_session(client, merchant, body):
    resp = await client.post(SESSION, json=body)
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "AUTHENTICATION_ERROR"
    assert COOKIE not in set_cookie(resp)
    assert (await client.get(f"{API}/payments")).status == 401


async def test_sign_in_takes_json_only(client, merchant):
    """A cross-site form can post text/plain but not JSON: so it cannot sign a victim in to its own account."""
    form = json.dumps({"api_key": merchant["api_key"], "api_secret": merchant["api_secret"], "x": "="})
    resp = await client.post(SESSION, data=form, headers={"Content-Type": "text/plain"})
    error = (await resp.json())["error"]
    assert resp.status == 415, error
    assert (error["code"], error["field"]) == ("UNSUPPORTED_MEDIA_TYPE", "Content-Type")
    assert COOKIE not in set_cookie(resp)


async def test_a_session_reads_the_api_and_writes_only_with_its_csrf_token(client, merchant):
    session = await sign_in(client, merchant)
    order = await create_order(client, csrf(session))
    payment = await pay(client, csrf(session), order["id"])
    listed = await (await client.get(f"{API}/payments")).json()
    assert [p["id"] for p in listed["data"]] == [payment["id"]]
    for headers in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": session["csrf_token"][:-1] + "é"}):
        resp = await client.post(f"{API}/orders", json={"amount": 100, "currency": "INR"}, headers=headers)
        error = (await resp.json())["error"]
        assert resp.status == 403, error
        assert (error["code"], error["field"]) == ("CSRF_TOKEN_INVALID", "X-CSRF-Token")
    resp = await client.patch(f"{API}/merchant", json={"webhook_url": None})
    assert resp.status == 403
    orders = await (await client.get(f"{API}/orders")).json()
    assert orders["total"] == 1, "nothing refused was written"


async def test_a_request_with_an_api_key_neither_reads_nor_writes_a_session(aiohttp_client, make_app, merchant):
    """Sessions cost only the requests that use them: the dashboard's, and API calls that carry no key."""
    loaded: dict[str, bool] = {}

    @web.middleware
    async def probe(request, handler):  # outermost: what the request held once every middleware was done
        response = await handler(request)
        loaded[request.path] = sessions.SESSION in request
        return response

    app = make_app()
    app.middlewares.insert(0, probe)
    client = await aiohttp_client(app)
    session = await sign_in(client, merchant)
    headers = {"X-Api-Key": merchant["api_key"], "X-Api-Secret": merchant["api_secret"]}
    resp = await client.get(f"{API}/payments", headers=headers)  # the session's cookie goes along, unread
    assert resp.status == 200 and COOKIE not in set_cookie(resp)
    assert loaded == {SESSION: True, f"{API}/payments": False}
    resp = await client.get(f"{API}/orders", headers={**headers, "X-Api-Secret": "wrong"})  # refused by key
    assert resp.status == 401 and COOKIE not in set_cookie(resp) and loaded[f"{API}/orders"] is False

    assert (await client.get(f"{API}/payments")).status == 200, "without a key, the session answers"
    assert loaded[f"{API}/payments"] is True
    assert (await client.delete(SESSION, headers=csrf(session))).status == 204
    assert await signed_in(client) is False


async def test_signing_out_ends_the_session(client, merchant):
    session = await sign_in(client, merchant)
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))[COOKIE].value
    assert (await client.delete(SESSION)).status == 403, "signing out is a write: CSRF token needed"
    resp = await client.delete(SESSION, headers=csrf(session))
    assert resp.status == 204
    assert set_cookie(resp)[COOKIE].value == ""
    assert await signed_in(client) is False
    assert (await client.get(f"{API}/payments")).status == 401
    # a copy of the cookie kept from before signing out opens nothing either
    resp = await client.get(f"{API}/payments", headers={"Cookie": f"{COOKIE}={cookie}"})
    assert resp.status == 401


async def test_an_idle_session_expires_and_a_busy_one_does_not(aiohttp_client, make_app, merchant):
    client = await aiohttp_client(make_app(dashboard__idle_timeout=2))
    await sign_in(client, merchant)
    for _ in range(4):  # 4 s of activity, each request within the 2 s allowance
        await asyncio.sleep(1)
        assert (await client.get(SESSION)).status == 200
    sealed = client.session.cookie_jar.filter_cookies(client.make_url("/"))[COOKIE].value
    await asyncio.sleep(3.2)
    client.session.cookie_jar.clear()  # send the old cookie by hand: the server itself must refuse it
    resp = await client.get(f"{API}/payments", headers={"Cookie": f"{COOKIE}={sealed}"})
    assert resp.status == 401


async def test_rotating_the_api_secret_refuses_the_old_one_and_ends_other_sessions(client, merchant):
    mine, theirs = Browser(client), Browser(client)  # two browsers: their own cookies, the same server
    session = await sign_in(mine, merchant)
    await sign_in(theirs, merchant)
    assert (await mine.post("/dashboard/api/api-secret/rotate")).status == 403
    resp = await mine.post("/dashboard/api/api-secret/rotate", headers=csrf(session))
    rotated = await resp.json()
    assert resp.status == 200, rotated
    assert rotated["api_key"] == merchant["api_key"] and rotated["api_secret"] != merchant["api_secret"]
    assert (await mine.get(f"{API}/payments", headers=merchant["headers"])).status == 401
    new = {"X-Api-Key": merchant["api_key"], "X-Api-Secret": rotated["api_secret"]}
    assert (await mine.get(f"{API}/payments", headers=new)).status == 200
    assert await signed_in(mine), "the session that rotated stays signed in"
    assert await signed_in(theirs) is False, "every other session ends"
    assert (await theirs.get(f"{API}/payments")).status == 401
    assert (await sign_in(theirs, {**merchant, "api_secret": rotated["api_secret"]}))["merchant"]


class Browser:
    """Another cookie jar on the test client's server, so two sessions can live side by side."""

    def __init__(self, client):
        self.client = client
        self.cookies = SimpleCookie()

    async def request(self, method: str, path: str, **kwargs):
        cookie = "; ".join(f"{k}={m.value}" for k, m in self.cookies.items() if m.value)
        self.client.session.cookie_jar.clear()
        resp = await self.client.request(method, path, headers={**kwargs.pop("headers", {}), "Cookie": cookie},
                                         **kwargs)
        self.client.session.cookie_jar.clear()
        self.cookies.update(set_cookie(resp))
        return resp

    async def get(self, path: str, **kwargs):
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs):
        return await self.request("POST", path, **kwargs)


async def test_wrong_sign_ins_are_slowed_then_refused(aiohttp_client, make_app, merchant):
    client = await aiohttp_client(make_app(dashboard__login_attempts="6/minute", dashboard__login_delay=0.4))
    wrong = {"api_key": merchant["api_key"], "api_secret": "guess"}
    waited = []
    for _ in range(6):
        started = time.monotonic()
        assert (await client.post(SESSION, json=wrong)).status == 401
        waited.append(time.monotonic() - started)
    # attempts 4, 5 and 6 wait 0.4, 0.8 and 1.2 s (lower bounds only: a busy machine can only add)
    assert waited[3] >= 0.4 and waited[4] >= 0.8 and waited[5] >= 1.2
    resp = await client.post(SESSION, json={"api_key": merchant["api_key"], "api_secret": merchant["api_secret"]})
    error = (await resp.json())["error"]
    assert resp.status == 429, error
    assert error["code"] == "RATE_LIMIT_ERROR" and 1 <= int(resp.headers["Retry-After"]) <= 60
    assert COOKIE not in set_cookie(resp), "refused even with the right secret"


async def test_one_key_refused_does_not_lock_out_another(aiohttp_client, make_app, merchant, other_merchant):
    """Attempts count per client and key: many merchants behind one proxy share an address."""
    client = await aiohttp_client(make_app(dashboard__login_attempts="2/minute", dashboard__login_delay=0))
    wrong = {"api_key": merchant["api_key"], "api_secret": "guess"}
    for _ in range(2):
        assert (await client.post(SESSION, json=wrong)).status == 401
    assert (await client.post(SESSION, json=wrong)).status == 429
    await sign_in(client, other_merchant)


async def test_a_successful_sign_in_starts_the_count_afresh(aiohttp_client, make_app, merchant):
    client = await aiohttp_client(make_app(dashboard__login_attempts="3/minute", dashboard__login_delay=0))
    wrong = {"api_key": merchant["api_key"], "api_secret": "guess"}
    for _ in range(2):
        assert (await client.post(SESSION, json=wrong)).status == 401
    await sign_in(client, merchant)
    for _ in range(2):
        assert (await client.post(SESSION, json=wrong)).status == 401
    await sign_in(client, merchant)


@pytest.mark.parametrize(("method", "path", "body", "field"), ENDPOINTS)
async def test_a_session_cannot_reach_another_merchants_objects(client, first, other_merchant, method, path, body,  # noqa: F811
                                                                field):
    session = await sign_in(client, other_merchant)
    resp = await call(client, first, method, path, body, csrf(session))
    error = (await resp.json())["error"]
    assert resp.status == 404, error
    assert (error["code"], error["field"]) == ("NOT_FOUND_ERROR", field)


async def test_the_overview_counts_today_and_the_last_seven_days(worker_client, merchant, pool):
    headers = merchant["headers"]
    paid = []
    for number, amount in (("4111111111111111", 10000), ("4242424242424242", 2550),
                           ("4000000000000002", 999), ("4111111111111111", 7000), ("4111111111111111", 123)):
        order = await create_order(worker_client, headers, amount=amount)
        payment = await pay(worker_client, headers, order["id"], number=number)
        paid.append(await wait_final(worker_client, headers, payment["id"]))
    usd = await create_order(worker_client, headers, amount=500, currency="USD")
    await wait_final(worker_client, headers, (await pay(worker_client, headers, usd["id"]))["id"])
    async with pool.acquire() as conn, conn.cursor() as cur:  # one payment 3 days ago, one 8 days ago
        await cur.execute("UPDATE payments SET created_at = now() - interval '3 days' WHERE id = %s", (paid[3]["id"],))
        await cur.execute("UPDATE payments SET created_at = now() - interval '8 days' WHERE id = %s", (paid[4]["id"],))
    session = await sign_in(worker_client, merchant)
    assert session
    resp = await worker_client.get("/dashboard/api/overview")
    overview = await resp.json()
    assert resp.status == 200, overview
    today = overview["today"]
    assert today["counts"] == {**NONE, "success": 3, "failed": 1}
    assert today["volume"] == {"INR": 12550, "USD": 500} and today["total"] == 4
    assert today["success_rate"] == 0.75
    week = overview["last_7_days"]
    assert week["counts"]["success"] == 4 and week["volume"] == {"INR": 19550, "USD": 500} and week["total"] == 5
    daily = overview["daily"]
    assert len(daily) == 7 and daily[-1]["date"] == dt.datetime.now(dt.UTC).date().isoformat()
    assert [d["count"] for d in daily] == [0, 0, 0, 1, 0, 0, 4]
    assert daily[3]["volume"] == {"INR": 7000}


async def test_the_overview_of_a_new_merchant_is_empty(client, other_merchant):
    await sign_in(client, other_merchant)
    overview = await (await client.get("/dashboard/api/overview")).json()
    assert overview["today"] == {"volume": {}, "counts": NONE, "total": 0, "success_rate": None}
    assert [d["count"] for d in overview["daily"]] == [0] * 7


async def test_the_webhook_secret_is_revealed_to_its_merchant(client, merchant):
    resp = await client.get(f"{API}/merchant/webhook-secret", headers=merchant["headers"])
    assert resp.status == 200
    assert (await resp.json())["webhook_secret"] == merchant["webhook_secret"]
    assert (await client.get(f"{API}/merchant/webhook-secret")).status == 401


async def test_dashboard_pages_are_served_with_a_strict_policy(client):
    resp = await client.get("/dashboard", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/dashboard/"
    page = await client.get("/dashboard/")
    assert page.status == 200 and page.content_type == "text/html"
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
    script = await client.get("/dashboard/app.js")
    assert script.status == 200 and script.content_type == "text/javascript"
    for missing in ("/dashboard/nope.js", "/dashboard/..%2Fcheckout.html", "/dashboard/app.py"):
        assert (await client.get(missing)).status == 404, missing

"""Behind a reverse proxy: the client's address and scheme come from forwarded headers only from a trusted peer.

The test client connects from 127.0.0.1, so a trusted_proxies list covering it plays the proxy; one that does not
plays a client sending the same headers straight to paygate.
"""

from __future__ import annotations

from http.cookies import SimpleCookie

import pytest
from aiohttp import web

from paygate.http import proxies
from paygate.http.sessions import COOKIE
from paygate.infra.config import ConfigError, load

from .api import create_order

KEY = "key_test_abc123"  # the seeded merchant's public key, as checkout uses it
SESSION = "/dashboard/api/session"
LOOPBACK = ["127.0.0.0/8"]
CLIENTS = ["203.0.113.7", "198.51.100.23", "2001:db8::5", "192.0.2.200"]


def order_url(order: dict) -> str:
    return f"/api/v1/checkout/orders/{order['id']}?key={KEY}"


async def statuses(client, url: str, headers: dict, times: int) -> list[int]:
    return [(await client.get(url, headers=headers)).status for _ in range(times)]


def cookie(resp) -> SimpleCookie:
    jar = SimpleCookie()
    for header in resp.headers.getall("Set-Cookie", []):
        jar.load(header)
    return jar


async def test_each_forwarded_client_has_its_own_checkout_limit(aiohttp_client, make_app, merchant):
    client = await aiohttp_client(make_app(checkout__rate_limit="3/minute", server__trusted_proxies=LOOPBACK))
    url = order_url(await create_order(client, merchant["headers"]))
    for address in CLIENTS:
        assert await statuses(client, url, {"X-Forwarded-For": address}, 4) == [200, 200, 200, 429], address


@pytest.mark.parametrize("trusted", [[], ["10.0.0.0/8", "2001:db8::/32"]], ids=["none", "not-the-peer"])
async def test_forwarded_headers_from_an_untrusted_peer_are_ignored(aiohttp_client, make_app, merchant, trusted):
    client = await aiohttp_client(make_app(checkout__rate_limit="3/minute", server__trusted_proxies=trusted))
    url = order_url(await create_order(client, merchant["headers"]))
    seen = [await statuses(client, url, {"X-Forwarded-For": address, "Forwarded": f'for="{address}"'}, 1)
            for address in CLIENTS]
    assert seen == [[200], [200], [200], [429]], "one bucket: the peer's"


async def test_a_client_cannot_choose_its_address_by_writing_x_forwarded_for(aiohttp_client, make_app, merchant):
    """The proxy appends the address it saw; whatever the client wrote stands to the left of it and is not read."""
    client = await aiohttp_client(make_app(checkout__rate_limit="3/minute", server__trusted_proxies=LOOPBACK))
    url = order_url(await create_order(client, merchant["headers"]))
    seen = [await statuses(client, url, {"X-Forwarded-For": f"{spoof}, 203.0.113.7"}, 1)
            for spoof in ["10.1.1.1", "10.1.1.2", "10.1.1.3", "10.1.1.4"]]
    assert seen == [[200], [200], [200], [429]], "one bucket: 203.0.113.7's"
    # Through two trusted proxies, the hop before them is the client, still not the spoofed prefix.
    assert await statuses(client, url, {"X-Forwarded-For": "10.9.9.9, 203.0.113.7, 127.0.0.5"}, 1) == [429]
    assert await statuses(client, url, {"X-Forwarded-For": "10.9.9.9, 203.0.113.8, 127.0.0.5"}, 1) == [200]


async def sign_in(client, merchant: dict, secret: str, headers: dict):
    return await client.post(SESSION, json={"api_key": merchant["api_key"], "api_secret": secret}, headers=headers)


@pytest.mark.parametrize(("trusted", "headers", "secure"), [
    (LOOPBACK, {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}, True),
    (LOOPBACK, {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "http"}, False),
    (LOOPBACK, {"X-Forwarded-For": "203.0.113.7"}, False),
    ([], {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}, False),
    (["10.0.0.0/8"], {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}, False),
], ids=["trusted-https", "trusted-http", "trusted-no-proto", "untrusted-none", "untrusted-other"])
async def test_the_session_cookie_is_secure_when_the_forwarded_scheme_is_https(aiohttp_client, make_app, merchant,
                                                                               trusted, headers, secure):
    client = await aiohttp_client(make_app(server__trusted_proxies=trusted))
    resp = await sign_in(client, merchant, merchant["api_secret"], headers)
    assert resp.status == 200, await resp.text()
    assert bool(cookie(resp)[COOKIE]["secure"]) is secure


async def test_failed_sign_ins_from_one_address_do_not_lock_the_key_out_elsewhere(aiohttp_client, make_app,
                                                                                  merchant):
    client = await aiohttp_client(make_app(dashboard__login_delay=0, server__trusted_proxies=LOOPBACK))
    attacker, owner = {"X-Forwarded-For": "203.0.113.66"}, {"X-Forwarded-For": "198.51.100.10"}
    for _ in range(10):  # dashboard.login_attempts is 10 per 15 minutes
        assert (await sign_in(client, merchant, "guess", attacker)).status == 401
    assert (await sign_in(client, merchant, merchant["api_secret"], attacker)).status == 429, "that address is out"
    assert (await sign_in(client, merchant, "typo", owner)).status == 401, "counted apart from the attacker's"
    resp = await sign_in(client, merchant, merchant["api_secret"], owner)
    assert resp.status == 200, await resp.text()
    assert COOKIE in cookie(resp)


# What the middleware makes of the headers, on a small app that answers with what it sees (real HTTP).

def echo_app(trusted: list[str], header: str = "x-forwarded") -> web.Application:
    config = load(environ={}, check_required=False,
                  overrides={"server.trusted_proxies": trusted, "server.forwarded_headers": header})

    async def echo(request: web.Request) -> web.Response:
        return web.Response(text=f"{request.remote} {request.scheme}")

    app = web.Application(middlewares=[proxies.middleware(config)])
    app.router.add_get("/", echo)
    return app


@pytest.mark.parametrize(("trusted", "header", "headers", "seen"), [
    (LOOPBACK, "x-forwarded", {}, "127.0.0.1 http"),
    (LOOPBACK, "x-forwarded", {"X-Forwarded-Proto": "https"}, "127.0.0.1 https"),  # a proxy that sets only that
    (LOOPBACK, "x-forwarded", {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"},
     "203.0.113.7 https"),
    (LOOPBACK, "x-forwarded", {"X-Forwarded-For": "[2001:db8::5]:4711, 127.0.0.9"}, "2001:db8::5 http"),
    (LOOPBACK, "x-forwarded", {"X-Forwarded-For": "192.0.2.1:5555"}, "192.0.2.1 http"),
    (LOOPBACK, "x-forwarded", {"X-Forwarded-For": "::ffff:192.0.2.1"}, "192.0.2.1 http"),
    # proxies that append X-Forwarded-Proto: the client's scheme is the one written with the client's hop
    (LOOPBACK, "x-forwarded", {"X-Forwarded-For": "203.0.113.7, 127.0.0.9", "X-Forwarded-Proto": "https, http"},
     "203.0.113.7 https"),
    (LOOPBACK, "x-forwarded", {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "gopher"},
     "203.0.113.7 http"),
    # two header lines are one list, as RFC 9110 says
    (LOOPBACK, "x-forwarded", [("X-Forwarded-For", "10.1.1.1"), ("X-Forwarded-For", "203.0.113.7")],
     "203.0.113.7 http"),
    # every hop trusted: the left-most is the client
    (LOOPBACK, "x-forwarded", {"X-Forwarded-For": "127.0.0.7, 127.0.0.8"}, "127.0.0.7 http"),
    # garbled or "unknown": stop at the nearest address known
    (LOOPBACK, "x-forwarded", {"X-Forwarded-For": "203.0.113.7, unknown, 127.0.0.8"}, "127.0.0.8 http"),
    (LOOPBACK, "x-forwarded", {"X-Forwarded-For": "not-an-ip"}, "127.0.0.1 http"),
    # the kind of header not configured is ignored: a proxy passes it on from the client unchecked
    (LOOPBACK, "x-forwarded", {"Forwarded": "for=203.0.113.7;proto=https"}, "127.0.0.1 http"),
    (LOOPBACK, "forwarded", {"Forwarded": 'for=10.1.1.1, for="[2001:db8::5]:4711";proto=https'},
     "2001:db8::5 https"),
    (LOOPBACK, "forwarded", {"Forwarded": "for=203.0.113.7;proto=https, for=127.0.0.9;proto=http"},
     "203.0.113.7 https"),
    (LOOPBACK, "forwarded", {"Forwarded": "for=_hidden", "X-Forwarded-For": "203.0.113.7"}, "127.0.0.1 http"),
    ([], "x-forwarded", {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}, "127.0.0.1 http"),
    ([], "forwarded", {"Forwarded": "for=203.0.113.7;proto=https"}, "127.0.0.1 http"),
])
async def test_what_the_app_sees_of_the_client(aiohttp_client, trusted, header, headers, seen):
    client = await aiohttp_client(echo_app(trusted, header))
    resp = await client.get("/", headers=headers)
    assert await resp.text() == seen


@pytest.mark.parametrize(("value", "source", "expected"), [
    (["10.0.0.0/8", "192.0.2.1", "2001:db8::/32"], "default", ["10.0.0.0/8", "192.0.2.1/32", "2001:db8::/32"]),
    ("10.0.0.0/8, 127.0.0.1", "env", ["10.0.0.0/8", "127.0.0.1/32"]),
])
def test_trusted_proxies_are_networks(value, source, expected):
    if source == "env":
        config = load(environ={"PAYGATE_SERVER__TRUSTED_PROXIES": value}, check_required=False)
    else:
        config = load(environ={}, overrides={"server.trusted_proxies": value}, check_required=False)
    assert config.server.trusted_proxies == expected


@pytest.mark.parametrize("value", [["10.0.0.1/8"], ["proxy.internal"], "10.0.0.0/8", [8]])
def test_a_bad_trusted_proxies_entry_is_one_line_naming_the_key(value):
    with pytest.raises(ConfigError) as caught:
        load(environ={}, overrides={"server.trusted_proxies": value}, check_required=False)
    message = str(caught.value)
    assert message.startswith("server.trusted_proxies: ") and "\n" not in message

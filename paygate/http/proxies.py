"""The client behind reverse proxies: its address and scheme from forwarded headers, believed only when the
peer is in ``server.trusted_proxies``.

Hand-written over aiohttp's own RFC 7239 parser (``request.forwarded``) rather than aiohttp-remotes 1.4.0: its
XForwardedStrict and ForwardedStrict want the exact number of hops on every request and answer 400 to a direct
one (a health check) or one from an untrusted peer, and its XForwardedFiltered believes the header from any peer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from aiohttp import hdrs, web
from multidict import CIMultiDictProxy

from ..infra.config import Config

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Hop = tuple[Address | None, str | None]  # the address one proxy saw, and the scheme it was reached by
SCHEMES = ("http", "https")


def parse_address(text: str | None) -> Address | None:
    """An address as a header or a socket names it ("[2001:db8::1]:4711", "192.0.2.1:80" and "::ffff:192.0.2.1"
    too), or None for "unknown", an obfuscated identifier or anything garbled."""
    text = (text or "").strip().strip('"')
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # IPv4 with a port; a bare IPv6 address has two or more colons
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    # A dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d; networks are written in IPv4.
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def _scheme(text: str | None) -> str | None:
    text = (text or "").strip().lower()
    return text if text in SCHEMES else None


def x_forwarded_hops(headers: CIMultiDictProxy[str]) -> list[Hop]:
    """X-Forwarded-For, client first, each hop with its X-Forwarded-Proto entry.

    Proxies that set X-Forwarded-Proto rather than append to it leave one value: every hop gets it then.
    """
    addresses = [a for line in headers.getall(hdrs.X_FORWARDED_FOR, ()) for a in line.split(",")]
    schemes = [s for line in headers.getall(hdrs.X_FORWARDED_PROTO, ()) for s in line.split(",")]
    hops: list[Hop] = []
    for from_right, address in enumerate(reversed(addresses)):
        scheme = schemes[-1 - min(from_right, len(schemes) - 1)] if schemes else None
        hops.append((parse_address(address), _scheme(scheme)))
    return hops[::-1]


def forwarded_hops(request: web.BaseRequest) -> list[Hop]:
    """RFC 7239 Forwarded, client first; each element names the address and scheme one proxy was reached from."""
    return [(parse_address(element.get("for")), _scheme(element.get("proto"))) for element in request.forwarded]


class TrustedProxies:
    """Which peers may speak for the client, and what they say."""

    def __init__(self, networks: Iterable[str], header: str = "x-forwarded"):
        self.networks = tuple(ipaddress.ip_network(n) for n in networks)
        self.header = header

    def trusts(self, address: Address | None) -> bool:
        return address is not None and any(address in network for network in self.networks)

    def client(self, peer: Address | None, hops: list[Hop]) -> Hop | None:
        """The first hop, walking from the peer outwards, that is not a trusted proxy; None from an untrusted peer.

        Walking from the right means a client that writes its own X-Forwarded-For is not believed: the hop a
        trusted proxy appended after it comes first. When every hop is trusted, the left-most one is the client.
        """
        if not self.trusts(peer):
            return None
        found: Hop = (peer, None)
        for address, scheme in reversed(hops):
            if address is None:  # "unknown" or garbled: the nearest address known is where it stops
                break
            found = (address, scheme)
            if not self.trusts(address):
                break
        return found

    def hops(self, request: web.BaseRequest) -> list[Hop]:
        if self.header == "forwarded":
            return forwarded_hops(request)
        return x_forwarded_hops(request.headers)


def middleware(config: Config):
    """Put first: everything inside sees ``request.remote`` and ``request.scheme`` of the client."""
    proxies = TrustedProxies(config.server.trusted_proxies or (), config.server.forwarded_headers)

    @web.middleware
    async def forwarded_client(request: web.Request, handler):
        if not proxies.networks:
            return await handler(request)
        found = proxies.client(parse_address(request.remote), proxies.hops(request))
        if found is None:
            return await handler(request)
        address, scheme = found
        if scheme is None and proxies.header == "x-forwarded":  # a proxy that sets X-Forwarded-Proto alone
            scheme = _scheme(request.headers.get(hdrs.X_FORWARDED_PROTO, "").split(",")[-1])
        changes = {"remote": str(address)}
        if scheme:
            changes["scheme"] = scheme
        return await handler(request.clone(**changes))

    return forwarded_client

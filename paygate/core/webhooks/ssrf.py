"""Where webhooks may go: http(s) to public addresses only, checked when configured and when sent.

At send time the check sits in the resolver, so the address checked is the address
connected to (no DNS rebinding between check and connect).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"),
            ipaddress.ip_address("100.100.100.200")}
METADATA_HOSTS = {"metadata.google.internal", "metadata"}
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052's well-known prefix: the last 32 bits are the IPv4
# Refused whatever they carry: a Teredo address tunnels, through whichever relay is nearest, to the IPv4 and
# port it carries obfuscated (no webhook target is one), and the NAT64 local-use prefix (RFC 8215) is
# translated only inside the operator's own network.
REFUSED_V6 = ((ipaddress.ip_network("2001::/32"), "Teredo"),
              (ipaddress.ip_network("64:ff9b:1::/48"), "NAT64 local-use"))


class TargetRefused(OSError):
    """The URL or the address it resolves to is not a place webhooks may be sent."""


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one is delivered to: IPv4-mapped (the host's own stack), 6to4 and NAT64 (a
    gateway). IPv4-compatible and IPv4-translated ones need none: they lie in ::/8, refused as reserved."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    return None


def classify(address: str) -> str | None:
    """Why this address is refused (a class name), or None when it is a public address."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address):
        for network, reason in REFUSED_V6:
            if ip in network:
                return reason
        ip = embedded_ipv4(ip) or ip
    if ip in METADATA:
        return "cloud-metadata"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return "reserved"
    if ip.is_private or (isinstance(ip, ipaddress.IPv4Address) and ip in ipaddress.ip_network("100.64.0.0/10")):
        return "private"
    return None


def ip_literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


def check_url_shape(url: str) -> tuple[str, str]:
    """(scheme, host) of a URL webhooks may use, before any address is looked at."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise TargetRefused("webhook_url is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("webhook_url must be an http or https URL")
    if not parts.hostname:
        raise TargetRefused("webhook_url has no host")
    if parts.username or parts.password:
        raise TargetRefused("webhook_url must not carry credentials")
    return parts.scheme, parts.hostname


def refuse_address(address: str) -> None:
    """Refuse a non-public address, in words that name neither it nor the host: the caller may be probing what
    the server's resolver sees."""
    reason = classify(address)
    if reason:
        raise TargetRefused(f"webhook target not allowed: webhook_url reaches a {reason} address")


def refuse_metadata_host(host: str) -> None:
    if host.lower() in METADATA_HOSTS:
        raise TargetRefused("webhook target not allowed: webhook_url names a cloud-metadata host")


def check_without_dns(url: str) -> str | None:
    """Refuse what can be refused from the URL alone; return the host name if it still needs resolving."""
    _, host = check_url_shape(url)
    refuse_metadata_host(host)
    literal = ip_literal(host)
    if literal:
        refuse_address(literal)
        return None
    return host


async def check_url(url: str, allow_private: bool) -> None:
    """Refuse a URL whose host is, or resolves to, a non-public address (unless allowed)."""
    if allow_private:
        check_url_shape(url)
        return
    host = check_without_dns(url)
    if host is None:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        raise TargetRefused("webhook target not allowed: webhook_url's host does not resolve") from None
    for info in infos:
        refuse_address(info[4][0])


class GuardedResolver(AbstractResolver):
    """Resolves like aiohttp's default, then refuses non-public addresses."""

    def __init__(self, allow_private: bool):
        self._inner = ThreadedResolver()
        self._allow_private = allow_private

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if not self._allow_private:
            refuse_metadata_host(host)
            for result in results:
                refuse_address(result["host"])
        return results

    async def close(self) -> None:
        await self._inner.close()

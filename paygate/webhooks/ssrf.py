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


class TargetRefused(OSError):
    """The URL or the address it resolves to is not a place webhooks may be sent."""


def classify(address: str) -> str | None:
    """Why this address is refused (a class name), or None when it is a public address."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
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


def refuse_address(host: str, address: str) -> None:
    reason = classify(address)
    if reason:
        raise TargetRefused(f"webhook target {host} resolves to a {reason} address ({address})")


def check_without_dns(url: str) -> str | None:
    """Refuse what can be refused from the URL alone; return the host name if it still needs resolving."""
    _, host = check_url_shape(url)
    if host.lower() in METADATA_HOSTS:
        raise TargetRefused(f"webhook target {host} is a cloud-metadata host")
    literal = ip_literal(host)
    if literal:
        refuse_address(host, literal)
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
        raise TargetRefused(f"webhook target {host} does not resolve") from None
    for info in infos:
        refuse_address(host, info[4][0])


class GuardedResolver(AbstractResolver):
    """Resolves like aiohttp's default, then refuses non-public addresses."""

    def __init__(self, allow_private: bool):
        self._inner = ThreadedResolver()
        self._allow_private = allow_private

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if not self._allow_private:
            if host.lower() in METADATA_HOSTS:
                raise TargetRefused(f"webhook target {host} is a cloud-metadata host")
            for result in results:
                refuse_address(host, result["host"])
        return results

    async def close(self) -> None:
        await self._inner.close()

"""The SSRF guard: IPv6 addresses that carry an IPv4 one are judged by it, and refusals name no address."""

from __future__ import annotations

import re

import pytest

from paygate.core.webhooks import ssrf

# (address, the class it is refused as)
WRAPPED = [
    ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
    ("2002:a9fe:a9fe::1", "cloud-metadata"),  # 6to4 of 169.254.169.254
    ("2002:c0a8:101::", "private"),  # 6to4 of 192.168.1.1
    ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
    ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
    ("64:ff9b:1::a00:1", "NAT64 local-use"),  # RFC 8215: refused whatever it carries
    ("64:ff9b:1::808:808", "NAT64 local-use"),
    ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
    ("::ffff:a9fe:a9fe", "cloud-metadata"),
    ("::7f00:1", "reserved"),  # IPv4-compatible (deprecated)
    ("::ffff:0:7f00:1", "reserved"),  # IPv4-translated
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),  # refused outright: the IPv4 inside is obfuscated
    ("2001:0:7f00:1::", "Teredo"),
]
# Public IPv4 behind the same wrappings stays reachable: an IPv6-only network reaches merchants through NAT64.
PUBLIC = ["2002:808:808::1", "64:ff9b::808:808", "::ffff:8.8.8.8", "2606:4700:4700::1111", "8.8.8.8"]

IPV4_TEXT = re.compile(r"\d{1,3}(\.\d{1,3}){3}")
IPV6_TEXT = re.compile(r"[0-9a-f]*:[0-9a-f]*:", re.IGNORECASE)


def assert_names_no_address(text: str) -> None:
    assert "not allowed" in text, text
    assert not IPV4_TEXT.search(text) and not IPV6_TEXT.search(text), f"an address in {text!r}"


@pytest.mark.parametrize(("address", "reason"), WRAPPED, ids=[a for a, _ in WRAPPED])
def test_wrapped_ipv4_is_judged_by_what_it_carries(address, reason):
    assert ssrf.classify(address) == reason
    with pytest.raises(ssrf.TargetRefused) as caught:
        ssrf.check_without_dns(f"http://[{address}]:8080/hook")
    assert reason in str(caught.value)
    assert_names_no_address(str(caught.value))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_ipv4_inside_a_wrapping_is_allowed(address):
    assert ssrf.classify(address) is None


@pytest.mark.parametrize("url", ["http://[2002:7f00:1::]/", "http://[64:ff9b::7f00:1]/hook",
                                 "http://[::ffff:127.0.0.1]/", "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/"])
async def test_the_api_refuses_wrapped_internal_targets_without_naming_them(client, merchant, url):
    resp = await client.patch("/api/v1/merchant", json={"webhook_url": url}, headers=merchant["headers"])
    error = (await resp.json())["error"]
    assert resp.status == 400, error
    assert (error["code"], error["field"]) == ("INVALID_WEBHOOK_URL", "webhook_url")
    assert_names_no_address(error["description"])
    settings = await client.get("/api/v1/merchant", headers=merchant["headers"])
    assert (await settings.json())["webhook_url"] != url, "not saved"


async def test_a_resolved_internal_address_is_not_echoed():
    """Through DNS (localhost resolves to loopback), at configuration and at send time."""
    with pytest.raises(ssrf.TargetRefused) as configured:
        await ssrf.check_url("http://localhost:9/hook", allow_private=False)
    assert_names_no_address(str(configured.value))
    resolver = ssrf.GuardedResolver(allow_private=False)
    try:
        with pytest.raises(ssrf.TargetRefused) as sending:
            await resolver.resolve("localhost", 9)
    finally:
        await resolver.close()
    assert "loopback" in str(sending.value)
    assert_names_no_address(str(sending.value))

"""Which address the per-address limits count: X-Forwarded-For only behind trusted proxies."""

from __future__ import annotations

import ipaddress

import pytest

from app.api.rate_limits import counted_address, source_address

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128"))


@pytest.mark.parametrize(
    ("peer", "forwarded", "proxies", "expected"),
    [
        ("203.0.113.9", ["198.51.100.1"], (), "203.0.113.9"),  # no trusted proxies: peer
        ("203.0.113.9", ["198.51.100.1"], PROXIES, "203.0.113.9"),  # peer not a proxy
        ("10.1.2.3", ["198.51.100.1"], PROXIES, "198.51.100.1"),
        ("10.1.2.3", ["1.1.1.1, 198.51.100.1, 10.9.9.9"], PROXIES, "198.51.100.1"),
        ("10.1.2.3", ["1.1.1.1", "198.51.100.1"], PROXIES, "198.51.100.1"),  # two headers
        ("10.1.2.3", ["garbage, 198.51.100.1"], PROXIES, "198.51.100.1"),
        ("10.1.2.3", [], PROXIES, "10.1.2.3"),
        ("::1", ["2001:db8::7"], PROXIES, "2001:db8::7"),
        (None, ["198.51.100.1"], PROXIES, None),
    ],
)
def test_forwarded_for_counts_only_behind_trusted_proxies(
    peer: str | None,
    forwarded: list[str],
    proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...],
    expected: str | None,
) -> None:
    assert source_address(peer, forwarded, proxies) == expected


@pytest.mark.parametrize(
    ("address", "counted"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),  # the same host's /64: one allowance
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),  # an IPv4 caller seen through a dual-stack socket
        ("not-an-address", "not-an-address"),
        (None, "unknown"),
    ],
)
def test_failed_authentications_count_an_ipv6_caller_by_its_64(
    address: str | None, counted: str
) -> None:
    assert counted_address(address) == counted

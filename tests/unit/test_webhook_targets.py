"""The webhook URL rules and address policy (app.domain.webhook_targets): the SSRF guard's
decisions, with a fake resolver: no network."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pytest

from app.domain.errors import ValidationFailed
from app.domain.webhook_targets import (
    InvalidTarget,
    TargetRefused,
    TargetUnresolvable,
    address_allowed,
    check_url,
    parse_ip,
    resolve_target,
)

# Every host here means an address that must never be reached (unless private networks are
# allowed). The comment says what it really is.
REFUSED_HOSTS = [
    "127.0.0.1",
    "127.1",  # short form: 127.0.0.1
    "0x7f000001",  # hex
    "0x7f.1",  # hex, short form
    "2130706433",  # one decimal number
    "0177.0.0.1",  # octal
    "017700000001",  # one octal number
    "127.000.000.001",  # zero-padded
    "127.0.0.1.",  # trailing dot
    "\uff11\uff12\uff17.\uff10.\uff10.\uff11",  # full-width digits (IDNA maps them to ASCII)
    "127\u30020\u30020\u30021",  # ideographic full stops
    "[::ffff:127.0.0.1]",  # IPv4-mapped
    "[::ffff:7f00:1]",  # IPv4-mapped, hex
    "[::127.0.0.1]",  # IPv4-compatible (deprecated)
    "[::1]",
    "[0:0:0:0:0:0:0:1]",
    "[::]",
    "0.0.0.0",  # noqa: S104 (a host to refuse, not a bind address)
    "0",  # 0.0.0.0
    "169.254.169.254",  # cloud metadata
    "[::ffff:169.254.169.254]",
    "[fd00::1]",  # unique local
    "[fd00:ec2::254]",  # AWS metadata over IPv6
    "10.0.0.1",
    "10.255.255.255",
    "192.168.1.1",
    "172.16.0.1",
    "172.31.255.254",
    "100.64.0.1",  # shared (CGNAT)
    "198.18.0.1",  # benchmarking
    "192.0.2.1",  # documentation
    "198.51.100.7",
    "203.0.113.9",
    "192.0.0.170",  # IETF protocol assignments
    "224.0.0.1",  # multicast
    "239.255.255.250",
    "[ff02::1]",
    "255.255.255.255",  # broadcast
    "240.0.0.1",  # reserved
    "[fe80::1]",  # link-local
    "[fec0::1]",  # site-local
    "[2001:db8::1]",  # documentation
    "[64:ff9b::7f00:1]",  # NAT64 of 127.0.0.1
    "[64:ff9b::a9fe:a9fe]",  # NAT64 of 169.254.169.254
    "[64:ff9b:1::1]",  # local-use NAT64
    "[2002:7f00:1::]",  # 6to4 of 127.0.0.1
    "[2002:a00:1::1]",  # 6to4 of 10.0.0.1
    "[2001:0:4136:e378:8000:63bf:80ff:fffe]",  # Teredo (client 127.0.0.1)
    "[100::1]",  # discard-only
    "localhost",
    "LOCALHOST.",
    "api.localhost",
    "ip6-localhost",
]


@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_a_refused_host_is_refused_in_every_spelling(host: str) -> None:
    with pytest.raises(TargetRefused) as caught:
        check_url(f"https://{host}/hook", production=True, allow_private=False)
    assert caught.value.status == 422
    assert caught.value.code == "validation_error"
    assert caught.value.extra["errors"][0]["loc"] == ["url"]


@pytest.mark.parametrize("host", [h for h in REFUSED_HOSTS if "ip6" not in h])
def test_allow_private_lets_every_address_through(host: str) -> None:
    target = check_url(f"http://{host}:8080/hook", production=False, allow_private=True)
    assert target.port == 8080
    if target.ip is not None:
        assert address_allowed(target.ip, allow_private=True)


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.000.000.001", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("192.168.257", "192.168.1.1"),
        ("[::ffff:7f00:1]", "::ffff:7f00:1"),
        ("[0:0:0:0:0:0:0:1]", "::1"),
    ],
)
def test_ip_literals_are_read_as_the_c_library_reads_them(host: str, address: str) -> None:
    target = check_url(f"http://{host}/", production=False, allow_private=True)
    assert target.ip == ipaddress.ip_address(address)
    assert target.host == address
    assert target.url == f"http://{'[' + address + ']' if ':' in address else address}/"


@pytest.mark.parametrize(
    "address",
    [
        "93.184.215.14",
        "8.8.8.8",
        "1.1.1.1",
        "2606:4700:4700::1111",
        "::ffff:93.184.215.14",
        "64:ff9b::5db8:d70e",
    ],
)
def test_a_public_address_is_allowed(address: str) -> None:
    assert address_allowed(ipaddress.ip_address(address), allow_private=False)
    assert address_allowed(address, allow_private=False)


def test_address_allowed_reads_text_in_any_spelling() -> None:
    assert not address_allowed("0x7f000001", allow_private=False)
    assert not address_allowed("fe80::1%eth0", allow_private=False)
    assert not address_allowed("not an address", allow_private=False)
    assert address_allowed("fe80::1%eth0", allow_private=True)


@pytest.mark.parametrize(
    "text",
    [
        "example.com",
        "127.0.0.1 foo",
        "1.2.3.4.5",
        "0x1.0x2.0x3.0x4.5",
        "4294967296",
        "cafe",
        "08.0.0.1",
        "",
    ],
)
def test_text_that_is_no_address(text: str) -> None:
    assert parse_ip(text) is None


def test_a_public_url_is_normalised() -> None:
    target = check_url(
        "HTTPS://Partner.Example.ORG.:8443/hooks/in?x=1", production=True, allow_private=False
    )
    assert target.scheme == "https"
    assert target.host == "partner.example.org"
    assert target.port == 8443
    assert target.target == "/hooks/in?x=1"
    assert target.ip is None
    assert target.url == "https://partner.example.org:8443/hooks/in?x=1"
    assert target.authority == "partner.example.org:8443"


def test_default_port_and_path() -> None:
    target = check_url("https://example.org", production=True, allow_private=False)
    assert (target.port, target.target, target.authority) == (443, "/", "example.org")
    assert check_url("http://93.184.215.14", production=False, allow_private=False).port == 80


def test_international_names_become_ascii() -> None:
    target = check_url("https://bücher.example/x", production=True, allow_private=False)
    assert target.host == "xn--bcher-kva.example"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.org/", "https://"),
        ("file:///etc/passwd", "https://"),
        ("gopher://example.org/", "https://"),
        ("//example.org/", "https://"),
        ("example.org/hook", "https://"),
        ("http://example.org/", "must use https"),
        ("https://user:pw@example.org/", "user name or password"),
        ("https://user@example.org/", "user name or password"),
        ("https://@example.org/", "user name or password"),
        ("https://example.org:0/", "port"),
        ("https://example.org:65536/", "not valid"),
        ("https://example.org:99999999/", "not valid"),
        ("https://example.org:-1/", "not valid"),
        ("https://example.org:http/", "not valid"),
        ("https:///hook", "no host"),
        ("https://", "no host"),
        ("https://example.org/#frag", "fragment"),
        ("https://example.org/a b", "spaces"),
        ("https://exa\tmple.org/", "spaces"),
        ("https://example.org\\@evil.org/", "backslashes"),
        ("https://example.org/\n", "spaces"),
        ("https://[fe80::1%25eth0]/", "zone"),
        ("https://[::1/", "not valid"),
        ("https://[not-ipv6]/", "not valid"),
        ("https://exa_mple..org/", "domain name"),
        ("https://-bad.example/", "domain name"),
        ("https://ex%61mple.org/", "'%'"),
        ("https://1.2.3.999/", "IPv4"),
        ("https://" + "a" * 64 + ".org/", "domain name"),
        ("https://example.org/" + "a" * 2048, "longer than 2048"),
        ("", "empty"),
    ],
)
def test_url_rules(url: str, message: str) -> None:
    with pytest.raises(InvalidTarget) as caught:
        check_url(url, production=True, allow_private=False)
    assert message in caught.value.detail
    assert isinstance(caught.value, ValidationFailed)
    assert caught.value.extra["errors"] == [
        {"type": "value_error", "loc": ["url"], "msg": caught.value.detail}
    ]


def test_http_is_fine_outside_production() -> None:
    assert check_url("http://example.org/", production=False, allow_private=False).port == 80


def test_rules_other_than_addresses_hold_with_private_networks_allowed() -> None:
    with pytest.raises(InvalidTarget):
        check_url("https://u:p@127.0.0.1/", production=False, allow_private=True)
    with pytest.raises(TargetRefused):  # a zone id cannot be pinned to
        check_url("http://[fe80::1%25lo]/", production=False, allow_private=True)
    assert check_url("http://localhost:8000/", production=False, allow_private=True).port == 8000


class FakeResolver:
    def __init__(self, *answers: Sequence[str] | Exception) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls.append((host, port))
        answer = self.answers[min(len(self.calls), len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.mark.parametrize(
    "answer",
    [
        ["10.0.0.1"],
        ["127.0.0.1"],
        ["169.254.169.254"],
        ["::1"],
        ["fe80::1%eth0"],
        ["::ffff:10.0.0.1"],
        ["93.184.215.14", "10.0.0.1"],  # one refused address refuses the name
        ["2606:4700:4700::1111", "fd00::1"],
        ["garbage"],
    ],
)
async def test_a_name_resolving_to_a_refused_address_is_refused(answer: list[str]) -> None:
    target = check_url("https://internal.example.org/", production=True, allow_private=False)
    resolver = FakeResolver(answer)
    with pytest.raises(TargetRefused) as caught:
        await resolve_target(target, resolver, allow_private=False)
    assert resolver.calls == [("internal.example.org", 443)]
    # the resolved address is not told to the partner: it may describe the hub's network
    assert "10.0.0.1" not in caught.value.detail
    assert "fd00" not in caught.value.detail


async def test_a_name_resolving_to_public_addresses_gives_them_all_once() -> None:
    target = check_url("https://partner.example.org/", production=True, allow_private=False)
    resolver = FakeResolver(["93.184.215.14", "2606:4700::1", "93.184.215.14"])
    addresses = await resolve_target(target, resolver, allow_private=False)
    assert addresses == (
        ipaddress.ip_address("93.184.215.14"),
        ipaddress.ip_address("2606:4700::1"),
    )


async def test_private_answers_are_fine_when_allowed() -> None:
    target = check_url("http://receiver.test:9000/", production=False, allow_private=True)
    addresses = await resolve_target(target, FakeResolver(["10.0.0.1"]), allow_private=True)
    assert addresses == (ipaddress.ip_address("10.0.0.1"),)


async def test_an_ip_literal_is_not_looked_up() -> None:
    target = check_url("http://93.184.215.14/", production=False, allow_private=False)
    resolver = FakeResolver(["10.0.0.1"])
    assert await resolve_target(target, resolver, allow_private=False) == (target.ip,)
    assert resolver.calls == []


@pytest.mark.parametrize("answer", [OSError("no such name"), []])
async def test_a_name_that_does_not_resolve(answer: list[str] | Exception) -> None:
    target = check_url("https://nowhere.example.org/", production=True, allow_private=False)
    with pytest.raises(TargetUnresolvable):
        await resolve_target(target, FakeResolver(answer), allow_private=False)

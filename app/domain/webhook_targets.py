"""Where a webhook may be sent: the URL rules and the address policy (the SSRF guard).

A partner names a URL; the hub then makes requests to it from inside its own network. Without a
guard that URL could point at the hub's database, a cloud metadata service (169.254.169.254) or
any other internal service. So (CONTRACT "Events and webhooks"):

- :func:`check_url` checks the URL's shape when subscribing and before every delivery: ``http``
  or ``https`` only (``https`` in production), a host, no user name or password, no fragment, a
  port from 1 to 65535, at most 2,048 characters. A host written as an IP address in any
  spelling the C library would accept (``127.1``, ``0x7f000001``, ``2130706433``,
  ``0177.0.0.1``, IDNA full-width digits …) is read as the address it really is and checked at
  once; an IPv6 zone id (``fe80::1%eth0``) is refused.
- :func:`address_allowed` is the address policy: only globally reachable unicast addresses pass,
  and an IPv6 address that embeds an IPv4 one (mapped, compatible, 6to4, NAT64, Teredo) passes
  only if that IPv4 address would.
- :func:`resolve_target` resolves a host name with the resolver it is given and checks *every*
  address it returns: one refused address refuses the target (a name that answers with a public
  and a private address must not get a chance to be reached on the private one). The delivery
  then connects to an address returned here, without resolving the name a second time
  (``app.domain.webhook_delivery``).

``allow_private`` (``AFTERCARE_WEBHOOK_ALLOW_PRIVATE_NETWORKS``) lifts the address policy
entirely, for tests and local demos with a receiver on 127.0.0.1; the URL rules still apply.

This module does no I/O of its own: the resolver is passed in.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from app.domain.errors import ValidationFailed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: ``(host, port) -> addresses``: the host is an ASCII name (never an IP literal), the answer a
#: list of IP address strings. Raises ``OSError`` when the name does not resolve.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

MAX_URL_LENGTH = 2048
DEFAULT_PORTS = {"http": 80, "https": 443}

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# Refused whatever the running Python's `is_global` says (its tables changed between patch
# releases); `is_global` and the `is_*` flags are checked as well.
_REFUSED_V4 = tuple(
    _V4(n)
    for n in (
        "0.0.0.0/8",  # "this network", 0.0.0.0 included
        "10.0.0.0/8",  # private (RFC 1918)
        "100.64.0.0/10",  # shared address space (carrier-grade NAT)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, cloud metadata (169.254.169.254)
        "172.16.0.0/12",  # private (RFC 1918)
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation (TEST-NET-1)
        "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
        "192.168.0.0/16",  # private (RFC 1918)
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation (TEST-NET-2)
        "203.0.113.0/24",  # documentation (TEST-NET-3)
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, 255.255.255.255 (broadcast) included
    )
)
_REFUSED_V6 = tuple(
    _V6(n)
    for n in (
        "::/96",  # unspecified, loopback and the deprecated IPv4-compatible ::a.b.c.d
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard-only
        "2001::/23",  # IETF protocol assignments
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation (RFC 9637)
        "5f00::/16",  # segment routing (SRv6) SIDs
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)
_NAT64 = _V6("64:ff9b::/96")

# Host names that always mean this machine (RFC 6761), whatever DNS says.
_LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
# What inet_aton might read as an IPv4 address: digits, dots, hex digits and 0x prefixes.
_INET_ATON_CHARS = re.compile(r"[0-9a-fx.]+")
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f-\x9f\\]")


class InvalidTarget(ValidationFailed):
    """A webhook URL that breaks the URL rules (422 ``validation_error`` at ``["url"]``)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, loc=["url"])


class TargetRefused(InvalidTarget):
    """A webhook URL whose host is, or resolves to, an address the policy refuses."""


class TargetUnresolvable(InvalidTarget):
    """A webhook URL whose host name does not resolve (to any address)."""


@dataclass(frozen=True, slots=True)
class ParsedTarget:
    """A checked webhook URL, normalised: ``host`` is lower-case ASCII (IDNA), without a
    trailing dot or IPv6 brackets; an IP literal is written canonically (``127.1`` becomes
    ``127.0.0.1``) and also given as ``ip``; ``port`` is explicit or the scheme's default."""

    url: str
    scheme: str
    host: str
    port: int
    target: str  # path and query, at least "/"
    ip: IPAddress | None

    @property
    def authority(self) -> str:
        """``host[:port]`` as in the URL and the ``Host`` header (port only when not the
        scheme's default, IPv6 in brackets)."""
        return _authority(self.scheme, self.host, self.port)


def check_url(url: str, *, production: bool, allow_private: bool) -> ParsedTarget:
    """The URL rules (and, for an IP literal host, the address policy); raises
    :class:`InvalidTarget` or :class:`TargetRefused`."""
    if not isinstance(url, str) or not url:
        raise InvalidTarget("The URL is empty")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidTarget(f"The URL is longer than {MAX_URL_LENGTH} characters")
    if _CONTROL_OR_SPACE.search(url):
        raise InvalidTarget("The URL contains spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidTarget("The URL is not valid (host or port)") from exc
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise InvalidTarget("The URL must start with https:// (or http:// outside production)")
    if production and scheme != "https":
        raise InvalidTarget("The URL must use https")
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise InvalidTarget("The URL must not contain a user name or password")
    if parts.fragment or url.endswith("#"):
        raise InvalidTarget("The URL must not contain a fragment (#…)")
    if port == 0:
        raise InvalidTarget("The URL's port must be between 1 and 65535")
    raw_host = parts.hostname
    if not raw_host:
        raise InvalidTarget("The URL has no host")
    bracketed = parts.netloc.split("@")[-1].startswith("[")
    host, ip = _normalise_host(raw_host, bracketed=bracketed)
    if ip is not None and not address_allowed(ip, allow_private):
        raise TargetRefused(
            f"The address {ip} is not publicly reachable (loopback, private, link-local, "
            "shared, multicast, reserved or otherwise not global); webhooks are sent only to "
            "public addresses"
        )
    if ip is None and not allow_private and _is_loopback_name(host):
        raise TargetRefused(
            "The host names this machine (localhost); webhooks are sent only to public addresses"
        )
    port = port or DEFAULT_PORTS[scheme]
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return ParsedTarget(
        url=f"{scheme}://{_authority(scheme, host, port)}{target}",
        scheme=scheme,
        host=host,
        port=port,
        target=target,
        ip=ip,
    )


def address_allowed(ip: IPAddress | str, allow_private: bool) -> bool:
    """True when a webhook may be sent to ``ip`` (an address, or its text in any spelling
    :func:`parse_ip` reads). With ``allow_private`` every address is allowed."""
    if allow_private:
        return True
    if isinstance(ip, str):
        parsed = parse_ip(ip)
        if parsed is None:
            return False
        ip = parsed
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id is not None:
            return False  # a zone id only makes sense on a local link
        embedded = _embedded_ipv4(ip)
        if embedded is not None and not _ipv4_allowed(embedded):
            return False
        if ip.ipv4_mapped is not None or ip in _NAT64:
            # ::ffff:a.b.c.d is a.b.c.d, and so is 64:ff9b::a.b.c.d through a NAT64 gateway (an
            # IPv6-only network with DNS64 answers every IPv4-only name with one): checked above
            return embedded is not None
        return not (any(ip in net for net in _REFUSED_V6) or _flagged(ip))
    return _ipv4_allowed(ip)


def parse_ip(text: str) -> IPAddress | None:
    """The IP address a host string means, or None for a host name.

    IPv6 text (without brackets, a zone id kept) is read by ``ipaddress``; IPv4 in every form
    ``inet_aton`` (so ``getaddrinfo``, ``curl``, browsers) accepts: dotted decimal, octal
    (``0177.0.0.1``), hex (``0x7f.1``), short forms (``127.1``) and one number (``2130706433``)."""
    text = text.strip("[]")
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text)
        except ValueError:
            return None
    text = text.lower().removesuffix(".")
    if not _INET_ATON_CHARS.fullmatch(text) or not text[-1:].isalnum():
        return None
    # inet_aton alone would read trailing garbage after a space; the pattern above rules it out.
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None


async def resolve_target(
    target: ParsedTarget, resolver: Resolver, *, allow_private: bool
) -> tuple[IPAddress, ...]:
    """The addresses to connect to for ``target``, every one of them allowed. An IP literal is
    its own answer (no lookup); a name is resolved once with ``resolver``. Raises
    :class:`TargetRefused` if any address is refused, :class:`TargetUnresolvable` if the name
    does not resolve."""
    if target.ip is not None:
        if not address_allowed(target.ip, allow_private):
            raise TargetRefused("The address is not publicly reachable")
        return (target.ip,)
    try:
        answers = await resolver(target.host, target.port)
    except (OSError, UnicodeError) as exc:
        raise TargetUnresolvable("The host name does not resolve") from exc
    addresses: list[IPAddress] = []
    for answer in answers:
        ip = parse_ip(answer)
        if ip is None or not address_allowed(ip, allow_private):
            # the resolved address is deliberately not named: it may describe the hub's network
            raise TargetRefused(
                "The host name resolves to an address that is not publicly reachable; webhooks "
                "are sent only to public addresses"
            )
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise TargetUnresolvable("The host name does not resolve")
    return tuple(addresses)


def _normalise_host(raw: str, *, bracketed: bool) -> tuple[str, IPAddress | None]:
    if bracketed or ":" in raw:
        if "%" in raw:
            raise TargetRefused("The URL must not name an IPv6 zone (%…)")
        ip6 = parse_ip(raw)
        if not isinstance(ip6, ipaddress.IPv6Address):
            raise InvalidTarget("The URL's IPv6 address is not valid")
        return str(ip6), ip6
    if "%" in raw:
        raise InvalidTarget("The URL's host contains '%'")
    try:
        host = raw.encode("idna").decode("ascii").lower() if not raw.isascii() else raw.lower()
    except UnicodeError as exc:
        raise InvalidTarget("The URL's host is not a valid domain name") from exc
    host = host.removesuffix(".")
    ip4 = parse_ip(host)
    if ip4 is not None:
        return str(ip4), ip4
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise InvalidTarget("The URL's host is not a valid domain name")
    if labels[-1].isdigit() or labels[-1].startswith("0x"):
        # `1.2.3.999` or `1.2.3.0x100`: looks like an address, is not one; WHATWG URL refuses it
        raise InvalidTarget("The URL's host is not a valid IPv4 address or domain name")
    return host, None


def _authority(scheme: str, host: str, port: int) -> str:
    bracketed = f"[{host}]" if ":" in host else host
    return bracketed if port == DEFAULT_PORTS[scheme] else f"{bracketed}:{port}"


def _is_loopback_name(host: str) -> bool:
    return host in _LOOPBACK_NAMES or host.endswith(".localhost")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        server, client = ip.teredo
        return client if _ipv4_allowed(server) else server
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _ipv4_allowed(ip: ipaddress.IPv4Address) -> bool:
    return not (any(ip in net for net in _REFUSED_V4) or _flagged(ip))


def _flagged(ip: IPAddress) -> bool:
    return (
        not ip.is_global
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local)
    )

"""The one policy for calls to URLs that someone else chose: an integration's `connect_url` today,
a partner's webhook tomorrow. Without it, whoever sets the URL makes our worker call any host our
network can reach (server-side request forgery): cloud metadata, the database, internal admin
ports.

What a URL must be to be called:
- http or https, and https only in production; no credentials in it (`user:pw@`);
- its host in `outbound_allowed_hosts` when that list is set (`partner.example`,
  `*.partner.example`, either with an optional `:port`); an empty list means any public host;
- every address its host resolves to public: loopback, private (RFC 1918, ULA), link-local (cloud
  metadata at 169.254.169.254), carrier-grade NAT (100.64/10), multicast, reserved, unspecified,
  and IPv6 forms that embed one of those (IPv4-mapped, NAT64, 6to4) are refused. Host names are
  judged by what they resolve to, literal addresses as written, and IPv4 in another spelling than
  dotted decimal (`2130706433`, `0x7f.1`) is refused outright, since resolvers read those
  differently;
- a host name of at least two labels, outside the names that are private by definition:
  `localhost` and `*.localhost`, `*.local` (mDNS), `*.internal` (ICANN's private-use name, where
  `metadata.google.internal` and `*.ec2.internal` live), `*.home.arpa`, and the `*.intranet`,
  `*.private`, `*.corp`, `*.home`, `*.lan` of RFC 6762; a single label (`metadata`) is completed
  by the resolver's search domains into one of ours. These are refused without asking DNS, so
  the answer is the same where they do not resolve (the API host) and where they do (the worker's);
- the only exceptions are the exact `host:port` entries of `outbound_allow_private_hosts`: the dev
  stack's and the tests' stand-ins on 127.0.0.1. No wildcard is accepted there, in any
  environment, so no setting can turn the address check off as a whole.

Spellings: the host is read as a resolver would read it before anything is judged:
percent-decoded (`%31%32%37.0.0.1` is 127.0.0.1), lower-cased, without a trailing dot; the port
as a number (`:018099` is 18099). `Target.canonical` is the URL in that one spelling, and it is
what the API stores, so the URL called is the URL that was checked, character for character.

The same rules run twice: when a URL is saved (`check`, plus `resolve` for an immediate answer)
and right before each call (`request`), since DNS answers change after a URL is saved.

DNS rebinding: a host checked at one moment can resolve elsewhere a moment later (a zero TTL
makes that trivial), so "resolve, check, then let the HTTP client resolve again" leaves a window.
`request` closes it by connecting to the very address it checked: the URL is rewritten to the IP,
with the original `Host` header and, for https, the original name as TLS server name (SNI), so
certificates are still verified against the name. We chose pinning over re-checking inside the
connection layer because httpx has no public hook there (it would mean replacing a private
attribute of its transport), and pinning works with the worker's shared client. Redirects are
never followed: a redirect is an answer like any other, since its target was never checked.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import httpx

from core.hosts import LABEL, HostPattern, normal_host, parse_private_host
from core.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_CHARS = 2048
_DEFAULT_PORTS = {"http": 80, "https": 443}
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
# NAT64 prefixes (RFC 6052, RFC 8215): the last 32 bits are the IPv4 address a gateway reaches.
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
# Names private by definition (RFC 6761, RFC 6762 appendix G, RFC 8375, ICANN's `.internal`).
_PRIVATE_NAMES = (
    *("localhost", "local", "internal", "home.arpa"),
    *("intranet", "private", "corp", "home", "lan"),
)


class OutboundRefused(ValueError):
    """The URL is not one we call. `reason` is our own wording, safe to show to any caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OutboundUnresolvable(Exception):
    """The host did not resolve: maybe for good, maybe a DNS outage, so callers may retry."""


# ---- addresses ----------------------------------------------------------------------------------


def address_refusal(ip: IPAddress) -> str | None:
    """Why `ip` is not a public address we may call ("a loopback address"...), or None."""
    if isinstance(ip, ipaddress.IPv6Address):
        # Python 3.11 judges ::ffff:127.0.0.1 by its IPv6 ranges (not loopback): unwrap first.
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and any(ip in net for net in _NAT64):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return address_refusal(embedded)
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "a carrier-grade NAT address"
    # Reserved before private: Python lists 240.0.0.0/4 among its private networks too.
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "not a public address"
    return None


def _literal(host: str) -> IPAddress | None:
    """The address `host` spells, None for a name; refuses IPv4 in a non-canonical spelling."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        socket.inet_aton(host)
    except OSError:
        return None
    # inet_aton (what getaddrinfo uses) reads 2130706433, 0x7f.1 and 127.1 as 127.0.0.1.
    raise OutboundRefused("IP addresses must be written in dotted-decimal form")


def _decoded_host(raw: str) -> str:
    """The host as a resolver reads it: percent-decoded, lower-case, no brackets, no final dot."""
    host = unquote(raw)
    if host != raw and not host.isascii():
        raise OutboundRefused("the host name is not valid")
    return normal_host(host)


def _check_name(host: str) -> None:
    """Refuse a host name that is malformed, one label only, or private by definition."""
    labels = host.split(".")
    if not all(LABEL.match(label) for label in labels):
        raise OutboundRefused("the host name is not valid")
    for name in _PRIVATE_NAMES:
        if host == name or host.endswith("." + name):
            raise OutboundRefused(f"host {host!r} is under {name!r}, a private-use name")
    if len(labels) < 2:
        raise OutboundRefused(f"host {host!r} names no domain (a resolver would complete it)")


# ---- the policy ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A URL that passed the checks that need no DNS."""

    url: httpx.URL  # in the one spelling checked (see the module docstring)
    host: str  # lower-case, IDNA-encoded, percent-decoded, without brackets or a trailing dot
    port: int
    literal: IPAddress | None
    private_allowed: bool  # listed in outbound_allow_private_hosts

    @property
    def canonical(self) -> str:
        """The URL to store: calling it later checks exactly what was checked now."""
        return str(self.url)


@dataclass(frozen=True)
class OutboundPolicy:
    """Which URLs outbound calls may reach. The default is the strictest: https only, any public
    host, no exception; `from_settings` is what the API and the worker use."""

    https_only: bool = True
    allowed_hosts: tuple[HostPattern, ...] = ()
    private_hosts: frozenset[tuple[str, int]] = field(default_factory=frozenset)

    @classmethod
    def from_settings(cls, settings: Settings) -> OutboundPolicy:
        return cls(
            https_only=settings.env == "production",
            allowed_hosts=tuple(HostPattern.parse(p) for p in settings.outbound_allowed_hosts),
            private_hosts=frozenset(
                parse_private_host(e) for e in settings.outbound_allow_private_hosts
            ),
        )

    def check(self, url: str) -> Target:
        """Syntax, scheme, allow-list and literal addresses; raises OutboundRefused. No DNS."""
        if len(url) > MAX_URL_CHARS:
            raise OutboundRefused(f"longer than {MAX_URL_CHARS} characters")
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, ValueError, TypeError):
            raise OutboundRefused("not a valid URL") from None
        if parsed.scheme not in _DEFAULT_PORTS:
            raise OutboundRefused("only http and https URLs can be called")
        if self.https_only and parsed.scheme != "https":
            raise OutboundRefused("only https URLs can be called (production policy)")
        if parsed.userinfo:
            raise OutboundRefused("credentials in the URL are not accepted")
        host = _decoded_host(parsed.raw_host.decode("ascii"))
        if not host:
            raise OutboundRefused("the URL names no host")
        port = parsed.port or _DEFAULT_PORTS[parsed.scheme]
        private_allowed = (host, port) in self.private_hosts
        if (
            self.allowed_hosts
            and not private_allowed
            and not any(p.matches(host, port) for p in self.allowed_hosts)
        ):
            raise OutboundRefused(f"host {host!r} is not in the outbound allow-list")
        literal = _literal(host)
        if literal is not None and not private_allowed:
            refusal = address_refusal(literal)
            if refusal:
                raise OutboundRefused(f"{literal} is {refusal}")
        if literal is None and not private_allowed:
            _check_name(host)
        # One spelling: the decoded host, the port as a number and only when not the default.
        canonical = parsed.copy_with(
            host=host, port=None if port == _DEFAULT_PORTS[parsed.scheme] else port
        )
        return Target(
            url=canonical, host=host, port=port, literal=literal, private_allowed=private_allowed
        )

    async def resolve(self, target: Target) -> tuple[IPAddress, ...]:
        """Every address the target's host resolves to, each checked; raises OutboundRefused
        if any of them is refused (a name answering one public and one private address is
        refused: we cannot tell which one a later resolution would pick), OutboundUnresolvable
        if the name does not resolve."""
        if target.literal is not None:
            return (target.literal,)
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(
                target.host, target.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
        except (socket.gaierror, UnicodeError):
            raise OutboundUnresolvable(f"{target.host!r} does not resolve") from None
        addresses: list[IPAddress] = []
        for *_, sockaddr in infos:
            ip = ipaddress.ip_address(str(sockaddr[0]).partition("%")[0])
            if ip not in addresses:
                addresses.append(ip)
        if not target.private_allowed:
            for ip in addresses:
                refusal = address_refusal(ip)
                if refusal:
                    raise OutboundRefused(f"resolves to {refusal}")
        if not addresses:
            raise OutboundUnresolvable(f"{target.host!r} does not resolve")
        return tuple(addresses)


def _host_header(target: Target) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    default = _DEFAULT_PORTS[target.url.scheme]
    return host if target.port == default else f"{host}:{target.port}"


async def request(
    http: httpx.AsyncClient,
    policy: OutboundPolicy,
    method: str,
    url: str,
    *,
    json: Any = None,
    headers: Mapping[str, str] | None = None,
    timeout: float,  # noqa: ASYNC109  # httpx's per-phase timeout (connect, read...), not a deadline
) -> httpx.Response:
    """Send one request to `url` under `policy`, connected to an address that was checked.

    Raises OutboundRefused, OutboundUnresolvable, or httpx's own errors (timeouts, connection
    trouble). Tries the checked addresses in order while a connection cannot be made: nothing has
    been sent then, so moving to the next address cannot send the request twice.
    """
    target = policy.check(url)
    addresses = await policy.resolve(target)
    pinned_headers = {
        **(headers or {}),
        "Host": _host_header(target),
        # A kept-alive connection is pooled by IP: another name on the same IP could be sent
        # over it, under a certificate checked for this name. Closing it rules that out.
        "Connection": "close",
    }
    extensions: dict[str, Any] = {}
    if target.url.scheme == "https" and target.literal is None:
        extensions["sni_hostname"] = target.host
    for index, ip in enumerate(addresses):
        try:
            return await http.request(
                method,
                target.url.copy_with(host=str(ip)),
                json=json,
                headers=pinned_headers,
                extensions=extensions,
                timeout=timeout,
                follow_redirects=False,
            )
        except httpx.ConnectError:
            if index == len(addresses) - 1:
                raise
    raise AssertionError("unreachable: resolve() returns at least one address")

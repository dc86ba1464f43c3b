"""The outbound-URL policy: which URLs the service may call, before and after DNS resolution."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from core.hosts import HostPattern, parse_private_host
from core.outbound import OutboundPolicy, OutboundRefused, OutboundUnresolvable, Target
from core.settings import Environment, Settings

DEV = OutboundPolicy(https_only=False)
# model_copy skips validation: production's other requirements (keys...) are not this test's.
PRODUCTION = OutboundPolicy.from_settings(
    Settings(env=Environment.test).model_copy(update={"env": Environment.production})
)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:18099/steal", "127.0.0.1 is a loopback address"),
        ("http://127.8.9.10/", "is a loopback address"),
        ("http://[::1]:18099/steal", "::1 is a loopback address"),
        ("http://10.1.2.3/", "10.1.2.3 is a private address"),
        ("http://172.16.0.1/", "is a private address"),
        ("http://192.168.1.1/", "is a private address"),
        ("http://[fd00::1]/", "is a private address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://[fe80::1]/", "is a link-local address"),
        ("http://100.64.0.1/", "is a carrier-grade NAT address"),
        ("http://0.0.0.0:18099/", "is an unspecified address"),
        ("http://[::]/", "is an unspecified address"),
        ("http://224.0.0.1/", "is a multicast address"),
        ("http://[ff02::1]/", "is a multicast address"),
        ("http://240.0.0.1/", "is a reserved address"),
        ("http://255.255.255.255/", "is a reserved address"),
        # IPv6 spellings of IPv4 targets: Python 3.11 does not call these loopback by itself
        ("http://[::ffff:127.0.0.1]/", "is a loopback address"),
        ("http://[::ffff:169.254.169.254]/", "is a link-local address"),
        ("http://[64:ff9b::a00:1]/", "is a private address"),  # NAT64 of 10.0.0.1
        ("http://[2002:7f00:1::]/", "is a loopback address"),  # 6to4 of 127.0.0.1
        # IPv4 in spellings resolvers read as 127.0.0.1
        ("http://2130706433/", "dotted-decimal"),
        ("http://0x7f.0.0.1/", "dotted-decimal"),
        ("http://127.1/", "dotted-decimal"),
        ("http://017700000001/", "dotted-decimal"),
    ],
)
def test_check_refuses_literal_non_public_addresses(url: str, reason: str) -> None:
    """Loopback, private, link-local, CGNAT, multicast, reserved, unspecified and their IPv6 and
    numeric disguises are refused before any DNS or connection."""
    with pytest.raises(OutboundRefused) as caught:
        DEV.check(url)
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://partner.example/x", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("https://user:pw@partner.example/", "credentials"),
        ("https:///nohost", "no host"),
        ("http://[::1/", "not a valid URL"),
        ("https://partner.example/" + "a" * 2100, "longer than"),
    ],
)
def test_check_refuses_urls_that_are_not_plain_http(url: str, reason: str) -> None:
    """Other schemes, credentials in the URL, no host, bad syntax and huge URLs are refused."""
    with pytest.raises(OutboundRefused) as caught:
        DEV.check(url)
    assert reason in caught.value.reason


def test_public_addresses_and_names_pass_the_static_check() -> None:
    """A public literal and any name pass; names are judged after resolution."""
    target = DEV.check("http://93.184.215.14:8443/connect")
    assert (target.host, target.port, str(target.literal)) == (
        "93.184.215.14",
        8443,
        "93.184.215.14",
    )
    named = DEV.check("https://Bank.Partner.Example./connect")
    assert (named.host, named.port, named.literal) == ("bank.partner.example", 443, None)


def test_production_calls_https_only() -> None:
    """Production refuses http; development and test allow it."""
    with pytest.raises(OutboundRefused, match="only https"):
        PRODUCTION.check("http://partner.example/connect")
    assert PRODUCTION.check("https://partner.example/connect").port == 443
    test_policy = OutboundPolicy.from_settings(Settings(env=Environment.test))
    assert test_policy.check("http://partner.example/connect").port == 80


def test_allow_list_patterns_match_hosts_and_ports() -> None:
    """`*.domain` matches sub-domains only, a port pins the port, anything else is refused."""
    policy = OutboundPolicy(
        https_only=False,
        allowed_hosts=(
            HostPattern.parse("*.partner.example"),
            HostPattern.parse("api.b.example:8443"),
        ),
    )
    for url in (
        "https://connect.partner.example/x",
        "https://a.b.partner.example/x",
        "https://api.b.example:8443/x",
    ):
        policy.check(url)
    for url in (
        "https://partner.example/x",
        "https://evilpartner.example/x",
        "https://connect.partner.example.evil.example/x",
        "https://api.b.example/x",
        "https://93.184.215.14/x",
    ):
        with pytest.raises(OutboundRefused, match="not in the outbound allow-list"):
            policy.check(url)


async def test_private_exception_is_one_exact_host_and_port() -> None:
    """The stand-in's 127.0.0.1:port is allowed, and nothing else on 127.0.0.1 or under
    another spelling of it."""
    policy = OutboundPolicy.from_settings(
        Settings(env=Environment.test, outbound_allow_private_hosts=["127.0.0.1:18082"])
    )
    target = policy.check("http://127.0.0.1:18082/connect")
    assert [str(a) for a in await policy.resolve(target)] == ["127.0.0.1"]
    for url in (
        "http://127.0.0.1:18083/connect",
        "http://127.0.0.1/connect",
        "http://[::ffff:127.0.0.1]:18082/connect",
    ):
        with pytest.raises(OutboundRefused):
            policy.check(url)
    with pytest.raises(OutboundRefused, match="private-use name"):
        policy.check("http://localhost:18082/connect")


async def test_name_resolving_to_loopback_is_refused_after_resolution() -> None:
    """A name is refused for what it resolves to. `localhost` stands for any public-looking name
    that DNS points at loopback: the static check refuses it by name first, so its target is
    built here as `check` would build one for such a name."""
    with pytest.raises(OutboundRefused, match="private-use name"):
        DEV.check("http://localhost:18099/steal")
    target = Target(
        url=httpx.URL("http://localhost:18099/steal"),
        host="localhost",
        port=18099,
        literal=None,
        private_allowed=False,
    )
    with pytest.raises(OutboundRefused) as caught:
        await DEV.resolve(target)
    assert caught.value.reason == "resolves to a loopback address"


async def test_name_that_does_not_resolve_is_unresolvable_not_refused() -> None:
    """A name DNS does not know (`.invalid` never resolves) may be an outage: its own error."""
    with pytest.raises(OutboundUnresolvable):
        await DEV.resolve(DEV.check("https://nowhere.invalid/connect"))


def test_environment_variables_configure_the_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The JSON lists the dev stack passes in the environment become the policy."""
    monkeypatch.setenv("ONBOARDING_ENV", "test")
    monkeypatch.setenv("ONBOARDING_OUTBOUND_ALLOW_PRIVATE_HOSTS", '["127.0.0.1:8082"]')
    monkeypatch.setenv("ONBOARDING_OUTBOUND_ALLOWED_HOSTS", '["*.partner.example"]')
    policy = OutboundPolicy.from_settings(Settings())
    assert policy.check("http://127.0.0.1:8082/connect").private_allowed
    assert policy.check("https://app.partner.example/c").literal is None
    with pytest.raises(OutboundRefused):
        policy.check("https://other.example/c")


@pytest.mark.parametrize(
    "entry", ["*:8082", "127.0.0.1", "0.0.0.0/0:80", "10.0.0.0/8:80", "*.internal:80", ":80"]
)
def test_private_exceptions_refuse_anything_but_exact_host_port(entry: str) -> None:
    """No wildcard, range or port-less entry: no setting turns the address check off."""
    with pytest.raises(ValueError):
        parse_private_host(entry)
    with pytest.raises(ValidationError):
        Settings(outbound_allow_private_hosts=[entry])


@pytest.mark.parametrize(
    "entry", ["*", "*.com", "exa mple.com", "bücher.example", "a..b", "h:99999"]
)
def test_allow_list_refuses_malformed_patterns(entry: str) -> None:
    """Bare wildcards, top-level wildcards and non-host text are configuration errors."""
    with pytest.raises(ValidationError):
        Settings(outbound_allowed_hosts=[entry])


def test_ipv6_exception_entry_is_bracketed() -> None:
    """`[::1]:port` is an exact entry; the bare `::1` is ambiguous and refused."""
    assert parse_private_host("[::1]:8082") == ("::1", 8082)
    with pytest.raises(ValueError):
        parse_private_host("::1:8082")

"""Failed authentications cost their client address: a budget per address, shared by every API
process, so guessing API keys, invitation tokens or the codec token stays slow wherever the
guesses land.

Each address has a GCRA token bucket in PostgreSQL (store/limits.py, key
`auth-failures:<address>`): `burst` failures at once, then `per_minute` a minute. A request whose
credential fails takes a token; once none is left, every request from that address that presents
a credential, a valid one included, is answered 429 with Retry-After until a token is back, so a
right guess cannot be told from a wrong one meanwhile. A request presenting no credential costs
nothing (a health check, a browser on a public page).

The address is the peer's (the ASGI server's `client`; `onboarding api` turns off uvicorn's own
rewriting from X-Forwarded-For, which it would believe of any loopback peer) or, when
ONBOARDING_CLIENT_ADDRESS_HEADER is set and the peer is one of ONBOARDING_TRUSTED_PROXIES, the one
the proxy wrote in that header. An IPv6 address counts by its /64, the block one host usually has
to itself.
"""

from __future__ import annotations

import ipaddress
import math
from enum import StrEnum

from fastapi import Request

from api.problems import ProblemError
from core import metrics
from core.settings import Settings
from store import limits
from store.pool import Pool

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class Kind(StrEnum):
    """What was presented; each is a label value of onboarding_auth_failures_total."""

    api_key = "api-key"
    invitation_token = "invitation-token"  # noqa: S105  # a label value, not a secret
    codec_token = "codec-token"  # noqa: S105  # a label value, not a secret


def _parse(text: str | None) -> Address | None:
    if not text:
        return None
    text = text.strip()
    for candidate in (text.strip("[]"), text.rpartition(":")[0].strip("[]")):
        try:
            address = ipaddress.ip_address(candidate)
        except ValueError:
            continue
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            return address.ipv4_mapped
        return address
    return None


def _trusted(address: Address, settings: Settings) -> bool:
    return any(
        address in ipaddress.ip_network(proxy, strict=False) for proxy in settings.trusted_proxies
    )


def client_address(request: Request, settings: Settings) -> str:
    """The address a request's failures count against (an IPv6 one as its /64)."""
    address = _parse(request.client.host if request.client else None)
    header = settings.client_address_header
    if header is not None and address is not None and _trusted(address, settings):
        # "client, proxy1, proxy2": each proxy appends the address it was called from, so the
        # first one from the right that is not one of ours is the client (those left of it are
        # whatever the client chose to send).
        hops = ",".join(request.headers.getlist(header)).split(",")
        for hop in reversed(hops):
            parsed = _parse(hop)
            if parsed is None:
                break
            address = parsed
            if not _trusted(parsed, settings):
                break
    if address is None:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _limiter(settings: Settings) -> tuple[float, float]:
    """(interval, tolerance) of the address's bucket, as store/limits.take wants them."""
    interval = 60.0 / settings.auth_failures_per_minute
    return interval, (settings.auth_failures_burst - 1) * interval


def _key(request: Request, settings: Settings) -> str:
    return f"auth-failures:{client_address(request, settings)}"


def _refused(kind: Kind, retry_in: float, headers: dict[str, str] | None) -> ProblemError:
    metrics.auth_failure(kind.value, "refused")
    retry_after = max(1, math.ceil(retry_in))
    return ProblemError(
        429,
        "too-many-failed-authentications",
        "Too many failed authentications",
        "Too many requests from your address presented a wrong credential; every credential "
        f"from it is refused for now. Ask again in {retry_after} s.",
        headers={**(headers or {}), "Retry-After": str(retry_after)},
    )


async def failed(
    pool: Pool,
    settings: Settings,
    request: Request,
    kind: Kind,
    *,
    headers: dict[str, str] | None = None,
) -> None:
    """A credential failed: spend one of its address's tokens. Raises the 429 (with `headers`
    too) when none was left; otherwise the caller answers its own refusal (401, 403, 404)."""
    interval, tolerance = _limiter(settings)
    slot = await limits.take(
        pool, key=_key(request, settings), interval=interval, tolerance=tolerance
    )
    if not slot.granted:
        raise _refused(kind, slot.retry_in, headers)
    metrics.auth_failure(kind.value, "failed")


async def passed(
    pool: Pool,
    settings: Settings,
    request: Request,
    kind: Kind,
    *,
    headers: dict[str, str] | None = None,
) -> None:
    """A credential held: still a 429 (with `headers` too) while its address has no token
    left."""
    _, tolerance = _limiter(settings)
    wait = await limits.refused_for(pool, key=_key(request, settings), tolerance=tolerance)
    if wait > 0:
        raise _refused(kind, wait, headers)

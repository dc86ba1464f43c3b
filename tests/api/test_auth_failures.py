"""Failed authentications cost the client's address (api/auth_failures.py): wrong API keys,
forged invitation tokens and wrong codec tokens spend one budget per address, shared by every
API process (PostgreSQL); past it every credential from that address, a valid one included, is a
429 problem with Retry-After, counted in onboarding_auth_failures_total. The address is the
peer's, or a trusted proxy's header when the settings say so."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr, ValidationError
from temporalio.client import Client

from api.deps import Services
from api.main import create_app
from api.problems import PROBLEM_MEDIA_TYPE
from core.settings import Environment, Settings
from devstack.serving import serve_app
from domain.invitation import TokenClaims, sign_token, token_hash
from store import invitations
from store.pool import Pool
from tests.factories import Tenant, make_client

BURST = 3
# One failure back every 3 s: the burst is spent well within one interval, even on a busy host.
PER_MINUTE = 20.0
CODEC_TOKEN = "codec-token-for-auth-failures"
HEADER = "X-Real-IP"
REFUSED_TYPE = "/too-many-failed-authentications"


def fresh_address() -> str:
    """A documentation address (TEST-NET-3) no other test uses: a budget of its own."""
    return f"203.0.{secrets.randbelow(256)}.{1 + secrets.randbelow(254)}"


def at(address: str, headers: dict[str, str] | None = None) -> dict[str, str]:
    """Headers of a request the trusted proxy forwards from `address`."""
    return {HEADER: address, **(headers or {})}


@pytest.fixture
def guarded_settings(settings: Settings) -> Settings:
    """A small budget; the client's address read from X-Real-IP as the proxy on 127.0.0.1
    sets it, so each test spends the budgets of addresses of its own."""
    return settings.model_copy(
        update={
            "auth_failures_per_minute": PER_MINUTE,
            "auth_failures_burst": BURST,
            "client_address_header": HEADER,
            "trusted_proxies": ["127.0.0.1/32"],
            "codec_token": SecretStr(CODEC_TOKEN),
            "metrics_enabled": True,
            "metrics_refresh_seconds": 60.0,
        }
    )


@pytest.fixture
async def two_apis(
    guarded_settings: Settings, database_url: str, pool: Pool, client: Client
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Two API instances on the same database, each served by its own uvicorn."""
    async with AsyncExitStack() as stack:
        served = []
        for _ in range(2):
            services = Services(settings=guarded_settings, pool=pool, temporal=client)
            app = create_app(guarded_settings, services=services)
            served.append(await stack.enter_async_context(serve_app(app)))
        yield served[0], served[1]


def assert_refused(answer: httpx.Response) -> int:
    """The 429 problem of a spent budget; returns its Retry-After."""
    assert answer.status_code == 429, answer.text
    assert answer.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert answer.json()["type"].endswith(REFUSED_TYPE)
    retry_after = int(answer.headers["Retry-After"])
    assert 1 <= retry_after <= 60 / PER_MINUTE
    return retry_after


async def auth_failures(api: httpx.AsyncClient, kind: str, outcome: str) -> float:
    text = (await api.get("/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "onboarding_auth_failures_total" and sample.labels == {
                "kind": kind,
                "outcome": outcome,
            }:
                return sample.value
    raise AssertionError(f"no onboarding_auth_failures_total{{kind={kind}, outcome={outcome}}}")


async def test_wrong_api_keys_spend_the_address_budget_then_even_a_valid_key_is_refused(
    two_apis: tuple[httpx.AsyncClient, httpx.AsyncClient], tenant: Tenant
) -> None:
    """Three wrong credentials over two instances (a bad key, a Basic header) are 401s; the
    next is a 429, and so is the partner's valid key from that address until Retry-After,
    while other addresses go on; a request with no credential costs nothing. Both outcomes
    are counted by kind."""
    first, second = two_apis
    guesser, bystander = fresh_address(), fresh_address()
    failed_before = await auth_failures(first, "api-key", "failed")
    refused_before = await auth_failures(first, "api-key", "refused")

    wrong = {"Authorization": "Bearer onb_00000000_guess"}
    assert (await first.get("/v1/plans", headers=at(guesser))).status_code == 401  # no credential
    answers = [
        await first.get("/v1/plans", headers=at(guesser, wrong)),
        await second.get("/v1/plans", headers=at(guesser, {"Authorization": "Basic Z3Vlc3M="})),
        await first.get("/v1/plans", headers=at(guesser, wrong)),
    ]
    assert [a.status_code for a in answers] == [401, 401, 401]
    assert_refused(await second.get("/v1/plans", headers=at(guesser, wrong)))
    retry_after = assert_refused(await first.get("/v1/plans", headers=at(guesser, tenant.auth)))
    assert tenant.key not in (await second.get("/v1/plans", headers=at(guesser, wrong))).text
    assert (await second.get("/v1/plans", headers=at(bystander, tenant.auth))).status_code == 200

    assert await auth_failures(first, "api-key", "failed") - failed_before == BURST
    assert await auth_failures(second, "api-key", "refused") - refused_before >= 3

    await asyncio.sleep(retry_after)
    assert (await first.get("/v1/plans", headers=at(guesser, tenant.auth))).status_code == 200


async def _invitation(pool: Pool, tenant: Tenant, settings: Settings, *, expired: bool) -> str:
    """A genuine invitation token, recorded as the workflow records it."""
    onboarding_id, _ = await make_client(pool, tenant)
    expires_at = datetime.now(UTC) + timedelta(minutes=-1 if expired else 60)
    token = sign_token(
        TokenClaims(onboarding_id=onboarding_id, sequence=1, expires_at=expires_at),
        settings.secret_key.get_secret_value(),
    )
    await invitations.record(
        pool,
        onboarding_id=onboarding_id,
        sequence=1,
        token_hash=token_hash(token),
        recipient="director@example.com",
        expires_at=expires_at,
    )
    return token


async def test_forged_invitation_tokens_spend_the_address_budget_then_even_a_genuine_one_is_refused(
    two_apis: tuple[httpx.AsyncClient, httpx.AsyncClient],
    tenant: Tenant,
    pool: Pool,
    guarded_settings: Settings,
) -> None:
    """An expired genuine token costs nothing; forged and malformed tokens on the JSON, page,
    accept and checklist routes do: past the budget, the genuine link from that address is a
    429 too, and still opens from another address."""
    first, second = two_apis
    guesser, director = fresh_address(), fresh_address()
    genuine = await _invitation(pool, tenant, guarded_settings, expired=False)
    expired = await _invitation(pool, tenant, guarded_settings, expired=True)
    payload, signature = genuine.split(".")
    forged = f"{payload}.{signature[::-1]}"

    for _ in range(BURST + 1):  # each would spend one; none does
        assert (
            await first.get(f"/v1/invitations/{expired}", headers=at(guesser))
        ).status_code == 410
    answers = [
        await first.get(f"/v1/invitations/{forged}", headers=at(guesser)),
        await second.get(
            "/v1/invitations/not-a-token", headers=at(guesser, {"Accept": "text/html"})
        ),
        await first.post(f"/v1/invitations/{forged}/accept", headers=at(guesser)),
    ]
    assert [a.status_code for a in answers] == [404, 404, 404]
    assert_refused(await second.get(f"/v1/invitations/{forged}/checklist", headers=at(guesser)))
    assert_refused(await first.get(f"/v1/invitations/{genuine}", headers=at(guesser)))
    assert_refused(await second.post(f"/v1/invitations/{genuine}/accept", headers=at(guesser)))
    opened = await second.get(f"/v1/invitations/{genuine}", headers=at(director))
    assert opened.status_code == 200, opened.text
    assert opened.json()["status"] == "open"


async def test_wrong_codec_tokens_spend_the_address_budget_then_even_the_right_one_is_refused(
    two_apis: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    """Wrong ops tokens on the codec server are 403s until the budget is spent, then 429s, the
    right token included, with the UI origin's CORS headers so the UI can read them."""
    first, second = two_apis
    guesser, operator = fresh_address(), fresh_address()
    origin = {"Origin": "http://127.0.0.1:8233"}
    wrong = {"Authorization": "Bearer not-the-token", **origin}
    right = {"Authorization": f"Bearer {CODEC_TOKEN}", "X-Namespace": "elsewhere", **origin}
    answers = [
        await (first if n % 2 else second).post(
            "/codec/decode", json={"payloads": []}, headers=at(guesser, wrong)
        )
        for n in range(BURST)
    ]
    assert [a.status_code for a in answers] == [403] * BURST
    refused = await first.post("/codec/decode", json={"payloads": []}, headers=at(guesser, right))
    assert_refused(refused)
    assert refused.headers["access-control-allow-origin"] == origin["Origin"]
    # Past authentication, the other namespace is what the operator is told about.
    passed = await second.post("/codec/decode", json={"payloads": []}, headers=at(operator, right))
    assert passed.status_code == 400, passed.text


async def test_client_address_is_the_peer_unless_a_trusted_proxy_names_it(
    guarded_settings: Settings, pool: Pool, client: Client, tenant: Tenant
) -> None:
    """Through the trusted proxy, the address is the header's (the last hop not a proxy, an
    IPv6 address by its /64); from a peer that is no trusted proxy, or with no header
    configured, the header is ignored: naming a spent address changes nothing."""
    variants = {
        "trusted": guarded_settings,
        "untrusted": guarded_settings.model_copy(update={"trusted_proxies": ["10.0.0.0/8"]}),
        "no header": guarded_settings.model_copy(
            update={"client_address_header": None, "trusted_proxies": []}
        ),
    }
    wrong = {"Authorization": "Bearer onb_00000000_guess"}
    spent = f"2001:db8:{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"
    async with AsyncExitStack() as stack:
        api = {}
        for name, variant in variants.items():
            services = Services(settings=variant, pool=pool, temporal=client)
            api[name] = await stack.enter_async_context(
                serve_app(create_app(variant, services=services))
            )
        trusted = api["trusted"]
        for n in range(BURST):
            # The client's address, then the proxies' own (skipped from the right).
            chain = f"{spent}::{n + 1}, 127.0.0.1"
            assert (await trusted.get("/v1/plans", headers=at(chain, wrong))).status_code == 401
        assert_refused(await trusted.get("/v1/plans", headers=at(f"{spent}::99", tenant.auth)))
        neighbour = f"2001:db8:ffff:{uuid.uuid4().hex[:4]}::1"  # another /64
        assert (
            await trusted.get("/v1/plans", headers=at(neighbour, tenant.auth))
        ).status_code == 200
        for name in ("untrusted", "no header"):
            answer = await api[name].get("/v1/plans", headers=at(f"{spent}::1", tenant.auth))
            assert answer.status_code == 200, (name, answer.text)


def test_a_client_address_header_needs_valid_trusted_proxies() -> None:
    """A header believed from any peer would let every client name any address: refused at
    start-up, as is a proxy entry that is no address or network."""
    with pytest.raises(ValidationError, match="ONBOARDING_TRUSTED_PROXIES"):
        Settings(env=Environment.test, client_address_header="X-Forwarded-For")
    with pytest.raises(ValidationError, match="not an address or a network"):
        Settings(
            env=Environment.test,
            client_address_header="X-Forwarded-For",
            trusted_proxies=["proxy.internal"],
        )
    accepted = Settings(
        env=Environment.test,
        client_address_header="X-Forwarded-For",
        trusted_proxies=["10.0.0.0/8", "::1"],
    )
    assert accepted.trusted_proxies == ["10.0.0.0/8", "::1"]

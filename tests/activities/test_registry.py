"""Registry clients and the lookup_company activity, against the registry stand-in over real HTTP.

The INSEE adapter has no stand-in: its tests answer with recorded-shape payloads through
httpx.MockTransport, which exercises the same parsing and error mapping.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.registry import (
    DEFAULT_USER_AGENT,
    INSEE_BASE_URL,
    MAX_RETRY_AFTER_SECONDS,
    InseeSireneClient,
    InvalidSiret,
    LookupCompanyInput,
    RechercheEntreprisesClient,
    RegistryActivities,
    RegistryConfig,
    RegistryRateLimited,
    RegistryRejected,
    RegistryUnavailable,
    build_registry_client,
    parse_retry_after,
)
from devstack.ports import free_port
from devstack.registry_standin import RegistryStandin
from domain.company import CompanyRecord
from store import imports, limits
from store.pool import Pool
from tests.factories import Tenant

DANONE = "55203253400646"
CEASED_HEAD_OFFICE = "81234567600017"  # invented BISCUITERIE DU VIEUX PORT, see the fixture
MASKED_SECONDARY = "84201357500027"  # invented partially public sole trader, secondary site
UNKNOWN = "73282932000074"


class FrozenClock:
    """The stand-in's clock, moved by hand: the rate limit sees every request at one instant."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def standin() -> AsyncIterator[RegistryStandin]:
    async with RegistryStandin() as server:
        yield server


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def frozen_standin(clock: FrozenClock) -> AsyncIterator[RegistryStandin]:
    async with RegistryStandin(clock=clock) as server:
        yield server


@pytest.fixture
async def registry(standin: RegistryStandin) -> AsyncIterator[RechercheEntreprisesClient]:
    async with RechercheEntreprisesClient(standin.url, timeout=5) as client:
        yield client


# -- RechercheEntreprisesClient against the stand-in -------------------------------------------


async def test_lookup_siret_danone_head_office(registry: RechercheEntreprisesClient) -> None:
    """DANONE's head office comes back with every field read from the registry's answer."""
    company = await registry.lookup_siret(DANONE)
    assert company == CompanyRecord(
        siret=DANONE,
        siren="552032534",
        name="DANONE",
        address="17 BOULEVARD HAUSSMANN 75009 PARIS",
        postal_code="75009",
        city="PARIS",
        activity_code="70.10Z",
        legal_form="5599",
        is_head_office=True,
        active=True,
        closed_on=None,
        source="recherche-entreprises",
    )


@pytest.mark.parametrize(
    ("siret", "name", "postal_code", "legal_form"),
    [
        ("35600000000048", "LA POSTE", "75015", "5510"),
        ("13002526500013", "DIRECTION INTERMINISTERIELLE DU NUMERIQUE", "75007", "7120"),
        ("55208131766522", "ELECTRICITE DE FRANCE", "75008", "5599"),
    ],
)
async def test_lookup_siret_public_head_offices(
    registry: RechercheEntreprisesClient,
    siret: str,
    name: str,
    postal_code: str,
    legal_form: str,
) -> None:
    """Each real head office is found under its legal name, not nom_complet's "(ACRONYM)"."""
    company = await registry.lookup_siret(siret)
    assert company is not None
    assert (company.siret, company.name, company.postal_code, company.legal_form) == (
        siret,
        name,
        postal_code,
        legal_form,
    )
    assert company.is_head_office and company.active


async def test_lookup_siret_spaces_ignored(registry: RechercheEntreprisesClient) -> None:
    """A SIRET typed in groups ("552 032 534 00646") is the same lookup."""
    company = await registry.lookup_siret("552 032 534 00646")
    assert company is not None and company.siret == DANONE


async def test_lookup_siret_unknown_returns_none(registry: RechercheEntreprisesClient) -> None:
    """An unknown SIRET (the API's 200 with no results) is None, not an error."""
    assert await registry.lookup_siret(UNKNOWN) is None


async def test_lookup_siret_ceased_company_inactive(registry: RechercheEntreprisesClient) -> None:
    """A ceased company's head office is inactive, with the closing date."""
    company = await registry.lookup_siret(CEASED_HEAD_OFFICE)
    assert company is not None
    assert company.active is False
    assert company.closed_on == date(2021, 6, 30)
    assert company.name == "BISCUITERIE DU VIEUX PORT"


async def test_lookup_siret_secondary_establishment_masked(
    registry: RechercheEntreprisesClient,
) -> None:
    """A secondary establishment is read from matching_etablissements; masked values are None."""
    company = await registry.lookup_siret(MASKED_SECONDARY)
    assert company is not None
    assert company.siret == MASKED_SECONDARY
    assert company.is_head_office is False
    assert company.city == "VILLEURBANNE"
    assert (company.name, company.address, company.postal_code) == (None, None, None)
    assert company.activity_code == "62.01Z"  # the company's, not this site's 62.02A
    assert company.active is True


@pytest.mark.parametrize("siret", ["5520325340064", "DANONE SA", "552032534006460"])
async def test_lookup_siret_malformed_never_sent(
    standin: RegistryStandin, registry: RechercheEntreprisesClient, siret: str
) -> None:
    """Anything but 14 digits is refused before any request (it would be a name search)."""
    with pytest.raises(InvalidSiret):
        await registry.lookup_siret(siret)
    assert standin.stats.total_requests == 0


async def test_lookup_siret_user_agent_always_sent(standin: RegistryStandin) -> None:
    """A shared AsyncClient with httpx's default User-Agent still sends ours."""
    async with httpx.AsyncClient() as http:
        client = RechercheEntreprisesClient(standin.url, user_agent="test-agent/1", http=http)
        await client.lookup_siret(DANONE)
        await client.aclose()  # not ours to close: the shared client must stay usable
        assert not http.is_closed
    assert standin.stats.user_agents == frozenset({"test-agent/1"})


async def test_lookup_siret_over_rate_limit_raises_rate_limited(
    frozen_standin: RegistryStandin, clock: FrozenClock
) -> None:
    """20 concurrent lookups in one second: 7 answered, 13 refused with Retry-After parsed."""
    async with RechercheEntreprisesClient(frozen_standin.url) as client:
        outcomes = await asyncio.gather(
            *(client.lookup_siret(DANONE) for _ in range(20)), return_exceptions=True
        )
        found = [o for o in outcomes if isinstance(o, CompanyRecord)]
        limited = [o for o in outcomes if isinstance(o, RegistryRateLimited)]
        assert (len(found), len(limited)) == (7, 13)
        assert {exc.retry_after for exc in limited} == {1.0}
        assert frozen_standin.stats.rate_limited == 13

        clock.now += 1.0  # waiting as told lets the next lookup through
        assert await client.lookup_siret(DANONE) is not None


@pytest.mark.parametrize("status", [500, 503])
async def test_lookup_siret_server_error_raises_unavailable(
    standin: RegistryStandin, registry: RechercheEntreprisesClient, status: int
) -> None:
    """A 5xx answer is RegistryUnavailable; the next lookup succeeds."""
    standin.fail_next(1, status=status)
    with pytest.raises(RegistryUnavailable, match=str(status)):
        await registry.lookup_siret(DANONE)
    assert await registry.lookup_siret(DANONE) is not None


async def test_lookup_siret_hang_raises_unavailable(standin: RegistryStandin) -> None:
    """A registry that does not answer within the timeout is RegistryUnavailable."""
    standin.hang_next(1, seconds=30)
    async with RechercheEntreprisesClient(standin.url, timeout=0.2) as client:
        with pytest.raises(RegistryUnavailable, match="did not answer"):
            await client.lookup_siret(DANONE)
    assert standin.stats.hung == 1


async def test_lookup_siret_connection_closed_raises_unavailable(
    standin: RegistryStandin, registry: RechercheEntreprisesClient
) -> None:
    """A registry that closes the connection without answering is RegistryUnavailable."""
    standin.set_down()
    with pytest.raises(RegistryUnavailable, match="unreachable"):
        await registry.lookup_siret(DANONE)
    assert standin.stats.dropped == 1


async def test_lookup_siret_nothing_listening_raises_unavailable() -> None:
    """Connection refused is RegistryUnavailable."""
    async with RechercheEntreprisesClient(f"http://127.0.0.1:{free_port()}") as client:
        with pytest.raises(RegistryUnavailable, match="unreachable"):
            await client.lookup_siret(DANONE)


async def test_lookup_siret_client_error_raises_rejected(standin: RegistryStandin) -> None:
    """A 4xx other than 429 (here a wrong base URL's 404) is RegistryRejected, with the erreur."""
    async with RechercheEntreprisesClient(f"{standin.url}/v0") as client:
        with pytest.raises(RegistryRejected, match="404") as caught:
            await client.lookup_siret(DANONE)
    assert caught.value.status == 404


# -- Retry-After -------------------------------------------------------------------------------


def test_parse_retry_after_seconds() -> None:
    """Delta-seconds are read as they are."""
    assert parse_retry_after("120", default=1.0) == 120.0


def test_parse_retry_after_http_date() -> None:
    """An HTTP-date becomes the seconds left until it."""
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 20.0 <= parse_retry_after(when, default=1.0) <= 30.0


@pytest.mark.parametrize("value", [None, "", "soon", "-5"])
def test_parse_retry_after_unreadable_uses_default(value: str | None) -> None:
    """A missing or unreadable header gives the default."""
    assert parse_retry_after(value, default=7.0) == 7.0


def test_parse_retry_after_huge_capped() -> None:
    """A Retry-After of days is capped, so no onboarding is parked for days."""
    assert parse_retry_after("864000", default=1.0) == MAX_RETRY_AFTER_SECONDS


# -- the activity --------------------------------------------------------------------------------


async def test_lookup_company_found_returns_record(registry: RechercheEntreprisesClient) -> None:
    """The activity returns the record and the attempt Temporal is on."""
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=3)
    result = await env.run(
        RegistryActivities(registry).lookup_company, LookupCompanyInput(siret=DANONE)
    )
    assert result.company is not None and result.company.name == "DANONE"
    assert result.attempt == 3


async def test_lookup_company_unknown_returns_none(registry: RechercheEntreprisesClient) -> None:
    """Unknown is an answer (company None) for the workflow to decide on, not a failure."""
    result = await ActivityEnvironment().run(
        RegistryActivities(registry).lookup_company, LookupCompanyInput(siret=UNKNOWN)
    )
    assert result.company is None
    assert result.attempt == 1


async def test_lookup_company_rate_limited_sets_next_retry_delay(
    frozen_standin: RegistryStandin,
) -> None:
    """A 429 becomes a retryable RegistryRateLimited whose next retry waits the Retry-After."""
    async with RechercheEntreprisesClient(frozen_standin.url) as client:
        for _ in range(7):
            await client.lookup_siret(DANONE)
        with pytest.raises(ApplicationError) as caught:
            await ActivityEnvironment().run(
                RegistryActivities(client).lookup_company, LookupCompanyInput(siret=DANONE)
            )
    assert caught.value.type == "RegistryRateLimited"
    assert caught.value.next_retry_delay == timedelta(seconds=1)
    assert caught.value.non_retryable is False


async def test_lookup_company_unavailable_retryable(
    standin: RegistryStandin, registry: RechercheEntreprisesClient
) -> None:
    """A 5xx becomes a retryable RegistryUnavailable with the default backoff."""
    standin.fail_next(1, status=503)
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(
            RegistryActivities(registry).lookup_company, LookupCompanyInput(siret=DANONE)
        )
    assert caught.value.type == "RegistryUnavailable"
    assert caught.value.non_retryable is False
    assert caught.value.next_retry_delay is None


async def test_lookup_company_invalid_siret_not_retryable(
    registry: RechercheEntreprisesClient,
) -> None:
    """A malformed SIRET fails for good: no retry can make it valid."""
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(
            RegistryActivities(registry).lookup_company, LookupCompanyInput(siret="123")
        )
    assert caught.value.type == "InvalidSiret"
    assert caught.value.non_retryable is True


async def test_lookup_company_rejected_not_retryable(standin: RegistryStandin) -> None:
    """A registry 4xx (bad key, wrong URL) fails for good rather than retrying forever."""
    async with RechercheEntreprisesClient(f"{standin.url}/v0") as client:
        with pytest.raises(ApplicationError) as caught:
            await ActivityEnvironment().run(
                RegistryActivities(client).lookup_company, LookupCompanyInput(siret=DANONE)
            )
    assert caught.value.type == "RegistryRejected"
    assert caught.value.non_retryable is True


# -- configuration -------------------------------------------------------------------------------


def test_build_registry_client_default_recherche_entreprises() -> None:
    """The default configuration builds the Recherche d'entreprises client on its public URL."""
    client = build_registry_client(RegistryConfig())
    assert isinstance(client, RechercheEntreprisesClient)
    assert client.base_url == "https://recherche-entreprises.api.gouv.fr"
    assert client.timeout == 5.0


def test_build_registry_client_insee_uses_insee_url() -> None:
    """kind=insee with no URL of its own asks INSEE, with the key."""
    client = build_registry_client(RegistryConfig(kind="insee", insee_api_key="k"))
    assert isinstance(client, InseeSireneClient)
    assert client.base_url == INSEE_BASE_URL


def test_build_registry_client_insee_without_key_refused() -> None:
    """INSEE without an API key is a configuration error at start-up, not at the first lookup."""
    with pytest.raises(ValueError, match="API key"):
        build_registry_client(RegistryConfig(kind="insee"))


def test_registry_config_repr_hides_key() -> None:
    """The INSEE key never shows in a repr (logs, tracebacks)."""
    assert "s3cret" not in repr(RegistryConfig(kind="insee", insee_api_key="s3cret"))


# -- InseeSireneClient ---------------------------------------------------------------------------


def _insee_etablissement(**overrides: Any) -> dict[str, Any]:
    etablissement: dict[str, Any] = {
        "siren": "552032534",
        "nic": "00646",
        "siret": DANONE,
        "statutDiffusionEtablissement": "O",
        "dateCreationEtablissement": "2002-06-01",
        "etablissementSiege": True,
        "uniteLegale": {
            "denominationUniteLegale": "DANONE",
            "nomUniteLegale": None,
            "prenom1UniteLegale": None,
            "categorieJuridiqueUniteLegale": "5599",
            "activitePrincipaleUniteLegale": "70.10Z",
            "etatAdministratifUniteLegale": "A",
        },
        "adresseEtablissement": {
            "complementAdresseEtablissement": None,
            "numeroVoieEtablissement": "17",
            "indiceRepetitionEtablissement": None,
            "typeVoieEtablissement": "BD",
            "libelleVoieEtablissement": "HAUSSMANN",
            "codePostalEtablissement": "75009",
            "libelleCommuneEtablissement": "PARIS",
        },
        "periodesEtablissement": [
            {"dateFin": None, "dateDebut": "2008-01-01", "etatAdministratifEtablissement": "A"},
            {
                "dateFin": "2007-12-31",
                "dateDebut": "2002-06-01",
                "etatAdministratifEtablissement": "A",
            },
        ],
    }
    etablissement.update(overrides)
    return {"header": {"statut": 200, "message": "OK"}, "etablissement": etablissement}


@asynccontextmanager
async def _insee(
    status: int, body: dict[str, Any], seen: list[httpx.Request] | None = None
) -> AsyncIterator[InseeSireneClient]:
    """An INSEE client whose every request gets this answer; requests are kept in `seen`."""

    def answer(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(status, json=body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        yield InseeSireneClient(INSEE_BASE_URL, "the-key", http=http)


async def test_insee_lookup_siret_company() -> None:
    """INSEE's answer gives the same record as the search API's, street type spelled out."""
    seen: list[httpx.Request] = []
    async with _insee(200, _insee_etablissement(), seen) as insee:
        company = await insee.lookup_siret(DANONE)
    assert company == CompanyRecord(
        siret=DANONE,
        siren="552032534",
        name="DANONE",
        address="17 BOULEVARD HAUSSMANN 75009 PARIS",
        postal_code="75009",
        city="PARIS",
        activity_code="70.10Z",
        legal_form="5599",
        is_head_office=True,
        active=True,
        source="insee",
    )
    (request,) = seen
    assert request.url == f"{INSEE_BASE_URL}/siret/{DANONE}"
    assert request.headers["X-INSEE-Api-Key-Integration"] == "the-key"
    assert request.headers["User-Agent"] == DEFAULT_USER_AGENT


async def test_insee_lookup_siret_sole_trader_named_by_person() -> None:
    """A sole trader has no denomination: the name is first name and name; [ND] is None."""
    body = _insee_etablissement(
        uniteLegale={
            "denominationUniteLegale": None,
            "nomUniteLegale": "DUPONT",
            "prenom1UniteLegale": "ANNE",
            "categorieJuridiqueUniteLegale": "1000",
            "activitePrincipaleUniteLegale": "10.71C",
            "etatAdministratifUniteLegale": "A",
        },
        adresseEtablissement={
            "numeroVoieEtablissement": "[ND]",
            "typeVoieEtablissement": "[ND]",
            "libelleVoieEtablissement": "[ND]",
            "codePostalEtablissement": "[ND]",
            "libelleCommuneEtablissement": "LYON",
        },
    )
    async with _insee(200, body) as insee:
        company = await insee.lookup_siret(DANONE)
    assert company is not None
    assert company.name == "ANNE DUPONT"
    assert (company.address, company.postal_code, company.city) == (None, None, "LYON")


async def test_insee_lookup_siret_closed_establishment() -> None:
    """A closed establishment (current period F) is inactive since that period's start."""
    body = _insee_etablissement(
        periodesEtablissement=[
            {"dateFin": None, "dateDebut": "2021-06-30", "etatAdministratifEtablissement": "F"},
            {
                "dateFin": "2021-06-29",
                "dateDebut": "2015-06-15",
                "etatAdministratifEtablissement": "A",
            },
        ]
    )
    async with _insee(200, body) as insee:
        company = await insee.lookup_siret(DANONE)
    assert company is not None
    assert (company.active, company.closed_on) == (False, date(2021, 6, 30))


async def test_insee_lookup_siret_unknown_returns_none() -> None:
    """INSEE's 404 is an unknown SIRET."""
    body = {"header": {"statut": 404, "message": "Aucun élément trouvé"}}
    async with _insee(404, body) as insee:
        assert await insee.lookup_siret(UNKNOWN) is None


async def test_insee_lookup_siret_429_without_retry_after_waits_a_minute() -> None:
    """A 429 with no Retry-After waits out INSEE's per-minute window."""
    body = {"header": {"statut": 429, "message": "Too Many Requests"}}
    async with _insee(429, body) as insee:
        with pytest.raises(RegistryRateLimited) as caught:
            await insee.lookup_siret(DANONE)
    assert caught.value.retry_after == 60.0


async def test_insee_lookup_siret_bad_key_raises_rejected() -> None:
    """A 401 (bad key) is RegistryRejected with INSEE's message."""
    body = {"header": {"statut": 401, "message": "Invalid API key"}}
    async with _insee(401, body) as insee:
        with pytest.raises(RegistryRejected, match="Invalid API key"):
            await insee.lookup_siret(DANONE)


# -- the fleet-wide limiter in front of every request ------------------------------------------


async def test_remembered_import_answers_take_no_fleet_slot(
    standin: RegistryStandin, pool: Pool, tenant: Tenant
) -> None:
    """Through the client the worker builds (fleet pacer on): the first lookup of a SIRET in an
    import takes a slot and a place, the remembered one takes neither and sends nothing."""
    config = RegistryConfig(base_url=standin.url, rate_limit=7)
    import_id = uuid.uuid4()
    await imports.create(
        pool,
        import_id=import_id,
        partner_id=tenant.partner.id,
        idempotency_key=str(import_id),
        request_hash="h",
        workflow_id=f"import-{import_id}",
        filename="clients.csv",
        created_by=tenant.admin.id,
        rows=[],
    )
    async with httpx.AsyncClient() as http:
        activities = RegistryActivities(build_registry_client(config, http, pool=pool), pool)
        lookup = LookupCompanyInput(siret=DANONE, import_id=import_id)
        first = await ActivityEnvironment().run(activities.lookup_company, lookup)
        slot_after_first = await limits.next_free(pool, key=config.fleet_key)
        again = await ActivityEnvironment().run(activities.lookup_company, lookup)
        assert await limits.next_free(pool, key=config.fleet_key) == slot_after_first
        elsewhere = await ActivityEnvironment().run(
            activities.lookup_company, LookupCompanyInput(siret=DANONE)
        )
    assert slot_after_first is not None
    assert first.company is not None and not first.reused
    assert again.reused and again.company == first.company
    assert elsewhere.company == first.company and not elsewhere.reused
    # Outside an import every lookup asks, and takes the next slot.
    later = await limits.next_free(pool, key=config.fleet_key)
    assert later is not None and later > slot_after_first
    assert standin.stats.total_requests == 2

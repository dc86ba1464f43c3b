"""The registry stand-in speaks the API Recherche d'entreprises' protocol, limits and faults."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from stdnum.fr import siret as siret_number

from devstack.ports import free_port, wait_for_port
from devstack.registry_standin import FIXTURE_PATH, RegistryStandin
from devstack.synthetic_companies import head_office_siret, synthetic_units
from domain.identifiers import validate_siren, validate_siret
from tests.eventually import eventually

DANONE = "55203253400646"
PROJECT_ROOT = Path(__file__).resolve().parents[2]

RESULT_KEYS = {
    "siren",
    "nom_complet",
    "nom_raison_sociale",
    "sigle",
    "nombre_etablissements",
    "nombre_etablissements_ouverts",
    "activite_principale",
    "categorie_entreprise",
    "date_creation",
    "date_fermeture",
    "etat_administratif",
    "nature_juridique",
    "tranche_effectif_salarie",
    "statut_diffusion",
    "siege",
    "dirigeants",
    "matching_etablissements",
}
SIEGE_KEYS = {
    "siret",
    "adresse",
    "numero_voie",
    "type_voie",
    "libelle_voie",
    "complement_adresse",
    "code_postal",
    "commune",
    "libelle_commune",
    "activite_principale",
    "est_siege",
    "etat_administratif",
    "date_creation",
    "date_fermeture",
    "latitude",
    "longitude",
}


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
async def http(standin: RegistryStandin) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=standin.url, timeout=5) as client:
        yield client


# -- protocol ----------------------------------------------------------------------------------


async def test_search_siret_answers_documented_shape(http: httpx.AsyncClient) -> None:
    """A SIRET query answers the paginated envelope, the SIRET in matching_etablissements."""
    response = await http.get("/search", params={"q": DANONE})
    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("total_results", "page", "per_page", "total_pages")} == {
        "total_results": 1,
        "page": 1,
        "per_page": 10,
        "total_pages": 1,
    }
    (result,) = body["results"]
    assert RESULT_KEYS <= result.keys()
    assert SIEGE_KEYS <= result["siege"].keys()
    assert result["siren"] == "552032534"
    assert result["siege"]["adresse"] == "17 BOULEVARD HAUSSMANN 75009 PARIS"
    assert [e["siret"] for e in result["matching_etablissements"]] == [DANONE]


async def test_search_siret_with_spaces_is_direct_lookup(http: httpx.AsyncClient) -> None:
    """Spaces inside the number are ignored, as by the real API."""
    response = await http.get("/search", params={"q": "552 032 534 00646"})
    assert [r["siren"] for r in response.json()["results"]] == ["552032534"]


async def test_search_siren_answers_the_unit(http: httpx.AsyncClient) -> None:
    """A 9-digit query is a SIREN lookup listing the unit's establishments."""
    response = await http.get("/search", params={"q": "812345676"})
    (result,) = response.json()["results"]
    assert result["etat_administratif"] == "C"
    assert {e["siret"] for e in result["matching_etablissements"]} == {
        "81234567600017",
        "81234567600025",
    }


async def test_search_unknown_number_answers_200_empty(http: httpx.AsyncClient) -> None:
    """An unknown SIRET is a 200 with no results (the real API has no 404 for it)."""
    response = await http.get("/search", params={"q": "73282932000074"})
    assert response.status_code == 200
    assert response.json() == {
        "results": [],
        "total_results": 0,
        "page": 1,
        "per_page": 10,
        "total_pages": 0,
    }


async def test_search_name_ignores_case_and_accents(http: httpx.AsyncClient) -> None:
    """A name query finds the company whatever the case and accents."""
    response = await http.get("/search", params={"q": "électricité de france"})
    assert [r["siren"] for r in response.json()["results"]] == ["552081317"]


@pytest.mark.parametrize(
    "params",
    [{}, {"q": ""}, {"q": "ab"}, {"q": DANONE, "per_page": "26"}, {"q": DANONE, "page": "x"}],
)
async def test_search_bad_parameters_answer_400_erreur(
    http: httpx.AsyncClient, params: dict[str, str]
) -> None:
    """Missing or out-of-range parameters answer 400 with an `erreur` message."""
    response = await http.get("/search", params=params)
    assert response.status_code == 400
    assert response.json()["erreur"]


async def test_unknown_path_answers_404_erreur(http: httpx.AsyncClient) -> None:
    """Any other path answers 404 in the API's error format."""
    response = await http.get("/v3/etablissements")
    assert response.status_code == 404
    assert "erreur" in response.json()


def test_fixture_numbers_pass_checksum() -> None:
    """Every SIREN and SIRET in the fixture is valid, so the local checks let them through."""
    units = json.loads(FIXTURE_PATH.read_text(encoding="utf-8"))["unites_legales"]
    sirets = [
        etab["siret"] for unit in units for etab in [unit["siege"], *unit["autres_etablissements"]]
    ]
    assert len(sirets) == 8
    assert [s for s in sirets if not siret_number.is_valid(s)] == []


# -- rate limit ----------------------------------------------------------------------------------


async def test_rate_limit_eighth_request_in_a_second_answers_429() -> None:
    """7 requests in a second pass, the 8th gets 429 with Retry-After; a second later it passes."""
    clock = FrozenClock()
    async with (
        RegistryStandin(clock=clock) as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        statuses = [(await http.get("/search", params={"q": DANONE})).status_code for _ in range(7)]
        assert statuses == [200] * 7
        refused = await http.get("/search", params={"q": DANONE})
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "1"
        assert "erreur" in refused.json()

        clock.now += 1.0
        assert (await http.get("/search", params={"q": DANONE})).status_code == 200
        assert server.stats.rate_limited == 1
        assert server.stats.max_requests_per_window == 8  # the refused one arrived too


async def test_rate_limit_twenty_concurrent_requests_some_refused(
    standin: RegistryStandin, http: httpx.AsyncClient
) -> None:
    """On the real clock, 20 concurrent requests: at least 7 answered, the excess refused."""
    responses = await asyncio.gather(
        *(http.get("/search", params={"q": DANONE}) for _ in range(20))
    )
    statuses = [r.status_code for r in responses]
    assert set(statuses) == {200, 429}
    assert statuses.count(200) >= 7
    assert standin.stats.rate_limited == statuses.count(429)
    assert standin.stats.max_requests_per_window >= 8


@pytest.mark.skipif(sys.platform != "linux", reason="needs 127.0.0.2 to be a loopback address")
async def test_rate_limit_counts_each_client_ip_apart() -> None:
    """Another client IP has a window of its own."""
    clock = FrozenClock()
    async with RegistryStandin(clock=clock) as server:
        other_ip = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
        async with (
            httpx.AsyncClient(base_url=server.url) as first,
            httpx.AsyncClient(base_url=server.url, transport=other_ip) as second,
        ):
            for _ in range(7):
                await first.get("/search", params={"q": DANONE})
            assert (await first.get("/search", params={"q": DANONE})).status_code == 429
            assert (await second.get("/search", params={"q": DANONE})).status_code == 200


# -- faults --------------------------------------------------------------------------------------


async def test_fail_next_answers_status_then_recovers(
    standin: RegistryStandin, http: httpx.AsyncClient
) -> None:
    """fail_next(2, status=503) answers two 503s with `erreur`, then normal answers."""
    standin.fail_next(2, status=503)
    statuses = [(await http.get("/search", params={"q": DANONE})).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert standin.stats.failed == 2


async def test_hang_next_makes_client_time_out(
    standin: RegistryStandin, http: httpx.AsyncClient
) -> None:
    """hang_next holds the answer past the client's timeout; the next request is answered."""
    standin.hang_next(1, seconds=30)
    with pytest.raises(httpx.ReadTimeout):
        await http.get("/search", params={"q": DANONE}, timeout=0.2)
    assert (await http.get("/search", params={"q": DANONE})).status_code == 200
    assert standin.stats.hung == 1


async def test_set_down_closes_connections_without_answer(
    standin: RegistryStandin, http: httpx.AsyncClient
) -> None:
    """While down, requests get a closed connection; back up, they are answered."""
    standin.set_down()
    with pytest.raises(httpx.RemoteProtocolError):
        await http.get("/search", params={"q": DANONE})
    standin.set_down(False)
    assert (await http.get("/search", params={"q": DANONE})).status_code == 200


async def test_reset_clears_faults_and_counters(
    standin: RegistryStandin, http: httpx.AsyncClient
) -> None:
    """reset() forgets pending faults, the down state and every counter."""
    standin.fail_next(3)
    await http.get("/search", params={"q": DANONE})
    standin.set_down()
    standin.reset()
    assert standin.stats.total_requests == 0
    assert (await http.get("/search", params={"q": DANONE})).status_code == 200


async def test_stop_ends_hanging_requests() -> None:
    """Stopping the server does not wait for a request held by hang_next."""
    server = RegistryStandin()
    await server.start()
    server.hang_next(1, seconds=600)
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        pending = asyncio.create_task(http.get("/search", params={"q": DANONE}))
        # The stand-in offers no event for "a request is being held"; its counter is what a
        # test can see, so poll it.

        async def hung() -> int:
            return server.stats.hung

        await eventually(hung, what="the request held", within=10, every=0.01)
        await asyncio.wait_for(server.stop(), timeout=10)
        with pytest.raises(httpx.HTTPError):
            await pending


async def test_control_endpoint_drives_faults(
    standin: RegistryStandin, http: httpx.AsyncClient
) -> None:
    """POST /_control programs faults; GET /_control reports counters; neither is counted."""
    programmed = await http.post("/_control", json={"action": "fail", "count": 1, "status": 500})
    assert programmed.json()["pending_faults"] == [{"kind": "status", "status": 500}]
    assert (await http.get("/search", params={"q": DANONE})).status_code == 500
    state = (await http.get("/_control")).json()
    assert (state["total_requests"], state["failed"]) == (1, 1)
    bad = await http.post("/_control", json={"action": "explode"})
    assert bad.status_code == 400


# -- synthetic companies -------------------------------------------------------------------------


def test_synthetic_units_have_valid_distinct_numbers_in_the_fixture_shape() -> None:
    """Generated SIRENs and SIRETs pass the API's own checks, are all distinct, and each unit
    has exactly the fixture's keys (so the stand-in answers them like the real companies)."""
    units = synthetic_units(300, secondary_establishments=2)
    sirets = [e["siret"] for u in units for e in [u["siege"], *u["autres_etablissements"]]]
    assert [validate_siren(u["siren"]) for u in units] == [u["siren"] for u in units]
    assert [validate_siret(s) for s in sirets] == sirets
    assert len(set(sirets)) == 900 and len({u["siren"] for u in units}) == 300
    fixture = json.loads(FIXTURE_PATH.read_text(encoding="utf-8"))["unites_legales"]
    assert not {u["siren"] for u in units} & {u["siren"] for u in fixture}
    assert {frozenset(u) for u in units} == {frozenset(fixture[0])}
    assert {frozenset(u["siege"]) for u in units} == {frozenset(fixture[0]["siege"])}
    assert synthetic_units(3, start=5) == synthetic_units(8)[5:]  # deterministic


async def test_standin_answers_a_generated_siret_with_its_company() -> None:
    """A stand-in given generated units answers their SIRET and SIREN lookups; the fixture's
    companies are still served."""
    units = synthetic_units(50, secondary_establishments=1)
    wanted = units[42]
    secondary = wanted["autres_etablissements"][0]["siret"]
    async with (
        RegistryStandin(rate_limit=None, extra_units=units[:40]) as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        assert server.add_units(units[40:]) == 10
        by_siret = (await http.get("/search", params={"q": head_office_siret(wanted)})).json()
        (result,) = by_siret["results"]
        assert (result["siren"], result["nom_raison_sociale"]) == (
            wanted["siren"],
            wanted["nom_raison_sociale"],
        )
        assert result["etat_administratif"] == "A"
        assert [e["siret"] for e in result["matching_etablissements"]] == [
            head_office_siret(wanted)
        ]
        by_siren = (await http.get("/search", params={"q": wanted["siren"]})).json()
        assert [e["siret"] for e in by_siren["results"][0]["matching_etablissements"]] == [
            head_office_siret(wanted),
            secondary,
        ]
        danone = (await http.get("/search", params={"q": DANONE})).json()
        assert danone["results"][0]["siren"] == "552032534"
        with pytest.raises(ValueError, match="served twice"):
            server.add_units(units[:1])
        stats = server.stats
        assert stats.total_requests == 3
        assert stats.first_request_at is not None and stats.last_request_at is not None
        assert stats.first_request_at <= stats.last_request_at


# -- the command -------------------------------------------------------------------------------


def test_main_serves_on_port_until_sigterm() -> None:
    """`python -m devstack.registry_standin --port N` serves there and exits cleanly on SIGTERM."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack.registry_standin", "--port", str(port)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port, timeout=30)
        response = httpx.get(f"http://127.0.0.1:{port}/search", params={"q": DANONE})
        assert response.json()["results"][0]["siren"] == "552032534"
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr.decode()

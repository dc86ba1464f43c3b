"""Belgian clients' enterprise number (KBO/BCE): checked at the API, stored as 10 digits, unique
per partner like the SIRET, shown, filtered and searched in the clients list."""

from __future__ import annotations

import uuid

import httpx
import pytest

from store import clients
from store.pool import Pool
from tests.factories import Tenant, make_client, make_tenant

BODY = {
    "client": {
        "first_name": "Jan",
        "last_name": "Peeters",
        "email": "jan@peeters.example",
        "language": "nl",
    }
}


async def _seed(
    pool: Pool, tenant: Tenant, *, name: str, enterprise_number: str | None
) -> uuid.UUID:
    """A client row and its onboarding, as the workflow writes them; returns the client id."""
    _, client_id = await make_client(
        pool,
        tenant,
        name=name,
        email="x@example.com",
        language="nl",
        enterprise_number=enterprise_number,
    )
    return client_id


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0202.239.952", "checksum"),
        ("BE02022399", "10 digits"),
        ("2202239951", "start with 0 or 1"),
        ("0202.239.95A", "only digits"),
    ],
)
async def test_onboarding_bad_enterprise_number_is_422_naming_the_field(
    api: httpx.AsyncClient, pool: Pool, value: str, message: str
) -> None:
    """A number failing its format or mod 97 check is a 422 problem naming
    client.enterprise_number; no onboarding is recorded."""
    before = await pool.fetchval("SELECT count(*) FROM onboardings")
    body = {"client": {**BODY["client"], "enterprise_number": value}}
    response = await api.post(
        "/v1/onboardings", json=body, headers={"Idempotency-Key": f"be-{uuid.uuid4()}"}
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    (error,) = response.json()["errors"]
    assert error["field"] == "client.enterprise_number"
    assert message in error["message"]
    assert await pool.fetchval("SELECT count(*) FROM onboardings") == before


async def test_enterprise_number_unique_per_partner_like_the_siret(pool: Pool) -> None:
    """A second client of the same partner with the number is refused; another partner's
    client may have it."""
    first, second = await make_tenant(pool), await make_tenant(pool)
    await _seed(pool, first, name="Proximus", enterprise_number="0202239951")
    with pytest.raises(clients.DuplicateEnterpriseNumber):
        await _seed(pool, first, name="Proximus again", enterprise_number="0202239951")
    await _seed(pool, second, name="Proximus", enterprise_number="0202239951")


async def test_list_shows_filters_and_searches_enterprise_numbers(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """The list shows the number; ?enterprise_number= takes any usual spelling and matches
    exactly; q finds a number typed with dots or a BE prefix; a bad number is a 422."""
    proximus = await _seed(pool, tenant, name="Telecom", enterprise_number="0202239951")
    bpost = await _seed(pool, tenant, name="Post", enterprise_number="0214596464")
    await _seed(pool, tenant, name="French", enterprise_number=None)

    async def ids(**params: str) -> set[str]:
        response = await api.get("/v1/clients", params=params)
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()["items"]}

    listed = (await api.get("/v1/clients", params={"sort": "name"})).json()["items"]
    assert {i["name"]: i["enterprise_number"] for i in listed} == {
        "French": None,
        "Post": "0214596464",
        "Telecom": "0202239951",
    }
    assert await ids(enterprise_number="BE0202.239.951") == {str(proximus)}
    assert await ids(enterprise_number="214596464") == {str(bpost)}
    assert await ids(q="BE 0202.239") == {str(proximus)}
    assert await ids(q="596464") == {str(bpost)}
    detail = (await api.get(f"/v1/clients/{proximus}")).json()
    assert detail["enterprise_number"] == "0202239951"
    bad = await api.get("/v1/clients", params={"enterprise_number": "0202239952"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "enterprise_number"


@pytest.mark.parametrize(
    ("value", "message"),
    [("FR40303265046", "checksum"), ("XX123456", "EU country code"), ("BE02022399", "format")],
)
async def test_onboarding_bad_vat_number_is_422_naming_the_field(
    api: httpx.AsyncClient, value: str, message: str
) -> None:
    """An EU VAT number with an unknown country, a bad format or checksum is a 422 naming
    client.vat_number."""
    body = {"client": {**BODY["client"], "vat_number": value}}
    response = await api.post(
        "/v1/onboardings", json=body, headers={"Idempotency-Key": f"vat-{uuid.uuid4()}"}
    )
    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    assert error["field"] == "client.vat_number"
    assert message in error["message"]

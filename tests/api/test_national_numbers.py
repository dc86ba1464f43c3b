"""/v1/clients/{id}/national-numbers over the real stack: administrators read the client's and
its partner's national register numbers whole and change them; other roles see the last 3
digits only and may not change them; no number reaches an error text or a log line."""

from __future__ import annotations

import logging
import uuid

import httpx
import pytest

from store import clients
from store.pool import Pool
from tests.api.client_records_helpers import (
    NATIONAL_NUMBER,
    PARTNER_NATIONAL_NUMBER,
    created_client,
    danone_as_registered,
)
from tests.factories import Tenant, make_tenant

NEW_NUMBER = "90010100123"
MASK = "\u2022" * 8


async def _key_of(api: httpx.AsyncClient, role: str) -> dict[str, str]:
    user = await api.post(
        "/v1/users",
        json={"email": f"{role}-{uuid.uuid4().hex[:6]}@ex.com", "name": "U", "role": role},
    )
    key = await api.post(f"/v1/users/{user.json()['id']}/api-keys", json={"name": "k"})
    return {"Authorization": f"Bearer {key.json()['key']}"}


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("administrator", (NATIONAL_NUMBER, PARTNER_NATIONAL_NUMBER, False)),
        ("client_manager", (MASK + NATIONAL_NUMBER[-3:], MASK + "704", True)),
        ("accountant", (MASK + NATIONAL_NUMBER[-3:], MASK + "704", True)),
    ],
)
async def test_read_national_numbers_whole_for_administrators_masked_for_others(
    api: httpx.AsyncClient,
    pool: Pool,
    tenant: Tenant,
    role: str,
    expected: tuple[str, str, bool],
) -> None:
    """An administrator reads both numbers back whole; any other role the last 3 digits."""
    client_id = await created_client(pool, tenant, company=danone_as_registered())
    headers = tenant.auth if role == "administrator" else await _key_of(api, role)
    answer = await api.get(f"/v1/clients/{client_id}/national-numbers", headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["national_number"], body["partner_national_number"], body["masked"]) == expected


async def test_change_national_numbers_by_administrator_only(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """An administrator changes one number (the other kept) and clears the partner's with null;
    a client manager is 403 and nothing changes."""
    client_id = await created_client(pool, tenant, company=danone_as_registered())
    url = f"/v1/clients/{client_id}/national-numbers"
    refused = await api.patch(
        url, json={"national_number": NEW_NUMBER}, headers=await _key_of(api, "client_manager")
    )
    assert refused.status_code == 403
    stored = await clients.national_numbers(pool, partner_id=tenant.partner.id, client_id=client_id)
    assert stored == (NATIONAL_NUMBER, PARTNER_NATIONAL_NUMBER)

    changed = await api.patch(url, json={"national_number": "90.01.01-001.23"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["national_number"] == NEW_NUMBER
    assert changed.json()["partner_national_number"] == PARTNER_NATIONAL_NUMBER
    cleared = await api.patch(url, json={"partner_national_number": None})
    assert cleared.json()["partner_national_number"] is None
    stored = await clients.national_numbers(pool, partner_id=tenant.partner.id, client_id=client_id)
    assert stored == (NEW_NUMBER, None)


async def test_change_national_numbers_bad_number_named_never_echoed(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    """A wrong check digit is 422 naming the field, the number in neither the answer nor a log
    line; an empty body is 422 too; another firm's client is 404."""
    client_id = await created_client(pool, tenant, company=danone_as_registered())
    url = f"/v1/clients/{client_id}/national-numbers"
    wrong = "90010100124"
    with caplog.at_level(logging.DEBUG):
        answer = await api.patch(url, json={"national_number": wrong})
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["national_number"]
    assert wrong not in answer.text
    assert wrong not in caplog.text and NATIONAL_NUMBER not in caplog.text
    assert (await api.patch(url, json={})).status_code == 422
    other = await make_tenant(pool, "Autre cabinet")
    for method in ("GET", "PATCH"):
        answer = await api.request(
            method, url, headers=other.auth, json={"national_number": NEW_NUMBER}
        )
        assert answer.status_code == 404
    assert NATIONAL_NUMBER not in answer.text


async def test_change_national_numbers_of_an_erased_client_is_refused(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """Once the client's personal data is erased, a number sent would bring it back: 409
    client-erased, and the erased value stays."""
    client_id = await created_client(pool, tenant, company=danone_as_registered())
    assert (await api.delete(f"/v1/clients/{client_id}/personal-data")).status_code == 200
    answer = await api.patch(
        f"/v1/clients/{client_id}/national-numbers", json={"national_number": NEW_NUMBER}
    )
    assert answer.status_code == 409
    assert answer.json()["type"].endswith("client-erased")
    stored = await clients.national_numbers(pool, partner_id=tenant.partner.id, client_id=client_id)
    assert stored is not None and NEW_NUMBER not in stored

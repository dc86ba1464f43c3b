"""GET /v1/clients?collaborator=: the clients a partner user collaborates on ("my clients"),
by user id or `me` for the caller, with every other filter, over PostgreSQL."""

from __future__ import annotations

import uuid

import httpx
import pytest

from store import clients
from store.pool import Pool
from tests.api_helpers import make_team
from tests.factories import Tenant, make_client, make_tenant


def ids_of(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["items"]]


async def test_list_clients_by_collaborator_keeps_that_users_clients(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """`me` is the caller's clients, a user id that user's; with other filters they all apply,
    the total counts only the matching ones, and a client with no collaborator is in neither."""
    team = await make_team(pool, tenant)
    mine = await api.get("/v1/clients", params={"collaborator": "me", "sort": "name"})
    assert ids_of(mine) == [str(team.admins), str(team.shared)]
    assert mine.json()["total"] == 2
    by_id = await api.get(
        "/v1/clients", params={"collaborator": str(tenant.admin.id), "sort": "name"}
    )
    assert ids_of(by_id) == ids_of(mine)
    colleagues = await api.get("/v1/clients", params={"collaborator": str(team.colleague)})
    assert ids_of(colleagues) == [str(team.shared)]
    searched = await api.get("/v1/clients", params={"collaborator": "me", "q": "boulangerie"})
    assert ids_of(searched) == [str(team.shared)]
    everyone = await api.get("/v1/clients")
    assert str(team.nobodys) in ids_of(everyone) and everyone.json()["total"] == 3


async def test_list_clients_by_collaborator_of_another_firm_or_unknown_is_empty(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """Another firm's user, even one collaborating on clients of theirs, finds none of ours and
    none of theirs: exactly as an unknown id."""
    await make_team(pool, tenant)
    other = await make_tenant(pool, "Another firm")
    _, theirs = await make_client(pool, other, name="Not yours")
    await clients.set_collaborators(
        pool, partner_id=other.partner.id, client_id=theirs, user_ids=[other.admin.id]
    )
    for user_id in (other.admin.id, uuid.uuid4()):
        answer = await api.get("/v1/clients", params={"collaborator": str(user_id)})
        assert (ids_of(answer), answer.json()["total"]) == ([], 0)


@pytest.mark.parametrize("value", ["you", "", "12345", "ME "])
async def test_list_clients_by_collaborator_refuses_what_is_no_user_id(
    api: httpx.AsyncClient, value: str
) -> None:
    """Anything but a user id or `me` is a 422 problem naming the collaborator parameter."""
    answer = await api.get("/v1/clients", params={"collaborator": value})
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in answer.json()["errors"]] == ["collaborator"]

"""Clients as a resource after onboarding: the list, one client, its changes, its collaborators.

Clients are made in PostgreSQL the way the onboarding workflow makes them (tests/conftest.py's
make_client does the same), except in the one test that runs a real onboarding to READY.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from temporalio.worker import Worker

from domain.onboarding import InvitationState, client_id_for
from store import applied_setup, clients, invitations, onboardings
from store.pool import Pool
from tests.eventually import eventually
from tests.factories import Tenant, make_client, make_tenant


async def _seed(
    pool: Pool,
    tenant: Tenant,
    *,
    name: str,
    company: str | None = None,
    siret: str | None = None,
    tags: list[str] | None = None,
    case_manager: str | None = None,
    address: str | None = None,
    status: str = "SETTING_UP",
    ready: bool = False,
    muted: bool = True,
) -> uuid.UUID:
    """A client row and its onboarding, as the workflow writes them; returns the client id."""
    onboarding_id = uuid.uuid4()
    await onboardings.claim(
        pool,
        onboarding_id=onboarding_id,
        partner_id=tenant.partner.id,
        idempotency_key=str(onboarding_id),
        request_hash="h",
        workflow_id=f"onboarding-{onboarding_id}",
        status=status,
        created_by=tenant.admin.id,
        case_manager=case_manager,
    )
    row, _ = await clients.create(
        pool,
        client_id=client_id_for(onboarding_id),
        partner_id=tenant.partner.id,
        onboarding_id=onboarding_id,
        name=name,
        email=f"{uuid.uuid4().hex[:8]}@example.com",
        language="fr",
        first_name="Camille",
        last_name="Durand",
        siret=siret,
        company={"siret": siret, "name": company} if company else None,
        tags=tags,
        case_manager=case_manager,
        address=address,
    )
    if ready:
        await clients.complete_setup(pool, client_id=row.id, keep_muted=muted)
    return row.id


def _ids(page: dict[str, Any]) -> set[str]:
    return {item["id"] for item in page["items"]}


async def _user_key(api: httpx.AsyncClient, role: str) -> tuple[str, dict[str, str]]:
    """A partner user of `role` and the headers carrying its API key."""
    user = await api.post(
        "/v1/users",
        json={"email": f"{role}-{uuid.uuid4().hex[:6]}@ex.com", "name": role, "role": role},
    )
    assert user.status_code == 201, user.text
    key = await api.post(f"/v1/users/{user.json()['id']}/api-keys", json={"name": "k"})
    return user.json()["id"], {"Authorization": f"Bearer {key.json()['key']}"}


# ---- the list ------------------------------------------------------------------------------------


async def test_list_filters_each_narrow_to_matching_clients(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """Case manager, tag, onboarding status and muted each keep exactly the clients matching."""
    alpha = await _seed(
        pool,
        tenant,
        name="Alpha",
        tags=["vip", "bakery"],
        case_manager="julie",
        status="READY",
        ready=True,
        muted=False,
    )
    beta = await _seed(pool, tenant, name="Beta", tags=["bakery"], case_manager="marc")
    gamma = await _seed(
        pool, tenant, name="Gamma", case_manager="julie", status="READY", ready=True, muted=True
    )

    async def listed(**params: Any) -> dict[str, Any]:
        response = await api.get("/v1/clients", params=params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert body["total"] == len(body["items"])
        return body

    assert _ids(await listed()) == {str(alpha), str(beta), str(gamma)}
    assert _ids(await listed(case_manager="julie")) == {str(alpha), str(gamma)}
    assert _ids(await listed(tag="bakery")) == {str(alpha), str(beta)}
    assert _ids(await listed(tag="vip", case_manager="julie")) == {str(alpha)}
    assert _ids(await listed(status="READY")) == {str(alpha), str(gamma)}
    assert _ids(await listed(status="SETTING_UP")) == {str(beta)}
    assert _ids(await listed(muted="true")) == {str(beta), str(gamma)}
    assert _ids(await listed(muted="false")) == {str(alpha)}
    assert _ids(await listed(invitation_state="muted")) == {str(gamma)}
    assert _ids(await listed(invitation_state="pending")) == {str(alpha), str(beta)}
    [item] = (await listed(tag="vip"))["items"]
    assert item["name"] == "Alpha" and item["tags"] == ["vip", "bakery"]
    assert item["onboarding"]["status"] == "READY" and item["status"] == "ready"
    assert item["notifications_muted"] is False
    bad = await api.get("/v1/clients", params={"status": "SLEEPING"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status"


async def test_search_matches_name_company_and_siret_only(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """q finds a part of the name, the registry name or the SIRET, ignoring case and spaces."""
    bakery = await _seed(pool, tenant, name="Boulangerie Martin", siret="55203253400646")
    holding = await _seed(
        pool, tenant, name="Dupont", company="DUPONT HOLDING SAS", siret="73282932000074"
    )
    percent = await _seed(pool, tenant, name="100% Bio")

    async def found(q: str) -> set[str]:
        response = await api.get("/v1/clients", params={"q": q})
        assert response.status_code == 200, response.text
        return _ids(response.json())

    assert await found("boulanger") == {str(bakery)}
    assert await found("holding") == {str(holding)}
    assert await found("552 032 534") == {str(bakery)}
    assert await found("00074") == {str(holding)}
    # LIKE's wildcards are the caller's characters, not patterns.
    assert await found("%") == {str(percent)}
    assert await found("_") == set()
    assert await found("Camille") == set()  # the contact's name is not a search field


async def test_list_pages_sorts_and_counts(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """Pages of a sorted list never overlap, and each says how many match in all."""
    names = ["delta", "Alpha", "charlie", "Bravo", "echo"]
    for name in names:
        await _seed(pool, tenant, name=name)
    by_name = sorted(names, key=str.lower)

    first = (await api.get("/v1/clients", params={"sort": "name", "limit": 2})).json()
    second = (await api.get("/v1/clients", params={"sort": "name", "limit": 2, "offset": 2})).json()
    last = (await api.get("/v1/clients", params={"sort": "name", "limit": 2, "offset": 4})).json()
    assert [i["name"] for i in first["items"] + second["items"] + last["items"]] == by_name
    assert (first["total"], first["limit"], first["offset"]) == (5, 2, 0)
    past = (await api.get("/v1/clients", params={"offset": 10})).json()
    assert (past["items"], past["total"]) == ([], 5)
    desc = (await api.get("/v1/clients", params={"sort": "-name"})).json()
    assert [i["name"] for i in desc["items"]] == by_name[::-1]
    newest = (await api.get("/v1/clients")).json()["items"]
    assert [i["created_at"] for i in newest] == sorted(
        (i["created_at"] for i in newest), reverse=True
    )
    for params, field in (({"sort": "size"}, "sort"), ({"offset": 1_000_001}, "offset")):
        bad = await api.get("/v1/clients", params=params)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == field


async def test_scheduled_between_lists_upcoming_invitations(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """A firm sees which invitations go out in a window, earliest first, in one call."""
    now = datetime.now(UTC).replace(microsecond=0)
    soon = await _seed(pool, tenant, name="soon", ready=True, muted=False)
    later = await _seed(pool, tenant, name="later", ready=True, muted=False)
    far = await _seed(pool, tenant, name="far", ready=True, muted=False)
    unscheduled = await _seed(pool, tenant, name="manual", ready=True, muted=False)
    for client_id, at in (
        (soon, now + timedelta(days=1)),
        (later, now + timedelta(days=3)),
        (far, now + timedelta(days=30)),
    ):
        await clients.record_invitation(
            pool, client_id=client_id, state="scheduled", scheduled_at=at
        )
    await clients.record_invitation(
        pool, client_id=unscheduled, state="waiting_manual", scheduled_at=None
    )

    window = {
        "scheduled_from": now.isoformat(),
        "scheduled_to": (now + timedelta(days=7)).isoformat(),
        "sort": "scheduled_at",
    }
    page = (await api.get("/v1/clients", params=window)).json()
    assert [i["id"] for i in page["items"]] == [str(soon), str(later)]
    assert page["items"][0]["invitation"] == {
        "state": "scheduled",
        "scheduled_at": (now + timedelta(days=1)).isoformat().replace("+00:00", "Z"),
    }
    waiting = (await api.get("/v1/clients", params={"invitation_state": "waiting_manual"})).json()
    assert _ids(waiting) == {str(unscheduled)}

    backwards = await api.get(
        "/v1/clients",
        params={"scheduled_from": window["scheduled_to"], "scheduled_to": window["scheduled_from"]},
    )
    assert backwards.status_code == 422
    assert backwards.json()["errors"] == [
        {"field": "scheduled_to", "message": "is before scheduled_from"}
    ]
    naive = await api.get("/v1/clients", params={"scheduled_from": "2026-12-01T10:00:00"})
    assert naive.status_code == 422 and naive.json()["errors"][0]["field"] == "scheduled_from"


async def test_invitation_state_read_from_sent_invitations(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """Before the workflow reports it, a sent, accepted or expired invitation still shows."""
    sent = await _seed(pool, tenant, name="sent", ready=True, muted=False)
    accepted = await _seed(pool, tenant, name="accepted", ready=True, muted=False)
    expired = await _seed(pool, tenant, name="expired", ready=True, muted=False)
    now = datetime.now(UTC)
    for client_id, expires in (
        (sent, now + timedelta(days=14)),
        (accepted, now + timedelta(days=14)),
        (expired, now - timedelta(minutes=1)),
    ):
        row = await clients.get(pool, client_id=client_id)
        assert row is not None
        await invitations.record(
            pool,
            onboarding_id=row.onboarding_id,
            sequence=1,
            token_hash=uuid.uuid4().hex,
            recipient="d@example.com",
            expires_at=expires,
        )
        if client_id == accepted:
            await pool.execute(
                "UPDATE invitations SET accepted_at = now() WHERE onboarding_id = $1",
                row.onboarding_id,
            )
    states = {
        i["id"]: i["invitation"]["state"] for i in (await api.get("/v1/clients")).json()["items"]
    }
    assert states == {str(sent): "sent", str(accepted): "accepted", str(expired): "expired"}


# ---- one client: read and change ---------------------------------------------------------------


async def _ready_onboarding(api: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    started = await api.post(
        "/v1/onboardings", json=body, headers={"Idempotency-Key": f"life-{uuid.uuid4()}"}
    )
    assert started.status_code == 202, started.text

    async def view() -> dict[str, Any]:
        answer: dict[str, Any] = (await api.get(f"/v1/onboardings/{started.json()['id']}")).json()
        return answer

    return await eventually(
        view, until=lambda v: v["status"] == "READY", what="the onboarding READY", within=15
    )


ONBOARDING = {
    "client": {
        "first_name": "Léa",
        "last_name": "Roux",
        "company_name": "Roux Conseil",
        "email": "lea@roux.example",
        "language": "fr",
        "address": "12 rue des Lilas, 69003 Lyon",
        "tags": ["conseil"],
        "case_manager": "julie",
    },
    "fiscal_year": {"start": "2026-01-01"},
    "invitation": {"mode": "manual"},
}


async def test_read_client_after_onboarding_shows_setup_and_where_it_stands(
    api: httpx.AsyncClient, worker: Worker, tenant: Tenant
) -> None:
    """A real onboarding's client reads whole: contact, snapshot, subscription, users, years;
    removing its template user later keeps the snapshot as it was."""
    assert (
        await api.post("/v1/plans", json={"code": "essentials", "name": "Essentials"})
    ).status_code == 201
    template = await api.post(
        "/v1/templates",
        json={"name": "Life", "plan": "essentials", "user_ids": [str(tenant.admin.id)]},
    )
    assert template.status_code == 201, template.text
    view = await _ready_onboarding(api, {**ONBOARDING, "template_id": template.json()["id"]})

    client = (await api.get(f"/v1/clients/{view['client_id']}")).json()
    assert (client["name"], client["first_name"], client["email"]) == (
        "Roux Conseil",
        "Léa",
        "lea@roux.example",
    )
    assert (client["case_manager"], client["tags"], client["language"]) == (
        "julie",
        ["conseil"],
        "fr",
    )
    assert client["onboarding"] == {
        "id": view["onboarding_id"],
        "status": "READY",
        "status_url": f"/v1/onboardings/{view['onboarding_id']}",
    }
    assert client["status"] == "ready" and client["notifications_muted"] is False
    assert client["setup"]["plan"] == "essentials"
    assert client["subscription"]["revision"] == 1
    assert client["subscription"]["source"] == "onboarding"
    assert client["subscription"]["plan"] == "essentials"
    assert [c["user_id"] for c in client["collaborators"]] == [str(tenant.admin.id)]
    assert [u["role"] for u in client["users"]] == ["director"]
    assert client["fiscal_years"] == [{"start": "2026-01-01", "end": "2026-12-31"}]
    assert client["folder_count"] >= 0 and client["erased"] is False

    removed = await api.put(f"/v1/clients/{client['id']}/collaborators", json={"user_ids": []})
    assert removed.status_code == 200, removed.text
    assert removed.json() == {"user_ids": [], "added": [], "removed": [str(tenant.admin.id)]}
    after = (await api.get(f"/v1/clients/{client['id']}")).json()
    assert after["collaborators"] == [] and after["setup"] == client["setup"]


async def test_address_sent_at_onboarding_is_stored(api: httpx.AsyncClient, worker: Worker) -> None:
    """The optional postal address of the onboarding request is the client's address."""
    view = await _ready_onboarding(api, ONBOARDING)
    client = (await api.get(f"/v1/clients/{view['client_id']}")).json()
    assert client["address"] == ONBOARDING["client"]["address"]  # type: ignore[index]


async def test_address_round_trip(api: httpx.AsyncClient, pool: Pool, tenant: Tenant) -> None:
    """An address stored with the client reads back; PATCH replaces it, null clears it."""
    client_id = await _seed(pool, tenant, name="Addr", address="1 place Bellecour, Lyon")
    assert (await api.get(f"/v1/clients/{client_id}")).json()[
        "address"
    ] == "1 place Bellecour, Lyon"
    moved = await api.patch(
        f"/v1/clients/{client_id}", json={"address": "  4 quai Saint-Antoine\n69002 Lyon "}
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["address"] == "4 quai Saint-Antoine\n69002 Lyon"
    assert (await api.get(f"/v1/clients/{client_id}")).json()["address"] == moved.json()["address"]
    cleared = await api.patch(f"/v1/clients/{client_id}", json={"address": None})
    assert cleared.json()["address"] is None
    row = await clients.get(pool, client_id=client_id)
    assert row is not None and row.address is None


async def test_patch_changes_only_the_fields_sent(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """Fields left out stay; the case manager moves on the onboarding too, for both lists."""
    client_id = await _seed(pool, tenant, name="Old name", tags=["a"], case_manager="julie")
    changed = await api.patch(
        f"/v1/clients/{client_id}",
        json={
            "company_name": "New name",
            "email": "new@example.com",
            "tags": ["b", "b", "c"],
            "case_manager": "marc",
            "language": "nl",
        },
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["name"], body["email"], body["tags"], body["language"]) == (
        "New name",
        "new@example.com",
        ["b", "c"],
        "nl",
    )
    assert (body["first_name"], body["last_name"]) == ("Camille", "Durand")
    for route in ("/v1/clients", "/v1/onboardings"):
        assert len((await api.get(route, params={"case_manager": "marc"})).json()["items"]) == 1
        assert (await api.get(route, params={"case_manager": "julie"})).json()["items"] == []
    same = await api.patch(f"/v1/clients/{client_id}", json={})
    assert same.status_code == 200
    assert {k: v for k, v in same.json().items() if k != "updated_at"} == {
        k: v for k, v in body.items() if k != "updated_at"
    }


BAD_PATCHES: list[tuple[dict[str, Any], str]] = [
    ({"first_name": None}, "first_name"),
    ({"first_name": "  "}, "first_name"),
    ({"email": "not-an-email"}, "email"),
    ({"language": "es"}, "language"),
    ({"tags": ["x" * 51]}, "tags.0"),
    ({"tags": [""]}, "tags.0"),
    ({"tags": [f"t{i}" for i in range(21)]}, "tags"),
    ({"address": "a\u0000b"}, "address"),
    ({"company_name": None}, "company_name"),
    ({"case_manager": "x" * 101}, "case_manager"),
    ({"siret": "55203253400646"}, "siret"),
]


async def test_patch_refuses_bad_fields_by_name(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """Bad input is a 422 problem naming the field; the client is unchanged."""
    client_id = await _seed(pool, tenant, name="Valid", tags=["keep"])
    before = await clients.get(pool, client_id=client_id)
    wrong: list[str] = []
    for body, field in BAD_PATCHES:
        response = await api.patch(f"/v1/clients/{client_id}", json=body)
        named = [e["field"] for e in response.json().get("errors", [])]
        if (response.status_code, response.headers["content-type"], named) != (
            422,
            "application/problem+json",
            [field],
        ):
            wrong.append(f"{body} -> {response.status_code} {named}")
    assert wrong == []
    assert await clients.get(pool, client_id=client_id) == before


async def test_accountant_edits_contact_and_tags_only(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """Seed 003's roles: an accountant changes the contact and tags; the rest is a 403 that
    names the fields; a client manager changes everything."""
    client_id = await _seed(pool, tenant, name="Roles", case_manager="julie")
    _, accountant = await _user_key(api, "accountant")
    _, manager = await _user_key(api, "client_manager")
    ok = await api.patch(
        f"/v1/clients/{client_id}",
        json={"first_name": "Ana", "email": "ana@example.com", "address": "Lyon", "tags": ["t"]},
        headers=accountant,
    )
    assert ok.status_code == 200, ok.text
    refused = await api.patch(
        f"/v1/clients/{client_id}",
        json={"tags": ["u"], "case_manager": "marc", "language": "en", "company_name": "X"},
        headers=accountant,
    )
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/forbidden")
    assert [e["field"] for e in refused.json()["errors"]] == [
        "company_name",
        "case_manager",
        "language",
    ]
    row = await clients.get(pool, client_id=client_id)
    assert row is not None and (row.tags, row.case_manager) == (["t"], "julie")
    managed = await api.patch(
        f"/v1/clients/{client_id}",
        json={"case_manager": "marc", "language": "en", "company_name": "X"},
        headers=manager,
    )
    assert managed.status_code == 200 and managed.json()["case_manager"] == "marc"


async def test_erased_client_takes_no_new_personal_data(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """After an erasure, PATCH is a 409 and the address is gone with the rest."""
    client_id = await _seed(pool, tenant, name="Gone", address="5 rue Secrète")
    erased = await api.delete(f"/v1/clients/{client_id}/personal-data")
    assert erased.status_code == 200, erased.text
    row = await clients.get(pool, client_id=client_id)
    assert row is not None and row.address is None
    again = await api.patch(f"/v1/clients/{client_id}", json={"address": "5 rue Secrète"})
    assert again.status_code == 409 and again.json()["type"].endswith("/client-erased")
    assert (await api.get(f"/v1/clients/{client_id}")).json()["erased"] is True


# ---- collaborators -------------------------------------------------------------------------------


async def test_collaborators_added_and_removed(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """PUT sets exactly the list: new ones are added, missing ones (template users too) go."""
    client_id = await _seed(pool, tenant, name="Team", ready=True, muted=False)
    template_user, _ = await _user_key(api, "accountant")
    other, _ = await _user_key(api, "client_manager")
    # What the onboarding's template assigned.
    await applied_setup.assign_collaborators(
        pool, client_id=client_id, user_ids=[uuid.UUID(template_user), tenant.admin.id]
    )
    changed = await api.put(
        f"/v1/clients/{client_id}/collaborators",
        json={"user_ids": [str(tenant.admin.id), other, other]},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json() == {
        "user_ids": [str(tenant.admin.id), other],
        "added": [other],
        "removed": [template_user],
    }
    assert set(map(str, await applied_setup.list_collaborators(pool, client_id=client_id))) == {
        str(tenant.admin.id),
        other,
    }
    again = await api.put(
        f"/v1/clients/{client_id}/collaborators", json={"user_ids": [str(tenant.admin.id), other]}
    )
    assert (again.json()["added"], again.json()["removed"]) == ([], [])


async def test_collaborators_refuse_unknown_users_and_unfinished_setup(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """Another partner's user or an unknown id is a 422 at its index, nothing changed; a client
    still setting up is a 409 (its onboarding assigns the template's users after)."""
    client_id = await _seed(pool, tenant, name="Team", ready=True, muted=False)
    await applied_setup.assign_collaborators(pool, client_id=client_id, user_ids=[tenant.admin.id])
    stranger = await make_tenant(pool, "Other firm")
    response = await api.put(
        f"/v1/clients/{client_id}/collaborators",
        json={"user_ids": [str(tenant.admin.id), str(stranger.admin.id), str(uuid.uuid4())]},
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["user_ids.1", "user_ids.2"]
    assert await applied_setup.list_collaborators(pool, client_id=client_id) == [tenant.admin.id]
    setting_up = await _seed(pool, tenant, name="Early")
    early = await api.put(f"/v1/clients/{setting_up}/collaborators", json={"user_ids": []})
    assert early.status_code == 409 and early.json()["type"].endswith("/client-setting-up")


# ---- tenants and roles ---------------------------------------------------------------------------


async def test_other_partner_never_sees_or_changes_a_client(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """Partner B gets 404 on every route of partner A's client and lists none of them."""
    client_id = await _seed(pool, tenant, name="Mine", tags=["a"], ready=True, muted=False)
    await applied_setup.apply_subscription(
        pool, client_id=client_id, plan=None, add_ons=[], payer="client", billing_period="monthly"
    )
    before = await clients.get(pool, client_id=client_id)
    other = await make_tenant(pool, "Other firm")
    theirs = await _seed(pool, other, name="Theirs")
    headers = other.auth
    calls: list[tuple[str, str, Any]] = [
        ("GET", f"/v1/clients/{client_id}", None),
        ("PATCH", f"/v1/clients/{client_id}", {"tags": ["stolen"]}),
        ("PUT", f"/v1/clients/{client_id}/collaborators", {"user_ids": [str(other.admin.id)]}),
        (
            "PUT",
            f"/v1/clients/{client_id}/subscription",
            {
                "plan": None,
                "payer": "partner",
                "billing_period": "annual",
                "pricing_acknowledged": True,
            },
        ),
        ("GET", f"/v1/clients/{client_id}/subscription/history", None),
    ]
    for method, path, body in calls:
        response = await api.request(method, path, json=body, headers=headers)
        assert response.status_code == 404, (method, path, response.text)
    listed = (await api.get("/v1/clients", headers=headers)).json()
    assert _ids(listed) == {str(theirs)}
    assert str(client_id) not in str(
        (await api.get("/v1/clients", params={"q": "Mine"}, headers=headers)).json()
    )
    assert await clients.get(pool, client_id=client_id) == before
    assert await applied_setup.list_collaborators(pool, client_id=client_id) == []
    history = await api.get(f"/v1/clients/{client_id}/subscription/history")
    assert history.json()["total"] == 1
    mine = (await api.get("/v1/clients")).json()
    assert _ids(mine) == {str(client_id)}


async def test_every_role_reads_and_only_configurers_change_billing_and_team(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """The role matrix of the client routes, on a real client of the caller's partner."""
    client_id = await _seed(pool, tenant, name="Matrix", ready=True, muted=False)
    await applied_setup.apply_subscription(
        pool, client_id=client_id, plan=None, add_ons=[], payer="client", billing_period="monthly"
    )
    _, accountant = await _user_key(api, "accountant")
    _, manager = await _user_key(api, "client_manager")
    roles = {
        "administrator": dict(api.headers),
        "client_manager": manager,
        "accountant": accountant,
    }
    subscription = {
        "plan": None,
        "payer": "partner",
        "billing_period": "annual",
        "pricing_acknowledged": True,
    }
    routes: list[tuple[str, str, Any, set[str]]] = [
        ("GET", "/v1/clients", None, set(roles)),
        ("GET", f"/v1/clients/{client_id}", None, set(roles)),
        ("PATCH", f"/v1/clients/{client_id}", {"tags": ["x"]}, set(roles)),
        ("GET", f"/v1/clients/{client_id}/subscription/history", None, set(roles)),
        (
            "PUT",
            f"/v1/clients/{client_id}/subscription",
            subscription,
            {"administrator", "client_manager"},
        ),
        (
            "PUT",
            f"/v1/clients/{client_id}/collaborators",
            {"user_ids": []},
            {"administrator", "client_manager"},
        ),
    ]
    wrong: list[str] = []
    for method, path, body, allowed in routes:
        for role, headers in roles.items():
            response = await api.request(method, path, json=body, headers=headers)
            expected = 200 if role in allowed else 403
            if response.status_code != expected:
                wrong.append(f"{role} {method} {path} -> {response.status_code}")
    assert wrong == []


async def test_every_invitation_state_of_the_workflow_can_be_projected(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """Each state the workflow reports is storable and lists back as itself (the column's check
    follows domain.onboarding.InvitationState)."""
    client_id = await _seed(pool, tenant, name="States")
    for state in InvitationState:
        await clients.record_invitation(
            pool, client_id=client_id, state=state.value, scheduled_at=None
        )
        [item] = (await api.get("/v1/clients")).json()["items"]
        assert item["invitation"]["state"] == state.value


BAD_LIST_PARAMETERS: list[tuple[dict[str, Any], str]] = [
    ({"scheduled_from": "0001-01-01T00:00:00+01:00"}, "scheduled_from"),
    ({"scheduled_to": "9999-12-31T23:59:59-01:00"}, "scheduled_to"),
    ({"q": ""}, "q"),
    ({"q": "a\u0000"}, "q"),
    ({"muted": "maybe"}, "muted"),
    ({"invitation_state": "lost"}, "invitation_state"),
    ({"limit": 0}, "limit"),
]


async def test_list_refuses_bad_parameters_by_name(api: httpx.AsyncClient) -> None:
    """Out-of-range times, empty or unstorable text and unknown values are 422s naming them."""
    wrong: list[str] = []
    for params, field in BAD_LIST_PARAMETERS:
        response = await api.get("/v1/clients", params=params)
        named = [e["field"] for e in response.json().get("errors", [])]
        if (response.status_code, response.headers["content-type"], named) != (
            422,
            "application/problem+json",
            [field],
        ):
            wrong.append(f"{params} -> {response.status_code} {named}")
    assert wrong == []


async def test_search_takes_any_text_literally(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """Backslashes, quotes and LIKE's escape character are searched for as typed."""
    odd = await _seed(pool, tenant, name="O'Brien \\ Fils")
    for q in ("o'brien", "\\", "' OR 1=1 --", "\\%"):
        response = await api.get("/v1/clients", params={"q": q})
        assert response.status_code == 200, response.text
        assert _ids(response.json()) == ({str(odd)} if q in ("o'brien", "\\") else set())


async def test_clients_list_pages_by_cursor_and_refuses_a_foreign_one(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """next_cursor, given back as cursor, reads the next page; a cursor with offset, or one
    made for another sort, is a 422 naming the cursor."""
    for n in range(5):
        await make_client(pool, tenant, name=f"Client {n}")
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2, "sort": "name"}
    for _ in range(5):
        page = (await api.get("/v1/clients", params=params)).json()
        assert (page["total"], page["total_exact"]) == (5, True)
        seen += [item["name"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        params = {"limit": 2, "sort": "name", "cursor": page["next_cursor"]}
    assert seen == [f"Client {n}" for n in range(5)]
    first = (await api.get("/v1/clients", params={"limit": 2, "sort": "name"})).json()
    for bad in (
        {"cursor": first["next_cursor"], "sort": "-created_at"},
        {"cursor": first["next_cursor"], "sort": "name", "offset": 2},
        {"cursor": "not-a-cursor"},
    ):
        refused = await api.get("/v1/clients", params=bad)
        assert refused.status_code == 422
        assert [e["field"] for e in refused.json()["errors"]] == ["cursor"]

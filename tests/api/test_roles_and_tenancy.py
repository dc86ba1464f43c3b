"""Authentication, the role matrix, and tenant isolation, against real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from domain.setup import Role
from store.pool import Pool
from tests.factories import Tenant, make_tenant

PLAN = {"code": "essentials", "name": "Essentials", "add_ons": [{"code": "ocr", "name": "OCR"}]}
CHECKLIST = {
    "name": "Year end",
    "language": "en",
    "items": [{"key": "bank", "kind": "document", "label": "Bank statements"}],
}


@dataclass
class World:
    """A partner with one user and key per role, and one of each resource to act on."""

    tenant: Tenant
    keys: dict[Role, str]
    user_id: str
    key_id: str
    template_id: str


async def _world(api: httpx.AsyncClient, tenant: Tenant) -> World:
    keys: dict[Role, str] = {Role.administrator: tenant.key}
    for role in (Role.client_manager, Role.accountant):
        user = await api.post(
            "/v1/users",
            json={
                "email": f"{role.value}-{uuid.uuid4().hex[:6]}@ex.com",
                "name": role,
                "role": role,
            },
        )
        assert user.status_code == 201, user.text
        key = await api.post(f"/v1/users/{user.json()['id']}/api-keys", json={"name": "k"})
        keys[role] = key.json()["key"]
    spare = await api.post(
        "/v1/users",
        json={"email": f"spare-{uuid.uuid4().hex[:6]}@ex.com", "name": "S", "role": "accountant"},
    )
    spare_key = await api.post(f"/v1/users/{spare.json()['id']}/api-keys", json={"name": "spare"})
    assert (await api.post("/v1/plans", json=PLAN)).status_code == 201
    template = await api.post("/v1/templates", json={"name": "Small firms", "plan": "essentials"})
    assert template.status_code == 201, template.text
    return World(
        tenant=tenant,
        keys=keys,
        user_id=spare.json()["id"],
        key_id=spare_key.json()["id"],
        template_id=template.json()["id"],
    )


ALL = frozenset(Role)
CONFIG = frozenset({Role.administrator, Role.client_manager})
ADMIN = frozenset({Role.administrator})


def _n() -> str:
    return uuid.uuid4().hex[:6]


# (method, path, body, roles allowed). Paths and bodies are built from the world.
ROUTES: list[tuple[str, Callable[[World], str], Callable[[World], Any], frozenset[Role]]] = [
    ("GET", lambda w: "/v1/me", lambda w: None, ALL),
    ("GET", lambda w: "/v1/users", lambda w: None, ADMIN),
    ("GET", lambda w: "/v1/time-zone", lambda w: None, ALL),
    ("PUT", lambda w: "/v1/time-zone", lambda w: {"time_zone": "Europe/Paris"}, ADMIN),
    (
        "POST",
        lambda w: "/v1/users",
        lambda w: {"email": f"{_n()}@ex.com", "name": "N", "role": "accountant"},
        ADMIN,
    ),
    ("GET", lambda w: f"/v1/users/{w.user_id}", lambda w: None, ADMIN),
    ("PATCH", lambda w: f"/v1/users/{w.user_id}", lambda w: {"name": "Renamed"}, ADMIN),
    ("GET", lambda w: f"/v1/users/{w.user_id}/api-keys", lambda w: None, ADMIN),
    ("POST", lambda w: f"/v1/users/{w.user_id}/api-keys", lambda w: {"name": "x"}, ADMIN),
    ("DELETE", lambda w: f"/v1/api-keys/{w.key_id}", lambda w: None, ADMIN),
    ("GET", lambda w: "/v1/plans", lambda w: None, ALL),
    ("POST", lambda w: "/v1/plans", lambda w: {"code": f"p{_n()}", "name": "P"}, CONFIG),
    ("GET", lambda w: "/v1/plans/essentials", lambda w: None, ALL),
    ("PUT", lambda w: "/v1/plans/essentials", lambda w: PLAN, CONFIG),
    ("GET", lambda w: "/v1/integrations", lambda w: None, ALL),
    (
        "POST",
        lambda w: "/v1/integrations",
        lambda w: {"code": f"i{_n()}", "name": "I", "kind": "redirection"},
        CONFIG,
    ),
    ("GET", lambda w: "/v1/folder-trees", lambda w: None, ALL),
    (
        "POST",
        lambda w: "/v1/folder-trees",
        lambda w: {"code": f"t{_n()}", "name": "T", "folders": []},
        CONFIG,
    ),
    ("GET", lambda w: "/v1/templates", lambda w: None, ALL),
    ("POST", lambda w: "/v1/templates", lambda w: {"name": f"T {_n()}"}, CONFIG),
    ("GET", lambda w: f"/v1/templates/{w.template_id}", lambda w: None, ALL),
    (
        "PUT",
        lambda w: f"/v1/templates/{w.template_id}",
        lambda w: {"name": "Small firms", "plan": "essentials"},
        CONFIG,
    ),
    ("POST", lambda w: f"/v1/templates/{w.template_id}/set-default", lambda w: None, CONFIG),
    ("GET", lambda w: "/v1/billing-defaults", lambda w: None, ALL),
    (
        "PUT",
        lambda w: "/v1/billing-defaults",
        lambda w: {"pay_for_new_clients": True, "pricing_acknowledged": True},
        CONFIG,
    ),
    ("POST", lambda w: "/v1/setup-previews", lambda w: {}, ALL),
    ("GET", lambda w: "/v1/onboardings", lambda w: None, ALL),
    ("GET", lambda w: f"/v1/clients/{uuid.uuid4()}/setup", lambda w: None, ALL),
    ("GET", lambda w: "/v1/clients", lambda w: None, ALL),
    ("GET", lambda w: f"/v1/clients/{uuid.uuid4()}", lambda w: None, ALL),
    ("PATCH", lambda w: f"/v1/clients/{uuid.uuid4()}", lambda w: {"tags": ["t"]}, ALL),
    (
        "PUT",
        lambda w: f"/v1/clients/{uuid.uuid4()}/subscription",
        lambda w: {"plan": None, "payer": "client", "billing_period": "monthly"},
        CONFIG,
    ),
    ("GET", lambda w: f"/v1/clients/{uuid.uuid4()}/subscription/history", lambda w: None, ALL),
    (
        "PUT",
        lambda w: f"/v1/clients/{uuid.uuid4()}/collaborators",
        lambda w: {"user_ids": []},
        CONFIG,
    ),
    (
        "POST",
        lambda w: f"/v1/clients/{uuid.uuid4()}/notifications",
        lambda w: {"enabled": True},
        CONFIG,
    ),
    (
        "POST",
        lambda w: f"/v1/clients/{uuid.uuid4()}/fiscal-years",
        lambda w: {"start": "2026-01-01"},
        CONFIG,
    ),
    ("GET", lambda w: f"/v1/clients/{uuid.uuid4()}/fiscal-years", lambda w: None, ALL),
    ("GET", lambda w: f"/v1/clients/{uuid.uuid4()}/fiscal-years/2026-01-01", lambda w: None, ALL),
    ("GET", lambda w: "/v1/checklists", lambda w: None, ALL),
    ("POST", lambda w: "/v1/checklists", lambda w: CHECKLIST, CONFIG),
    ("GET", lambda w: f"/v1/checklists/{uuid.uuid4()}", lambda w: None, ALL),
    ("PUT", lambda w: f"/v1/checklists/{uuid.uuid4()}", lambda w: CHECKLIST, CONFIG),
    ("DELETE", lambda w: f"/v1/checklists/{uuid.uuid4()}", lambda w: None, CONFIG),
    ("GET", lambda w: f"/v1/clients/{uuid.uuid4()}/checklist", lambda w: None, ALL),
    ("GET", lambda w: f"/v1/templates/{w.template_id}/history", lambda w: None, ALL),
    ("GET", lambda w: "/v1/partner-rates", lambda w: None, ALL),
]


async def test_role_matrix_each_role_each_route(api: httpx.AsyncClient, tenant: Tenant) -> None:
    """Every route lets exactly its roles through and answers the others 403."""
    world = await _world(api, tenant)
    api.headers.pop("Authorization")
    outcomes: list[str] = []
    for method, path, body, allowed in ROUTES:
        for role, key in world.keys.items():
            response = await api.request(
                method, path(world), json=body(world), headers={"Authorization": f"Bearer {key}"}
            )
            permitted = response.status_code not in (401, 403)
            if permitted != (role in allowed):
                outcomes.append(f"{role.value} {method} {path(world)} -> {response.status_code}")
            if role not in allowed:
                assert response.json()["type"].endswith("/forbidden")
    assert outcomes == []


async def test_missing_forged_and_revoked_keys_are_401(
    api: httpx.AsyncClient, tenant: Tenant
) -> None:
    """No key, a made-up key and a revoked key are all refused; a live key records its use."""
    api.headers.pop("Authorization")
    assert (await api.get("/v1/me")).status_code == 401
    forged = await api.get("/v1/me", headers={"Authorization": "Bearer onb_deadbeef_nope"})
    assert forged.status_code == 401 and forged.json()["type"].endswith("/invalid-api-key")

    admin = {"Authorization": f"Bearer {tenant.key}"}
    made = await api.post(
        f"/v1/users/{tenant.admin.id}/api-keys", json={"name": "ci"}, headers=admin
    )
    new_key, key_id = made.json()["key"], made.json()["id"]
    me = await api.get("/v1/me", headers={"Authorization": f"Bearer {new_key}"})
    assert me.status_code == 200 and me.json()["partner_id"] == str(tenant.partner.id)
    listed = await api.get(f"/v1/users/{tenant.admin.id}/api-keys", headers=admin)
    [row] = [k for k in listed.json() if k["id"] == key_id]
    assert row["last_used_at"] is not None and "key" not in row

    assert (await api.delete(f"/v1/api-keys/{key_id}", headers=admin)).status_code == 200
    revoked = await api.get("/v1/me", headers={"Authorization": f"Bearer {new_key}"})
    assert revoked.status_code == 401


async def test_api_keys_are_stored_hashed(
    api: httpx.AsyncClient, tenant: Tenant, pool: Pool
) -> None:
    """The database never holds a key in clear."""
    made = await api.post(f"/v1/users/{tenant.admin.id}/api-keys", json={"name": "x"})
    key = made.json()["key"]
    stored = await pool.fetch("SELECT * FROM api_keys WHERE partner_id = $1", tenant.partner.id)
    assert stored and all(key not in str(dict(r).values()) for r in stored)


@pytest.mark.parametrize(
    ("method", "path_of", "body"),
    [
        ("GET", lambda w: f"/v1/templates/{w.template_id}", None),
        ("PUT", lambda w: f"/v1/templates/{w.template_id}", {"name": "Stolen"}),
        ("DELETE", lambda w: f"/v1/templates/{w.template_id}", None),
        ("POST", lambda w: f"/v1/templates/{w.template_id}/set-default", None),
        ("GET", lambda w: f"/v1/users/{w.user_id}", None),
        ("PATCH", lambda w: f"/v1/users/{w.user_id}", {"role": "administrator"}),
        ("DELETE", lambda w: f"/v1/users/{w.user_id}", None),
        ("GET", lambda w: f"/v1/users/{w.user_id}/api-keys", None),
        ("POST", lambda w: f"/v1/users/{w.user_id}/api-keys", {"name": "steal"}),
        ("DELETE", lambda w: f"/v1/api-keys/{w.key_id}", None),
    ],
)
async def test_other_partner_gets_404_never_the_data(
    api: httpx.AsyncClient,
    tenant: Tenant,
    pool: Pool,
    method: str,
    path_of: Callable[[World], str],
    body: Any,
) -> None:
    """Partner B acting on partner A's template, user or key gets 404 and changes nothing."""
    world = await _world(api, tenant)
    other = await make_tenant(pool, "Other firm")
    before = await api.get(path_of(world)) if method == "GET" else None
    response = await api.request(method, path_of(world), json=body, headers=other.auth)
    assert response.status_code == 404, response.text
    assert response.json()["type"].endswith("/not-found")
    assert str(tenant.partner.id) not in response.text
    if before is not None:
        assert (await api.get(path_of(world))).json() == before.json()
    # And A's things are still all there.
    assert (await api.get(f"/v1/templates/{world.template_id}")).status_code == 200
    assert (await api.get(f"/v1/users/{world.user_id}")).status_code == 200
    assert (await api.get(f"/v1/users/{world.user_id}/api-keys")).json()[0]["revoked_at"] is None


async def test_other_partner_lists_show_none_of_ours(
    api: httpx.AsyncClient, tenant: Tenant, pool: Pool
) -> None:
    """Lists are scoped: B sees its own users, templates and plans, never A's."""
    world = await _world(api, tenant)
    other = await make_tenant(pool, "Other firm")
    for path in ("/v1/users", "/v1/templates", "/v1/plans", "/v1/onboardings"):
        listing = await api.get(path, headers=other.auth)
        assert listing.status_code == 200
        text = listing.text
        assert world.user_id not in text and world.template_id not in text
        assert str(tenant.admin.id) not in text
    plans = await api.get("/v1/plans", headers=other.auth)
    assert plans.json()["items"] == []

"""A value stored as secret stays secret whatever happens to its integration's definition
(issue 20, finding 1), over the real API and PostgreSQL.

The reported attack: an administrator defines integration `vault` with secret setting `token`
and saves a template with its value; a client manager deletes `vault` and defines it again with
`token` not secret, and the template then answers the value in clear.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from temporalio.client import Client
from temporalio.worker import Worker

from api.deps import Services
from api.main import create_app
from core.settings import Settings
from devstack.serving import serve_app
from domain.setup import Role
from store.pool import Pool
from tests.eventually import eventually
from tests.factories import Tenant

SECRET = "TOPSECRET-123"


def _vault(*, secret: bool, code: str = "vault") -> dict[str, Any]:
    return {
        "code": code,
        "name": "Vault",
        # A redirection app carries settings too; it needs no connect_url, so no stand-in.
        "kind": "redirection",
        "settings": [
            {"name": "token", "type": "string", "required": False, "secret": secret},
            {"name": "label", "type": "string", "required": False},
        ],
    }


_keys: dict[tuple[uuid.UUID, Role], dict[str, str]] = {}


async def _auth(api: httpx.AsyncClient, tenant: Tenant, role: Role) -> dict[str, str]:
    """Authorization headers of a user of `tenant` with `role` (made once per tenant and role)."""
    if role == Role.administrator:
        return tenant.auth
    if (tenant.partner.id, role) not in _keys:
        user = await api.post(
            "/v1/users",
            json={
                "email": f"{role.value}-{uuid.uuid4().hex[:6]}@ex.com",
                "name": "N",
                "role": role,
            },
            headers=tenant.auth,
        )
        assert user.status_code == 201, user.text
        key = await api.post(
            f"/v1/users/{user.json()['id']}/api-keys", json={"name": "k"}, headers=tenant.auth
        )
        _keys[(tenant.partner.id, role)] = {"Authorization": f"Bearer {key.json()['key']}"}
    return _keys[(tenant.partner.id, role)]


async def _answers_about(api: httpx.AsyncClient, auth: dict[str, str], template_id: str) -> str:
    """Everything a caller can read about the template: itself, the list, a setup preview."""
    read = await api.get(f"/v1/templates/{template_id}", headers=auth)
    listed = await api.get("/v1/templates", params={"limit": 200}, headers=auth)
    preview = await api.post("/v1/setup-previews", json={"template_id": template_id}, headers=auth)
    return "\n".join(r.text for r in (read, listed, preview))


async def test_client_manager_cannot_reveal_a_stored_secret_by_redefining_its_integration(
    api: httpx.AsyncClient, tenant: Tenant
) -> None:
    """The reported sequence: whatever each step answers, the value never comes back."""
    manager = await _auth(api, tenant, Role.client_manager)
    assert (await api.post("/v1/integrations", json=_vault(secret=True))).status_code == 201
    choice = {"code": "vault", "settings": {"token": SECRET}}
    made = await api.post("/v1/templates", json={"name": "S", "integrations": [choice]})
    assert made.status_code == 201, made.text

    deleted = await api.delete("/v1/integrations/vault", headers=manager)
    redefined = await api.post("/v1/integrations", json=_vault(secret=False), headers=manager)
    for role in Role:
        answers = await _answers_about(api, await _auth(api, tenant, role), made.json()["id"])
        assert SECRET not in answers, (role, deleted.status_code, redefined.status_code)


async def test_client_manager_changing_what_is_secret_is_403(
    api: httpx.AsyncClient, tenant: Tenant
) -> None:
    """Deleting an app with secret settings, or declaring a once-secret setting plain, is the
    administrator's act: 403 problem details, and nothing changes."""
    manager = await _auth(api, tenant, Role.client_manager)
    assert (await api.post("/v1/integrations", json=_vault(secret=True))).status_code == 201

    deleted = await api.delete("/v1/integrations/vault", headers=manager)
    assert deleted.status_code == 403, deleted.text
    assert deleted.json()["type"].endswith("/forbidden")
    assert (await api.get("/v1/integrations/vault")).status_code == 200

    # The administrator deletes it; the client manager may not bring it back with `token` plain.
    assert (await api.delete("/v1/integrations/vault")).status_code == 204
    redefined = await api.post("/v1/integrations", json=_vault(secret=False), headers=manager)
    assert redefined.status_code == 403, redefined.text
    assert "token" in redefined.json()["detail"]
    assert (await api.get("/v1/integrations/vault")).status_code == 404

    # An app that never had a secret stays the client manager's to delete.
    plain = {"code": "portal", "name": "Portal", "kind": "redirection"}
    assert (await api.post("/v1/integrations", json=plain, headers=manager)).status_code == 201
    assert (await api.delete("/v1/integrations/portal", headers=manager)).status_code == 204


async def test_stored_secret_stays_masked_whatever_the_administrator_redefines(
    api: httpx.AsyncClient, pool: Pool
) -> None:
    """Deleting the app, defining it again plain, or unmarking the setting: still masked, and a
    template edit sending the mask back keeps the stored value."""
    assert (await api.post("/v1/integrations", json=_vault(secret=True))).status_code == 201
    choice = {"code": "vault", "settings": {"token": SECRET, "label": "shown"}}
    made = (await api.post("/v1/templates", json={"name": "S", "integrations": [choice]})).json()

    assert (await api.delete("/v1/integrations/vault")).status_code == 204
    assert SECRET not in await _answers_about(api, {}, made["id"])
    assert (await api.post("/v1/integrations", json=_vault(secret=False))).status_code == 201
    assert SECRET not in await _answers_about(api, {}, made["id"])
    assert (await api.put("/v1/integrations/vault", json=_vault(secret=False))).status_code == 200
    read = (await api.get(f"/v1/templates/{made['id']}")).json()
    assert read["integrations"][0]["settings"] == {"token": "********", "label": "shown"}

    body = {k: read[k] for k in ("name", "description", "integrations")}
    edited = await api.put(f"/v1/templates/{made['id']}", json=body)
    assert edited.status_code == 200, edited.text
    assert SECRET not in edited.text
    stored = await pool.fetchval(
        "SELECT body FROM configuration_templates WHERE id = $1", uuid.UUID(made["id"])
    )
    assert stored["integrations"][0]["settings"]["token"] == SECRET


async def test_client_setup_and_status_mask_a_secret_whose_integration_was_redefined(
    api: httpx.AsyncClient, worker: Worker
) -> None:
    """A client made after the redefinition gets the value masked in its setup snapshot and its
    onboarding's status, since the snapshot is written with the same rule."""
    assert (await api.post("/v1/integrations", json=_vault(secret=True))).status_code == 201
    choice = {"code": "vault", "settings": {"token": SECRET}}
    made = (await api.post("/v1/templates", json={"name": "S", "integrations": [choice]})).json()
    assert (await api.delete("/v1/integrations/vault")).status_code == 204
    assert (await api.post("/v1/integrations", json=_vault(secret=False))).status_code == 201

    started = await api.post(
        "/v1/onboardings",
        json={
            "client": {
                "first_name": "Sam",
                "last_name": "Vault",
                "company_name": "Vault SARL",
                "email": "vault@example.com",
                "language": "en",
            },
            "template_id": made["id"],
        },
        headers={"Idempotency-Key": f"vault-{uuid.uuid4()}"},
    )
    assert started.status_code == 202, started.text

    async def status() -> httpx.Response:
        return await api.get(f"/v1/onboardings/{started.json()['id']}")

    view = await eventually(
        status,
        until=lambda v: v.json()["status"] == "READY",
        what="the onboarding READY",
        within=20,
        every=0.1,
    )
    assert view.json()["status"] == "READY", view.text
    assert SECRET not in view.text
    client_id = view.json()["client_id"]
    snapshot = await api.get(f"/v1/clients/{client_id}/setup")
    assert snapshot.json()["setup"]["integrations"][0]["settings"] == {"token": "********"}
    client = await api.get(f"/v1/clients/{client_id}")  # its integrations' states among others
    assert client.status_code == 200, client.text
    assert SECRET not in client.text


# ---- the rule as a property ---------------------------------------------------------------------

ACTIONS = ("define", "redefine", "delete", "save_value", "send_back", "drop_from_template")
STEP = st.tuples(st.sampled_from(ACTIONS), st.sampled_from(list(Role)), st.booleans())


@pytest.fixture
async def roomy_api(
    settings: Settings, pool: Pool, client: Client, tenant: Tenant
) -> AsyncIterator[httpx.AsyncClient]:
    """The API as the administrator of `tenant`, with the per-key rate limits out of the way:
    the property test sends a few thousand requests in a row."""
    roomy = settings.model_copy(
        update={"api_rate_limit_per_second": 1_000_000.0, "api_rate_limit_burst": 1_000_000}
    )
    app = create_app(roomy, services=Services(settings=roomy, pool=pool, temporal=client))
    async with serve_app(app, access_log=False) as api:
        api.headers.update(tenant.auth)
        yield api


@settings(
    max_examples=40,
    deadline=None,
    # Each example works on an app code and a template of its own, so the tenant is shared.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps=st.lists(STEP, min_size=1, max_size=7))
# The reported sequence, and its administrator-only variant, are always among the examples.
@example(
    steps=[
        ("define", Role.administrator, True),
        ("save_value", Role.administrator, False),
        ("delete", Role.client_manager, False),
        ("define", Role.client_manager, False),
    ]
)
@example(
    steps=[
        ("define", Role.administrator, True),
        ("save_value", Role.client_manager, False),
        ("delete", Role.administrator, False),
        ("define", Role.administrator, False),
        ("send_back", Role.client_manager, False),
    ]
)
async def test_no_value_stored_as_secret_is_ever_returned_unmasked(
    roomy_api: httpx.AsyncClient, tenant: Tenant, pool: Pool, steps: list[tuple[str, Role, bool]]
) -> None:
    """Any sequence of define / redefine / delete / template edits, by any role: no value that
    was ever stored while declared secret comes back in clear, to any role, in any answer."""
    api = roomy_api
    code = f"v{uuid.uuid4().hex[:10]}"
    template_id: str | None = None
    secret_values: set[str] = set()

    async def stored_token() -> str | None:
        if template_id is None:
            return None
        body = await pool.fetchval(
            "SELECT body FROM configuration_templates WHERE id = $1", uuid.UUID(template_id)
        )
        for choice in body["integrations"]:
            if choice["code"] == code:
                value = choice["settings"].get("token")
                return value if isinstance(value, str) else None
        return None

    for n, (action, role, secret) in enumerate(steps):
        auth = await _auth(api, tenant, role)
        value = f"value-{code}-{n}"
        answer: httpx.Response | None = None
        answers: list[str] = []  # this step's: a value may be shown before it is secret
        if action == "define":
            answer = await api.post(
                "/v1/integrations", json=_vault(secret=secret, code=code), headers=auth
            )
        elif action == "redefine":
            answer = await api.put(
                f"/v1/integrations/{code}", json=_vault(secret=secret, code=code), headers=auth
            )
        elif action == "delete":
            answer = await api.delete(f"/v1/integrations/{code}", headers=auth)
        elif action in ("save_value", "drop_from_template"):
            integrations = (
                [{"code": code, "settings": {"token": value, "label": f"label-{code}-{n}"}}]
                if action == "save_value"
                else []
            )
            body = {"name": f"T-{code}", "integrations": integrations}
            if template_id is None:
                answer = await api.post("/v1/templates", json=body, headers=auth)
                if answer.status_code == 201:
                    template_id = answer.json()["id"]
            else:
                answer = await api.put(f"/v1/templates/{template_id}", json=body, headers=auth)
        elif action == "send_back" and template_id is not None:
            read = await api.get(f"/v1/templates/{template_id}", headers=auth)
            assert read.status_code == 200, read.text
            body = {k: read.json()[k] for k in ("name", "description", "integrations")}
            answer = await api.put(f"/v1/templates/{template_id}", json=body, headers=auth)
        if answer is not None:
            assert answer.status_code < 500, answer.text
            answers.append(answer.text)

        # What the template holds now, if the app now declares `token` secret, is a value
        # stored as secret from here on.
        current = await api.get(f"/v1/integrations/{code}")
        token = await stored_token()
        if current.status_code == 200 and token is not None:
            if any(s["name"] == "token" and s["secret"] for s in current.json()["settings"]):
                secret_values.add(token)
        if template_id is not None:
            for reader in Role:
                reader_auth = await _auth(api, tenant, reader)
                answers.append(await _answers_about(api, reader_auth, template_id))
        leaked = [v for v in secret_values if any(v in text for text in answers)]
        assert not leaked, (steps[: n + 1], leaked)


@pytest.fixture(autouse=True)
def _forget_keys() -> None:
    """Keys belong to one test's tenant; a later test's tenant makes its own."""
    _keys.clear()

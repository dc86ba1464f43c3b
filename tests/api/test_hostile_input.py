"""Hostile input at the HTTP edge: nothing a caller sends gives a 500, wedges work or loses it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from api.deps import Services
from api.main import create_app
from core.settings import Settings
from devstack.serving import serve_app as serve
from domain.setup import Role
from store import partners
from store.pool import Pool
from tests.factories import Tenant

NUL = "bad\u0000text"

BODY: dict[str, Any] = {
    "client": {
        "first_name": "Paul",
        "last_name": "Martin",
        "email": "paul@martin.be",
        "language": "nl",
    },
    "invitation": {"mode": "manual"},
}


def _with(path: str, value: Any) -> dict[str, Any]:
    """BODY with one field (dotted path) set to `value`."""
    body: dict[str, Any] = {k: dict(v) if isinstance(v, dict) else v for k, v in BODY.items()}
    *parents, leaf = path.split(".")
    target = body
    for part in parents:
        target = target.setdefault(part, {})
    target[leaf] = value
    return body


def _fields(response: httpx.Response) -> set[str]:
    return {e["field"] for e in response.json().get("errors", [])}


@pytest.mark.parametrize(
    "field",
    [
        "client.first_name",
        "client.last_name",
        "client.company_name",
        "client.address",
        "client.case_manager",
        "director.first_name",
    ],
)
async def test_nul_in_onboarding_text_is_422_naming_the_field(
    api: httpx.AsyncClient, pool: Pool, field: str
) -> None:
    """NUL cannot be stored by PostgreSQL: refused at the edge with the field, nothing kept."""
    body = _with(field, NUL)
    if field.startswith("director."):
        body["director"] = {"email": "d@martin.be", "first_name": NUL, "last_name": "M"}
    key = f"nul-{uuid.uuid4()}"
    response = await api.post("/v1/onboardings", json=body, headers={"Idempotency-Key": key})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in _fields(response)
    assert "NUL" in response.text
    assert (
        await pool.fetchval("SELECT count(*) FROM onboardings WHERE idempotency_key = $1", key) == 0
    )


async def test_nul_in_tags_and_settings_is_422(api: httpx.AsyncClient) -> None:
    """Lists and free-form JSON settings are checked too, down to nested strings."""
    tags = await api.post("/v1/onboardings", json=_with("client.tags", ["ok", NUL]))
    assert tags.status_code == 422
    assert any(f.startswith("client.tags") for f in _fields(tags))
    settings = await api.post(
        "/v1/onboardings",
        json=_with("overrides.integrations", [{"code": "ged", "settings": {"k": [NUL]}}]),
    )
    assert settings.status_code == 422
    assert any(f.startswith("overrides.integrations") for f in _fields(settings))


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        (
            "POST",
            "/v1/users",
            {"email": "x@example.com", "name": NUL, "role": "accountant"},
            "name",
        ),
        ("POST", "/v1/templates", {"name": NUL}, "name"),
        ("POST", "/v1/templates", {"name": "T", "description": NUL}, "description"),
        ("POST", "/v1/plans", {"code": "p1", "name": NUL}, "name"),
        ("PUT", "/v1/branding", {"display_name": NUL}, "display_name"),
    ],
)
async def test_nul_in_configuration_names_is_422(
    api: httpx.AsyncClient, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    """User, plan, template and branding names: 422 naming the field, never a 500."""
    response = await api.request(method, path, json=body)
    assert response.status_code == 422, response.text
    assert field in _fields(response)


async def test_nul_in_api_key_name_is_422(api: httpx.AsyncClient, tenant: Tenant) -> None:
    """The API-key name is text like any other."""
    response = await api.post(f"/v1/users/{tenant.admin.id}/api-keys", json={"name": NUL})
    assert response.status_code == 422
    assert "name" in _fields(response)


async def test_nul_in_query_parameter_is_422(api: httpx.AsyncClient) -> None:
    """?case_manager= goes to SQL: NUL refused there too, with the parameter's name."""
    response = await api.get("/v1/onboardings", params={"case_manager": NUL})
    assert response.status_code == 422
    assert "case_manager" in _fields(response)


async def test_lone_surrogate_is_422(api: httpx.AsyncClient) -> None:
    """JSON's "\\ud800" decodes to a str asyncpg cannot encode: refused, not a 500."""
    raw = (
        b'{"client": {"first_name": "a\\ud800", "last_name": "M", "email": "a@b.be", '
        b'"language": "fr"}}'
    )
    response = await api.post(
        "/v1/onboardings", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert "client.first_name" in _fields(response)


async def test_twenty_megabyte_body_is_413_and_leaves_no_row(
    api: httpx.AsyncClient, pool: Pool
) -> None:
    """A body over the limit is refused before it is read in full; no onboarding is claimed."""
    key = f"big-{uuid.uuid4()}"
    body = _with("client.address", "x" * (20 * 1024 * 1024))
    response = await api.post("/v1/onboardings", json=body, headers={"Idempotency-Key": key})
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/request-too-large")
    assert (
        await pool.fetchval("SELECT count(*) FROM onboardings WHERE idempotency_key = $1", key) == 0
    )


async def test_chunked_body_over_the_limit_is_413(api: httpx.AsyncClient) -> None:
    """Without a Content-Length, the body is counted as it arrives and cut off at the limit."""

    async def chunks() -> Any:
        for _ in range(40):
            yield b"x" * 65536

    response = await api.post(
        "/v1/onboardings", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


async def test_workflow_start_refused_gives_the_claim_back(
    settings: Settings, pool: Pool, client: Client, tenant: Tenant
) -> None:
    """Temporal refusing the input (over its payload limit) leaves no row, and no list shows an
    onboarding that GET cannot find. The body limit is raised here to let such a body through."""
    big = settings.model_copy(update={"api_max_body_bytes": 8 * 1024 * 1024})
    app = create_app(big, services=Services(settings=big, pool=pool, temporal=client))
    async with serve(app) as http:
        http.headers.update(tenant.auth)
        app_def = {
            "code": "notes",
            "name": "Notes",
            "kind": "redirection",
            "settings": [{"name": "note", "required": False}],
        }
        assert (await http.post("/v1/integrations", json=app_def)).status_code == 201
        key = f"refused-{uuid.uuid4()}"
        body = _with(
            "overrides.integrations", [{"code": "notes", "settings": {"note": "y" * 2_500_000}}]
        )
        response = await http.post("/v1/onboardings", json=body, headers={"Idempotency-Key": key})
        assert response.status_code == 413, response.text
        claimed = await pool.fetchval(
            "SELECT count(*) FROM onboardings WHERE idempotency_key = $1", key
        )
        assert claimed == 0
        listed = await http.get("/v1/onboardings", params={"limit": 200})
        for item in listed.json()["items"]:
            assert (await http.get(f"/v1/onboardings/{item['id']}")).status_code == 200


@pytest.mark.parametrize(
    "path",
    ["/v1/onboardings", "/v1/users", "/v1/templates", "/v1/plans", "/v1/integrations"],
)
async def test_offset_overflow_is_422(api: httpx.AsyncClient, path: str) -> None:
    """An offset past PostgreSQL's bigint is a 422 naming `offset`, not a 500."""
    response = await api.get(path, params={"offset": 2**63})
    assert response.status_code == 422
    assert "offset" in _fields(response)


async def test_onboardings_list_pages_with_a_total(api: httpx.AsyncClient) -> None:
    """Every onboarding is reachable: offset is honoured and the total is given."""
    ids = []
    for _ in range(3):
        created = await api.post("/v1/onboardings", json=BODY)
        assert created.status_code == 202
        ids.append(created.json()["id"])
    first = (await api.get("/v1/onboardings", params={"limit": 2})).json()
    second = (await api.get("/v1/onboardings", params={"limit": 2, "offset": 2})).json()
    assert first["total"] == second["total"] == 3
    assert len(first["items"]) == 2 and len(second["items"]) == 1
    seen = {i["id"] for i in first["items"]} | {i["id"] for i in second["items"]}
    assert seen == set(ids)


async def test_malformed_json_is_400_naming_body(api: httpx.AsyncClient) -> None:
    """A body that is not JSON: 400 naming `body`, not a character offset."""
    response = await api.post(
        "/v1/onboardings",
        content=b'{"client": {"first_name": ',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["type"].endswith("/malformed-json")
    assert _fields(response) == {"body"}


async def test_malformed_json_without_a_key_is_401(api_server: httpx.AsyncClient) -> None:
    """Authentication comes first: no key, no word about the body."""
    api_server.headers.pop("Authorization", None)
    response = await api_server.post(
        "/v1/onboardings", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 401


async def test_last_administrator_cannot_delete_themselves(
    api: httpx.AsyncClient, tenant: Tenant
) -> None:
    """The only administrator deleting their own user would lock the partner out: 409."""
    response = await api.delete(f"/v1/users/{tenant.admin.id}")
    assert response.status_code == 409
    assert (await api.get("/v1/me")).status_code == 200


async def test_administrator_cannot_delete_their_own_user(
    api: httpx.AsyncClient, tenant: Tenant
) -> None:
    """Even with another administrator, deleting oneself (and one's keys) is refused."""
    other = await api.post(
        "/v1/users",
        json={"email": f"o-{uuid.uuid4().hex[:6]}@ex.com", "name": "O", "role": "administrator"},
    )
    assert other.status_code == 201
    response = await api.delete(f"/v1/users/{tenant.admin.id}")
    assert response.status_code == 409
    assert response.json()["type"].endswith("/self-deletion")


async def test_two_administrators_deleting_each_other_keep_one(
    api_server: httpx.AsyncClient, tenant: Tenant, pool: Pool
) -> None:
    """Concurrent deletions cannot both pass the last-administrator check."""
    row = await partners.create_user(
        pool,
        partner_id=tenant.partner.id,
        email=f"b-{uuid.uuid4().hex[:6]}@ex.com",
        name="B",
        role=Role.administrator,
    )
    assert row is not None
    second = row
    _, second_key = await partners.create_key(
        pool, partner_id=tenant.partner.id, user_id=second.id, name="k"
    )
    first_auth = tenant.auth
    second_auth = {"Authorization": f"Bearer {second_key}"}
    results = await asyncio.gather(
        api_server.delete(f"/v1/users/{second.id}", headers=first_auth),
        api_server.delete(f"/v1/users/{tenant.admin.id}", headers=second_auth),
    )
    assert sorted(r.status_code for r in results)[0] in (204, 409)
    assert await partners.count_admins(pool, partner_id=tenant.partner.id) >= 1


async def test_scheduled_invitation_in_the_past_is_422(api: httpx.AsyncClient) -> None:
    """A time already past would send at once: refused, naming the field."""
    past = (datetime.now(UTC) - timedelta(days=2000)).isoformat()
    response = await api.post(
        "/v1/onboardings", json=_with("invitation", {"mode": "scheduled", "scheduled_at": past})
    )
    assert response.status_code == 422
    assert "invitation.scheduled_at" in _fields(response)


async def test_scheduled_invitation_beyond_the_horizon_is_422(api: httpx.AsyncClient) -> None:
    """Year 9999 is a typo, not a plan."""
    response = await api.post(
        "/v1/onboardings",
        json=_with("invitation", {"mode": "scheduled", "scheduled_at": "9999-01-01T00:00:00Z"}),
    )
    assert response.status_code == 422
    assert "invitation.scheduled_at" in _fields(response)


@pytest.mark.parametrize("start", ["0001-01-01", "1989-12-31", "2999-01-01"])
async def test_fiscal_year_outside_the_window_is_422(api: httpx.AsyncClient, start: str) -> None:
    """Fiscal years from 1990 to next year only."""
    response = await api.post("/v1/onboardings", json=_with("fiscal_year", {"start": start}))
    assert response.status_code == 422
    assert "fiscal_year" in _fields(response)


@pytest.mark.parametrize("siret", ["00000000000000"])
async def test_siret_of_one_repeated_digit_is_422(api: httpx.AsyncClient, siret: str) -> None:
    """00000000000000 passes Luhn, yet no register issues it."""
    response = await api.post("/v1/onboardings", json=_with("client.siret", siret))
    assert response.status_code == 422
    assert "client.siret" in _fields(response)


async def test_problem_instance_never_echoes_an_invitation_token(
    api_server: httpx.AsyncClient,
) -> None:
    """The token is a credential: a problem about it names the route, not the token."""
    token = "Zm9yZ2VkLXRva2VuLXZhbHVl.c2lnbmF0dXJlLXBhcnQtMTIz"
    response = await api_server.get(f"/v1/invitations/{token}")
    assert response.status_code in (404, 410)
    assert token not in response.text
    assert response.json()["instance"] == "/v1/invitations/***"


@pytest.mark.parametrize(
    "path", ["invitation/send", "invitation/cancel", "invitation/resend", "resume"]
)
async def test_update_on_a_finished_onboarding_is_409(
    api: httpx.AsyncClient, client: Client, path: str
) -> None:
    """An update on a finished onboarding says so (409), not that it does not exist (404)."""
    created = await api.post("/v1/onboardings", json=BODY)
    assert created.status_code == 202
    onboarding_id = created.json()["id"]
    await client.get_workflow_handle(created.json()["workflow_id"]).terminate("test: finished")
    response = await api.post(f"/v1/onboardings/{onboarding_id}/{path}")
    assert response.status_code == 409, response.text
    assert response.json()["type"].endswith("/onboarding-finished")
    assert "finished" in response.json()["detail"]

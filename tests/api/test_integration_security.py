"""Who may point an integration at a URL, and which URLs it may point at (issue 10, finding 2).

An automation app's connect_url receives the administrator-entered secret settings, so only an
administrator may change where it points or which of its settings are secret, and a URL to a
private, loopback or link-local address is refused when it is saved.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from api.deps import Services
from api.main import create_app
from core.settings import Settings
from devstack.serving import serve_app
from domain.setup import Role
from store.pool import Pool
from tests.factories import Tenant

BANK_APP: dict[str, Any] = {
    "code": "bankfeed",
    "name": "Bank feed",
    "kind": "automation",
    # `.example` never resolves (RFC 2606): saving it needs no DNS answer.
    "connect_url": "https://bank.partner.example/connect",
    "settings": [
        {"name": "account_id", "type": "string", "required": True},
        {"name": "api_token", "type": "string", "required": True, "secret": True},
    ],
}
STEAL = "http://127.0.0.1:18099/steal"


async def _key_for(api: httpx.AsyncClient, role: Role) -> dict[str, str]:
    user = await api.post(
        "/v1/users",
        json={"email": f"{role.value}-{uuid.uuid4().hex[:6]}@ex.com", "name": "N", "role": role},
    )
    assert user.status_code == 201, user.text
    key = await api.post(f"/v1/users/{user.json()['id']}/api-keys", json={"name": "k"})
    return {"Authorization": f"Bearer {key.json()['key']}"}


@pytest.fixture
async def manager(api: httpx.AsyncClient) -> dict[str, str]:
    """Authorization headers of a client manager of the same partner as `api`'s administrator."""
    assert (await api.post("/v1/integrations", json=BANK_APP)).status_code == 201
    return await _key_for(api, Role.client_manager)


def _with(**changes: Any) -> dict[str, Any]:
    return {**BANK_APP, **changes}


async def test_client_manager_changing_connect_url_is_403_and_changes_nothing(
    api: httpx.AsyncClient, manager: dict[str, str]
) -> None:
    """The reported attack: a client manager re-pointing connect_url at a host of their choice."""
    answer = await api.put(
        "/v1/integrations/bankfeed", json=_with(connect_url=STEAL), headers=manager
    )
    assert answer.status_code == 403, answer.text
    assert answer.json()["type"].endswith("/forbidden")
    assert "connect_url" in answer.json()["detail"]
    stored = await api.get("/v1/integrations/bankfeed")
    assert stored.json()["connect_url"] == BANK_APP["connect_url"]


@pytest.mark.parametrize(
    "specs",
    [
        # the secret made plain: its stored values would no longer be masked
        [{"name": "account_id"}, {"name": "api_token", "secret": False}],
        # a new secret, whose values would travel to connect_url
        [*BANK_APP["settings"], {"name": "password", "secret": True}],
        # the secret removed
        [{"name": "account_id"}],
    ],
    ids=["unmarked", "added", "removed"],
)
async def test_client_manager_changing_secret_settings_is_403(
    api: httpx.AsyncClient, manager: dict[str, str], specs: list[dict[str, Any]]
) -> None:
    """Marking, unmarking, adding or removing a secret setting is the administrator's call."""
    answer = await api.put("/v1/integrations/bankfeed", json=_with(settings=specs), headers=manager)
    assert answer.status_code == 403, answer.text
    stored = await api.get("/v1/integrations/bankfeed")
    assert [(s["name"], s["secret"]) for s in stored.json()["settings"]] == [
        ("account_id", False),
        ("api_token", True),
    ]


async def test_client_manager_may_still_change_the_rest(
    api: httpx.AsyncClient, manager: dict[str, str]
) -> None:
    """Name and non-secret settings stay open to client managers, as before."""
    settings = [*BANK_APP["settings"], {"name": "days_back", "type": "integer", "required": False}]
    answer = await api.put(
        "/v1/integrations/bankfeed",
        json=_with(name="Bank feed (new)", settings=settings),
        headers=manager,
    )
    assert answer.status_code == 200, answer.text
    stored = (await api.get("/v1/integrations/bankfeed")).json()
    assert (stored["name"], len(stored["settings"])) == ("Bank feed (new)", 3)


async def test_client_manager_creating_an_app_with_connect_url_or_secrets_is_403(
    api: httpx.AsyncClient, manager: dict[str, str]
) -> None:
    """Otherwise delete-and-create would get round the rule; a plain app is still allowed."""
    with_url = _with(code="other", settings=[])
    with_secret = _with(code="other2", connect_url=None)
    for body in (with_url, with_secret):
        answer = await api.post("/v1/integrations", json=body, headers=manager)
        assert answer.status_code == 403, answer.text
    plain = {"code": "portal", "name": "Portal", "kind": "redirection"}
    assert (await api.post("/v1/integrations", json=plain, headers=manager)).status_code == 201
    listed = (await api.get("/v1/integrations")).json()
    assert sorted(i["code"] for i in listed["items"]) == ["bankfeed", "portal"]


async def test_administrator_may_change_connect_url_and_secrets(
    api: httpx.AsyncClient, manager: dict[str, str]
) -> None:
    """The administrator's key can do both."""
    body = _with(
        connect_url="https://connect.partner.example/v2/connect",
        settings=[{"name": "account_id", "secret": True}],
    )
    answer = await api.put("/v1/integrations/bankfeed", json=body)
    assert answer.status_code == 200, answer.text
    stored = (await api.get("/v1/integrations/bankfeed")).json()
    assert stored["connect_url"] == body["connect_url"]
    assert [(s["name"], s["secret"]) for s in stored["settings"]] == [("account_id", True)]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (STEAL, "loopback"),
        ("http://10.1.2.3/connect", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[::1]:18099/steal", "loopback"),
        ("http://[::ffff:127.0.0.1]:18099/steal", "loopback"),
        ("http://100.64.0.1/connect", "carrier-grade NAT"),
        ("http://0.0.0.0:18099/steal", "unspecified"),
        ("http://2130706433:18099/steal", "dotted-decimal"),
        # a name private by definition: refused by name, whatever DNS answers here
        ("http://localhost:18099/steal", "private-use name"),
        ("ftp://bank.partner.example/connect", "http"),
        ("https://user:pw@bank.partner.example/connect", "credentials"),
    ],
)
async def test_connect_url_to_a_private_target_is_422_naming_the_field(
    api: httpx.AsyncClient, manager: dict[str, str], url: str, reason: str
) -> None:
    """Even the administrator cannot save a URL the worker would refuse to call."""
    for method, path, body in (
        ("PUT", "/v1/integrations/bankfeed", _with(connect_url=url)),
        ("POST", "/v1/integrations", _with(code="other", connect_url=url)),
    ):
        answer = await api.request(method, path, json=body)
        assert answer.status_code == 422, (method, answer.text)
        problem = answer.json()
        assert [e["field"] for e in problem["errors"]] == ["connect_url"], problem
        assert reason in problem["errors"][0]["message"], problem
    stored = await api.get("/v1/integrations/bankfeed")
    assert stored.json()["connect_url"] == BANK_APP["connect_url"]
    assert (await api.get("/v1/integrations/other")).status_code == 404


async def test_stand_in_listed_in_settings_may_be_saved(
    settings: Settings, pool: Pool, client: Client, tenant: Tenant
) -> None:
    """A private host:port listed in ONBOARDING_OUTBOUND_ALLOW_PRIVATE_HOSTS (how the dev stack
    and the tests reach their stand-in) is accepted; the same host on another port is not."""
    listed = settings.model_copy(update={"outbound_allow_private_hosts": ["127.0.0.1:18099"]})
    app = create_app(listed, services=Services(settings=listed, pool=pool, temporal=client))
    async with serve_app(app) as api:
        api.headers.update(tenant.auth)
        answer = await api.post("/v1/integrations", json=_with(connect_url=STEAL))
        assert answer.status_code == 201, answer.text
        elsewhere = _with(code="other", connect_url="http://127.0.0.1:18100/steal")
        refused = await api.post("/v1/integrations", json=elsewhere)
        assert refused.status_code == 422, refused.text

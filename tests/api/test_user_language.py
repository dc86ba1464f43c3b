"""The language of a partner user's own e-mails: set, changed and read through /v1/users."""

from __future__ import annotations

import uuid

import httpx

from store import partners
from store.pool import Pool
from tests.factories import Tenant


def _new(language: str | None = None) -> dict[str, str]:
    body = {
        "email": f"u-{uuid.uuid4().hex[:8]}@firm.example.com",
        "name": "U",
        "role": "accountant",
    }
    return body | ({"language": language} if language is not None else {})


async def test_language_defaults_to_french_and_is_set_changed_and_read(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """No language: French; one given is kept; PATCH changes it alone; GET, the list and the
    store agree."""
    plain = await api.post("/v1/users", json=_new())
    assert plain.status_code == 201, plain.text
    assert plain.json()["language"] == "fr"
    dutch = await api.post("/v1/users", json=_new("nl"))
    assert dutch.status_code == 201 and dutch.json()["language"] == "nl"
    user_id = dutch.json()["id"]
    changed = await api.patch(f"/v1/users/{user_id}", json={"language": "de"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["language"], changed.json()["name"]) == ("de", "U")
    assert (await api.get(f"/v1/users/{user_id}")).json()["language"] == "de"
    listed = {u["id"]: u["language"] for u in (await api.get("/v1/users")).json()["items"]}
    assert listed[user_id] == "de" and listed[str(tenant.admin.id)] == "fr"
    stored = await partners.get_user(pool, partner_id=tenant.partner.id, user_id=uuid.UUID(user_id))
    assert stored is not None and stored.language == "de"
    assert (await api.get("/v1/me")).json()["user"]["language"] == "fr"


async def test_unknown_language_is_a_422_naming_language(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """es, an empty string or null on create, and xx on update: problem details naming
    `language`, and nothing created or changed."""
    for bad in ("es", "", "FR"):
        refused = await api.post("/v1/users", json=_new(bad))
        assert refused.status_code == 422, (bad, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in refused.json()["errors"]] == ["language"]
    nulled = await api.post("/v1/users", json=_new() | {"language": None})
    assert [e["field"] for e in nulled.json()["errors"]] == ["language"]
    _, total = await partners.list_users(pool, partner_id=tenant.partner.id, limit=10, offset=0)
    assert total == 1  # the administrator only
    user_id = tenant.admin.id
    patched = await api.patch(f"/v1/users/{user_id}", json={"language": "xx"})
    assert patched.status_code == 422
    assert [e["field"] for e in patched.json()["errors"]] == ["language"]
    stored = await partners.get_user(pool, partner_id=tenant.partner.id, user_id=user_id)
    assert stored is not None and stored.language == "fr"

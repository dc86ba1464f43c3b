"""Configuration templates, billing defaults and setup previews, against real PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.worker import Worker

from store.pool import Pool
from tests.eventually import eventually
from tests.factories import Tenant

PLANS = [
    {"code": "essentials", "name": "Essentials", "add_ons": [{"code": "ocr", "name": "OCR"}]},
    {"code": "premium", "name": "Premium", "add_ons": [{"code": "payroll", "name": "Payroll"}]},
]
BANK_APP = {
    "code": "bankfeed",
    "name": "Bank feed",
    "kind": "automation",
    "settings": [
        {"name": "account_id", "type": "string", "required": True},
        {"name": "api_token", "type": "string", "required": True, "secret": True},
        {"name": "days_back", "type": "integer", "required": False},
    ],
}
SECRET = "tok-7f3c9a-very-secret"


async def _catalog(api: httpx.AsyncClient) -> None:
    for plan in PLANS:
        assert (await api.post("/v1/plans", json=plan)).status_code == 201
    assert (await api.post("/v1/integrations", json=BANK_APP)).status_code == 201
    assert (
        await api.post(
            "/v1/integrations", json={"code": "portal", "name": "Portal", "kind": "redirection"}
        )
    ).status_code == 201


async def _defaults(pool: Pool, partner_id: uuid.UUID) -> list[Any]:
    return await pool.fetch(
        "SELECT id FROM configuration_templates WHERE partner_id = $1 AND is_default", partner_id
    )


async def test_partner_starts_with_one_default_template(api: httpx.AsyncClient) -> None:
    """A new partner has its default template from the start."""
    listing = (await api.get("/v1/templates")).json()
    assert listing["total"] == 1
    assert listing["items"][0]["is_default"] is True


async def test_concurrent_set_default_leaves_exactly_one(
    api: httpx.AsyncClient, tenant: Tenant, pool: Pool
) -> None:
    """Twenty concurrent set-default calls over five templates end with exactly one default."""
    ids = [(await api.post("/v1/templates", json={"name": f"T{i}"})).json()["id"] for i in range(5)]
    responses = await asyncio.gather(
        *(api.post(f"/v1/templates/{ids[i % 5]}/set-default") for i in range(20))
    )
    assert {r.status_code for r in responses} == {200}
    defaults = await _defaults(pool, tenant.partner.id)
    assert len(defaults) == 1 and str(defaults[0]["id"]) in ids


async def test_database_refuses_two_defaults_or_none(pool: Pool, tenant: Tenant) -> None:
    """The invariant lives in the database: code that bypasses the API cannot break it."""
    with pytest.raises(asyncpg.ExclusionViolationError):
        await pool.execute(
            """
            INSERT INTO configuration_templates (id, partner_id, name, is_default, body)
            VALUES ($1, $2, 'Second default', true, '{}')
            """,
            uuid.uuid4(),
            tenant.partner.id,
        )
    with pytest.raises(asyncpg.CheckViolationError):
        await pool.execute(
            "UPDATE configuration_templates SET is_default = false WHERE partner_id = $1",
            tenant.partner.id,
        )
    assert len(await _defaults(pool, tenant.partner.id)) == 1


async def test_deleting_default_needs_a_successor(
    api: httpx.AsyncClient, tenant: Tenant, pool: Pool
) -> None:
    """Deleting the default is refused with a clear 409 unless another is named default."""
    default_id = (await api.get("/v1/templates")).json()["items"][0]["id"]
    other_id = (await api.post("/v1/templates", json={"name": "Other"})).json()["id"]
    refused = await api.delete(f"/v1/templates/{default_id}")
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/default-template-required")
    assert "new_default" in refused.json()["detail"]

    done = await api.delete(f"/v1/templates/{default_id}", params={"new_default": other_id})
    assert done.status_code == 204
    [row] = await _defaults(pool, tenant.partner.id)
    assert str(row["id"]) == other_id
    assert (await api.delete(f"/v1/templates/{other_id}")).status_code == 409


async def test_template_update_bumps_version_and_keeps_history(
    api: httpx.AsyncClient, tenant: Tenant, pool: Pool
) -> None:
    """Each update is a new version; the earlier version stays readable."""
    await _catalog(api)
    made = (await api.post("/v1/templates", json={"name": "V", "plan": "essentials"})).json()
    updated = await api.put(f"/v1/templates/{made['id']}", json={"name": "V", "plan": "premium"})
    assert (made["version"], updated.json()["version"]) == (1, 2)
    first = await pool.fetchval(
        "SELECT body FROM configuration_template_versions WHERE template_id = $1 AND version = 1",
        uuid.UUID(made["id"]),
    )
    assert first["plan"] == "essentials"


async def test_preview_applies_precedence(api: httpx.AsyncClient) -> None:
    """Overrides beat the template, which beats billing defaults; nothing is created."""
    await _catalog(api)
    assert (
        await api.put(
            "/v1/billing-defaults",
            json={
                "pay_for_new_clients": True,
                "billing_period": "annual",
                "plan": "essentials",
                "add_ons": ["ocr"],
                "pricing_acknowledged": True,
            },
        )
    ).status_code == 200
    template = (
        await api.post(
            "/v1/templates",
            json={"name": "Premium firms", "plan": "premium", "add_ons": ["payroll"]},
        )
    ).json()
    preview = await api.post(
        "/v1/setup-previews",
        json={"template_id": template["id"], "overrides": {"billing_period": "monthly"}},
    )
    assert preview.status_code == 200, preview.text
    setup = preview.json()["setup"]
    assert (setup["plan"], setup["add_ons"]) == ("premium", ["payroll"])
    assert (setup["payer"], setup["billing_period"]) == ("partner", "monthly")
    assert setup["template_version"] == 1
    assert (await api.get("/v1/onboardings")).json()["items"] == []


async def test_override_errors_name_each_field(api: httpx.AsyncClient) -> None:
    """Unknown plan, foreign add-on and a missing automation setting: 422 naming every field."""
    await _catalog(api)
    bad = await api.post(
        "/v1/setup-previews",
        json={
            "overrides": {
                "plan": "gold",
                "integrations": [{"code": "bankfeed", "settings": {"account_id": "A1"}}],
            }
        },
    )
    assert bad.status_code == 422
    fields = {e["field"] for e in bad.json()["errors"]}
    assert fields == {"overrides.plan", "overrides.integrations[0].settings.api_token"}

    foreign = await api.post(
        "/v1/setup-previews", json={"overrides": {"plan": "essentials", "add_ons": ["payroll"]}}
    )
    assert foreign.status_code == 422
    assert foreign.json()["errors"] == [
        {
            "field": "overrides.add_ons",
            "message": "add-on 'payroll' does not belong to plan 'essentials'",
        }
    ]
    unknown_app = await api.post(
        "/v1/setup-previews", json={"overrides": {"integrations": [{"code": "nope"}]}}
    )
    assert unknown_app.json()["errors"][0]["field"] == "overrides.integrations[0].code"


async def test_secrets_are_masked_and_never_logged(
    api: httpx.AsyncClient, pool: Pool, caplog: pytest.LogCaptureFixture
) -> None:
    """A secret setting is stored, but every answer masks it and no log line contains it."""
    caplog.set_level(logging.DEBUG)
    await _catalog(api)
    choice = {"code": "bankfeed", "settings": {"account_id": "A1", "api_token": SECRET}}
    made = await api.post("/v1/templates", json={"name": "Bank", "integrations": [choice]})
    assert made.status_code == 201, made.text
    assert SECRET not in made.text
    assert made.json()["integrations"][0]["settings"] == {
        "account_id": "A1",
        "api_token": "********",
    }
    read = await api.get(f"/v1/templates/{made.json()['id']}")
    assert SECRET not in read.text
    preview = await api.post("/v1/setup-previews", json={"template_id": made.json()["id"]})
    assert SECRET not in preview.text

    # Sending back what was read keeps the stored secret.
    body = {k: read.json()[k] for k in ("name", "description", "integrations")}
    assert (await api.put(f"/v1/templates/{made.json()['id']}", json=body)).status_code == 200
    stored = await pool.fetchval(
        "SELECT body FROM configuration_templates WHERE id = $1", uuid.UUID(made.json()["id"])
    )
    assert stored["integrations"][0]["settings"]["api_token"] == SECRET
    assert SECRET not in caplog.text


async def test_template_edit_leaves_existing_client_snapshot(
    api: httpx.AsyncClient, worker: Worker
) -> None:
    """A client made with a template keeps its setup after the template and defaults change."""
    await _catalog(api)
    template = (
        await api.post(
            "/v1/templates", json={"name": "Snap", "plan": "essentials", "add_ons": ["ocr"]}
        )
    ).json()
    started = await api.post(
        "/v1/onboardings",
        json={
            "client": {
                "first_name": "Sam",
                "last_name": "Snap",
                "company_name": "Snap SARL",
                "email": "snap@example.com",
                "language": "en",
            },
            "template_id": template["id"],
        },
        headers={"Idempotency-Key": f"snap-{uuid.uuid4()}"},
    )
    assert started.status_code == 202, started.text

    async def status() -> dict[str, Any]:
        answer: dict[str, Any] = (await api.get(f"/v1/onboardings/{started.json()['id']}")).json()
        return answer

    view = await eventually(
        status,
        until=lambda v: v["status"] == "READY",
        what="the onboarding READY",
        within=20,
        every=0.1,
    )
    assert view["status"] == "READY", view
    client_id = view["client_id"]
    before = (await api.get(f"/v1/clients/{client_id}/setup")).json()
    assert (before["template_version"], before["setup"]["plan"]) == (1, "essentials")

    await api.put(f"/v1/templates/{template['id']}", json={"name": "Snap", "plan": "premium"})
    await api.put(
        "/v1/billing-defaults", json={"pay_for_new_clients": True, "billing_period": "annual"}
    )
    after = (await api.get(f"/v1/clients/{client_id}/setup")).json()
    assert after == before

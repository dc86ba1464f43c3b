"""Prices and who pays (issue 23): catalogue prices, the firm's special rates, the monthly cost
in the setup preview and on the client, and the pricing policy confirmed wherever the firm is
made to pay (templates, billing defaults, subscription changes, onboarding overrides)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from app import pricing as app_pricing
from domain.money import Price
from store import applied_setup, clients, pricing
from store.pool import Pool
from tests.factories import Tenant, make_client

PLAN = {
    "code": "essentials",
    "name": "Essentials",
    "price": {"monthly_cents": 2900, "annual_cents": 29000, "currency": "EUR"},
    "add_ons": [
        {
            "code": "ocr",
            "name": "OCR",
            "price": {"monthly_cents": 500, "annual_cents": 5000},
        }
    ],
}
FIRM_PAYS = {"name": "Firm pays", "plan": "essentials", "add_ons": ["ocr"], "payer": "partner"}


@pytest.fixture
async def priced(api: httpx.AsyncClient) -> None:
    assert (await api.post("/v1/plans", json=PLAN)).status_code == 201


def _names_the_field(response: httpx.Response) -> None:
    assert response.status_code == 409, response.text
    problem = response.json()
    assert problem["type"].endswith("/pricing-acknowledgement-required")
    assert [e["field"] for e in problem["errors"]] == ["pricing_acknowledged"]


async def test_save_firm_paid_template_needs_acknowledgement_on_its_history(
    api: httpx.AsyncClient, tenant: Tenant, priced: None
) -> None:
    """A template where the firm pays: 409 naming pricing_acknowledged without it, nothing
    saved; with it, the template's history shows who confirmed, when, at what monthly cost."""
    refused = await api.post("/v1/templates", json=FIRM_PAYS)
    _names_the_field(refused)
    assert "34.00 EUR a month" in refused.json()["detail"]
    assert (await api.get("/v1/templates")).json()["total"] == 1  # only the default

    before = datetime.now(UTC) - timedelta(seconds=5)
    made = await api.post("/v1/templates", json={**FIRM_PAYS, "pricing_acknowledged": True})
    assert made.status_code == 201, made.text
    assert "pricing_acknowledged" not in made.json()
    template_id = made.json()["id"]

    again = await api.put(f"/v1/templates/{template_id}", json={**FIRM_PAYS, "add_ons": []})
    _names_the_field(again)
    history = (await api.get(f"/v1/templates/{template_id}/history")).json()
    assert history["total"] == 1
    [version] = history["items"]
    assert version["version"] == 1 and version["payer"] == "partner"
    assert version["pricing_acknowledged_by"] == str(tenant.admin.id)
    at = datetime.fromisoformat(version["pricing_acknowledged_at"])
    assert before <= at <= datetime.now(UTC) + timedelta(seconds=5)
    assert (version["acknowledged_monthly_cents"], version["currency"]) == (3400, "EUR")

    client_pays = {**FIRM_PAYS, "payer": "client"}
    assert (await api.put(f"/v1/templates/{template_id}", json=client_pays)).status_code == 200
    latest = (await api.get(f"/v1/templates/{template_id}/history")).json()["items"][0]
    assert (latest["version"], latest["payer"], latest["pricing_acknowledged_by"]) == (
        2,
        "client",
        None,
    )


async def test_template_history_of_another_firm_is_404(
    api: httpx.AsyncClient, api_server: httpx.AsyncClient
) -> None:
    """Another firm's template history is unknown, like a made-up id."""
    assert (await api.get(f"/v1/templates/{uuid.uuid4()}/history")).status_code == 404


async def test_billing_defaults_paying_for_new_clients_need_acknowledgement(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant, priced: None
) -> None:
    """Paying for new clients by default: 409 naming the field, then recorded when confirmed."""
    body = {"pay_for_new_clients": True, "plan": "essentials", "billing_period": "annual"}
    _names_the_field(await api.put("/v1/billing-defaults", json=body))
    assert (await api.get("/v1/billing-defaults")).json()["pay_for_new_clients"] is False
    saved = await api.put("/v1/billing-defaults", json={**body, "pricing_acknowledged": True})
    assert saved.status_code == 200, saved.text
    assert "pricing_acknowledged" not in saved.json()
    [row] = await pricing.acknowledgements(
        pool, partner_id=tenant.partner.id, subject="billing_defaults", subject_id=None
    )
    assert (row.acknowledged_by, row.monthly_cents) == (tenant.admin.id, 2417)


async def test_subscription_change_to_firm_paid_needs_acknowledgement(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant, priced: None
) -> None:
    """A client's subscription changed so the firm pays: 409 without the confirmation, nothing
    recorded; with it, the revision is recorded with who confirmed."""
    client_id = await _ready_client(pool, tenant)
    change = {
        "plan": "essentials",
        "add_ons": ["ocr"],
        "payer": "partner",
        "billing_period": "monthly",
    }
    _names_the_field(await api.put(f"/v1/clients/{client_id}/subscription", json=change))
    done = await api.put(
        f"/v1/clients/{client_id}/subscription", json={**change, "pricing_acknowledged": True}
    )
    assert done.status_code == 200, done.text
    [row] = await pricing.acknowledgements(
        pool, partner_id=tenant.partner.id, subject="subscription", subject_id=client_id
    )
    assert (row.subject_version, row.acknowledged_by) == (
        done.json()["revision"],
        tenant.admin.id,
    )
    client_pays = {**change, "payer": "client"}
    assert (
        await api.put(f"/v1/clients/{client_id}/subscription", json=client_pays)
    ).status_code == 200


async def test_onboarding_override_firm_pays_needs_acknowledgement(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant, priced: None
) -> None:
    """An onboarding whose overrides make the firm pay: 409 naming the field and nothing
    started; confirmed, it starts and the confirmation is recorded once, however often sent."""
    body = {
        "client": {
            "first_name": "Inès",
            "last_name": "Prix",
            "company_name": "Atelier Prix",
            "email": "prix@example.com",
            "language": "fr",
        },
        "overrides": {"plan": "essentials", "payer": "partner"},
    }
    key = f"prices-{uuid.uuid4()}"
    refused = await api.post("/v1/onboardings", json=body, headers={"Idempotency-Key": key})
    _names_the_field(refused)
    assert (
        await pool.fetchval("SELECT count(*) FROM onboardings WHERE idempotency_key = $1", key) == 0
    )
    confirmed = {**body, "pricing_acknowledged": True}
    for _ in range(2):
        started = await api.post(
            "/v1/onboardings", json=confirmed, headers={"Idempotency-Key": key}
        )
        assert started.status_code == 202, started.text
    rows = await pricing.acknowledgements(
        pool,
        partner_id=tenant.partner.id,
        subject="onboarding",
        subject_id=uuid.UUID(started.json()["id"]),
    )
    assert [(r.acknowledged_by, r.monthly_cents) for r in rows] == [(tenant.admin.id, 2900)]


async def test_preview_and_client_show_monthly_cost_with_partner_rates(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant, priced: None
) -> None:
    """The setup preview and the client show the monthly cost, the firm's special rate
    replacing the catalogue's price, annual billing as its monthly equivalent."""
    await app_pricing.set_rate(
        pool,
        partner_id=tenant.partner.id,
        plan="essentials",
        add_on="ocr",
        price=Price(monthly_cents=100, annual_cents=1200),
    )
    preview = await api.post(
        "/v1/setup-previews",
        json={"overrides": {"plan": "essentials", "add_ons": ["ocr"], "billing_period": "annual"}},
    )
    assert preview.status_code == 200, preview.text
    cost = preview.json()["monthly_cost"]
    assert (cost["period_cents"], cost["monthly_cents"], cost["currency"]) == (30200, 2517, "EUR")
    assert [line["source"] for line in cost["lines"]] == ["catalogue", "partner_rate"]

    client_id = await _ready_client(pool, tenant)
    shown = (await api.get(f"/v1/clients/{client_id}")).json()["monthly_cost"]
    assert (shown["billing_period"], shown["monthly_cents"]) == ("monthly", 3000)

    rates = (await api.get("/v1/partner-rates")).json()
    assert [(r["plan"], r["add_on"], r["price"]["monthly_cents"]) for r in rates] == [
        ("essentials", "ocr", 100)
    ]


async def test_client_without_plan_has_no_monthly_cost(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """Nothing billed, nothing shown: no plan is a null cost, not zero."""
    _, client_id = await make_client(pool, tenant, muted=False)
    assert (await api.get(f"/v1/clients/{client_id}")).json()["monthly_cost"] is None


async def _ready_client(pool: Pool, tenant: Tenant) -> uuid.UUID:
    """A set-up client on `essentials` + `ocr`, billed monthly, the client paying."""
    _, client_id = await make_client(pool, tenant, muted=True)
    await applied_setup.apply_subscription(
        pool,
        client_id=client_id,
        plan="essentials",
        add_ons=["ocr"],
        payer="client",
        billing_period="monthly",
    )
    await clients.complete_setup(pool, client_id=client_id, keep_muted=False)
    await pool.execute(
        "UPDATE onboardings SET status = 'READY' "
        "WHERE id = (SELECT onboarding_id FROM clients WHERE id = $1)",
        client_id,
    )
    return client_id

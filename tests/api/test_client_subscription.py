"""A client's subscription after onboarding: changes from a date, their history, who may."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from domain.onboarding import client_id_for
from store import applied_setup, clients, onboardings, subscriptions
from store.pool import Pool
from tests.factories import Tenant

PLANS = [
    {"code": "essentials", "name": "Essentials", "add_ons": [{"code": "ocr", "name": "OCR"}]},
    {"code": "premium", "name": "Premium", "add_ons": [{"code": "payroll", "name": "Payroll"}]},
]
# The firm pays: every change confirms the pricing policy (app/pricing.py).
CHANGE = {
    "plan": "premium",
    "add_ons": ["payroll"],
    "payer": "partner",
    "billing_period": "annual",
    "pricing_acknowledged": True,
}


async def _client(pool: Pool, tenant: Tenant, *, ready: bool = True) -> uuid.UUID:
    """A client whose onboarding applied `essentials`, as the workflow's steps write it."""
    onboarding_id = uuid.uuid4()
    await onboardings.claim(
        pool,
        onboarding_id=onboarding_id,
        partner_id=tenant.partner.id,
        idempotency_key=str(onboarding_id),
        request_hash="h",
        workflow_id=f"onboarding-{onboarding_id}",
        status="READY" if ready else "SETTING_UP",
    )
    row, _ = await clients.create(
        pool,
        client_id=client_id_for(onboarding_id),
        partner_id=tenant.partner.id,
        onboarding_id=onboarding_id,
        name="Billing",
        email="billing@example.com",
        language="fr",
    )
    if ready:
        await applied_setup.apply_subscription(
            pool,
            client_id=row.id,
            plan="essentials",
            add_ons=["ocr"],
            payer="client",
            billing_period="monthly",
        )
        await clients.complete_setup(pool, client_id=row.id, keep_muted=False)
    return row.id


@pytest.fixture
async def catalog(api: httpx.AsyncClient) -> None:
    for plan in PLANS:
        assert (await api.post("/v1/plans", json=plan)).status_code == 201


async def _headers_of(api: httpx.AsyncClient, role: str) -> dict[str, str]:
    user = await api.post(
        "/v1/users",
        json={"email": f"{role}-{uuid.uuid4().hex[:6]}@ex.com", "name": "U", "role": role},
    )
    key = await api.post(f"/v1/users/{user.json()['id']}/api-keys", json={"name": "k"})
    return {"Authorization": f"Bearer {key.json()['key']}"}


async def test_each_change_is_a_dated_revision_and_today_s_is_in_force(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant, catalog: None
) -> None:
    """Revision 1 is the onboarding's; a change from today is in force now, one from a later
    date only from then; the history answers which settings and since when, and by whom."""
    client_id = await _client(pool, tenant)
    today = datetime.now(UTC).date()
    now = await api.put(f"/v1/clients/{client_id}/subscription", json=CHANGE)
    assert now.status_code == 200, now.text
    assert {k: now.json()[k] for k in ("revision", "effective_from", "source", "changed_by")} == {
        "revision": 2,
        "effective_from": today.isoformat(),
        "source": "change",
        "changed_by": str(tenant.admin.id),
    }
    later = today + timedelta(days=30)
    future = await api.put(
        f"/v1/clients/{client_id}/subscription",
        json={**CHANGE, "billing_period": "monthly", "effective_from": later.isoformat()},
    )
    assert future.status_code == 200 and future.json()["revision"] == 3

    in_force = (await api.get(f"/v1/clients/{client_id}")).json()["subscription"]
    assert (in_force["revision"], in_force["billing_period"]) == (2, "annual")
    then = await subscriptions.in_force(pool, client_id=client_id, on=later)
    assert then is not None and (then.revision, then.billing_period) == (3, "monthly")

    history = (await api.get(f"/v1/clients/{client_id}/subscription/history")).json()
    assert history["total"] == 3
    assert [
        (r["revision"], r["source"], r["plan"], r["add_ons"], r["payer"], r["effective_from"])
        for r in history["items"]
    ] == [
        (1, "onboarding", "essentials", ["ocr"], "client", today.isoformat()),
        (2, "change", "premium", ["payroll"], "partner", today.isoformat()),
        (3, "change", "premium", ["payroll"], "partner", later.isoformat()),
    ]
    assert history["items"][0]["changed_by"] is None
    second = (
        await api.get(
            f"/v1/clients/{client_id}/subscription/history", params={"limit": 1, "offset": 1}
        )
    ).json()
    assert [r["revision"] for r in second["items"]] == [2] and second["total"] == 3


async def test_same_change_sent_twice_is_one_revision(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant, catalog: None
) -> None:
    """A retried PUT records nothing more; add-ons named twice count once."""
    client_id = await _client(pool, tenant)
    body = {**CHANGE, "add_ons": ["payroll", "payroll"]}
    first = await api.put(f"/v1/clients/{client_id}/subscription", json=body)
    again = await api.put(f"/v1/clients/{client_id}/subscription", json=body)
    assert first.json() == again.json() and first.json()["add_ons"] == ["payroll"]
    history = (await api.get(f"/v1/clients/{client_id}/subscription/history")).json()
    assert history["total"] == 2


BAD_CHANGES: list[tuple[dict[str, Any], str]] = [
    ({"plan": "gold"}, "plan"),
    ({"plan": "essentials", "add_ons": ["payroll"]}, "add_ons.0"),
    ({"plan": None, "add_ons": ["ocr"]}, "add_ons.0"),
    ({"payer": "nobody"}, "payer"),
    ({"billing_period": "weekly"}, "billing_period"),
    ({"effective_from": "2001-01-01"}, "effective_from"),
    ({"effective_from": "2999-01-01"}, "effective_from"),
    ({"effective_from": "soon"}, "effective_from"),
    ({"add_ons": ["a\u0000"]}, "add_ons.0"),
    ({"discount": 10}, "discount"),
]


async def test_bad_subscription_is_refused_by_field(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant, catalog: None
) -> None:
    """Checked against the partner's catalog and the calendar, each fault named; nothing
    recorded."""
    client_id = await _client(pool, tenant)
    wrong: list[str] = []
    for change, field in BAD_CHANGES:
        response = await api.put(f"/v1/clients/{client_id}/subscription", json={**CHANGE, **change})
        named = [e["field"] for e in response.json().get("errors", [])]
        if (response.status_code, named) != (422, [field]):
            wrong.append(f"{change} -> {response.status_code} {named}")
    assert wrong == []
    _, total = await subscriptions.history(pool, client_id=client_id, limit=10, offset=0)
    assert total == 1


async def test_only_administrators_and_client_managers_change_billing(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant, catalog: None
) -> None:
    """Seed 001's roles: an accountant reads the history but cannot change it."""
    client_id = await _client(pool, tenant)
    accountant = await _headers_of(api, "accountant")
    manager = await _headers_of(api, "client_manager")
    refused = await api.put(
        f"/v1/clients/{client_id}/subscription", json=CHANGE, headers=accountant
    )
    assert refused.status_code == 403 and refused.json()["type"].endswith("/forbidden")
    read = await api.get(f"/v1/clients/{client_id}/subscription/history", headers=accountant)
    assert read.status_code == 200 and read.json()["total"] == 1
    done = await api.put(f"/v1/clients/{client_id}/subscription", json=CHANGE, headers=manager)
    assert done.status_code == 200 and done.json()["changed_by"] != str(tenant.admin.id)


async def test_client_still_setting_up_takes_no_change(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant, catalog: None
) -> None:
    """Before the onboarding applied its subscription, a change would be overtaken: 409."""
    client_id = await _client(pool, tenant, ready=False)
    response = await api.put(f"/v1/clients/{client_id}/subscription", json=CHANGE)
    assert response.status_code == 409 and response.json()["type"].endswith("/client-setting-up")
    _, total = await subscriptions.history(pool, client_id=client_id, limit=10, offset=0)
    assert total == 0


async def test_template_and_default_edits_leave_the_history(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant, catalog: None
) -> None:
    """Editing the default template and the billing defaults changes no existing client."""
    client_id = await _client(pool, tenant)
    before = (await api.get(f"/v1/clients/{client_id}/subscription/history")).json()
    templates = (await api.get("/v1/templates")).json()
    default = next(t for t in templates["items"] if t["is_default"])
    edited = await api.put(
        f"/v1/templates/{default['id']}", json={"name": default["name"], "plan": "premium"}
    )
    assert edited.status_code == 200, edited.text
    defaults = await api.put(
        "/v1/billing-defaults",
        json={
            "pay_for_new_clients": True,
            "billing_period": "annual",
            "plan": "premium",
            "pricing_acknowledged": True,
        },
    )
    assert defaults.status_code == 200, defaults.text
    assert (await api.get(f"/v1/clients/{client_id}/subscription/history")).json() == before
    in_force = (await api.get(f"/v1/clients/{client_id}")).json()["subscription"]
    assert (in_force["plan"], in_force["payer"]) == ("essentials", "client")

"""`onboarding partner rate`: the operator sets and clears a firm's special rate, which the
monthly costs then apply; a plan or add-on the firm does not have is refused, nothing set."""

from __future__ import annotations

import httpx

from core.settings import Settings
from store import pricing
from store.pool import Pool
from tests.cli_helpers import invoke, ops_env
from tests.factories import Tenant

PLAN = {
    "code": "essentials",
    "name": "Essentials",
    "price": {"monthly_cents": 2900, "annual_cents": 29000},
    "add_ons": [{"code": "ocr", "name": "OCR"}],
}


async def test_partner_rate_sets_and_clears_a_firm_s_rate(
    api: httpx.AsyncClient, settings: Settings, pool: Pool, tenant: Tenant
) -> None:
    """Set by the operator, the rate is the firm's cost (read back by the API); cleared, the
    catalogue's price applies again; an unknown add-on is refused with exit 1."""
    assert (await api.post("/v1/plans", json=PLAN)).status_code == 201
    env = ops_env(settings)
    firm = str(tenant.partner.id)
    args = ("partner", "rate", "--partner", firm, "--plan", "essentials")
    ran = await invoke(env, *args, "--monthly", "2500", "--annual", "25000")
    assert ran.code == 0, ran.err
    assert "2500 / 25000" in ran.out
    rates = (await api.get("/v1/partner-rates")).json()
    assert [(r["plan"], r["add_on"], r["price"]["annual_cents"]) for r in rates] == [
        ("essentials", None, 25000)
    ]

    unknown = await invoke(env, *args, "--add-on", "payroll", "--monthly", "1", "--annual", "1")
    assert unknown.code == 1 and "add_on" in unknown.err + unknown.out
    assert len(await pricing.rates(pool, partner_id=tenant.partner.id)) == 1

    cleared = await invoke(env, *args, "--clear")
    assert cleared.code == 0, cleared.err
    assert (await api.get("/v1/partner-rates")).json() == []

"""Prices and who pays (seeds 000 and 002): what a subscription costs the firm a month, and the
one rule that a setting making the firm pay is saved only with the pricing policy confirmed.

`confirmed_payment` is that rule: template saves, billing defaults, subscription changes and
onboarding overrides all call it, from the JSON routes and the console alike, so a firm can
never be put down as paying by a path that forgot to ask.

The firm's special rates are read here by anyone of the firm but set only by the operator
(`onboarding partner rate`): they are what the platform agreed to bill the firm, so letting the
firm's own administrator set them would let the firm set its own bill.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from app.errors import Conflict, FieldIssue, Invalid, NotFound
from app.roles import ANY_ROLE, require
from domain.money import Price
from domain.pricing import MonthlyCost, RateKey, euros, monthly_cost
from domain.setup import BillingPeriod, Catalog, EffectiveSetup, Payer, Plan, Role
from store import catalogs, pricing
from store.pool import Conn, Pool
from store.pricing import Acknowledgement, RateRow
from store.subscriptions import RevisionRow

# The request field that confirms the pricing policy, named in every refusal, and the refusal's
# problem type (pages tell it from other conflicts by it).
ACK_FIELD = "pricing_acknowledged"
REFUSED_SLUG = "pricing-acknowledgement-required"


def firm_pays(payer: Payer | None) -> bool:
    """Whether this payer is the firm (`partner` in the API's words)."""
    return payer == Payer.partner


async def cost_of(
    pool: Pool | Conn,
    *,
    partner_id: uuid.UUID,
    plan: str | None,
    add_ons: Sequence[str],
    period: BillingPeriod,
    catalog: Catalog | None = None,
    rates: dict[RateKey, Price] | None = None,
) -> MonthlyCost | None:
    """The monthly cost of a plan with add-ons for this firm (its rates first); None without a
    plan or for a plan no longer in the catalogue. Pass what the caller already read."""
    if plan is None:
        return None
    found: Plan | None
    if catalog is not None:
        found = catalog.plans.get(plan)
    else:
        body = await catalogs.get(pool, "plans", partner_id=partner_id, code=plan)
        found = Plan.model_validate(body) if body is not None else None
    if found is None:
        return None
    if rates is None:
        rates = await pricing.rate_map(pool, partner_id=partner_id)
    return monthly_cost(plan=found, add_ons=add_ons, period=period, rates=rates)


async def setup_cost(
    pool: Pool, *, partner_id: uuid.UUID, setup: EffectiveSetup, catalog: Catalog
) -> MonthlyCost | None:
    """What an effective setup (a preview, a client's snapshot) costs a month."""
    return await cost_of(
        pool,
        partner_id=partner_id,
        plan=setup.plan,
        add_ons=setup.add_ons,
        period=setup.billing_period,
        catalog=catalog,
    )


async def subscription_cost(
    conn: Pool | Conn, *, partner_id: uuid.UUID, revision: RevisionRow | None
) -> MonthlyCost | None:
    """What a client's subscription revision (the one in force, say) costs a month."""
    if revision is None:
        return None
    return await cost_of(
        conn,
        partner_id=partner_id,
        plan=revision.plan,
        add_ons=revision.add_ons,
        period=BillingPeriod(revision.billing_period),
    )


async def confirmed_payment(
    pool: Pool,
    *,
    partner_id: uuid.UUID,
    user_id: uuid.UUID,
    payer: Payer | None,
    acknowledged: bool,
    plan: str | None,
    add_ons: Sequence[str],
    period: BillingPeriod,
    field: str = ACK_FIELD,
) -> Acknowledgement | None:
    """The one rule: where a save makes the firm pay, `acknowledged` must be true, or Conflict
    naming `field`. Returns what to record with the save (who, and the monthly cost they were
    shown), or None when the firm does not pay (nothing to confirm, nothing recorded)."""
    if not firm_pays(payer):
        return None
    cost = await cost_of(pool, partner_id=partner_id, plan=plan, add_ons=add_ons, period=period)
    if not acknowledged:
        shown = f" ({euros(cost.monthly_cents)} {cost.currency.value} a month)" if cost else ""
        raise Conflict(
            f"The firm pays for this setting{shown}: confirm the pricing policy by sending "
            f"{field}: true.",
            slug=REFUSED_SLUG,
            title="Pricing policy not confirmed",
            errors=(
                FieldIssue(field, "must be true when the firm pays", "pricing_not_acknowledged"),
            ),
        )
    return Acknowledgement(
        partner_id=partner_id,
        user_id=user_id,
        monthly_cents=cost.monthly_cents if cost is not None else None,
    )


async def rates(pool: Pool, *, partner_id: uuid.UUID, role: Role) -> list[RateRow]:
    """The firm's special rates (anyone of the firm may read what it is billed)."""
    require(role, ANY_ROLE)
    return await pricing.rates(pool, partner_id=partner_id)


async def set_rate(
    pool: Pool, *, partner_id: uuid.UUID, plan: str, add_on: str | None, price: Price
) -> None:
    """The operator sets a firm's rate for one of its plans or add-ons (no role: only the
    command line, run by the operator, calls this)."""
    body = await catalogs.get(pool, "plans", partner_id=partner_id, code=plan)
    if body is None:
        raise NotFound(f"No plan {plan!r}")
    if add_on is not None and add_on not in {a.code for a in Plan.model_validate(body).add_ons}:
        raise Invalid.field("add_on", f"not an add-on of plan {plan!r}", code="add_on")
    await pricing.set_rate(pool, partner_id=partner_id, plan=plan, add_on=add_on, price=price)


async def clear_rate(pool: Pool, *, partner_id: uuid.UUID, plan: str, add_on: str | None) -> None:
    """The operator removes a firm's rate: the catalogue's price applies again."""
    if not await pricing.clear_rate(pool, partner_id=partner_id, plan=plan, add_on=add_on):
        raise NotFound("No such rate")

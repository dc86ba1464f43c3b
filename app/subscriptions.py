"""A client's subscription after onboarding: its dated history and a change from a date (seed
001: which settings did this client get, and since when)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from app import pricing as app_pricing
from app import roles
from app.clients import client_not_found, ready_client
from app.errors import FieldIssue, Invalid
from domain.clients import EFFECTIVE_HORIZON_DAYS, SubscriptionIn
from domain.setup import Plan, Role
from store import catalogs, clients, subscriptions
from store.pool import Pool

# Changing a subscription is configuring the client.
CHANGE_ROLES = roles.CONFIGURERS


async def plans(pool: Pool, *, partner_id: uuid.UUID) -> list[Plan]:
    """The firm's plans (with their add-ons), by code: what a subscription may name."""
    bodies = await catalogs.all_bodies(pool, "plans", partner_id=partner_id)
    return [Plan.model_validate(b) for b in bodies]


async def _check_against_catalog(pool: Pool, partner_id: uuid.UUID, body: SubscriptionIn) -> None:
    errors: list[FieldIssue] = []
    plan: Plan | None = None
    if body.plan is not None:
        found = await catalogs.get(pool, "plans", partner_id=partner_id, code=body.plan)
        if found is None:
            errors.append(FieldIssue("plan", f"unknown plan {body.plan!r}", "unknown_plan"))
        else:
            plan = Plan.model_validate(found)
    if plan is not None or body.plan is None:
        allowed = {a.code for a in plan.add_ons} if plan else set()
        where = f"plan {body.plan!r}" if body.plan else "no plan"
        errors += [
            FieldIssue(f"add_ons.{i}", f"add-on {code!r} does not belong to {where}", "add_on")
            for i, code in enumerate(body.add_ons)
            if code not in allowed
        ]
    if errors:
        raise Invalid(
            "; ".join(f"{e.field}: {e.message}" for e in errors),
            slug="invalid-subscription",
            title="Invalid subscription",
            errors=tuple(errors),
        )


async def change(
    pool: Pool,
    *,
    partner_id: uuid.UUID,
    client_id: uuid.UUID,
    role: Role,
    changed_by: uuid.UUID,
    body: SubscriptionIn,
    today: date,
) -> subscriptions.RevisionRow:
    """Change the client's whole subscription from a date (today by default); the same change
    again records nothing new. Where the firm pays, the pricing policy must be confirmed
    (app.pricing.confirmed_payment), recorded with the revision."""
    roles.require(role, CHANGE_ROLES)
    await ready_client(pool, partner_id=partner_id, client_id=client_id)
    await _check_against_catalog(pool, partner_id, body)
    effective = body.effective_from or today
    first, _ = await subscriptions.history(pool, client_id=client_id, limit=1, offset=0)
    earliest = first[0].effective_from if first else today
    if effective < earliest:
        raise Invalid.field(
            "effective_from",
            f"is before the client's first subscription ({earliest.isoformat()})",
            code="before_first",
        )
    if effective > today + timedelta(days=EFFECTIVE_HORIZON_DAYS):
        raise Invalid.field(
            "effective_from", f"is more than {EFFECTIVE_HORIZON_DAYS} days ahead", code="too_far"
        )
    acknowledgement = await app_pricing.confirmed_payment(
        pool,
        partner_id=partner_id,
        user_id=changed_by,
        payer=body.payer,
        acknowledged=body.pricing_acknowledged,
        plan=body.plan,
        add_ons=body.add_ons,
        period=body.billing_period,
    )
    row, _ = await subscriptions.change(
        pool,
        client_id=client_id,
        plan=body.plan,
        add_ons=body.add_ons,
        payer=body.payer.value,
        billing_period=body.billing_period.value,
        effective_from=effective,
        changed_by=changed_by,
        acknowledgement=acknowledgement,
    )
    return row


async def history(
    pool: Pool, *, partner_id: uuid.UUID, client_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[subscriptions.RevisionRow], int]:
    """Every subscription the client had and from when, in the order recorded (any role)."""
    row = await clients.get_for_partner(pool, partner_id=partner_id, client_id=client_id)
    if row is None:
        raise client_not_found(client_id)
    return await subscriptions.history(pool, client_id=client_id, limit=limit, offset=offset)

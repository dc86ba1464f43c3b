"""Prices and who pays on the console: the monthly cost as people read it (in their language,
annual billing as its monthly equivalent), the client page's cost section, and the cost shown
beside the box confirming the firm pays, on every form that can make the firm pay (a template,
the billing defaults, a client's subscription; the rule itself is app/pricing.py).
"""

from __future__ import annotations

from typing import Any

from api.console import CLIENT_SECTIONS
from api.console.texts import TEXTS
from api.deps import Services
from app import pricing as app_pricing
from app.clients import ClientView
from domain.pricing import MonthlyCost, euros
from domain.setup import BillingPeriod
from store.console import SessionRow


def money(cents: int, lang: str) -> str:
    """An amount in euros as the user's language writes it: €29.00, 29,00 €."""
    amount = euros(cents)
    return f"€{amount}" if lang == "en" else f"{amount.replace('.', ',')} €"


def cost_text(cost: MonthlyCost | None, lang: str) -> str:
    """One line saying what a subscription costs a month, or that nothing is billed."""
    texts = TEXTS[lang]
    if cost is None:
        return texts["pr_no_plan"]
    if cost.billing_period == BillingPeriod.annual:
        line = texts["pr_cost_annual"].format(
            month=money(cost.monthly_cents, lang), year=money(cost.period_cents, lang)
        )
    else:
        line = texts["pr_cost_monthly"].format(month=money(cost.monthly_cents, lang))
    if not cost.complete:
        line += " " + texts["pr_cost_incomplete"]
    if any(entry.source == "partner_rate" for entry in cost.lines):
        line += " " + texts["pr_cost_rates"]
    return line


def _lang(session: SessionRow) -> str:
    return session.member.user.language if session.member.user.language in TEXTS else "en"


async def _sections(
    services: Services, session: SessionRow, view: ClientView, form: dict[str, str]
) -> dict[str, Any]:
    """The client's monthly cost, and the cost of the subscription the change form shows (what
    was typed in a refused form, else the one in force), for the box confirming the firm pays."""
    lang = _lang(session)
    current = view.subscription
    plan = form.get("sub_plan", current.plan or "" if current else "") or None
    add_ons = (
        [a for a in form["sub_add_ons"].split("\n") if a]
        if "sub_add_ons" in form
        else (current.add_ons if current else [])
    )
    period_text = form.get("sub_billing_period", current.billing_period if current else "")
    known = {p.value for p in BillingPeriod}
    period = BillingPeriod(period_text) if period_text in known else BillingPeriod.monthly
    typed = await app_pricing.cost_of(
        services.pool,
        partner_id=session.member.partner.id,
        plan=plan,
        add_ons=add_ons,
        period=period,
    )
    return {
        "prices": {
            "monthly_cost": cost_text(view.monthly_cost, lang),
            "payer": current.payer if current else None,
            "change_cost": cost_text(typed, lang),
            "acknowledged": form.get("sub_pricing_acknowledged") == "1",
        }
    }


CLIENT_SECTIONS.append(_sections)

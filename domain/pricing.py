"""What a client's subscription costs a month: the plan and its add-ons at the catalogue's prices,
each overridden by the firm's special rate where one is agreed (seed 002).

Pure: the catalogue and the rates come in, the cost goes out, so the setup preview, the client's
page and the acknowledgement recorded when the firm pays all compute it the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.money import Currency, Price
from domain.setup import BillingPeriod, Plan

# (plan code, add-on code or None for the plan itself) -> the firm's rate.
RateKey = tuple[str, str | None]


class PriceSource(StrEnum):
    catalogue = "catalogue"
    partner_rate = "partner_rate"


class CostLine(BaseModel):
    plan: str
    add_on: str | None = Field(description="None: the plan itself")
    period_cents: int | None = Field(
        description="What one billing period of it costs (a month or a year); none: not priced"
    )
    source: PriceSource | None = Field(description="Whose price: the catalogue or the firm's rate")


class MonthlyCost(BaseModel):
    """A subscription's cost: per billing period, and per month (a year's price over twelve,
    rounded to the cent, when billed annually)."""

    billing_period: BillingPeriod
    currency: Currency
    period_cents: int = Field(description="What one billing period costs: a month or a year")
    monthly_cents: int = Field(description="What a month costs (annual: its monthly equivalent)")
    complete: bool = Field(description="False when an item has no price (counted as nothing)")
    lines: list[CostLine]


def _per_period(price: Price, period: BillingPeriod) -> int:
    return price.monthly_cents if period == BillingPeriod.monthly else price.annual_cents


def monthly_cost(
    *,
    plan: Plan | None,
    add_ons: Sequence[str],
    period: BillingPeriod,
    rates: Mapping[RateKey, Price],
) -> MonthlyCost | None:
    """The cost of `plan` with `add_ons` billed per `period`, the firm's rates first; None
    without a plan (nothing is billed). An add-on the plan no longer offers is a line without a
    price, so the cost says it is incomplete rather than silently leaving it out."""
    if plan is None:
        return None
    offered = {a.code: a.price for a in plan.add_ons}
    items: list[tuple[str | None, Price | None]] = [(None, plan.price)]
    items += [(code, offered.get(code)) for code in dict.fromkeys(add_ons)]
    lines: list[CostLine] = []
    for add_on, listed in items:
        rate = rates.get((plan.code, add_on))
        price, source = (
            (rate, PriceSource.partner_rate)
            if rate is not None
            else (listed, PriceSource.catalogue if listed is not None else None)
        )
        lines.append(
            CostLine(
                plan=plan.code,
                add_on=add_on,
                period_cents=_per_period(price, period) if price is not None else None,
                source=source,
            )
        )
    total = sum(line.period_cents or 0 for line in lines)
    # Rounded half up to the cent: a year of 10,000 cents is 833 cents a month.
    monthly = total if period == BillingPeriod.monthly else (total + 6) // 12
    return MonthlyCost(
        billing_period=period,
        currency=Currency.EUR,
        period_cents=total,
        monthly_cents=monthly,
        complete=all(line.period_cents is not None for line in lines),
        lines=lines,
    )


def euros(cents: int) -> str:
    """Cents as a plain amount with two decimals (`1234` -> `12.34`), for people to read."""
    return f"{cents // 100}.{cents % 100:02d}"

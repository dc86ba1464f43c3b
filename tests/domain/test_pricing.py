"""The monthly cost of a plan and its add-ons: catalogue prices, the firm's rates first."""

from __future__ import annotations

from domain.money import Price
from domain.pricing import PriceSource, RateKey, monthly_cost
from domain.setup import AddOn, BillingPeriod, Plan

PLAN = Plan(
    code="essentials",
    name="Essentials",
    price=Price(monthly_cents=2900, annual_cents=29000),
    add_ons=[
        AddOn(code="ocr", name="OCR", price=Price(monthly_cents=500, annual_cents=5000)),
        AddOn(code="payroll", name="Payroll"),
    ],
)


def test_monthly_cost_sums_plan_and_add_ons() -> None:
    """Billed monthly, a month costs the plan's and each add-on's monthly price."""
    cost = monthly_cost(plan=PLAN, add_ons=["ocr"], period=BillingPeriod.monthly, rates={})
    assert cost is not None
    assert (cost.period_cents, cost.monthly_cents, cost.complete) == (3400, 3400, True)
    assert [line.source for line in cost.lines] == [PriceSource.catalogue] * 2


def test_annual_cost_shows_its_monthly_equivalent() -> None:
    """Billed annually, the year's price is shown over twelve months, rounded half up."""
    cost = monthly_cost(plan=PLAN, add_ons=["ocr"], period=BillingPeriod.annual, rates={})
    assert cost is not None
    assert (cost.period_cents, cost.monthly_cents) == (34000, 2833)
    odd = monthly_cost(
        plan=PLAN.model_copy(update={"price": Price(monthly_cents=1, annual_cents=6)}),
        add_ons=[],
        period=BillingPeriod.annual,
        rates={},
    )
    assert odd is not None and odd.monthly_cents == 1  # 0.5 cent rounds up


def test_partner_rate_overrides_the_catalogue_price() -> None:
    """The firm's rate for the plan or an add-on replaces the catalogue's, line by line."""
    rates: dict[RateKey, Price] = {
        ("essentials", "ocr"): Price(monthly_cents=100, annual_cents=1000)
    }
    cost = monthly_cost(plan=PLAN, add_ons=["ocr"], period=BillingPeriod.monthly, rates=rates)
    assert cost is not None
    assert cost.monthly_cents == 3000
    assert [line.source for line in cost.lines] == [
        PriceSource.catalogue,
        PriceSource.partner_rate,
    ]


def test_unpriced_add_on_makes_the_cost_incomplete() -> None:
    """An add-on without a price (or no longer offered) counts nothing and says so."""
    cost = monthly_cost(
        plan=PLAN, add_ons=["payroll", "gone"], period=BillingPeriod.monthly, rates={}
    )
    assert cost is not None
    assert (cost.monthly_cents, cost.complete) == (2900, False)
    assert [line.period_cents for line in cost.lines] == [2900, None, None]


def test_no_plan_costs_nothing() -> None:
    """Without a plan nothing is billed: no cost at all rather than a zero."""
    assert monthly_cost(plan=None, add_ons=[], period=BillingPeriod.monthly, rates={}) is None

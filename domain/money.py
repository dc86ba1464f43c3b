"""Prices as the catalogue and a firm's special rates state them: whole cents of one currency.

Its own module, below domain/setup.py (plans and add-ons carry a price) and domain/pricing.py
(the monthly cost), so neither imports the other to know what a price is.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

# A month's price above a million euros is surely a typo; the bound keeps sums far from overflow.
MAX_MONTHLY_CENTS = 100_000_000
MAX_ANNUAL_CENTS = 12 * MAX_MONTHLY_CENTS


class Currency(StrEnum):
    """The currencies prices are stated in: euros only for now, so costs never mix currencies."""

    EUR = "EUR"


class Price(BaseModel):
    """What a plan or an add-on costs: per month when billed monthly, per year when billed
    annually (usually less than twelve months), in whole cents."""

    model_config = ConfigDict(extra="forbid")

    monthly_cents: int = Field(
        ge=0, le=MAX_MONTHLY_CENTS, description="Cents per month, billed monthly"
    )
    annual_cents: int = Field(
        ge=0, le=MAX_ANNUAL_CENTS, description="Cents per year, billed yearly"
    )
    currency: Currency = Field(default=Currency.EUR, description="Only EUR for now")
